-- Nodes that fleet-agent registered, and the observations they reported. Observations are
-- keyed by (node_id, seq) so a resend after an outage is stored once.
CREATE TABLE nodes (
    node_id               TEXT   NOT NULL PRIMARY KEY,
    sku                   TEXT   NOT NULL,
    labels_json           TEXT   NOT NULL DEFAULT '{}',
    registered_at_unix_ms BIGINT NOT NULL,
    last_seen_unix_ms     BIGINT NOT NULL
);

CREATE TABLE observations (
    node_id                TEXT    NOT NULL,
    seq                    BIGINT  NOT NULL,
    sku                    TEXT    NOT NULL,
    model                  TEXT    NOT NULL,
    quant                  TEXT    NOT NULL,
    worker_url             TEXT    NOT NULL,
    window_start_unix_ms   BIGINT  NOT NULL,
    window_end_unix_ms     BIGINT  NOT NULL,
    prompt_tokens          BIGINT  NOT NULL,
    predicted_tokens       BIGINT  NOT NULL,
    prompt_seconds         DOUBLE PRECISION NOT NULL,
    predicted_seconds      DOUBLE PRECISION NOT NULL,
    prefill_tok_s          DOUBLE PRECISION NOT NULL,
    decode_tok_s           DOUBLE PRECISION NOT NULL,
    aggregate_decode_tok_s DOUBLE PRECISION NOT NULL,
    mean_concurrency       DOUBLE PRECISION NOT NULL,
    queue_depth            DOUBLE PRECISION NOT NULL,
    cache_hit_rate         DOUBLE PRECISION NOT NULL,
    power_w                DOUBLE PRECISION,
    kind                   TEXT    NOT NULL,
    concurrency            BIGINT  NOT NULL,
    received_at_unix_ms    BIGINT  NOT NULL,
    PRIMARY KEY (node_id, seq)
);

-- Calibration reads one configuration's recent windows.
CREATE INDEX observations_config_window ON observations (sku, model, quant, concurrency, window_end_unix_ms);
