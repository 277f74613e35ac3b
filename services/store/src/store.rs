//! [`Store`]: one handle over SQLite or PostgreSQL. Each method is written once and expanded for
//! both pools by [`on_pool!`], so the two backends run the same SQL (`$N` placeholders, which
//! SQLite accepts too, and `ON CONFLICT`, which both support).

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder};

use crate::error::StoreError;
use crate::rows::{
    ApiOfferRow, BenchmarkKey, BenchmarkRow, HardwareRow, NodeRow, ObservationFilter,
    ObservationRow, PlanCursor, PlanRow, PlanSummaryRow,
};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Store::connect`] waits for the database's first answer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Columns bound per observation in a multi-row INSERT.
const OBSERVATION_COLUMNS: usize = 22;
/// Bind parameters per statement: under SQLite's historical default limit of 999, and far under
/// PostgreSQL's 65,535.
const MAX_BINDS_PER_STATEMENT: usize = 990;
/// Observations per INSERT statement.
pub const OBSERVATIONS_PER_STATEMENT: usize = MAX_BINDS_PER_STATEMENT / OBSERVATION_COLUMNS;
/// Key of the catalog version counter in `catalog_meta`.
const CATALOG_VERSION_KEY: &str = "catalog_version";

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (or memory).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection pool to the fleetplan database, migrated to the current schema.
///
/// Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite, the embedded default.
    Sqlite(SqlitePool),
    /// PostgreSQL, for deployments.
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the store holds; `$pool` is bound to
/// `&SqlitePool` in one arm and `&PgPool` in the other, so the body is type-checked twice.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// The upsert of one hardware row, bound and ready to execute on either backend.
macro_rules! upsert_hardware_query {
    ($row:expr) => {
        sqlx::query(
            "INSERT INTO hardware_skus (id, name, accelerators, memory_per_device_gb, \
             unified_memory, price_usd, power_full_w, power_idle_w, backend, provenance_json, \
             memory_bandwidth_gb_s, compute_tflops, host_ram_gb, host_ram_bandwidth_gb_s, \
             host_link_gb_s, disk_read_gb_s) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             accelerators = excluded.accelerators, \
             memory_per_device_gb = excluded.memory_per_device_gb, \
             unified_memory = excluded.unified_memory, price_usd = excluded.price_usd, \
             power_full_w = excluded.power_full_w, power_idle_w = excluded.power_idle_w, \
             backend = excluded.backend, provenance_json = excluded.provenance_json, \
             memory_bandwidth_gb_s = excluded.memory_bandwidth_gb_s, \
             compute_tflops = excluded.compute_tflops, host_ram_gb = excluded.host_ram_gb, \
             host_ram_bandwidth_gb_s = excluded.host_ram_bandwidth_gb_s, \
             host_link_gb_s = excluded.host_link_gb_s, \
             disk_read_gb_s = excluded.disk_read_gb_s",
        )
        .bind(&$row.id)
        .bind(&$row.name)
        .bind(i64::from($row.accelerators))
        .bind($row.memory_per_device_gb)
        .bind($row.unified_memory)
        .bind($row.price_usd)
        .bind($row.power_full_w)
        .bind($row.power_idle_w)
        .bind(&$row.backend)
        .bind(&$row.provenance_json)
        .bind($row.memory_bandwidth_gb_s)
        .bind($row.compute_tflops)
        .bind($row.host_ram_gb)
        .bind($row.host_ram_bandwidth_gb_s)
        .bind($row.host_link_gb_s)
        .bind($row.disk_read_gb_s)
    };
}

/// The upsert of one benchmark row, bound and ready to execute on either backend.
macro_rules! upsert_benchmark_query {
    ($row:expr) => {
        sqlx::query(
            "INSERT INTO benchmarks (sku, model, quant, concurrency, devices_used, \
             vram_used_gb, decode_tok_s, prefill_tok_s, power_w, offload, provenance_json, \
             context_tokens) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (sku, model, quant, concurrency) DO UPDATE SET \
             devices_used = excluded.devices_used, vram_used_gb = excluded.vram_used_gb, \
             decode_tok_s = excluded.decode_tok_s, prefill_tok_s = excluded.prefill_tok_s, \
             power_w = excluded.power_w, offload = excluded.offload, \
             provenance_json = excluded.provenance_json, \
             context_tokens = excluded.context_tokens",
        )
        .bind(&$row.sku)
        .bind(&$row.model)
        .bind(&$row.quant)
        .bind(i64::from($row.concurrency))
        .bind(i64::from($row.devices_used))
        .bind($row.vram_used_gb)
        .bind($row.decode_tok_s)
        .bind($row.prefill_tok_s)
        .bind($row.power_w)
        .bind($row.offload)
        .bind(&$row.provenance_json)
        .bind($row.context_tokens.map(i64::from))
    };
}

/// The upsert of one API offer row, bound and ready to execute on either backend.
macro_rules! upsert_api_offer_query {
    ($row:expr) => {
        sqlx::query(
            "INSERT INTO api_offers (id, name, model, input_usd_per_million, \
             output_usd_per_million, ttft_p50_ms, ttft_p95_ms, provenance_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, model = excluded.model, \
             input_usd_per_million = excluded.input_usd_per_million, \
             output_usd_per_million = excluded.output_usd_per_million, \
             ttft_p50_ms = excluded.ttft_p50_ms, ttft_p95_ms = excluded.ttft_p95_ms, \
             provenance_json = excluded.provenance_json",
        )
        .bind(&$row.id)
        .bind(&$row.name)
        .bind(&$row.model)
        .bind($row.input_usd_per_million)
        .bind($row.output_usd_per_million)
        .bind($row.ttft_p50_ms)
        .bind($row.ttft_p95_ms)
        .bind(&$row.provenance_json)
    };
}

/// Converts an unsigned count to the BIGINT it is stored as.
fn to_i64(field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid {
        field,
        reason: format!("{value} exceeds the largest storable value {}", i64::MAX),
    })
}

fn require_non_empty(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::Invalid {
            field,
            reason: "must not be empty".to_string(),
        });
    }
    Ok(())
}

fn is_in_memory_sqlite(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl Store {
    /// Connects to the database the URL names and runs pending migrations.
    ///
    /// `sqlite:PATH`, `sqlite://PATH` and `sqlite::memory:` open SQLite (a missing file is
    /// created); `postgres://…` and `postgresql://…` open PostgreSQL.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with_timeout(url, DEFAULT_CONNECT_TIMEOUT).await
    }

    /// [`Store::connect`], giving up with [`StoreError::ConnectTimeout`] when PostgreSQL does
    /// not answer within `timeout` (a server, or a proxy, that accepts and never answers would
    /// otherwise hang the start forever).
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            let max_connections = if is_in_memory_sqlite(url) { 1 } else { 4 };
            Store::connect_sqlite(options, max_connections).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::connect_postgres_with_timeout(PgConnectOptions::from_str(url)?, timeout).await
        } else {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            Err(StoreError::Invalid {
                field: "database_url",
                reason: format!(
                    "unsupported scheme {scheme:?}: use sqlite:PATH or postgres://USER@HOST/DB"
                ),
            })
        }
    }

    /// Opens SQLite with the given options (the file is created if missing; WAL journal, busy
    /// timeout) and runs pending migrations. An in-memory database needs `max_connections` 1:
    /// every connection would otherwise see its own empty database.
    pub async fn connect_sqlite(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let mut pool_options = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if max_connections <= 1 {
            // Keep the single connection forever: closing it would drop an in-memory database.
            pool_options = pool_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool_options.connect_with(options).await?;
        // Processes that open a fresh database at once (eight `planner-cli`s on a new data
        // directory) would each apply the same migration: SQLite has no migration lock, and all
        // but one failed with "table already exists". One write transaction taken up front
        // (BEGIN IMMEDIATE, which waits out another writer for the busy timeout) makes them
        // take turns; the migrations nest in it as savepoints, and the next process finds them
        // applied.
        let mut connection = pool.acquire().await?;
        let mut migrating = connection.begin_with("BEGIN IMMEDIATE").await?;
        // `run_direct` on the transaction's connection: `run` takes an `Acquire`, and on a
        // borrowed connection that bound makes every caller's future fail to prove Send
        // ("implementation of `Acquire` is not general enough", which sqlx works around so).
        SQLITE_MIGRATOR.run_direct(&mut *migrating).await?;
        migrating.commit().await?;
        drop(connection);
        Ok(Store::Sqlite(pool))
    }

    /// Opens PostgreSQL with the given options and runs pending migrations in the connection's
    /// schema (its `search_path`).
    pub async fn connect_postgres(options: PgConnectOptions) -> Result<Store, StoreError> {
        Store::connect_postgres_with_timeout(options, DEFAULT_CONNECT_TIMEOUT).await
    }

    /// [`Store::connect_postgres`], giving up with [`StoreError::ConnectTimeout`] when the
    /// server does not answer within `timeout`.
    pub async fn connect_postgres_with_timeout(
        options: PgConnectOptions,
        timeout: Duration,
    ) -> Result<Store, StoreError> {
        let timed_out = || StoreError::ConnectTimeout { timeout };
        // One direct connection first: an unreachable server or a refused login fails at once
        // with its own error, where the pool would retry until its acquire timeout.
        tokio::time::timeout(timeout, PgConnection::connect_with(&options))
            .await
            .map_err(|_| timed_out())??
            .close()
            .await?;
        let pool = tokio::time::timeout(
            timeout,
            PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(timeout.min(ACQUIRE_TIMEOUT).max(Duration::from_millis(1)))
                .connect_with(options),
        )
        .await
        .map_err(|_| timed_out())??;
        POSTGRES_MIGRATOR.run(&pool).await?;
        Ok(Store::Postgres(pool))
    }

    /// Returns which database this store talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection; waits for checked-out ones to come back.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Checks that the database answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Catalog

    /// Returns whether the catalog holds no hardware, benchmarks or API offers, i.e. whether
    /// the default catalog should be loaded.
    pub async fn catalog_is_empty(&self) -> Result<bool, StoreError> {
        let count: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM hardware_skus) + (SELECT COUNT(*) FROM benchmarks) \
                 + (SELECT COUNT(*) FROM api_offers)",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(count == 0)
    }

    /// Returns the catalog version counter: 0 for a fresh database, one more after every write.
    pub async fn catalog_version(&self) -> Result<u64, StoreError> {
        let value: String = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM catalog_meta WHERE key = $1")
                .bind(CATALOG_VERSION_KEY)
                .fetch_one(pool)
                .await?
        });
        parse_version(&value)
    }

    /// Returns a catalog metadata value (e.g. the source version the catalog was seeded from).
    pub async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM catalog_meta WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(value)
    }

    /// Sets a catalog metadata value and bumps the catalog version; returns the new version.
    /// The version counter itself cannot be set.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<u64, StoreError> {
        require_non_empty("key", key)?;
        if key == CATALOG_VERSION_KEY {
            return Err(StoreError::Invalid {
                field: "key",
                reason: format!("{key:?} is maintained by the store"),
            });
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO catalog_meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            let version: String = sqlx::query_scalar(BUMP_VERSION_SQL)
                .bind(CATALOG_VERSION_KEY)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            parse_version(&version)
        })
    }

    /// Seeds the catalog once, in one transaction: unless `key` is set already, inserts every
    /// row when the catalog is empty, sets `key` to `value` and bumps the version. Processes
    /// that seed at once take turns (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a
    /// transaction-scoped advisory lock), so a reader sees the catalog empty or whole, never
    /// half seeded, and one process that dies while seeding leaves it empty. Returns whether
    /// this call inserted the rows.
    pub async fn seed_catalog(
        &self,
        key: &str,
        value: &str,
        hardware: &[HardwareRow],
        benchmarks: &[BenchmarkRow],
        api_offers: &[ApiOfferRow],
    ) -> Result<bool, StoreError> {
        require_non_empty("key", key)?;
        /// The seed, once the transaction `$tx` holds the lock.
        macro_rules! seed {
            ($tx:ident) => {{
                let seeded: Option<String> =
                    sqlx::query_scalar("SELECT value FROM catalog_meta WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&mut *$tx)
                        .await?;
                if seeded.is_some() {
                    $tx.commit().await?;
                    return Ok(false);
                }
                let rows: i64 = sqlx::query_scalar(
                    "SELECT (SELECT COUNT(*) FROM hardware_skus) \
                     + (SELECT COUNT(*) FROM benchmarks) + (SELECT COUNT(*) FROM api_offers)",
                )
                .fetch_one(&mut *$tx)
                .await?;
                let empty = rows == 0;
                if empty {
                    for row in hardware {
                        upsert_hardware_query!(row).execute(&mut *$tx).await?;
                    }
                    for row in benchmarks {
                        upsert_benchmark_query!(row).execute(&mut *$tx).await?;
                    }
                    for row in api_offers {
                        upsert_api_offer_query!(row).execute(&mut *$tx).await?;
                    }
                }
                sqlx::query("INSERT INTO catalog_meta (key, value) VALUES ($1, $2)")
                    .bind(key)
                    .bind(value)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query(BUMP_VERSION_SQL)
                    .bind(CATALOG_VERSION_KEY)
                    .execute(&mut *$tx)
                    .await?;
                $tx.commit().await?;
                Ok(empty)
            }};
        }
        match self {
            Store::Sqlite(pool) => {
                let mut connection = pool.acquire().await?;
                let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
                seed!(tx)
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(SEED_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
                seed!(tx)
            }
        }
    }

    /// Returns every hardware SKU, ordered by id.
    pub async fn list_hardware(&self) -> Result<Vec<HardwareRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, HardwareRow>("SELECT * FROM hardware_skus ORDER BY id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Inserts a hardware SKU or replaces the one with its id; returns the new catalog version.
    pub async fn upsert_hardware(&self, row: &HardwareRow) -> Result<u64, StoreError> {
        require_non_empty("id", &row.id)?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            upsert_hardware_query!(row)
            .execute(&mut *tx)
            .await?;
            let version: String = sqlx::query_scalar(BUMP_VERSION_SQL)
                .bind(CATALOG_VERSION_KEY)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            parse_version(&version)
        })
    }

    /// Deletes a hardware SKU and its benchmarks (they describe nothing without it); returns
    /// the new catalog version, or [`StoreError::NotFound`] when there is no such SKU.
    pub async fn delete_hardware(&self, id: &str) -> Result<u64, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM hardware_skus WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound {
                    what: "hardware sku",
                    id: id.to_string(),
                });
            }
            sqlx::query("DELETE FROM benchmarks WHERE sku = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let version: String = sqlx::query_scalar(BUMP_VERSION_SQL)
                .bind(CATALOG_VERSION_KEY)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            parse_version(&version)
        })
    }

    /// Returns every benchmark, ordered by key.
    pub async fn list_benchmarks(&self) -> Result<Vec<BenchmarkRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, BenchmarkRow>(
                "SELECT * FROM benchmarks ORDER BY sku, model, quant, concurrency",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Inserts a benchmark or replaces the one with its key; returns the new catalog version.
    pub async fn upsert_benchmark(&self, row: &BenchmarkRow) -> Result<u64, StoreError> {
        require_non_empty("sku", &row.sku)?;
        require_non_empty("model", &row.model)?;
        require_non_empty("quant", &row.quant)?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            upsert_benchmark_query!(row)
            .execute(&mut *tx)
            .await?;
            let version: String = sqlx::query_scalar(BUMP_VERSION_SQL)
                .bind(CATALOG_VERSION_KEY)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            parse_version(&version)
        })
    }

    /// Deletes a benchmark by key; returns the new catalog version, or
    /// [`StoreError::NotFound`] when there is no such benchmark.
    pub async fn delete_benchmark(&self, key: &BenchmarkKey) -> Result<u64, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query(
                "DELETE FROM benchmarks WHERE sku = $1 AND model = $2 AND quant = $3 \
                 AND concurrency = $4",
            )
            .bind(&key.sku)
            .bind(&key.model)
            .bind(&key.quant)
            .bind(i64::from(key.concurrency))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound {
                    what: "benchmark",
                    id: key.display_id(),
                });
            }
            let version: String = sqlx::query_scalar(BUMP_VERSION_SQL)
                .bind(CATALOG_VERSION_KEY)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            parse_version(&version)
        })
    }

    /// Returns every API offer, ordered by id.
    pub async fn list_api_offers(&self) -> Result<Vec<ApiOfferRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, ApiOfferRow>("SELECT * FROM api_offers ORDER BY id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Inserts an API offer or replaces the one with its id; returns the new catalog version.
    pub async fn upsert_api_offer(&self, row: &ApiOfferRow) -> Result<u64, StoreError> {
        require_non_empty("id", &row.id)?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            upsert_api_offer_query!(row)
            .execute(&mut *tx)
            .await?;
            let version: String = sqlx::query_scalar(BUMP_VERSION_SQL)
                .bind(CATALOG_VERSION_KEY)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            parse_version(&version)
        })
    }

    /// Deletes an API offer by id; returns the new catalog version, or
    /// [`StoreError::NotFound`] when there is no such offer.
    pub async fn delete_api_offer(&self, id: &str) -> Result<u64, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM api_offers WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound {
                    what: "api offer",
                    id: id.to_string(),
                });
            }
            let version: String = sqlx::query_scalar(BUMP_VERSION_SQL)
                .bind(CATALOG_VERSION_KEY)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            parse_version(&version)
        })
    }

    // -----------------------------------------------------------------------------------------
    // Plans

    /// Stores a plan; [`StoreError::AlreadyExists`] if its id is taken (plans are immutable).
    pub async fn insert_plan(&self, row: &PlanRow) -> Result<(), StoreError> {
        require_non_empty("id", &row.id)?;
        let result = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO plans (id, created_at_unix_ms, catalog_version, throughput_version, \
                 request_json, plan_json, total_usd) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&row.id)
            .bind(row.created_at_unix_ms)
            .bind(&row.catalog_version)
            .bind(&row.throughput_version)
            .bind(&row.request_json)
            .bind(&row.plan_json)
            .bind(row.total_usd)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match result {
            Ok(()) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Err(StoreError::AlreadyExists {
                    what: "plan",
                    id: row.id.clone(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Returns the plan with this id, if stored.
    pub async fn get_plan(&self, id: &str) -> Result<Option<PlanRow>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query_as::<_, PlanRow>("SELECT * FROM plans WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Returns up to `limit` plans, newest first (ties broken by id, descending), starting
    /// after `before` when given. Pass the last row's [`PlanSummaryRow::cursor`] to get the
    /// next page; keyset paging stays stable while new plans are added.
    pub async fn list_plans(
        &self,
        limit: u32,
        before: Option<&PlanCursor>,
    ) -> Result<Vec<PlanSummaryRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut query = QueryBuilder::new(
                "SELECT id, created_at_unix_ms, catalog_version, total_usd FROM plans",
            );
            if let Some(cursor) = before {
                query
                    .push(" WHERE created_at_unix_ms < ")
                    .push_bind(cursor.created_at_unix_ms)
                    .push(" OR (created_at_unix_ms = ")
                    .push_bind(cursor.created_at_unix_ms)
                    .push(" AND id < ")
                    .push_bind(&cursor.id)
                    .push(")");
            }
            query
                .push(" ORDER BY created_at_unix_ms DESC, id DESC LIMIT ")
                .push_bind(i64::from(limit));
            query.build_query_as::<PlanSummaryRow>().fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Returns how many plans are stored.
    pub async fn count_plans(&self) -> Result<u64, StoreError> {
        let count: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM plans").fetch_one(pool).await?
        });
        Ok(count.unsigned_abs())
    }

    // -----------------------------------------------------------------------------------------
    // Telemetry

    /// Registers a node or updates its SKU and labels; the first registration time is kept.
    /// Returns the node as stored.
    pub async fn register_node(
        &self,
        node_id: &str,
        sku: &str,
        labels_json: &str,
        now_unix_ms: i64,
    ) -> Result<NodeRow, StoreError> {
        require_non_empty("node_id", node_id)?;
        require_non_empty("sku", sku)?;
        let row = on_pool!(self, pool => {
            sqlx::query_as::<_, NodeRow>(
                "INSERT INTO nodes (node_id, sku, labels_json, registered_at_unix_ms, \
                 last_seen_unix_ms) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (node_id) DO UPDATE SET sku = excluded.sku, \
                 labels_json = excluded.labels_json, \
                 last_seen_unix_ms = excluded.last_seen_unix_ms \
                 RETURNING *",
            )
            .bind(node_id)
            .bind(sku)
            .bind(labels_json)
            .bind(now_unix_ms)
            .fetch_one(pool)
            .await?
        });
        Ok(row)
    }

    /// Returns a registered node, if any.
    pub async fn get_node(&self, node_id: &str) -> Result<Option<NodeRow>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query_as::<_, NodeRow>("SELECT * FROM nodes WHERE node_id = $1")
                .bind(node_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Returns every registered node, ordered by id.
    pub async fn list_nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, NodeRow>("SELECT * FROM nodes ORDER BY node_id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Stores observations in one transaction and returns how many were new. Idempotent by
    /// (node_id, seq): an observation already stored, or repeated within `rows`, is skipped,
    /// so an agent may resend its whole spool after an outage. Rows go in multi-row INSERTs of
    /// [`OBSERVATIONS_PER_STATEMENT`] to stay under bind-parameter limits. Registered nodes'
    /// `last_seen_unix_ms` moves forward to the newest `received_at_unix_ms`.
    pub async fn insert_observations(&self, rows: &[ObservationRow]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut checked = Vec::with_capacity(rows.len());
        for row in rows {
            require_non_empty("node_id", &row.node_id)?;
            if row.seq == 0 {
                return Err(StoreError::Invalid {
                    field: "seq",
                    reason: format!("node {:?}: seq starts at 1, got 0", row.node_id),
                });
            }
            checked.push(CheckedObservation {
                row,
                seq: to_i64("seq", row.seq)?,
                prompt_tokens: to_i64("prompt_tokens", row.prompt_tokens)?,
                predicted_tokens: to_i64("predicted_tokens", row.predicted_tokens)?,
            });
        }
        let mut last_seen: Vec<(&str, i64)> = Vec::new();
        for row in rows {
            match last_seen.iter_mut().find(|(node, _)| *node == row.node_id) {
                Some((_, seen)) => *seen = (*seen).max(row.received_at_unix_ms),
                None => last_seen.push((&row.node_id, row.received_at_unix_ms)),
            }
        }
        if let Store::Postgres(pool) = self {
            return insert_observations_postgres(pool, &checked, &last_seen).await;
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut inserted = 0;
            for chunk in checked.chunks(OBSERVATIONS_PER_STATEMENT) {
                let mut query = QueryBuilder::new(INSERT_OBSERVATIONS_SQL);
                query.push_values(chunk, |mut values, observation| {
                    let row = observation.row;
                    values
                        .push_bind(&row.node_id)
                        .push_bind(observation.seq)
                        .push_bind(&row.sku)
                        .push_bind(&row.model)
                        .push_bind(&row.quant)
                        .push_bind(&row.worker_url)
                        .push_bind(row.window_start_unix_ms)
                        .push_bind(row.window_end_unix_ms)
                        .push_bind(observation.prompt_tokens)
                        .push_bind(observation.predicted_tokens)
                        .push_bind(row.prompt_seconds)
                        .push_bind(row.predicted_seconds)
                        .push_bind(row.prefill_tok_s)
                        .push_bind(row.decode_tok_s)
                        .push_bind(row.aggregate_decode_tok_s)
                        .push_bind(row.mean_concurrency)
                        .push_bind(row.queue_depth)
                        .push_bind(row.cache_hit_rate)
                        .push_bind(row.power_w)
                        .push_bind(&row.kind)
                        .push_bind(i64::from(row.concurrency))
                        .push_bind(row.received_at_unix_ms);
                });
                query.push(" ON CONFLICT (node_id, seq) DO NOTHING");
                inserted += query.build().execute(&mut *tx).await?.rows_affected();
            }
            for (node_id, seen) in &last_seen {
                sqlx::query(
                    "UPDATE nodes SET last_seen_unix_ms = $1 \
                     WHERE node_id = $2 AND last_seen_unix_ms < $1",
                )
                .bind(*seen)
                .bind(*node_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(inserted)
        })
    }

    /// Returns the highest seq stored for a node, 0 when none: everything the agent spooled up
    /// to it may be dropped once the sequence has no gaps below it.
    pub async fn max_acked_seq(&self, node_id: &str) -> Result<u64, StoreError> {
        let max: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(seq) FROM observations WHERE node_id = $1")
                .bind(node_id)
                .fetch_one(pool)
                .await?
        });
        Ok(max.unwrap_or(0).unsigned_abs())
    }

    /// Returns the highest seq `s` of a node such that every seq `1..=s` is stored, starting
    /// the walk at `known` (a value this method returned before, or 0). Reads only the seqs
    /// above `known`, a page at a time, so a long history costs nothing once walked.
    pub async fn contiguous_seq_through(
        &self,
        node_id: &str,
        known: u64,
    ) -> Result<u64, StoreError> {
        const PAGE: i64 = 4_096;
        let mut through = known;
        loop {
            let after = to_i64("seq", through)?;
            let seqs: Vec<i64> = on_pool!(self, pool => {
                sqlx::query_scalar(
                    "SELECT seq FROM observations WHERE node_id = $1 AND seq > $2 \
                     ORDER BY seq LIMIT $3",
                )
                .bind(node_id)
                .bind(after)
                .bind(PAGE)
                .fetch_all(pool)
                .await?
            });
            let page_len = seqs.len();
            for seq in seqs {
                if seq.unsigned_abs() == through + 1 {
                    through += 1;
                } else {
                    return Ok(through);
                }
            }
            if page_len < PAGE as usize {
                return Ok(through);
            }
        }
    }

    /// Returns the observations the filter selects, ordered by node and seq.
    pub async fn list_observations(
        &self,
        filter: &ObservationFilter,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            let mut query = QueryBuilder::new("SELECT * FROM observations WHERE 1 = 1");
            if let Some(node_id) = &filter.node_id {
                query.push(" AND node_id = ").push_bind(node_id);
            }
            if let Some(sku) = &filter.sku {
                query.push(" AND sku = ").push_bind(sku);
            }
            if let Some(model) = &filter.model {
                query.push(" AND model = ").push_bind(model);
            }
            if let Some(quant) = &filter.quant {
                query.push(" AND quant = ").push_bind(quant);
            }
            if let Some(concurrency) = filter.concurrency {
                query.push(" AND concurrency = ").push_bind(i64::from(concurrency));
            }
            if let Some(since) = filter.window_end_since_unix_ms {
                query.push(" AND window_end_unix_ms >= ").push_bind(since);
            }
            query.push(" ORDER BY node_id, seq");
            if let Some(limit) = filter.limit {
                query.push(" LIMIT ").push_bind(i64::from(limit));
            }
            query.build_query_as::<ObservationRow>().fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Returns how many observations are stored, for one node or all.
    pub async fn count_observations(&self, node_id: Option<&str>) -> Result<u64, StoreError> {
        let count: i64 = on_pool!(self, pool => {
            let mut query = QueryBuilder::new("SELECT COUNT(*) FROM observations");
            if let Some(node_id) = node_id {
                query.push(" WHERE node_id = ").push_bind(node_id);
            }
            query.build_query_scalar().fetch_one(pool).await?
        });
        Ok(count.unsigned_abs())
    }
}

/// Bumps the catalog version counter and returns its new value, inside the caller's
/// transaction, so a catalog write and its version change commit together.
/// Key of the PostgreSQL advisory lock seeders take turns on (any constant; "fleetseed").
const SEED_LOCK_KEY: i64 = 0x666c_6565_7473_6565;

const BUMP_VERSION_SQL: &str = "UPDATE catalog_meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) \
     WHERE key = $1 RETURNING value";

const INSERT_OBSERVATIONS_SQL: &str = "INSERT INTO observations (node_id, seq, sku, model, quant, \
     worker_url, window_start_unix_ms, window_end_unix_ms, prompt_tokens, predicted_tokens, \
     prompt_seconds, predicted_seconds, prefill_tok_s, decode_tok_s, aggregate_decode_tok_s, \
     mean_concurrency, queue_depth, cache_hit_rate, power_w, kind, concurrency, \
     received_at_unix_ms) ";

/// PostgreSQL takes a whole batch as one `INSERT … SELECT FROM UNNEST(arrays)`: 22 binds
/// whatever the batch size, one round trip, one plan — several times the rows per second of
/// multi-row VALUES lists, which is what lets one planner keep up with many agents.
async fn insert_observations_postgres(
    pool: &PgPool,
    rows: &[CheckedObservation<'_>],
    last_seen: &[(&str, i64)],
) -> Result<u64, StoreError> {
    fn column<'a, T>(
        rows: &'a [CheckedObservation<'a>],
        f: impl Fn(&'a CheckedObservation<'a>) -> T,
    ) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO observations (node_id, seq, sku, model, quant, worker_url, \
         window_start_unix_ms, window_end_unix_ms, prompt_tokens, predicted_tokens, \
         prompt_seconds, predicted_seconds, prefill_tok_s, decode_tok_s, aggregate_decode_tok_s, \
         mean_concurrency, queue_depth, cache_hit_rate, power_w, kind, concurrency, \
         received_at_unix_ms) \
         SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
         $6::TEXT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], \
         $11::DOUBLE PRECISION[], $12::DOUBLE PRECISION[], $13::DOUBLE PRECISION[], \
         $14::DOUBLE PRECISION[], $15::DOUBLE PRECISION[], $16::DOUBLE PRECISION[], \
         $17::DOUBLE PRECISION[], $18::DOUBLE PRECISION[], $19::DOUBLE PRECISION[], \
         $20::TEXT[], $21::BIGINT[], $22::BIGINT[]) \
         ON CONFLICT (node_id, seq) DO NOTHING",
    )
    .bind(column(rows, |o| o.row.node_id.as_str()))
    .bind(column(rows, |o| o.seq))
    .bind(column(rows, |o| o.row.sku.as_str()))
    .bind(column(rows, |o| o.row.model.as_str()))
    .bind(column(rows, |o| o.row.quant.as_str()))
    .bind(column(rows, |o| o.row.worker_url.as_str()))
    .bind(column(rows, |o| o.row.window_start_unix_ms))
    .bind(column(rows, |o| o.row.window_end_unix_ms))
    .bind(column(rows, |o| o.prompt_tokens))
    .bind(column(rows, |o| o.predicted_tokens))
    .bind(column(rows, |o| o.row.prompt_seconds))
    .bind(column(rows, |o| o.row.predicted_seconds))
    .bind(column(rows, |o| o.row.prefill_tok_s))
    .bind(column(rows, |o| o.row.decode_tok_s))
    .bind(column(rows, |o| o.row.aggregate_decode_tok_s))
    .bind(column(rows, |o| o.row.mean_concurrency))
    .bind(column(rows, |o| o.row.queue_depth))
    .bind(column(rows, |o| o.row.cache_hit_rate))
    .bind(column(rows, |o| o.row.power_w))
    .bind(column(rows, |o| o.row.kind.as_str()))
    .bind(column(rows, |o| i64::from(o.row.concurrency)))
    .bind(column(rows, |o| o.row.received_at_unix_ms))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    for (node_id, seen) in last_seen {
        sqlx::query(
            "UPDATE nodes SET last_seen_unix_ms = $1 WHERE node_id = $2 AND last_seen_unix_ms < $1",
        )
        .bind(*seen)
        .bind(*node_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// An observation whose unsigned fields have been converted to the BIGINTs they are stored as.
struct CheckedObservation<'a> {
    row: &'a ObservationRow,
    seq: i64,
    prompt_tokens: i64,
    predicted_tokens: i64,
}

fn parse_version(value: &str) -> Result<u64, StoreError> {
    value.parse().map_err(|_| StoreError::Invalid {
        field: "catalog_version",
        reason: format!("stored value {value:?} is not a counter"),
    })
}
