-- Fraud rules (CHK-5, shop/fraud.h): every order keeps its verdict, and the
-- facts the rules count are indexed by what they are counted by.

-- Orders gain 'on_hold' (held for a fraud review) and payments 'authorized'
-- (authorized, not captured, while held). SQLite cannot alter a CHECK
-- constraint; its documented way ("ALTER TABLE", making other kinds of table
-- schema changes) is to edit the table's text in sqlite_schema, safe when
-- every existing row satisfies the new constraint: here the new ones only
-- allow one more value. A rebuild of orders is not an option: with
-- foreign_keys on (they cannot be turned off inside the migration's
-- transaction) dropping the old table would cascade into every order's lines,
-- history and payments. The edit runs in the migration's transaction;
-- writable_schema=RESET reloads this connection's schema, and the ALTER
-- TABLEs below change the schema cookie, so every other connection reloads it
-- too. The guard below aborts the migration when the text did not change.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'status = ''delivered'' OR status = ''cancelled''',
                     'status = ''delivered'' OR status = ''cancelled'' OR status = ''on_hold''')
 WHERE type = 'table' AND name = 'orders';
UPDATE sqlite_schema
   SET sql = replace(sql, 'status = ''failed'' OR status = ''voided''',
                     'status = ''failed'' OR status = ''voided'' OR status = ''authorized''')
 WHERE type = 'table' AND name = 'payments';
PRAGMA writable_schema = RESET;
CREATE TEMP TABLE migration_0024_guard (edited INTEGER NOT NULL CHECK (edited = 2));
INSERT INTO migration_0024_guard
SELECT count(*) FROM sqlite_schema
 WHERE type = 'table' AND ((name = 'orders' AND sql LIKE '%''on_hold''%') OR
                           (name = 'payments' AND sql LIKE '%''authorized''%'));
DROP TABLE migration_0024_guard;

-- The verdict, stored with the order (NULL on orders placed with scoring off
-- or before this migration), and the admin's review of a held order.
ALTER TABLE orders ADD COLUMN fraud_decision TEXT;     -- approve | hold
ALTER TABLE orders ADD COLUMN fraud_score INTEGER;
ALTER TABLE orders ADD COLUMN fraud_reasons TEXT;      -- JSON array of rule names
ALTER TABLE orders ADD COLUMN fraud_review TEXT;       -- approved | rejected, once claimed
ALTER TABLE orders ADD COLUMN fraud_reviewed_at INTEGER;
-- What velocity is counted by: the client's address and the card's gateway token.
ALTER TABLE orders ADD COLUMN client_ip TEXT;
ALTER TABLE orders ADD COLUMN card_token TEXT;
CREATE INDEX orders_ip_created ON orders (client_ip, created_at);
CREATE INDEX orders_card_created ON orders (card_token, created_at);
-- The review queue, oldest first.
CREATE INDEX orders_on_hold ON orders (id) WHERE status = 'on_hold';

-- The card's billing country, when the customer gave one.
ALTER TABLE payment_methods ADD COLUMN billing_country TEXT;

-- Declined card payments: the order that failed is deleted with its payment
-- row, so the rule "repeated declines" needs its own record.
CREATE TABLE fraud_declines (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    card_token TEXT,
    code       TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX fraud_declines_user ON fraud_declines (user_id, at);
CREATE INDEX fraud_declines_card ON fraud_declines (card_token, at);
