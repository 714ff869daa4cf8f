-- A pass remembers what mapped triggers did to it: per data key, when the
-- source says its value was written (so a stale retry cannot overwrite
-- newer data), and the keys of the last changes applied (so a retried job
-- applies once). JSON: {"times": {"key": time}, "recent": ["..."]}.
ALTER TABLE passes ADD COLUMN source_state jsonb NOT NULL DEFAULT '{}';
