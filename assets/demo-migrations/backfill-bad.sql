-- migrate, as written against a test database: first names only, and
-- unique. Two customers are called Grace: the unique index fails, and the
-- whole backfill with it (it runs in one transaction).
UPDATE customers SET display_name = substr(name, 1, instr(name, ' ') - 1)
  WHERE display_name IS NULL;
CREATE UNIQUE INDEX customers_display_name ON customers (display_name);
