-- Plans are records: the request as received and the plan as returned, byte for byte, with the
-- catalog and throughput-model versions they were made with.
CREATE TABLE plans (
    id                 TEXT    NOT NULL PRIMARY KEY,
    created_at_unix_ms BIGINT  NOT NULL,
    catalog_version    TEXT    NOT NULL,
    throughput_version TEXT    NOT NULL DEFAULT '',
    request_json       TEXT    NOT NULL,
    plan_json          TEXT    NOT NULL,
    total_usd          REAL    NOT NULL
);

-- Keyset paging, newest first.
CREATE INDEX plans_created_at_id ON plans (created_at_unix_ms, id);
