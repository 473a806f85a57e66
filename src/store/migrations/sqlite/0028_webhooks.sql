-- Outgoing webhooks (OPS-4). shop/webhook.h is the essay: subscriptions,
-- deliveries and their state machine, signatures, retries.
--
-- A subscription's `events` is ",order.placed,stock.changed," (commas at both
-- ends, so a search for ",type," finds a type; matched in shop/webhook.c) or ",*,".
-- During a secret rotation the previous secret keeps signing beside the new
-- one until `previous_until`.
CREATE TABLE webhooks (
    id               INTEGER PRIMARY KEY,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    secret           TEXT NOT NULL,
    previous_secret  TEXT,
    previous_until   INTEGER,
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status = 'active' OR status = 'disabled'),
    disabled_reason  TEXT,
    failing_since    INTEGER,              -- first failure of the current run; NULL after a success
    created_at       INTEGER NOT NULL
);

-- One row per (subscription, event): the unique key makes a redelivered event
-- change nothing. `body` is the exact JSON sent (and signed) every attempt.
-- pending rows are due at next_at; a worker that takes one moves next_at past
-- its request's timeout (a claim), so a process that dies mid-request leaves
-- the row to be tried again.
CREATE TABLE webhook_deliveries (
    id             INTEGER PRIMARY KEY,
    webhook_id     INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id       INTEGER NOT NULL,
    event_type     TEXT NOT NULL,
    body           TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_at        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    last_status    INTEGER,                -- the receiver's HTTP status, NULL when none
    last_error     TEXT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id);
