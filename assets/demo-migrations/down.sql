-- down: undo expand and migrate. v1.4.2 never read display_name.
DROP INDEX IF EXISTS customers_display_name;
ALTER TABLE customers DROP COLUMN display_name;
