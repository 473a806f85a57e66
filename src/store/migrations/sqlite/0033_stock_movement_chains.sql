-- A variant's stock movements are found by following a chain per stock row
-- instead of an index on (variant_id, id) (shop/inventory.h): every movement
-- points at the one before it for the same variant and warehouse, and the
-- stock row at the latest. Inserting into that index dirtied a page of its
-- own for nearly every movement once a shop had a few hundred thousand of
-- them, two to an order; a movement now only appends, and the stock row it
-- updates is the one its change already wrote. The database keeps each row's
-- latest itself (the trigger below), so every way a movement is written
-- keeps the chain, in the statement that writes it.
ALTER TABLE stock_movements ADD COLUMN prev_id BIGINT;
ALTER TABLE stock ADD COLUMN last_movement_id BIGINT;
UPDATE stock_movements SET prev_id = p.prev
  FROM (SELECT id, lag(id) OVER (PARTITION BY variant_id, warehouse_id ORDER BY id) AS prev
          FROM stock_movements) AS p
 WHERE p.id = stock_movements.id AND p.prev IS NOT NULL;
UPDATE stock SET last_movement_id = m.last
  FROM (SELECT variant_id, warehouse_id, max(id) AS last
          FROM stock_movements GROUP BY variant_id, warehouse_id) AS m
 WHERE m.variant_id = stock.variant_id AND m.warehouse_id = stock.warehouse_id;
DROP INDEX stock_movements_variant;
CREATE TRIGGER stock_movements_head AFTER INSERT ON stock_movements
BEGIN
    UPDATE stock SET last_movement_id = NEW.id
     WHERE variant_id = NEW.variant_id AND warehouse_id = NEW.warehouse_id;
END;
