-- Timestamps are INTEGER microseconds since the Unix epoch (UTC): they
-- compare and sort as numbers and keep the precision PostgreSQL keeps.

CREATE TABLE workspaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL
);

CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

-- A template is its JSON document plus the columns queries need.
CREATE TABLE templates (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    doc          TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE INDEX templates_workspace_id ON templates (workspace_id, id);

-- No foreign key to templates: a template may be deleted once its passes
-- are all deleted, and those passes stay readable.
CREATE TABLE passes (
    id                     TEXT PRIMARY KEY,
    workspace_id           TEXT NOT NULL,
    template_id            TEXT NOT NULL,
    external_id            TEXT NOT NULL,
    data                   TEXT NOT NULL,
    lifecycle              TEXT NOT NULL,
    version                INTEGER NOT NULL,
    auth_token             TEXT NOT NULL,
    wallet_status          TEXT NOT NULL,
    apple_installed_at     INTEGER,
    google_installed_at    INTEGER,
    wallet_last_changed_at INTEGER,
    wallet_last_event      TEXT NOT NULL DEFAULT '',
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    CONSTRAINT passes_external_id UNIQUE (workspace_id, template_id, external_id)
);

CREATE INDEX passes_workspace_id ON passes (workspace_id, id);
CREATE INDEX passes_template ON passes (workspace_id, template_id, lifecycle);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL,
    pass_id      TEXT NOT NULL,
    type         TEXT NOT NULL,
    occurred_at  INTEGER NOT NULL,
    data         TEXT NOT NULL
);

CREATE INDEX events_workspace_seq ON events (workspace_id, seq);
CREATE INDEX events_pass ON events (workspace_id, pass_id, seq);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL,
    payload      BLOB,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    enqueued_at  INTEGER,
    done_at      INTEGER,
    CONSTRAINT jobs_kind_key UNIQUE (kind, key)
);

CREATE INDEX jobs_state_id ON jobs (state, id);

CREATE TABLE idempotency_keys (
    workspace_id TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    done         INTEGER NOT NULL DEFAULT 0,
    status       INTEGER NOT NULL DEFAULT 0,
    content_type TEXT NOT NULL DEFAULT '',
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
