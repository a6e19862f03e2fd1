-- contract: the point of no return. v1.4.2 reads `name`: it no longer fits.
ALTER TABLE customers DROP COLUMN name;
