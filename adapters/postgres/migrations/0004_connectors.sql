-- Connectors (inbound webhook endpoints), the triggers they accept and
-- the versioned mapping files that turn triggers into pass commands.

CREATE TABLE connectors (
    id             text COLLATE "C" PRIMARY KEY,
    workspace_id   text NOT NULL,
    name           text NOT NULL,
    kind           text NOT NULL,
    config         jsonb,
    secrets_sealed bytea NOT NULL,
    mapping        text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT connectors_name_key UNIQUE (workspace_id, name)
);

CREATE INDEX connectors_workspace_id ON connectors (workspace_id, id);

-- No foreign key to connectors: a deleted connector's triggers stay
-- readable. The payload and the outcome are json, not jsonb: kept as they
-- came (key order, numbers), and cheaper to write on the hot path; the
-- headers too, which nothing queries into.
CREATE TABLE triggers (
    id           text COLLATE "C" PRIMARY KEY,
    workspace_id text NOT NULL,
    connector_id text NOT NULL,
    topic        text NOT NULL,
    dedupe_key   text NOT NULL,
    source       text NOT NULL DEFAULT '',
    payload      json NOT NULL,
    headers      json,
    occurred_at  timestamptz,
    received_at  timestamptz NOT NULL,
    status       text NOT NULL,
    outcome      json,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT triggers_dedupe_key UNIQUE (connector_id, dedupe_key)
);

-- Newest first: IDs sort by creation time.
CREATE INDEX triggers_workspace_id ON triggers (workspace_id, id DESC);

-- Every version of a mapping file is kept; the latest is the highest.
CREATE TABLE mappings (
    workspace_id text NOT NULL,
    name         text COLLATE "C" NOT NULL,
    version      bigint NOT NULL,
    source       text NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT mappings_pkey PRIMARY KEY (workspace_id, name, version)
);
