-- Foundation: accounts, catalog, warehouses and stock, the outbox.
-- Time columns are UTC milliseconds since the epoch; money is integer cents.
-- Enumerations of more than two values are checked with `col = 'a' OR …`,
-- not `col IN (…)`: SQLite builds a temporary table for an IN list of more
-- than two constants each time a statement checks it, which showed in the
-- checkout profile (tests/api/test_sql_plans.py keeps the purchase path free
-- of temporary tables).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,          -- lower-cased
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,                 -- argon2id, libsodium's string form
    role          TEXT NOT NULL CHECK (role = 'customer' OR role = 'seller' OR
                                       role = 'admin'),
    trusted       INTEGER NOT NULL DEFAULT 0,    -- sellers: publish without review
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,             -- BLAKE2b of the token; never the token
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,  -- NULL for guests
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'guest')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE login_failures (
    id    INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    ip    TEXT NOT NULL,
    at    INTEGER NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE addresses (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    line1       TEXT NOT NULL,
    line2       TEXT,
    city        TEXT NOT NULL,
    region      TEXT,
    postal_code TEXT NOT NULL,
    country     TEXT NOT NULL,
    phone       TEXT,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX addresses_user ON addresses (user_id);

CREATE TABLE categories (
    id         INTEGER PRIMARY KEY,
    parent_id  INTEGER REFERENCES categories (id),
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,                    -- ancestor ids and own id: '/1/4/9/'
    depth      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX categories_parent ON categories (parent_id);

CREATE TABLE products (
    id           INTEGER PRIMARY KEY,
    seller_id    INTEGER NOT NULL REFERENCES users (id),
    category_id  INTEGER NOT NULL REFERENCES categories (id),
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    brand        TEXT NOT NULL,
    currency     TEXT NOT NULL,
    images       TEXT NOT NULL DEFAULT '[]',     -- JSON array of URLs
    specs        TEXT NOT NULL DEFAULT '{}',     -- JSON object of strings
    returnable   INTEGER NOT NULL DEFAULT 1,
    status       TEXT NOT NULL DEFAULT 'draft'
                 CHECK (status = 'draft' OR status = 'pending_review' OR
                        status = 'published' OR status = 'rejected'),
    review_note  TEXT,                           -- why a listing was rejected
    rating_count INTEGER NOT NULL DEFAULT 0,     -- approved reviews only
    rating_sum   INTEGER NOT NULL DEFAULT 0,
    rating_1     INTEGER NOT NULL DEFAULT 0,
    rating_2     INTEGER NOT NULL DEFAULT 0,
    rating_3     INTEGER NOT NULL DEFAULT 0,
    rating_4     INTEGER NOT NULL DEFAULT 0,
    rating_5     INTEGER NOT NULL DEFAULT 0,
    sales_count  INTEGER NOT NULL DEFAULT 0,     -- units sold (popularity)
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    published_at INTEGER
);
CREATE INDEX products_seller ON products (seller_id);
CREATE INDEX products_category ON products (category_id);
CREATE INDEX products_status ON products (status);

CREATE TABLE variants (
    id           INTEGER PRIMARY KEY,
    product_id   INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku          TEXT NOT NULL UNIQUE,
    options      TEXT NOT NULL DEFAULT '{}',     -- JSON object: {"size": "M"}
    price_cents  INTEGER NOT NULL CHECK (price_cents >= 0),
    weight_grams INTEGER NOT NULL DEFAULT 0 CHECK (weight_grams >= 0),
    position     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX variants_product ON variants (product_id);

CREATE TABLE warehouses (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    country     TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    created_at  INTEGER NOT NULL
);

-- INV-1: available = on_hand - reserved, never negative. The CHECK is the
-- last line of defence; the conditional UPDATEs are the first.
CREATE TABLE stock (
    variant_id   INTEGER NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    on_hand      INTEGER NOT NULL DEFAULT 0,
    reserved     INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (variant_id, warehouse_id),
    CHECK (on_hand >= 0 AND reserved >= 0 AND reserved <= on_hand)
);

-- INV-3: every movement, with before/after and who did it.
CREATE TABLE stock_movements (
    id              INTEGER PRIMARY KEY,
    variant_id      INTEGER NOT NULL,
    warehouse_id    INTEGER NOT NULL,
    kind            TEXT NOT NULL
                    CHECK (kind = 'adjust' OR kind = 'reserve' OR kind = 'release' OR
                           kind = 'consume' OR kind = 'restock' OR kind = 'return'),
    on_hand_before  INTEGER NOT NULL,
    on_hand_after   INTEGER NOT NULL,
    reserved_before INTEGER NOT NULL,
    reserved_after  INTEGER NOT NULL,
    actor_user_id   INTEGER,                     -- NULL for the system
    ref             TEXT,                        -- e.g. 'order:42', 'reservation:7'
    at              INTEGER NOT NULL
);
CREATE INDEX stock_movements_variant ON stock_movements (variant_id, id);

-- Every state change others care about writes an event here in the same
-- transaction. AUTOINCREMENT: ids are never reused, so a consumer's stored
-- position never skips an event. Writes are serialised, so ids also grow in
-- commit order.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    topic        TEXT NOT NULL,                  -- 'product.changed', 'stock.changed', ...
    aggregate_id INTEGER,
    payload      TEXT NOT NULL,                  -- JSON
    origin       INTEGER NOT NULL DEFAULT 0,     -- the writing process's instance id
    created_at   INTEGER NOT NULL
);

CREATE TABLE outbox_consumers (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,                 -- last outbox id handled
    updated_at INTEGER NOT NULL
);
