-- A session CodeSignal reports over (its `liveInterviewFinished` webhook, confirmed over the
-- API) is `finished`: its link is spent, so `refresh` leaves it alone. SQLite cannot change a
-- CHECK constraint in place: the table is rebuilt with the same columns, rows, ids and
-- indexes (inside the migration's transaction, so a failure leaves the old table as it was).
CREATE TABLE mint_records_new (
    id           INTEGER PRIMARY KEY,
    tenant       TEXT    NOT NULL DEFAULT 'default',
    vendor       TEXT    NOT NULL CHECK (vendor IN ('codesignal', 'sandbox')),
    product      TEXT    NOT NULL CHECK (product IN ('live', 'template')),
    scope        TEXT    NOT NULL CHECK (scope IN ('interview', 'event')),
    interview_id TEXT    NOT NULL,
    -- '' for none, so the unique key below holds (NULLs are all distinct in a UNIQUE index).
    event_id     TEXT    NOT NULL DEFAULT '',
    template_id  TEXT    NOT NULL DEFAULT '',
    session_id   TEXT,
    url          TEXT,
    short_url    TEXT,
    state        TEXT    NOT NULL
        CHECK (state IN ('pending', 'minted', 'deleted', 'failed', 'finished')),
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    expires_at   TEXT,
    serves_until TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    lease_until  TEXT,
    candidate_email TEXT NOT NULL DEFAULT '',
    UNIQUE (tenant, vendor, product, scope, interview_id, event_id, template_id)
);

INSERT INTO mint_records_new (id, tenant, vendor, product, scope, interview_id, event_id,
    template_id, session_id, url, short_url, state, created_at, updated_at, expires_at,
    serves_until, attempts, last_error, lease_until, candidate_email)
SELECT id, tenant, vendor, product, scope, interview_id, event_id, template_id, session_id,
    url, short_url, state, created_at, updated_at, expires_at, serves_until, attempts,
    last_error, lease_until, candidate_email
FROM mint_records;

DROP TABLE mint_records;
ALTER TABLE mint_records_new RENAME TO mint_records;

CREATE INDEX mint_records_by_interview ON mint_records (interview_id);
CREATE INDEX mint_records_by_session ON mint_records (vendor, session_id);
CREATE INDEX mint_records_by_candidate ON mint_records (vendor, candidate_email, state);

-- CodeSignal's webhook deliveries, for de-duplication: it retries a delivery up to 25 times
-- over about 16 days. The signature covers only the URL, `event` and `triggeredOn`, so those
-- (per tenant) are the key; `session_id` is the live interview the first delivery named, and a
-- later one naming another under the same signature changes nothing. `outcome` is
-- 'received' while the first delivery is being acted on, then what was done ('failed' lets a
-- redelivery act again).
CREATE TABLE webhook_deliveries (
    tenant       TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    triggered_on INTEGER NOT NULL,
    session_id   TEXT    NOT NULL DEFAULT '',
    outcome      TEXT    NOT NULL,
    received_at  TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (tenant, event, triggered_on)
);
