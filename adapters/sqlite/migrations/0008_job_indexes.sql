-- The relay and the sweeper read the pending and the enqueued jobs, a
-- small moving part of a table that keeps every finished job until its
-- retention ends. Partial indexes hold just those rows (the queries name
-- the states as literals so the planner can use them); a backlog no
-- longer makes each read scan the finished jobs.
CREATE INDEX jobs_pending ON jobs (id) WHERE state = 'pending';
CREATE INDEX jobs_enqueued ON jobs (id) WHERE state = 'enqueued';
