-- IDs sort by creation time byte-wise; COLLATE "C" keeps ORDER BY and
-- cursor comparisons byte-wise whatever the database locale.

CREATE TABLE workspaces (
    id         text PRIMARY KEY,
    name       text NOT NULL CONSTRAINT workspaces_name_key UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id),
    name         text NOT NULL,
    role         text NOT NULL,
    hash         text NOT NULL CONSTRAINT api_keys_hash_key UNIQUE,
    created_at   timestamptz NOT NULL
);

CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

-- A template is its JSON document plus the columns queries need.
CREATE TABLE templates (
    id           text COLLATE "C" PRIMARY KEY,
    workspace_id text NOT NULL,
    name         text NOT NULL,
    doc          jsonb NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE INDEX templates_workspace_id ON templates (workspace_id, id);

-- No foreign key to templates: a template may be deleted once its passes
-- are all deleted, and those passes stay readable.
CREATE TABLE passes (
    id                     text COLLATE "C" PRIMARY KEY,
    workspace_id           text NOT NULL,
    template_id            text NOT NULL,
    external_id            text NOT NULL,
    data                   jsonb NOT NULL,
    lifecycle              text NOT NULL,
    version                bigint NOT NULL,
    auth_token             text NOT NULL,
    wallet_status          text NOT NULL,
    apple_installed_at     timestamptz,
    google_installed_at    timestamptz,
    wallet_last_changed_at timestamptz,
    wallet_last_event      text NOT NULL DEFAULT '',
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    CONSTRAINT passes_external_id_key UNIQUE (workspace_id, template_id, external_id)
);

CREATE INDEX passes_workspace_id ON passes (workspace_id, id);
CREATE INDEX passes_template ON passes (workspace_id, template_id, lifecycle);

CREATE TABLE events (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           text NOT NULL CONSTRAINT events_id_key UNIQUE,
    workspace_id text NOT NULL,
    pass_id      text NOT NULL,
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    data         jsonb NOT NULL
);

CREATE INDEX events_workspace_seq ON events (workspace_id, seq);
CREATE INDEX events_pass ON events (workspace_id, pass_id, seq);

CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id text NOT NULL,
    kind         text NOT NULL,
    key          text NOT NULL,
    payload      bytea,
    state        text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    enqueued_at  timestamptz,
    done_at      timestamptz,
    CONSTRAINT jobs_kind_key UNIQUE (kind, key)
);

CREATE INDEX jobs_state_id ON jobs (state, id);

CREATE TABLE idempotency_keys (
    workspace_id text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    done         boolean NOT NULL DEFAULT false,
    status       integer NOT NULL DEFAULT 0,
    content_type text NOT NULL DEFAULT '',
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
