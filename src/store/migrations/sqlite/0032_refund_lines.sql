-- What each refund paid back for each order line it was for (shop/refund.h):
-- a cancellation its lines, units back to the sender theirs, a return its
-- lines' parts. Analytics gives a refund to the sellers of these lines
-- (shop/analytics.h). Refunds from before have no rows here: analytics
-- splits those over the order's sellers in proportion, as it did.
CREATE TABLE refund_lines (
    refund_id     INTEGER NOT NULL REFERENCES refunds (id) ON DELETE CASCADE,
    order_line_id INTEGER NOT NULL REFERENCES order_lines (id) ON DELETE CASCADE,
    amount_cents  INTEGER NOT NULL CHECK (amount_cents >= 0),
    PRIMARY KEY (refund_id, order_line_id)
);
CREATE INDEX refund_lines_line ON refund_lines (order_line_id, refund_id);
