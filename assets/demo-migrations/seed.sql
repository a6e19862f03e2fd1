-- checkout's customers as v1.4.2 knows them: a `name` it greets them by.
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO customers (name) VALUES
  ('Ada Lovelace'), ('Grace Hopper'), ('Alan Turing'),
  ('Grace Kelly'), ('Edsger Dijkstra'), ('Barbara Liskov');
