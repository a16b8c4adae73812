-- Turns of the service's background jobs (PostgreSQL). Replicas sharing a ledger take turns at
-- a job (the refresher): the one that takes the row holds it until `lease_until`, renews it
-- while it works, and sets when the job is next due when done; a replica that died mid-run
-- leaves a lease that runs out, and another takes over. `generation` changes on every write, so
-- each write is a compare-and-swap on the row as it was read.
CREATE TABLE service_turns (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL DEFAULT '',
    lease_until TIMESTAMPTZ,
    due_at TIMESTAMPTZ NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    runs BIGINT NOT NULL DEFAULT 0,
    last_holder TEXT NOT NULL DEFAULT '',
    last_run_at TIMESTAMPTZ
);
