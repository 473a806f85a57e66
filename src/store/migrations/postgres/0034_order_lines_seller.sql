-- A line keeps the seller of its product, and a seller's orders are found by
-- (seller_id, order_id) instead of (product_id, order_id): an order's lines
-- were each an insert into a random leaf of the product index once a shop had
-- sold a few hundred thousand lines (0.7 of the 10 pages an order wrote to
-- the WAL); a seller's range grows at its end. The seller's queue
-- (GET /v1/seller/orders) was the product index's only reader.
ALTER TABLE order_lines ADD COLUMN seller_id BIGINT;
UPDATE order_lines SET seller_id = (SELECT p.seller_id FROM products p
                                     WHERE p.id = order_lines.product_id);
CREATE INDEX order_lines_seller ON order_lines (seller_id, order_id);
DROP INDEX order_lines_product;
