-- Outbound webhook subscriptions, their deliveries (one per event and
-- subscription, the webhook-id) and every attempt of each delivery.

CREATE TABLE webhooks (
    id              text COLLATE "C" PRIMARY KEY,
    workspace_id    text NOT NULL,
    url             text NOT NULL,
    events          jsonb NOT NULL,
    template_id     text NOT NULL DEFAULT '',
    fields          jsonb,
    secrets_sealed  bytea NOT NULL,
    origin          text NOT NULL,
    disabled        boolean NOT NULL DEFAULT false,
    disabled_at     timestamptz,
    disabled_reason text NOT NULL DEFAULT '',
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX webhooks_workspace_id ON webhooks (workspace_id, id);

-- Deliveries and attempts go with their subscription.
CREATE TABLE webhook_deliveries (
    id                   text COLLATE "C" PRIMARY KEY,
    workspace_id         text NOT NULL,
    subscription_id      text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id             text NOT NULL,
    event_type           text NOT NULL,
    status               text NOT NULL,
    attempts             integer NOT NULL DEFAULT 0,
    last_response_status integer NOT NULL DEFAULT 0,
    last_attempt_at      timestamptz,
    next_attempt_at      timestamptz,
    created_at           timestamptz NOT NULL
);

-- Newest first per subscription.
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id     text COLLATE "C" NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    at              timestamptz NOT NULL,
    request_headers jsonb NOT NULL,
    response_status integer NOT NULL,
    response_body   text NOT NULL,
    latency_us      bigint NOT NULL,
    error           text NOT NULL DEFAULT '',
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, attempt)
);
