-- Connectors (inbound webhook endpoints), the triggers they accept and
-- the versioned mapping files that turn triggers into pass commands.

CREATE TABLE connectors (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    config         TEXT CHECK (json_valid(config)),
    secrets_sealed BLOB NOT NULL,
    mapping        TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CONSTRAINT connectors_name UNIQUE (workspace_id, name)
);

CREATE INDEX connectors_workspace_id ON connectors (workspace_id, id);

-- No foreign key to connectors: a deleted connector's triggers stay
-- readable. Payload, headers and outcome are JSON text, kept as they came
-- and checked, as PostgreSQL's json type checks them.
CREATE TABLE triggers (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    topic        TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    payload      TEXT NOT NULL CHECK (json_valid(payload)),
    headers      TEXT CHECK (json_valid(headers)),
    occurred_at  INTEGER,
    received_at  INTEGER NOT NULL,
    status       TEXT NOT NULL,
    outcome      TEXT CHECK (json_valid(outcome)),
    updated_at   INTEGER NOT NULL,
    CONSTRAINT triggers_dedupe_key UNIQUE (connector_id, dedupe_key)
);

-- Newest first: IDs sort by creation time.
CREATE INDEX triggers_workspace_id ON triggers (workspace_id, id DESC);

-- Every version of a mapping file is kept; the latest is the highest.
CREATE TABLE mappings (
    workspace_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    source       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name, version)
);
