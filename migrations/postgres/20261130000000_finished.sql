-- A session CodeSignal reports over (its `liveInterviewFinished` webhook, confirmed over the
-- API) is `finished`: its link is spent, so `refresh` leaves it alone. The constraint is the
-- one PostgreSQL named for the first migration's column CHECK; no IF EXISTS, so a ledger whose
-- constraint is named otherwise fails this migration rather than keeping the old list.
ALTER TABLE mint_records DROP CONSTRAINT mint_records_state_check;
ALTER TABLE mint_records ADD CONSTRAINT mint_records_state_check
    CHECK (state IN ('pending', 'minted', 'deleted', 'failed', 'finished'));

-- CodeSignal's webhook deliveries, for de-duplication: it retries a delivery up to 25 times
-- over about 16 days. The signature covers only the URL, `event` and `triggeredOn`, so those
-- (per tenant) are the key; `session_id` is the live interview the first delivery named, and a
-- later one naming another under the same signature changes nothing. `outcome` is
-- 'received' while the first delivery is being acted on, then what was done ('failed' lets a
-- redelivery act again).
CREATE TABLE webhook_deliveries (
    tenant       TEXT        NOT NULL,
    event        TEXT        NOT NULL,
    triggered_on BIGINT      NOT NULL,
    session_id   TEXT        NOT NULL DEFAULT '',
    outcome      TEXT        NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, event, triggered_on)
);
