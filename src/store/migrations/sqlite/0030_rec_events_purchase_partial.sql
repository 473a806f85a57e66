-- Only purchases have an order: the unique key that makes a purchase's replay
-- a no-op indexes only them. Views and adds to cart (most rows, written in
-- batches) had each gone into it too, under (NULL, product_id) — a random
-- page of a large index per row, which held a 1M-row table's writes to about
-- 30,000 events/s. Now a batch of views is appended to the table and its
-- (txid, id) and created_at indexes only.
DROP INDEX rec_events_purchase;
CREATE UNIQUE INDEX rec_events_purchase ON rec_events (order_id, product_id)
    WHERE order_id IS NOT NULL;
