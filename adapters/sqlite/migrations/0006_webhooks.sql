-- Outbound webhook subscriptions, their deliveries (one per event and
-- subscription, the webhook-id) and every attempt of each delivery.

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL CHECK (json_valid(events)),
    template_id     TEXT NOT NULL DEFAULT '',
    fields          TEXT CHECK (json_valid(fields)),
    secrets_sealed  BLOB NOT NULL,
    origin          TEXT NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    disabled_at     INTEGER,
    disabled_reason TEXT NOT NULL DEFAULT '',
    failing_since   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX webhooks_workspace_id ON webhooks (workspace_id, id);

-- Deliveries and attempts go with their subscription.
CREATE TABLE webhook_deliveries (
    id                   TEXT PRIMARY KEY,
    workspace_id         TEXT NOT NULL,
    subscription_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id             TEXT NOT NULL,
    event_type           TEXT NOT NULL,
    status               TEXT NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    last_response_status INTEGER NOT NULL DEFAULT 0,
    last_attempt_at      INTEGER,
    next_attempt_at      INTEGER,
    created_at           INTEGER NOT NULL
);

-- Newest first per subscription.
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    request_headers TEXT NOT NULL CHECK (json_valid(request_headers)),
    response_status INTEGER NOT NULL,
    response_body   TEXT NOT NULL,
    latency_us      INTEGER NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt)
);
