-- Google Wallet: issuer credentials, the nonces of the save and delete
-- callbacks already seen, and the time of the last callback applied to a
-- pass (callbacks can arrive out of order; an older one is ignored).

-- NULL until a callback is applied. Internal to the store: it is not part
-- of the pass.
ALTER TABLE passes ADD COLUMN google_event_at timestamptz;

CREATE TABLE google_credentials (
    workspace_id text PRIMARY KEY,
    issuer_id    text NOT NULL CONSTRAINT google_credentials_issuer_id_key UNIQUE,
    client_email text NOT NULL,
    key_sealed   bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE google_nonces (
    nonce        text PRIMARY KEY,
    workspace_id text NOT NULL,
    seen_at      timestamptz NOT NULL
);

-- Purging forgets nonces by age.
CREATE INDEX google_nonces_seen_at ON google_nonces (seen_at);
