-- Physics specs of each hardware SKU and the context a benchmark ran at. Every column is
-- nullable: NULL means "not given", so rows written before this migration keep working and
-- the planner fills them with its spec defaults, marked assumed.
ALTER TABLE hardware_skus
    ADD COLUMN memory_bandwidth_gb_s   DOUBLE PRECISION,
    ADD COLUMN compute_tflops          DOUBLE PRECISION,
    ADD COLUMN host_ram_gb             DOUBLE PRECISION,
    ADD COLUMN host_ram_bandwidth_gb_s DOUBLE PRECISION,
    ADD COLUMN host_link_gb_s          DOUBLE PRECISION,
    ADD COLUMN disk_read_gb_s          DOUBLE PRECISION;

ALTER TABLE benchmarks ADD COLUMN context_tokens BIGINT;
