-- The catalog: hardware SKUs, benchmarks, hosted API offers, and key/value metadata including
-- the catalog version counter that every catalog write bumps.
CREATE TABLE hardware_skus (
    id                   TEXT    NOT NULL PRIMARY KEY,
    name                 TEXT    NOT NULL,
    accelerators         INTEGER NOT NULL,
    memory_per_device_gb REAL    NOT NULL,
    unified_memory       BOOLEAN NOT NULL,
    price_usd            REAL    NOT NULL,
    power_full_w         REAL    NOT NULL,
    power_idle_w         REAL    NOT NULL,
    backend              TEXT    NOT NULL,
    provenance_json      TEXT    NOT NULL DEFAULT '{}'
);

CREATE TABLE benchmarks (
    sku             TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    quant           TEXT    NOT NULL,
    concurrency     INTEGER NOT NULL,
    devices_used    INTEGER NOT NULL,
    vram_used_gb    REAL    NOT NULL,
    decode_tok_s    REAL    NOT NULL,
    prefill_tok_s   REAL    NOT NULL,
    power_w         REAL    NOT NULL,
    offload         BOOLEAN NOT NULL,
    provenance_json TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (sku, model, quant, concurrency)
);

CREATE TABLE api_offers (
    id                     TEXT NOT NULL PRIMARY KEY,
    name                   TEXT NOT NULL,
    model                  TEXT NOT NULL,
    input_usd_per_million  REAL NOT NULL,
    output_usd_per_million REAL NOT NULL,
    ttft_p50_ms            REAL NOT NULL,
    ttft_p95_ms            REAL NOT NULL,
    provenance_json        TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE catalog_meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO catalog_meta (key, value) VALUES ('catalog_version', '0');
