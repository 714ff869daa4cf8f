-- Google Wallet: issuer credentials, the nonces of the save and delete
-- callbacks already seen, and the time of the last callback applied to a
-- pass (callbacks can arrive out of order; an older one is ignored).

-- Microseconds since the epoch; NULL until a callback is applied. Internal
-- to the store: it is not part of the pass.
ALTER TABLE passes ADD COLUMN google_event_at INTEGER;

CREATE TABLE google_credentials (
    workspace_id TEXT PRIMARY KEY,
    issuer_id    TEXT NOT NULL UNIQUE,
    client_email TEXT NOT NULL,
    key_sealed   BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE google_nonces (
    nonce        TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    seen_at      INTEGER NOT NULL
);

-- Purging forgets nonces by age.
CREATE INDEX google_nonces_seen_at ON google_nonces (seen_at);
