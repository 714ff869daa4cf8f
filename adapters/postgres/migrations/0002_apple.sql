-- Apple Wallet: credentials, PassKit device registrations with their
-- update tags, the push log and share links; and a pass remembers the
-- message and changed keys of the change that made its version.

ALTER TABLE passes ADD COLUMN message text NOT NULL DEFAULT '';
-- A JSON array of data keys.
ALTER TABLE passes ADD COLUMN changed jsonb NOT NULL DEFAULT '[]';

CREATE TABLE apple_credentials (
    workspace_id         text PRIMARY KEY,
    pass_type_identifier text NOT NULL CONSTRAINT apple_credentials_pass_type_identifier_key UNIQUE,
    team_identifier      text NOT NULL,
    certificate_pem      text NOT NULL,
    wwdr_pem             text NOT NULL,
    key_sealed           bytea NOT NULL,
    not_after            timestamptz NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);

-- A device is shared by every workspace whose passes it holds. Its row is
-- kept when its last registration goes, so last_tag never goes back: a
-- device that re-registers must not be handed tags it has seen already.
-- Writers lock device rows before the registrations of the device, and
-- several devices in ID order, so they cannot deadlock.
CREATE TABLE apple_devices (
    device_library_id text COLLATE "C" PRIMARY KEY,
    push_token        text NOT NULL,
    last_tag          bigint NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL
);

CREATE INDEX apple_devices_push_token ON apple_devices (push_token);

CREATE TABLE apple_registrations (
    device_library_id    text COLLATE "C" NOT NULL REFERENCES apple_devices (device_library_id),
    pass_type_identifier text NOT NULL,
    pass_id              text COLLATE "C" NOT NULL,
    workspace_id         text NOT NULL,
    tag                  bigint NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (device_library_id, pass_type_identifier, pass_id)
);

-- A pass's registrations (install state, touching passes); the device
-- makes it covering, so a touch never reads the table to find them.
CREATE INDEX apple_registrations_pass ON apple_registrations (workspace_id, pass_id, device_library_id);
-- "Serials updated since tag": a range scan per device and pass type.
CREATE INDEX apple_registrations_tag ON apple_registrations (device_library_id, pass_type_identifier, tag);
-- A workspace's devices in ID order (paging a template's devices).
CREATE INDEX apple_registrations_workspace_device ON apple_registrations (workspace_id, device_library_id, pass_id);

CREATE TABLE push_logs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id text NOT NULL,
    at           timestamptz NOT NULL,
    platform     text NOT NULL,
    pass_id      text NOT NULL,
    external_id  text NOT NULL,
    token_hash   text NOT NULL DEFAULT '',
    status       text NOT NULL,
    http_status  integer NOT NULL DEFAULT 0,
    reason       text NOT NULL DEFAULT '',
    latency_ms   bigint NOT NULL DEFAULT 0,
    job_id       bigint NOT NULL DEFAULT 0
);

CREATE INDEX push_logs_workspace_id ON push_logs (workspace_id, id);
CREATE INDEX push_logs_pass ON push_logs (workspace_id, pass_id, id);
CREATE INDEX push_logs_status ON push_logs (workspace_id, status, id);
CREATE INDEX push_logs_job ON push_logs (job_id, status) INCLUDE (token_hash);

CREATE TABLE share_links (
    id           text COLLATE "C" PRIMARY KEY,
    workspace_id text NOT NULL,
    pass_id      text NOT NULL,
    token        text NOT NULL CONSTRAINT share_links_token_key UNIQUE,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);

CREATE INDEX share_links_pass ON share_links (workspace_id, pass_id, created_at);
