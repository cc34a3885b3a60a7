-- Add orders and a view of each user's order count, in SQL.
-- migrate:up
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    placed_on TEXT NOT NULL  -- an ISO date; a ';' in a comment is no end of statement
);
CREATE INDEX orders_user_id ON orders (user_id);
CREATE VIEW order_counts AS
    SELECT users.id AS user_id, COUNT(orders.id) AS orders
    FROM users LEFT JOIN orders ON orders.user_id = users.id
    GROUP BY users.id;

-- migrate:down
DROP VIEW order_counts;
DROP TABLE orders;
