-- migrate: every customer gets the display name v1.5.0 greets them by.
UPDATE customers SET display_name = name WHERE display_name IS NULL;
