-- Leases and candidates (SQLite). A pending intent holds a lease its worker renews while the
-- mint is in flight; one whose lease ran out was left by a worker that died, and is reconciled
-- with a look-up. The candidate's email groups the intents a look-up by email could confuse.
ALTER TABLE mint_records ADD COLUMN lease_until TEXT;
ALTER TABLE mint_records ADD COLUMN candidate_email TEXT NOT NULL DEFAULT '';

CREATE INDEX mint_records_by_session ON mint_records (vendor, session_id);
CREATE INDEX mint_records_by_candidate ON mint_records (vendor, candidate_email, state);
