-- The durable mint ledger (SQLite). One row per mint key; see src/ledger/mod.rs for the state
-- machine. Times are RFC 3339 text in UTC (sqlx's encoding of chrono's DateTime<Utc>).
CREATE TABLE mint_records (
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
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'minted', 'deleted', 'failed')),
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    expires_at   TEXT,
    serves_until TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    UNIQUE (tenant, vendor, product, scope, interview_id, event_id, template_id)
);

CREATE INDEX mint_records_by_interview ON mint_records (interview_id);
