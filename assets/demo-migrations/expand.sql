-- expand: add what v1.5.0 reads, nullable, so v1.4.2 is unaffected.
ALTER TABLE customers ADD COLUMN display_name TEXT;
