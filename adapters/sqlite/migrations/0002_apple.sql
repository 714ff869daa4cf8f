-- Apple Wallet: credentials, PassKit device registrations with their
-- update tags, the push log and share links; and a pass remembers the
-- message and changed keys of the change that made its version.

ALTER TABLE passes ADD COLUMN message TEXT NOT NULL DEFAULT '';
-- A JSON array of data keys.
ALTER TABLE passes ADD COLUMN changed TEXT NOT NULL DEFAULT '[]';

CREATE TABLE apple_credentials (
    workspace_id         TEXT PRIMARY KEY,
    pass_type_identifier TEXT NOT NULL UNIQUE,
    team_identifier      TEXT NOT NULL,
    certificate_pem      TEXT NOT NULL,
    wwdr_pem             TEXT NOT NULL,
    key_sealed           BLOB NOT NULL,
    not_after            INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

-- A device is shared by every workspace whose passes it holds. Its row is
-- kept when its last registration goes, so last_tag never goes back: a
-- device that re-registers must not be handed tags it has seen already.
CREATE TABLE apple_devices (
    device_library_id TEXT PRIMARY KEY,
    push_token        TEXT NOT NULL,
    last_tag          INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL
);

CREATE INDEX apple_devices_push_token ON apple_devices (push_token);

CREATE TABLE apple_registrations (
    device_library_id    TEXT NOT NULL REFERENCES apple_devices (device_library_id),
    pass_type_identifier TEXT NOT NULL,
    pass_id              TEXT NOT NULL,
    workspace_id         TEXT NOT NULL,
    tag                  INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
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
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    at           INTEGER NOT NULL,
    platform     TEXT NOT NULL,
    pass_id      TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    token_hash   TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    http_status  INTEGER NOT NULL DEFAULT 0,
    reason       TEXT NOT NULL DEFAULT '',
    latency_ms   INTEGER NOT NULL DEFAULT 0,
    job_id       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX push_logs_workspace_id ON push_logs (workspace_id, id);
CREATE INDEX push_logs_pass ON push_logs (workspace_id, pass_id, id);
CREATE INDEX push_logs_status ON push_logs (workspace_id, status, id);
CREATE INDEX push_logs_job ON push_logs (job_id, status, token_hash);

CREATE TABLE share_links (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    pass_id      TEXT NOT NULL,
    token        TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE INDEX share_links_pass ON share_links (workspace_id, pass_id, created_at);
