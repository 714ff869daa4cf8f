-- Backfill and insights.
--
-- changed_at orders passes for "everything that changed since T" walks. A
-- trigger stamps it on every write that changes what the pass view shows
-- (data, lifecycle, version, wallet status and times; not the store's own
-- bookkeeping), so no writer can forget it: the greatest of the database
-- clock, updated_at and wallet_last_changed_at.
--
-- Concurrent transactions commit in another order than they stamp, so a
-- walk could read past a stamp whose transaction commits later. To rule
-- that out, a writer holds a shared advisory lock on its workspace from the
-- stamp until its commit, and a walk takes the same lock exclusively, for
-- an instant, before each page: it reads the clock while holding it, and
-- pages only passes stamped before that reading. Every stamp before it
-- belongs to a committed transaction; every later writer stamps after it.
-- Writers never wait for each other on that lock, only for a walk taking
-- its instant (which lasts as long as the writes already in flight). A
-- column the pass view gains must be added to the update trigger.
ALTER TABLE passes ADD COLUMN changed_at timestamptz;
UPDATE passes SET changed_at = greatest(updated_at, wallet_last_changed_at);
ALTER TABLE passes ALTER COLUMN changed_at SET NOT NULL;
CREATE INDEX passes_changed ON passes (workspace_id, changed_at, id);

-- 1885434739 is "pass" in ASCII: the advisory lock class of pass changes.
CREATE FUNCTION passes_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1885434739, hashtext(NEW.workspace_id));
    NEW.changed_at := greatest(clock_timestamp(), NEW.updated_at, NEW.wallet_last_changed_at);
    IF TG_OP = 'UPDATE' THEN
        NEW.changed_at := greatest(NEW.changed_at, OLD.changed_at);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER passes_changed_insert BEFORE INSERT ON passes
    FOR EACH ROW EXECUTE FUNCTION passes_stamp_change();

CREATE TRIGGER passes_changed_update
    BEFORE UPDATE OF data, lifecycle, version, wallet_status, apple_installed_at, google_installed_at,
        wallet_last_changed_at, wallet_last_event, updated_at ON passes
    FOR EACH ROW
    WHEN ((OLD.data, OLD.lifecycle, OLD.version, OLD.wallet_status, OLD.apple_installed_at, OLD.google_installed_at,
           OLD.wallet_last_changed_at, OLD.wallet_last_event, OLD.updated_at)
          IS DISTINCT FROM
          (NEW.data, NEW.lifecycle, NEW.version, NEW.wallet_status, NEW.apple_installed_at, NEW.google_installed_at,
           NEW.wallet_last_changed_at, NEW.wallet_last_event, NEW.updated_at))
    EXECUTE FUNCTION passes_stamp_change();

-- Install insights count pass.installed and pass.uninstalled events per
-- platform, bucket and template. The platform and template come from the
-- event's data; the partial indexes hold only wallet events and cover the
-- counting queries.
ALTER TABLE events
    ADD COLUMN platform text GENERATED ALWAYS AS (data->>'platform') STORED,
    ADD COLUMN template_id text GENERATED ALWAYS AS (data->>'templateId') STORED;
CREATE INDEX events_wallet ON events (workspace_id, occurred_at) INCLUDE (type, platform)
    WHERE type IN ('pass.installed', 'pass.uninstalled');
CREATE INDEX events_wallet_template ON events (workspace_id, template_id, occurred_at) INCLUDE (type, platform)
    WHERE type IN ('pass.installed', 'pass.uninstalled');
