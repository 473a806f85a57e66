-- Flash sales (FLS-1…3): units set aside, a FIFO waiting room, tokens.

-- Secrets the shop generates once (e.g. the key that signs purchase tokens).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Units of the sale are accounted as: sold (paid orders) + in_flight (orders
-- being paid) + held (admitted customers' tokens) + remaining = quantity.
CREATE TABLE flash_sales (
    id                 INTEGER PRIMARY KEY,
    variant_id         INTEGER NOT NULL REFERENCES variants (id),
    product_id         INTEGER NOT NULL REFERENCES products (id),
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    sold               INTEGER NOT NULL DEFAULT 0,
    in_flight          INTEGER NOT NULL DEFAULT 0,
    held               INTEGER NOT NULL DEFAULT 0,
    price_cents        INTEGER NOT NULL CHECK (price_cents > 0),
    currency           TEXT NOT NULL,
    starts_at          INTEGER NOT NULL,
    ends_at            INTEGER NOT NULL,
    per_customer_limit INTEGER NOT NULL CHECK (per_customer_limit > 0),
    admit_per_second   INTEGER NOT NULL CHECK (admit_per_second > 0),
    status             TEXT NOT NULL CHECK (status = 'scheduled' OR status = 'live' OR
                                            status = 'ended'),
    admitted_through   INTEGER NOT NULL DEFAULT 0, -- highest queue position admitted
    last_admit_at      INTEGER NOT NULL DEFAULT 0,
    created_by         INTEGER,
    created_at         INTEGER NOT NULL,
    started_at         INTEGER,
    ended_at           INTEGER,
    CHECK (sold >= 0 AND in_flight >= 0 AND held >= 0 AND sold + in_flight + held <= quantity),
    CHECK (ends_at > starts_at)
);
CREATE INDEX flash_sales_status ON flash_sales (status, starts_at);

-- The set-aside units, per warehouse (they are in stock.reserved).
CREATE TABLE flash_sale_stock (
    sale_id      INTEGER NOT NULL REFERENCES flash_sales (id),
    warehouse_id INTEGER NOT NULL,
    left_qty     INTEGER NOT NULL CHECK (left_qty >= 0),
    PRIMARY KEY (sale_id, warehouse_id)
);

CREATE TABLE flash_sale_queue (
    sale_id          INTEGER NOT NULL REFERENCES flash_sales (id),
    user_id          INTEGER NOT NULL REFERENCES users (id),
    position         INTEGER NOT NULL,           -- 1, 2, 3 … in join order
    status           TEXT NOT NULL
                     CHECK (status = 'waiting' OR status = 'admitted' OR
                            status = 'purchasing' OR status = 'purchased' OR
                            status = 'expired'),
    held             INTEGER NOT NULL DEFAULT 0, -- units this admission holds
    joined_at        INTEGER NOT NULL,
    admitted_at      INTEGER,
    token_expires_at INTEGER,
    order_id         INTEGER,
    PRIMARY KEY (sale_id, user_id),
    UNIQUE (sale_id, position)
);
CREATE INDEX flash_sale_queue_status ON flash_sale_queue (sale_id, status, position);
CREATE INDEX flash_sale_queue_expiry ON flash_sale_queue (status, token_expires_at);
