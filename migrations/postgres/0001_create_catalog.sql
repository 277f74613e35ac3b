-- The catalog: hardware SKUs, benchmarks, hosted API offers, and key/value metadata including
-- the catalog version counter that every catalog write bumps.
CREATE TABLE hardware_skus (
    id                   TEXT    NOT NULL PRIMARY KEY,
    name                 TEXT    NOT NULL,
    accelerators         BIGINT  NOT NULL,
    memory_per_device_gb DOUBLE PRECISION NOT NULL,
    unified_memory       BOOLEAN NOT NULL,
    price_usd            DOUBLE PRECISION NOT NULL,
    power_full_w         DOUBLE PRECISION NOT NULL,
    power_idle_w         DOUBLE PRECISION NOT NULL,
    backend              TEXT    NOT NULL,
    provenance_json      TEXT    NOT NULL DEFAULT '{}'
);

CREATE TABLE benchmarks (
    sku             TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    quant           TEXT    NOT NULL,
    concurrency     BIGINT  NOT NULL,
    devices_used    BIGINT  NOT NULL,
    vram_used_gb    DOUBLE PRECISION NOT NULL,
    decode_tok_s    DOUBLE PRECISION NOT NULL,
    prefill_tok_s   DOUBLE PRECISION NOT NULL,
    power_w         DOUBLE PRECISION NOT NULL,
    offload         BOOLEAN NOT NULL,
    provenance_json TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (sku, model, quant, concurrency)
);

CREATE TABLE api_offers (
    id                     TEXT NOT NULL PRIMARY KEY,
    name                   TEXT NOT NULL,
    model                  TEXT NOT NULL,
    input_usd_per_million  DOUBLE PRECISION NOT NULL,
    output_usd_per_million DOUBLE PRECISION NOT NULL,
    ttft_p50_ms            DOUBLE PRECISION NOT NULL,
    ttft_p95_ms            DOUBLE PRECISION NOT NULL,
    provenance_json        TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE catalog_meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO catalog_meta (key, value) VALUES ('catalog_version', '0');
