-- Backfill and insights.
--
-- changed_at orders passes for "everything that changed since T" walks
-- (microseconds, like every time here). A trigger stamps it on every write
-- that changes what the pass view shows (data, lifecycle, version, wallet
-- status and times; not the store's own bookkeeping), so no writer can
-- forget it: the greatest of the clock, updated_at, wallet_last_changed_at
-- and one more than the workspace's latest stamp. SQLite commits one writer
-- at a time, so stamps grow in commit order within a workspace: a pass
-- written after a walk read a page sorts after it and is not missed. A
-- column the pass view gains must be added to the update trigger.
ALTER TABLE passes ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
UPDATE passes SET changed_at = max(updated_at, coalesce(wallet_last_changed_at, 0));
CREATE INDEX passes_changed ON passes (workspace_id, changed_at, id);

CREATE TRIGGER passes_changed_insert AFTER INSERT ON passes
BEGIN
    UPDATE passes SET changed_at = max(
        CAST(unixepoch('subsec') * 1000000 AS INTEGER),
        NEW.updated_at,
        coalesce(NEW.wallet_last_changed_at, 0),
        (SELECT coalesce(max(changed_at), 0) + 1 FROM passes WHERE workspace_id = NEW.workspace_id))
    WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER passes_changed_update
AFTER UPDATE OF data, lifecycle, version, wallet_status, apple_installed_at, google_installed_at,
    wallet_last_changed_at, wallet_last_event, updated_at ON passes
WHEN NEW.data IS NOT OLD.data OR NEW.lifecycle IS NOT OLD.lifecycle OR NEW.version IS NOT OLD.version
    OR NEW.wallet_status IS NOT OLD.wallet_status OR NEW.apple_installed_at IS NOT OLD.apple_installed_at
    OR NEW.google_installed_at IS NOT OLD.google_installed_at OR NEW.wallet_last_changed_at IS NOT OLD.wallet_last_changed_at
    OR NEW.wallet_last_event IS NOT OLD.wallet_last_event OR NEW.updated_at IS NOT OLD.updated_at
BEGIN
    UPDATE passes SET changed_at = max(
        CAST(unixepoch('subsec') * 1000000 AS INTEGER),
        NEW.updated_at,
        coalesce(NEW.wallet_last_changed_at, 0),
        (SELECT coalesce(max(changed_at), 0) + 1 FROM passes WHERE workspace_id = NEW.workspace_id))
    WHERE rowid = NEW.rowid;
END;

-- Install insights count pass.installed and pass.uninstalled events per
-- platform, bucket and template. The platform and template come from the
-- event's data; the partial indexes hold only wallet events. The WHERE of
-- a query must repeat the indexes' type condition word for word for
-- SQLite to use them.
ALTER TABLE events ADD COLUMN platform TEXT GENERATED ALWAYS AS (json_extract(data, '$.platform')) VIRTUAL;
ALTER TABLE events ADD COLUMN template_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.templateId')) VIRTUAL;
CREATE INDEX events_wallet ON events (workspace_id, occurred_at, type, platform)
    WHERE type IN ('pass.installed', 'pass.uninstalled');
CREATE INDEX events_wallet_template ON events (workspace_id, template_id, occurred_at, type, platform)
    WHERE type IN ('pass.installed', 'pass.uninstalled');
