//! The planner as a service: the domain modules over durable storage. [`Planner`] loads the
//! catalog from the database (seeding it from the embedded default once), builds the
//! throughput model, runs [`crate::solve::propose_with`] off the async runtime, stores every
//! plan with its full inputs, and takes catalog edits and telemetry. The gRPC layer
//! ([`crate::grpc`]) is a thin mapping onto this type; the CLI runs it in-process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fleet_store::{
    ApiOfferRow, BenchmarkKey, BenchmarkRow, HardwareRow, NodeRow, ObservationFilter,
    ObservationRow, PlanCursor, PlanRow, PlanSummaryRow, Store, StoreError,
};
use serde::{Deserialize, Serialize};

use crate::catalog::{ApiOffer, Benchmark, Catalog, HardwareSku, Provenance};
use crate::demand::PlanRequest;
use crate::error::PlanError;
use crate::metrics::Metrics;
use crate::physics::{BenchmarkCheck, check_catalog};
use crate::plan::Plan;
use crate::solve::{SolveSettings, propose_cancellable};
use crate::throughput::{ObservationSample, ThroughputModel};

/// Catalog metadata key recording which embedded catalog version seeded the database.
const SEEDED_FROM_KEY: &str = "seeded_from";
/// Plans a listing returns when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Most plans one listing returns.
pub const MAX_PAGE_SIZE: u32 = 500;
/// How long a throughput model is reused when no new observations arrived here; bounds how
/// late this replica sees what other replicas stored.
const THROUGHPUT_MODEL_TTL: Duration = Duration::from_secs(60);
/// Shortest time between two rebuilds while observations stream in: many agents must not turn
/// every Propose into a full read of the observations.
const THROUGHPUT_REBUILD_INTERVAL: Duration = Duration::from_secs(2);
/// Observations older than this do not calibrate the model (hardware and software change).
const CALIBRATION_WINDOW: Duration = Duration::from_secs(30 * 24 * 3_600);
/// Largest token rate an observation may claim, tok/s (prefill, per-stream or aggregate
/// decode): a hundred times the fastest node of the catalog.
pub const MAX_OBSERVED_TOK_S: f64 = 1e7;
/// Most tokens one observation window may carry (prompt or predicted).
pub const MAX_OBSERVED_WINDOW_TOKENS: u64 = 10_000_000_000;
/// Largest summed prompt or predicted time one window may carry, seconds.
pub const MAX_OBSERVED_SECONDS: f64 = 1e8;
/// Largest mean concurrency or queue depth a window may report.
pub const MAX_OBSERVED_QUEUE: f64 = 1e6;
/// Largest power draw a window may report, W: a rack of eight GPUs stays well under it.
pub const MAX_OBSERVED_POWER_W: f64 = 100_000.0;
/// Longest window, ms.
pub const MAX_OBSERVED_WINDOW_MS: i64 = 24 * 3_600 * 1_000;
/// How far in the future of the planner's clock a window may end by default (clock skew).
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Checks that an observation is physically possible (issue 16 §2): every figure finite and in
/// a generous absolute range, at most [`crate::catalog::MAX_SLOTS_PER_INSTANCE`] slots, a
/// window of positive length up to a day that ends no later than `max_clock_skew` after it was
/// received. Returns the offending field and why. What is possible but above a configuration's
/// physical ceiling is judged later, by the throughput model.
pub fn check_observation(
    row: &ObservationRow,
    max_clock_skew: Duration,
) -> Result<(), (&'static str, String)> {
    let within = |field: &'static str, value: f64, max: f64| {
        if value.is_finite() && (0.0..=max).contains(&value) {
            Ok(())
        } else {
            Err((field, format!("must be between 0 and {max}, got {value}")))
        }
    };
    within("prefill_tok_s", row.prefill_tok_s, MAX_OBSERVED_TOK_S)?;
    within("decode_tok_s", row.decode_tok_s, MAX_OBSERVED_TOK_S)?;
    within(
        "aggregate_decode_tok_s",
        row.aggregate_decode_tok_s,
        MAX_OBSERVED_TOK_S,
    )?;
    within("prompt_seconds", row.prompt_seconds, MAX_OBSERVED_SECONDS)?;
    within(
        "predicted_seconds",
        row.predicted_seconds,
        MAX_OBSERVED_SECONDS,
    )?;
    within("mean_concurrency", row.mean_concurrency, MAX_OBSERVED_QUEUE)?;
    within("queue_depth", row.queue_depth, MAX_OBSERVED_QUEUE)?;
    within("cache_hit_rate", row.cache_hit_rate, 1.0)?;
    if let Some(power_w) = row.power_w {
        within("power_w", power_w, MAX_OBSERVED_POWER_W)?;
    }
    for (field, tokens) in [
        ("prompt_tokens", row.prompt_tokens),
        ("predicted_tokens", row.predicted_tokens),
    ] {
        if tokens > MAX_OBSERVED_WINDOW_TOKENS {
            return Err((
                field,
                format!("must be at most {MAX_OBSERVED_WINDOW_TOKENS} in one window, got {tokens}"),
            ));
        }
    }
    let slots = crate::catalog::MAX_SLOTS_PER_INSTANCE;
    if row.concurrency == 0 || row.concurrency > slots {
        return Err((
            "concurrency",
            format!(
                "must be between 1 and {slots} slots, got {}",
                row.concurrency
            ),
        ));
    }
    let length_ms = row
        .window_end_unix_ms
        .saturating_sub(row.window_start_unix_ms);
    if length_ms <= 0 || length_ms > MAX_OBSERVED_WINDOW_MS {
        return Err((
            "window_end_unix_ms",
            format!(
                "the window from {} to {} must last more than 0 and at most {MAX_OBSERVED_WINDOW_MS} ms",
                row.window_start_unix_ms, row.window_end_unix_ms
            ),
        ));
    }
    let skew_ms = i64::try_from(max_clock_skew.as_millis()).unwrap_or(i64::MAX);
    let latest = row.received_at_unix_ms.saturating_add(skew_ms);
    if row.window_end_unix_ms > latest {
        return Err((
            "window_end_unix_ms",
            format!(
                "{} is more than {} s after the planner received it ({}): check the node's clock",
                row.window_end_unix_ms,
                max_clock_skew.as_secs(),
                row.received_at_unix_ms
            ),
        ));
    }
    Ok(())
}

/// Share of a Propose's time to its deadline it may spend waiting for a solve slot; the rest is
/// left to the solve, so a Propose admitted late still gets a quarter of its time.
pub const MAX_SLOT_WAIT_SHARE: f64 = 0.75;

/// Returns why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A request field is missing or out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Path of the offending field, e.g. `hardware.price_usd`.
        field: String,
        /// What is wrong, with the bad value.
        reason: String,
    },
    /// The record does not exist.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// Kind of record.
        what: &'static str,
        /// The id looked up.
        id: String,
    },
    /// Planning failed (bad request, infeasible SLO, solver failure).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// One observation of a batch is refused; `seq` tells the agent which one to set aside.
    #[error("invalid observations[{index}].{field}: {reason}")]
    InvalidObservation {
        /// Its place in the batch.
        index: usize,
        /// Its seq.
        seq: u64,
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Every solve slot stayed busy for as long as the request could wait.
    #[error(
        "all {slots} solve slots are busy (--max-concurrent-solves); waited {waited_ms} ms of the request's time, retry later"
    )]
    Busy {
        /// Solve slots of this server.
        slots: usize,
        /// How long the request waited.
        waited_ms: u64,
    },
    /// A record with this id exists already.
    #[error("{what} {id:?} already exists")]
    AlreadyExists {
        /// Kind of record.
        what: &'static str,
        /// The id taken.
        id: String,
    },
    /// A stored record could not be decoded; the database holds something this build did not write.
    #[error("stored {what} {id:?} is unreadable: {reason}")]
    Corrupt {
        /// Kind of record.
        what: &'static str,
        /// Its id.
        id: String,
        /// Why it cannot be decoded.
        reason: String,
    },
}

impl ServiceError {
    /// Returns a [`ServiceError::Invalid`] for a field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { what, id } => ServiceError::NotFound { what, id },
            StoreError::AlreadyExists { what, id } => ServiceError::AlreadyExists { what, id },
            StoreError::Invalid { field, reason } => ServiceError::Invalid {
                field: field.to_string(),
                reason,
            },
            // Bad data, not an outage: retrying the same request cannot help.
            error @ StoreError::InvalidData { .. } => ServiceError::Invalid {
                field: "request".to_string(),
                reason: error.to_string(),
            },
            other => ServiceError::Store(other),
        }
    }
}

/// A plan as stored: its id, when it was made, and the plan itself.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    /// Plan id.
    pub id: String,
    /// When it was made, Unix milliseconds.
    pub created_at_unix_ms: i64,
    /// The plan.
    pub plan: Plan,
}

/// A stored plan's request, kept so the plan can be re-run against a later catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredRequest {
    request: PlanRequest,
}

/// The fields of a stored plan its summary needs; the rest of the JSON is skipped unparsed.
#[derive(Deserialize)]
struct PlanHead {
    workloads: Vec<crate::demand::Workload>,
    baselines: Vec<crate::plan::Baseline>,
    cost: crate::plan::CostBreakdown,
}

/// A page of plan summaries.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanPage {
    /// Newest first.
    pub plans: Vec<PlanSummaryRow>,
    /// One line per plan, in the order of `plans`: demand, workloads and fleet
    /// ([`Plan::summary`]).
    pub summaries: Vec<String>,
    /// Token of the next page; empty when this is the last.
    pub next_page_token: String,
}

/// The throughput model and what it could not use.
#[derive(Debug, Clone)]
pub struct ThroughputView {
    /// The model the next plan uses.
    pub model: ThroughputModel,
    /// Observed configurations the catalog lacks, with window and node counts.
    pub unmatched: Vec<UnmatchedGroup>,
}

/// Observations of one configuration the catalog does not know.
#[derive(Debug, Clone, PartialEq)]
pub struct UnmatchedGroup {
    /// SKU id as reported.
    pub sku: String,
    /// Model as reported.
    pub model: String,
    /// Quantization as reported.
    pub quant: String,
    /// Slots per server as reported.
    pub concurrency: u32,
    /// Windows stored.
    pub windows: u64,
    /// Distinct nodes.
    pub nodes: u32,
    /// Why the model cannot use them.
    pub reason: String,
}

/// What an observation batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestAck {
    /// Node the ack is for.
    pub node_id: String,
    /// Every seq up to this one is stored.
    pub acked_through_seq: u64,
    /// Seqs of this batch stored beyond a gap.
    pub acked_seqs: Vec<u64>,
    /// Observations of this batch newly stored.
    pub inserted: u64,
}

/// The verdict on every benchmark of the stored catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogCheck {
    /// Catalog version the check read.
    pub catalog_version: String,
    /// One row per benchmark, in catalog order.
    pub rows: Vec<BenchmarkCheck>,
}

/// Settings of a [`Planner`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannerSettings {
    /// Solver limits for every Propose.
    pub solve: SolveSettings,
    /// Most Proposes solving at once (at least 1); the others wait for a slot within their
    /// deadline, then fail with [`ServiceError::Busy`].
    pub max_concurrent_solves: usize,
    /// How far past its arrival an observation's window may end (the node's clock ahead of the
    /// planner's); later ones are refused, and stored ones are not used.
    pub max_clock_skew: Duration,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        PlannerSettings {
            solve: SolveSettings::default(),
            max_concurrent_solves: default_max_concurrent_solves(),
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
        }
    }
}

/// Returns the default number of solve slots: one per core (a solve keeps a core busy).
pub fn default_max_concurrent_solves() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A solve slot, held until the solve it admitted stops (see [`Planner::solve_slot`]).
#[derive(Debug)]
pub struct SolveSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    metrics: Metrics,
}

impl SolveSlot {
    fn new(permit: tokio::sync::OwnedSemaphorePermit, metrics: &Metrics) -> SolveSlot {
        metrics.solves_running(1);
        SolveSlot {
            _permit: permit,
            metrics: metrics.clone(),
        }
    }
}

impl Drop for SolveSlot {
    fn drop(&mut self) {
        self.metrics.solves_running(-1);
    }
}

/// Sets a flag when dropped unless disarmed: a Propose whose future is dropped before its solve
/// ended (the client went away, or its deadline passed) tells its solve on the blocking pool to
/// stop, and is counted.
struct CancelOnDrop {
    flag: Arc<AtomicBool>,
    armed: bool,
    metrics: Metrics,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.flag.store(true, Ordering::Relaxed);
            self.metrics.solve_cancelled();
            tracing::info!(
                "propose abandoned by its caller: its solve, if any, stops at the next check"
            );
        }
    }
}

#[derive(Default)]
struct Caches {
    catalog: Option<Arc<Catalog>>,
    throughput: Option<(String, Instant, Arc<ThroughputView>)>,
    /// New observations were stored since the throughput model was built.
    throughput_dirty: bool,
    /// Highest contiguous stored seq per node, as far as this process knows.
    acked_through: HashMap<String, u64>,
    /// SKU each registered node registered with, as far as this process knows.
    node_skus: HashMap<String, String>,
}

/// The planner service over a [`Store`]. Cloning is cheap and shares the pool and caches.
#[derive(Clone)]
pub struct Planner {
    store: Store,
    settings: PlannerSettings,
    metrics: Metrics,
    caches: Arc<Mutex<Caches>>,
    /// One throughput-model rebuild at a time; callers that arrive during one reuse its result.
    rebuild_lock: Arc<tokio::sync::Mutex<()>>,
    /// The embedded catalog version the database was seeded from (`seed-2026-12`), which
    /// names the catalog in its version label.
    seeded_from: Option<String>,
    /// Solve slots: [`PlannerSettings::max_concurrent_solves`] permits.
    solve_slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner")
            .field("backend", &self.store.backend())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Returns the default database: a SQLite file `fleetplan/fleetplan.db` in the user's data
/// directory (`$XDG_DATA_HOME`, else `$HOME/.local/share`), creating the directory.
pub fn default_database_url() -> Result<String, ServiceError> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| std::path::PathBuf::from(home).join(".local").join("share"))
        })
        .ok_or_else(|| {
            ServiceError::invalid(
                "database_url",
                "no data directory: set HOME or XDG_DATA_HOME, or pass --database-url",
            )
        })?;
    let dir = base.join("fleetplan");
    std::fs::create_dir_all(&dir).map_err(|error| {
        ServiceError::invalid(
            "database_url",
            format!(
                "cannot create {}: {error}; pass --database-url",
                dir.display()
            ),
        )
    })?;
    Ok(format!("sqlite:{}", dir.join("fleetplan.db").display()))
}

/// Returns the current time in Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn new_plan_id(now_unix_ms: i64) -> String {
    // Time first so ids sort by creation; 24 random bits tell apart plans of one millisecond.
    format!("{now_unix_ms:011x}-{:06x}", fastrand::u32(..1 << 24))
}

impl Planner {
    /// Opens the planner over a migrated store: seeds the default catalog into an empty
    /// database once (after that the database is the source of truth) and checks the stored
    /// catalog is usable.
    pub async fn open(
        store: Store,
        settings: PlannerSettings,
        metrics: Metrics,
    ) -> Result<Planner, ServiceError> {
        let mut planner = Planner {
            store,
            settings,
            metrics,
            caches: Arc::new(Mutex::new(Caches::default())),
            rebuild_lock: Arc::new(tokio::sync::Mutex::new(())),
            seeded_from: None,
            solve_slots: Arc::new(tokio::sync::Semaphore::new(
                settings.max_concurrent_solves.max(1),
            )),
        };
        planner.seed_default_catalog().await?;
        planner.seeded_from = planner.store.get_meta(SEEDED_FROM_KEY).await?;
        planner.catalog().await?;
        Ok(planner)
    }

    /// Returns the store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Returns the settings this planner runs with.
    pub fn settings(&self) -> &PlannerSettings {
        &self.settings
    }

    /// Returns the metrics this planner records to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    async fn seed_default_catalog(&self) -> Result<(), ServiceError> {
        if self.store.get_meta(SEEDED_FROM_KEY).await?.is_some() {
            return Ok(());
        }
        let default = Catalog::embedded_default();
        // One transaction: processes that start at once on a fresh database take turns, and
        // none reads a half-seeded catalog.
        let hardware: Vec<HardwareRow> = default.hardware.iter().map(hardware_row).collect();
        let benchmarks: Vec<BenchmarkRow> = default.benchmarks.iter().map(benchmark_row).collect();
        let apis: Vec<ApiOfferRow> = default.apis.iter().map(api_offer_row).collect();
        let seeded = self
            .store
            .seed_catalog(
                SEEDED_FROM_KEY,
                &default.version,
                &hardware,
                &benchmarks,
                &apis,
            )
            .await?;
        if seeded {
            tracing::info!(version = %default.version, "seeded the default catalog");
        }
        Ok(())
    }

    /// Returns the catalog version as plans and listings show it: the version of the catalog
    /// the database was seeded from and the store's revision counter, `seed-2026-12 (rev 1)`
    /// (the counter alone for a database without a seed record). Plans keep the label they
    /// were made with.
    pub fn catalog_version_label(&self, revision: u64) -> String {
        match &self.seeded_from {
            Some(seed) => format!("{seed} (rev {revision})"),
            None => revision.to_string(),
        }
    }

    /// Returns the catalog as stored: hardware, benchmarks and API offers from the database;
    /// models, quantizations and cost defaults from the embedded default.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, ServiceError> {
        loop {
            let version = self.catalog_version_label(self.store.catalog_version().await?);
            if let Some(cached) = self.lock().catalog.clone()
                && cached.version == version
            {
                return Ok(cached);
            }
            let hardware = self.store.list_hardware().await?;
            let benchmarks = self.store.list_benchmarks().await?;
            let apis = self.store.list_api_offers().await?;
            // A write between the reads would mix two versions; read again if one happened.
            if self.catalog_version_label(self.store.catalog_version().await?) != version {
                continue;
            }
            let mut catalog = Catalog::embedded_default();
            catalog.version = version;
            catalog.hardware = hardware
                .into_iter()
                .map(hardware_from_row)
                .collect::<Result<_, _>>()?;
            catalog.benchmarks = benchmarks
                .into_iter()
                .map(benchmark_from_row)
                .collect::<Result<_, _>>()?;
            catalog.apis = apis
                .into_iter()
                .map(api_offer_from_row)
                .collect::<Result<_, _>>()?;
            catalog.validate().map_err(PlanError::from)?;
            let catalog = Arc::new(catalog);
            self.lock().catalog = Some(catalog.clone());
            return Ok(catalog);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.caches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the throughput model the next plan uses, built from the catalog's benchmarks
    /// and the stored observations. A caller never waits for a rebuild when a model of the
    /// current catalog exists: a stale one is returned while one rebuild runs in the background
    /// (new windows reach plans a rebuild later). Only the first model of a catalog version is
    /// built while the caller waits.
    pub async fn throughput(&self) -> Result<Arc<ThroughputView>, ServiceError> {
        let catalog = self.catalog().await?;
        if let Some(view) = self.fresh_throughput(&catalog.version) {
            return Ok(view);
        }
        if let Some(stale) = self.current_throughput(&catalog.version) {
            if let Ok(guard) = self.rebuild_lock.clone().try_lock_owned() {
                let this = self.clone();
                tokio::spawn(async move {
                    if let Err(error) = this.rebuild_throughput(&catalog).await {
                        tracing::warn!(%error, "throughput model rebuild failed; plans keep the previous model");
                    }
                    drop(guard);
                });
            }
            return Ok(stale);
        }
        let _rebuilding = self.rebuild_lock.lock().await;
        // Another caller may have rebuilt it while this one waited.
        if let Some(view) = self.current_throughput(&catalog.version) {
            return Ok(view);
        }
        self.rebuild_throughput(&catalog).await
    }

    /// Rebuilds the throughput model from the stored observations; the caller holds
    /// `rebuild_lock`. The calibration runs off the async runtime.
    async fn rebuild_throughput(
        &self,
        catalog: &Arc<Catalog>,
    ) -> Result<Arc<ThroughputView>, ServiceError> {
        self.lock().throughput_dirty = false;
        let since = now_unix_ms() - CALIBRATION_WINDOW.as_millis() as i64;
        let observations = self
            .store
            .list_observations(&ObservationFilter {
                window_end_since_unix_ms: Some(since),
                ..ObservationFilter::default()
            })
            .await?;
        let for_build = catalog.clone();
        let max_clock_skew = self.settings.max_clock_skew;
        let view = tokio::task::spawn_blocking(move || {
            Arc::new(build_throughput_view(
                &for_build,
                &observations,
                max_clock_skew,
            ))
        })
        .await
        .map_err(|error| PlanError::Solver(format!("throughput model task failed: {error}")))?;
        self.lock().throughput = Some((catalog.version.clone(), Instant::now(), view.clone()));
        Ok(view)
    }

    /// Returns the cached model of this catalog version, however old.
    fn current_throughput(&self, catalog_version: &str) -> Option<Arc<ThroughputView>> {
        let caches = self.lock();
        let (version, _, view) = caches.throughput.as_ref()?;
        (version == catalog_version).then(|| view.clone())
    }

    fn fresh_throughput(&self, catalog_version: &str) -> Option<Arc<ThroughputView>> {
        let caches = self.lock();
        let (version, built, view) = caches.throughput.as_ref()?;
        let age = built.elapsed();
        let fresh = version == catalog_version
            && age < THROUGHPUT_MODEL_TTL
            && (!caches.throughput_dirty || age < THROUGHPUT_REBUILD_INTERVAL);
        fresh.then(|| view.clone())
    }

    /// Solves the request against the current catalog and throughput model, stores the plan
    /// with its request, and returns it; [`Planner::propose_within`] without a caller's deadline.
    pub async fn propose(&self, request: PlanRequest) -> Result<StoredPlan, ServiceError> {
        self.propose_within(request, None).await
    }

    /// Returns a solve slot: at once if one is free, else as soon as one frees, waiting at most
    /// [`MAX_SLOT_WAIT_SHARE`] of the time from `arrived` to `deadline` (without a deadline, as
    /// long as it takes); [`ServiceError::Busy`] when none freed in time. The slot is held
    /// until dropped.
    pub async fn solve_slot(
        &self,
        arrived: Instant,
        deadline: Option<Instant>,
    ) -> Result<SolveSlot, ServiceError> {
        if let Ok(permit) = self.solve_slots.clone().try_acquire_owned() {
            return Ok(SolveSlot::new(permit, &self.metrics));
        }
        let busy = || {
            self.metrics.solve_refused();
            ServiceError::Busy {
                slots: self.settings.max_concurrent_solves.max(1),
                waited_ms: u64::try_from(arrived.elapsed().as_millis()).unwrap_or(u64::MAX),
            }
        };
        // A guard, so that a caller who goes away while waiting is no longer counted.
        struct Waiting<'a>(&'a Metrics);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.solves_waiting(-1);
            }
        }
        self.metrics.solves_waiting(1);
        let waiting = Waiting(&self.metrics);
        let acquire = self.solve_slots.clone().acquire_owned();
        let acquired = match deadline {
            Some(deadline) => {
                let wait = deadline
                    .saturating_duration_since(arrived)
                    .mul_f64(MAX_SLOT_WAIT_SHARE);
                tokio::time::timeout_at((arrived + wait).into(), acquire)
                    .await
                    .ok()
            }
            None => Some(acquire.await),
        };
        drop(waiting);
        match acquired {
            Some(Ok(permit)) => Ok(SolveSlot::new(permit, &self.metrics)),
            // The semaphore is never closed; a closed one admits nothing.
            Some(Err(_)) | None => Err(busy()),
        }
    }

    /// [`Planner::propose`] for a caller that waits until `deadline` at most: the request's
    /// time is the earlier of the server's time limit and the deadline, counted from now, and
    /// the wait for a solve slot ([`Planner::solve_slot`]), the catalog and the throughput
    /// model all count in it. If the returned future is dropped (the caller went away), the
    /// solve stops at its next check and its slot frees when it does.
    pub async fn propose_within(
        &self,
        request: PlanRequest,
        deadline: Option<Instant>,
    ) -> Result<StoredPlan, ServiceError> {
        let arrived = Instant::now();
        let server_deadline = self
            .settings
            .solve
            .time_limit_s
            .and_then(|limit| Duration::try_from_secs_f64(limit).ok())
            .map(|limit| arrived + limit);
        let deadline = match (server_deadline, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let mut on_drop = CancelOnDrop {
            flag: cancel.clone(),
            armed: true,
            metrics: self.metrics.clone(),
        };
        let catalog = self.catalog().await?;
        let throughput = self.throughput().await?;
        let slot = self.solve_slot(arrived, deadline).await?;
        let mut settings = self.settings.solve;
        if let Some(deadline) = deadline {
            // What is left of the request's time; a limit of zero would be refused as invalid.
            let left_s = deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64();
            settings.time_limit_s = Some(left_s.max(0.001));
        }
        let solve_request = request.clone();
        let started = Instant::now();
        let solved = tokio::task::spawn_blocking(move || {
            // The slot frees when the solve stops, not when the caller goes away.
            let _slot = slot;
            propose_cancellable(
                &catalog,
                &throughput.model,
                &solve_request,
                settings,
                &cancel,
            )
        })
        .await
        .map_err(|error| PlanError::Solver(format!("solver task failed: {error}")));
        on_drop.armed = false;
        let solved = solved?;
        self.metrics.observe_solve(started.elapsed());
        let plan = solved?;
        let created_at_unix_ms = now_unix_ms();
        let mut stored = StoredPlan {
            id: new_plan_id(created_at_unix_ms),
            created_at_unix_ms,
            plan,
        };
        let request_json = serde_json::to_string(&StoredRequest { request })
            .map_err(|error| PlanError::Solver(format!("request not serializable: {error}")))?;
        let plan_json = serde_json::to_string(&stored.plan)
            .map_err(|error| PlanError::Solver(format!("plan not serializable: {error}")))?;
        let mut row = PlanRow {
            id: stored.id.clone(),
            created_at_unix_ms,
            catalog_version: stored.plan.catalog_version.clone(),
            throughput_version: stored.plan.throughput_version.clone(),
            request_json,
            plan_json,
            total_usd: stored.plan.cost.total_usd,
        };
        // Two plans of one millisecond share an id once in 2^24: draw another.
        let mut attempts = 0;
        loop {
            match self.store.insert_plan(&row).await {
                Err(StoreError::AlreadyExists { .. }) if attempts < 3 => {
                    attempts += 1;
                    row.id = new_plan_id(created_at_unix_ms);
                }
                result => break result?,
            }
        }
        stored.id = row.id;
        self.metrics.plan_stored();
        tracing::info!(
            plan = %stored.id,
            total_usd = stored.plan.cost.total_usd,
            pools = stored.plan.pools.len(),
            "plan stored"
        );
        Ok(stored)
    }

    /// Returns a stored plan.
    pub async fn get_plan(&self, id: &str) -> Result<StoredPlan, ServiceError> {
        let row = self.plan_row(id).await?;
        let plan = serde_json::from_str(&row.plan_json).map_err(|error| ServiceError::Corrupt {
            what: "plan",
            id: id.to_string(),
            reason: error.to_string(),
        })?;
        Ok(StoredPlan {
            id: row.id,
            created_at_unix_ms: row.created_at_unix_ms,
            plan,
        })
    }

    async fn plan_row(&self, id: &str) -> Result<PlanRow, ServiceError> {
        if id.trim().is_empty() {
            return Err(ServiceError::invalid("id", "must not be empty"));
        }
        self.store
            .get_plan(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                what: "plan",
                id: id.to_string(),
            })
    }

    /// Returns a stored plan's one-line summary ([`Plan::summary`]), reading only the fields it
    /// needs; a record this build cannot read says so instead of failing the listing.
    async fn plan_summary(&self, id: &str) -> Result<String, ServiceError> {
        let row = self.plan_row(id).await?;
        Ok(serde_json::from_str::<PlanHead>(&row.plan_json)
            .map(|head| crate::plan::summary_line(&head.workloads, &head.baselines, &head.cost))
            .unwrap_or_else(|error| format!("unreadable plan: {error}")))
    }

    /// Returns the request a stored plan was made from.
    pub async fn plan_request(&self, id: &str) -> Result<PlanRequest, ServiceError> {
        let row = self.plan_row(id).await?;
        let stored: StoredRequest =
            serde_json::from_str(&row.request_json).map_err(|error| ServiceError::Corrupt {
                what: "plan request",
                id: id.to_string(),
                reason: error.to_string(),
            })?;
        Ok(stored.request)
    }

    /// Solves a stored plan's request again against today's catalog and throughput model, for
    /// a caller that waits until `deadline` at most (see [`Planner::propose_within`]).
    pub async fn rerun_plan(
        &self,
        id: &str,
        deadline: Option<Instant>,
    ) -> Result<StoredPlan, ServiceError> {
        let request = self.plan_request(id).await?;
        self.propose_within(request, deadline).await
    }

    /// Lists stored plans, newest first. `page_size` 0 means [`DEFAULT_PAGE_SIZE`]; larger
    /// than [`MAX_PAGE_SIZE`] is capped.
    pub async fn list_plans(
        &self,
        page_size: u32,
        page_token: &str,
    ) -> Result<PlanPage, ServiceError> {
        let limit = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let cursor = if page_token.is_empty() {
            None
        } else {
            Some(parse_page_token(page_token)?)
        };
        // One row more than asked tells whether another page exists.
        let mut plans = self.store.list_plans(limit + 1, cursor.as_ref()).await?;
        let next_page_token = if plans.len() > limit as usize {
            plans.truncate(limit as usize);
            plans
                .last()
                .map(|last| format!("{}:{}", last.created_at_unix_ms, last.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let mut summaries = Vec::with_capacity(plans.len());
        for plan in &plans {
            summaries.push(self.plan_summary(&plan.id).await?);
        }
        Ok(PlanPage {
            plans,
            summaries,
            next_page_token,
        })
    }

    /// Returns every benchmark of the catalog with its placement, roofline ceiling, estimate
    /// and verdict ([`check_catalog`]); a report, so implausible rows are rows, not errors.
    /// Rows the embedded default seeded come first, in its order (the database keeps no order);
    /// benchmarks added later follow by key.
    pub async fn check_catalog(&self) -> Result<CatalogCheck, ServiceError> {
        let catalog = self.catalog().await?;
        let seed = Catalog::embedded_default();
        let seed_position = |row: &BenchmarkCheck| {
            seed.benchmarks
                .iter()
                .position(|b| {
                    b.sku == row.sku
                        && b.model == row.model
                        && b.quant == row.quant
                        && b.concurrency == row.concurrency
                })
                .unwrap_or(usize::MAX)
        };
        let mut rows = check_catalog(&catalog);
        rows.sort_by_cached_key(seed_position);
        Ok(CatalogCheck {
            catalog_version: catalog.version.clone(),
            rows,
        })
    }

    /// Inserts or replaces a hardware SKU; returns the new catalog version.
    pub async fn upsert_hardware(&self, sku: HardwareSku) -> Result<String, ServiceError> {
        let mut candidate = (*self.catalog().await?).clone();
        match candidate.hardware.iter_mut().find(|h| h.id == sku.id) {
            Some(existing) => *existing = sku.clone(),
            None => candidate.hardware.push(sku.clone()),
        }
        check_edit(&candidate, "hardware")?;
        let version = self.store.upsert_hardware(&hardware_row(&sku)).await?;
        Ok(self.catalog_version_label(version))
    }

    /// Deletes a hardware SKU and its benchmarks; returns the new catalog version.
    pub async fn delete_hardware(&self, id: &str) -> Result<String, ServiceError> {
        if id.trim().is_empty() {
            return Err(ServiceError::invalid("id", "must not be empty"));
        }
        let version = self.store.delete_hardware(id).await?;
        Ok(self.catalog_version_label(version))
    }

    /// Inserts or replaces a benchmark; returns the new catalog version.
    pub async fn upsert_benchmark(&self, benchmark: Benchmark) -> Result<String, ServiceError> {
        let mut candidate = (*self.catalog().await?).clone();
        let same = |b: &Benchmark| {
            b.sku == benchmark.sku
                && b.model == benchmark.model
                && b.quant == benchmark.quant
                && b.concurrency == benchmark.concurrency
        };
        match candidate.benchmarks.iter_mut().find(|b| same(b)) {
            Some(existing) => *existing = benchmark.clone(),
            None => candidate.benchmarks.push(benchmark.clone()),
        }
        check_edit(&candidate, "benchmark")?;
        let version = self
            .store
            .upsert_benchmark(&benchmark_row(&benchmark))
            .await?;
        Ok(self.catalog_version_label(version))
    }

    /// Deletes a benchmark; returns the new catalog version.
    pub async fn delete_benchmark(&self, key: BenchmarkKey) -> Result<String, ServiceError> {
        let version = self.store.delete_benchmark(&key).await?;
        Ok(self.catalog_version_label(version))
    }

    /// Inserts or replaces an API offer; returns the new catalog version.
    pub async fn upsert_api_offer(&self, offer: ApiOffer) -> Result<String, ServiceError> {
        let mut candidate = (*self.catalog().await?).clone();
        match candidate.apis.iter_mut().find(|a| a.id == offer.id) {
            Some(existing) => *existing = offer.clone(),
            None => candidate.apis.push(offer.clone()),
        }
        check_edit(&candidate, "api_offer")?;
        let version = self.store.upsert_api_offer(&api_offer_row(&offer)).await?;
        Ok(self.catalog_version_label(version))
    }

    /// Deletes an API offer; returns the new catalog version.
    pub async fn delete_api_offer(&self, id: &str) -> Result<String, ServiceError> {
        if id.trim().is_empty() {
            return Err(ServiceError::invalid("id", "must not be empty"));
        }
        let version = self.store.delete_api_offer(id).await?;
        Ok(self.catalog_version_label(version))
    }

    /// Registers a node (or updates its SKU and labels); returns it and its acked-through seq.
    pub async fn register_node(
        &self,
        node_id: &str,
        sku: &str,
        labels_json: &str,
    ) -> Result<(NodeRow, u64), ServiceError> {
        if node_id.trim().is_empty() {
            return Err(ServiceError::invalid("node_id", "must not be empty"));
        }
        if sku.trim().is_empty() {
            return Err(ServiceError::invalid("sku", "must not be empty"));
        }
        let node = self
            .store
            .register_node(node_id, sku, labels_json, now_unix_ms())
            .await?;
        self.lock()
            .node_skus
            .insert(node.node_id.clone(), node.sku.clone());
        let acked = self.advance_acked_through(node_id).await?;
        Ok((node, acked))
    }

    /// Returns the SKU a node registered with, or `None` for a node never registered. Reads
    /// the store when this process has not seen the node, or when `expected` differs from what
    /// it remembers (the node may have registered again through another replica).
    async fn registered_sku(
        &self,
        node_id: &str,
        expected: &str,
    ) -> Result<Option<String>, ServiceError> {
        if let Some(sku) = self.lock().node_skus.get(node_id)
            && sku == expected
        {
            return Ok(Some(sku.clone()));
        }
        let node = self.store.get_node(node_id).await?;
        let sku = node.map(|node| node.sku);
        if let Some(sku) = &sku {
            self.lock()
                .node_skus
                .insert(node_id.to_string(), sku.clone());
        }
        Ok(sku)
    }

    /// Stores a batch of observations idempotently by (node, seq) and returns one ack per node
    /// in the batch, in order of first appearance. Every observation must come from a
    /// registered node and name the SKU it registered with; the first that does not refuses
    /// the batch with [`ServiceError::InvalidObservation`].
    pub async fn ingest(&self, rows: Vec<ObservationRow>) -> Result<Vec<IngestAck>, ServiceError> {
        let mut checked: std::collections::HashSet<(&str, &str)> = Default::default();
        for (index, row) in rows.iter().enumerate() {
            if checked.contains(&(row.node_id.as_str(), row.sku.as_str())) {
                continue;
            }
            let refuse = |field: &'static str, reason: String| ServiceError::InvalidObservation {
                index,
                seq: row.seq,
                field,
                reason,
            };
            match self.registered_sku(&row.node_id, &row.sku).await? {
                None => {
                    return Err(refuse(
                        "node_id",
                        format!(
                            "node {:?} is not registered (RegisterNode first)",
                            row.node_id
                        ),
                    ));
                }
                Some(sku) if sku != row.sku => {
                    return Err(refuse(
                        "sku",
                        format!(
                            "{:?} is not the SKU node {:?} registered with ({sku:?})",
                            row.sku, row.node_id
                        ),
                    ));
                }
                Some(_) => {
                    checked.insert((&row.node_id, &row.sku));
                }
            }
        }
        let inserted_total = self.store.insert_observations(&rows).await?;
        let mut acks: Vec<IngestAck> = Vec::new();
        for row in &rows {
            if !acks.iter().any(|a| a.node_id == row.node_id) {
                acks.push(IngestAck {
                    node_id: row.node_id.clone(),
                    acked_through_seq: 0,
                    acked_seqs: Vec::new(),
                    inserted: 0,
                });
            }
        }
        for ack in &mut acks {
            ack.acked_through_seq = self.advance_acked_through(&ack.node_id).await?;
            let mut beyond: Vec<u64> = rows
                .iter()
                .filter(|r| r.node_id == ack.node_id && r.seq > ack.acked_through_seq)
                .map(|r| r.seq)
                .collect();
            beyond.sort_unstable();
            beyond.dedup();
            ack.acked_seqs = beyond;
        }
        // The store counts new rows per batch, not per node; attribute them when there is one node.
        if let [only] = acks.as_mut_slice() {
            only.inserted = inserted_total;
        }
        self.metrics
            .observations_ingested(inserted_total, rows.len() as u64 - inserted_total);
        if inserted_total > 0 {
            self.lock().throughput_dirty = true;
        }
        Ok(acks)
    }

    /// Moves a node's acked-through seq forward over every contiguous stored seq. Concurrent
    /// calls are safe: the cache only ever moves forward, and any cached value is a lower bound
    /// the walk may start from.
    async fn advance_acked_through(&self, node_id: &str) -> Result<u64, ServiceError> {
        let known = self.lock().acked_through.get(node_id).copied().unwrap_or(0);
        let through = self.store.contiguous_seq_through(node_id, known).await?;
        let mut caches = self.lock();
        let cached = caches.acked_through.entry(node_id.to_string()).or_insert(0);
        *cached = (*cached).max(through);
        Ok(*cached)
    }

    /// Plans the request over `spec` against the current catalog and throughput model
    /// ([`crate::sweep::sweep_grid`]: one sweep, or one demand sweep per API price factor of a
    /// grid), off the async runtime, within `time_limit_s` for the whole sweep; `progress`
    /// hears about each plan made. A read: nothing is stored.
    pub async fn sweep(
        &self,
        request: PlanRequest,
        spec: crate::sweep::SweepSpec,
        time_limit_s: f64,
        progress: impl Fn(crate::sweep::SweepProgress) + Send + Sync + 'static,
    ) -> Result<Vec<crate::sweep::Sweep>, ServiceError> {
        let catalog = self.catalog().await?;
        let throughput = self.throughput().await?;
        let settings = crate::sweep::SweepSettings {
            solve: self.settings.solve,
            time_limit_s,
            workers: 0,
        };
        let started = Instant::now();
        let swept = tokio::task::spawn_blocking(move || {
            crate::sweep::sweep_grid(
                &catalog,
                &throughput.model,
                &request,
                &spec,
                settings,
                &progress,
            )
        })
        .await
        .map_err(|error| PlanError::Solver(format!("sweep task failed: {error}")))?;
        self.metrics.observe_solve(started.elapsed());
        Ok(swept?)
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }
}

fn check_edit(candidate: &Catalog, record: &str) -> Result<(), ServiceError> {
    candidate.validate().map_err(|error| {
        let field = match &error {
            crate::catalog::CatalogError::InvalidField { field, .. } => {
                format!("{record}.{field}")
            }
            crate::catalog::CatalogError::UnknownReference { target, .. } => {
                format!("{record}.{target}")
            }
            _ => record.to_string(),
        };
        ServiceError::Invalid {
            field,
            reason: error.to_string(),
        }
    })
}

fn parse_page_token(token: &str) -> Result<PlanCursor, ServiceError> {
    let bad = || {
        ServiceError::invalid(
            "page_token",
            format!("{token:?} is not a token this server issued"),
        )
    };
    let (created, id) = token.split_once(':').ok_or_else(bad)?;
    let created_at_unix_ms = created.parse().map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok(PlanCursor {
        created_at_unix_ms,
        id: id.to_string(),
    })
}

/// Builds the throughput model from the catalog and the stored observations (see
/// [`ThroughputModel::calibrate`]), and lists the observed configurations it cannot use.
fn build_throughput_view(
    catalog: &Catalog,
    observations: &[ObservationRow],
    max_clock_skew: Duration,
) -> ThroughputView {
    // Windows stored before the edge checked them may be impossible (power 1e308, a year-2500
    // end, 1e8 slots that make the queueing arithmetic take seconds): never used.
    let impossible = observations
        .iter()
        .filter(|o| check_observation(o, max_clock_skew).is_err())
        .count();
    if impossible > 0 {
        tracing::warn!(
            windows = impossible,
            "stored observations outside physical ranges are not used"
        );
    }
    let samples: Vec<ObservationSample> = observations
        .iter()
        .filter(|o| check_observation(o, max_clock_skew).is_ok())
        .map(sample_from_row)
        .collect();
    let model = ThroughputModel::calibrate(catalog, &samples);
    let unmatched = model
        .unmatched
        .iter()
        .map(|key| {
            let mut nodes: Vec<&str> = observations
                .iter()
                .filter(|o| {
                    o.sku == key.sku
                        && o.model == key.model
                        && o.quant == key.quant
                        && o.concurrency == key.concurrency
                })
                .map(|o| o.node_id.as_str())
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            UnmatchedGroup {
                sku: key.sku.clone(),
                model: key.model.clone(),
                quant: key.quant.clone(),
                concurrency: key.concurrency,
                windows: key.windows,
                nodes: u32::try_from(nodes.len()).unwrap_or(u32::MAX),
                reason: key.reason.clone(),
            }
        })
        .collect();
    ThroughputView { model, unmatched }
}

fn sample_from_row(row: &ObservationRow) -> ObservationSample {
    ObservationSample {
        node_id: row.node_id.clone(),
        sku: row.sku.clone(),
        model: row.model.clone(),
        quant: row.quant.clone(),
        concurrency: row.concurrency,
        window_start_unix_ms: row.window_start_unix_ms,
        window_end_unix_ms: row.window_end_unix_ms,
        prompt_tokens: row.prompt_tokens,
        predicted_tokens: row.predicted_tokens,
        prompt_seconds: row.prompt_seconds,
        predicted_seconds: row.predicted_seconds,
        prefill_tok_s: row.prefill_tok_s,
        decode_tok_s: row.decode_tok_s,
        aggregate_decode_tok_s: row.aggregate_decode_tok_s,
        mean_concurrency: row.mean_concurrency,
        queue_depth: row.queue_depth,
        cache_hit_rate: row.cache_hit_rate,
        power_w: row.power_w,
        probe: row.kind == "probe",
    }
}

fn provenance_json(provenance: &Provenance) -> String {
    serde_json::to_string(provenance).unwrap_or_else(|_| "{}".to_string())
}

fn provenance_from_json(
    what: &'static str,
    id: &str,
    json: &str,
) -> Result<Provenance, ServiceError> {
    serde_json::from_str(json).map_err(|error| ServiceError::Corrupt {
        what,
        id: id.to_string(),
        reason: format!("provenance: {error}"),
    })
}

/// Returns the stored form of a hardware SKU.
pub fn hardware_row(sku: &HardwareSku) -> HardwareRow {
    HardwareRow {
        id: sku.id.clone(),
        name: sku.name.clone(),
        accelerators: sku.accelerators,
        memory_per_device_gb: sku.memory_per_device_gb,
        unified_memory: sku.unified_memory,
        price_usd: sku.price_usd,
        power_full_w: sku.power_full_w,
        power_idle_w: sku.power_idle_w,
        backend: sku.backend.clone(),
        memory_bandwidth_gb_s: sku.memory_bandwidth_gb_s,
        compute_tflops: sku.compute_tflops,
        host_ram_gb: sku.host_ram_gb,
        host_ram_bandwidth_gb_s: sku.host_ram_bandwidth_gb_s,
        host_link_gb_s: sku.host_link_gb_s,
        disk_read_gb_s: sku.disk_read_gb_s,
        provenance_json: provenance_json(&sku.provenance),
    }
}

fn hardware_from_row(row: HardwareRow) -> Result<HardwareSku, ServiceError> {
    let provenance = provenance_from_json("hardware sku", &row.id, &row.provenance_json)?;
    Ok(HardwareSku {
        id: row.id,
        name: row.name,
        accelerators: row.accelerators,
        memory_per_device_gb: row.memory_per_device_gb,
        unified_memory: row.unified_memory,
        price_usd: row.price_usd,
        power_full_w: row.power_full_w,
        power_idle_w: row.power_idle_w,
        backend: row.backend,
        memory_bandwidth_gb_s: row.memory_bandwidth_gb_s,
        compute_tflops: row.compute_tflops,
        host_ram_gb: row.host_ram_gb,
        host_ram_bandwidth_gb_s: row.host_ram_bandwidth_gb_s,
        host_link_gb_s: row.host_link_gb_s,
        disk_read_gb_s: row.disk_read_gb_s,
        provenance,
    })
}

/// Returns the stored form of a benchmark.
pub fn benchmark_row(benchmark: &Benchmark) -> BenchmarkRow {
    BenchmarkRow {
        sku: benchmark.sku.clone(),
        model: benchmark.model.clone(),
        quant: benchmark.quant.clone(),
        concurrency: benchmark.concurrency,
        devices_used: benchmark.devices_used,
        vram_used_gb: benchmark.vram_used_gb,
        decode_tok_s: benchmark.decode_tok_s,
        prefill_tok_s: benchmark.prefill_tok_s,
        power_w: benchmark.power_w,
        offload: benchmark.offload,
        context_tokens: benchmark.context_tokens,
        provenance_json: provenance_json(&benchmark.provenance),
    }
}

fn benchmark_from_row(row: BenchmarkRow) -> Result<Benchmark, ServiceError> {
    let id = format!(
        "{}/{}/{}/{}",
        row.sku, row.model, row.quant, row.concurrency
    );
    let provenance = provenance_from_json("benchmark", &id, &row.provenance_json)?;
    Ok(Benchmark {
        sku: row.sku,
        model: row.model,
        quant: row.quant,
        concurrency: row.concurrency,
        devices_used: row.devices_used,
        vram_used_gb: row.vram_used_gb,
        decode_tok_s: row.decode_tok_s,
        prefill_tok_s: row.prefill_tok_s,
        power_w: row.power_w,
        offload: row.offload,
        context_tokens: row.context_tokens,
        provenance,
    })
}

/// Returns the stored form of an API offer.
pub fn api_offer_row(offer: &ApiOffer) -> ApiOfferRow {
    ApiOfferRow {
        id: offer.id.clone(),
        name: offer.name.clone(),
        model: offer.model.clone(),
        input_usd_per_million: offer.input_usd_per_million,
        output_usd_per_million: offer.output_usd_per_million,
        ttft_p50_ms: offer.ttft_p50_ms,
        ttft_p95_ms: offer.ttft_p95_ms,
        provenance_json: provenance_json(&offer.provenance),
    }
}

fn api_offer_from_row(row: ApiOfferRow) -> Result<ApiOffer, ServiceError> {
    let provenance = provenance_from_json("api offer", &row.id, &row.provenance_json)?;
    Ok(ApiOffer {
        id: row.id,
        name: row.name,
        model: row.model,
        input_usd_per_million: row.input_usd_per_million,
        output_usd_per_million: row.output_usd_per_million,
        ttft_p50_ms: row.ttft_p50_ms,
        ttft_p95_ms: row.ttft_p95_ms,
        provenance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(seq: u64, end_unix_ms: i64) -> ObservationRow {
        ObservationRow {
            node_id: "mac-1".into(),
            seq,
            sku: "mac-studio-m3-ultra-512".into(),
            model: "deepseek-v4-pro".into(),
            quant: "Q4_K_M".into(),
            concurrency: 1,
            worker_url: "http://127.0.0.1:8080".into(),
            window_start_unix_ms: end_unix_ms - 30_000,
            window_end_unix_ms: end_unix_ms,
            prompt_tokens: 3_000,
            predicted_tokens: 300,
            prompt_seconds: 30.0,
            predicted_seconds: 30.0,
            prefill_tok_s: 100.0,
            decode_tok_s: 10.0,
            aggregate_decode_tok_s: 10.0,
            mean_concurrency: 1.0,
            queue_depth: 0.0,
            cache_hit_rate: 0.0,
            power_w: None,
            kind: "passive".into(),
            received_at_unix_ms: end_unix_ms,
        }
    }

    /// A Propose never waits for a rebuild (issue 16 §3): once a model of the catalog exists,
    /// new windows make it stale, the stale one is served at once, and one background rebuild
    /// brings the new windows in for the calls after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_throughput_model_is_served_while_one_rebuild_runs() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("planner.db").display());
        let store = Store::connect(&url).await.unwrap();
        let planner = Planner::open(store, PlannerSettings::default(), Metrics::new())
            .await
            .unwrap();
        let first = planner.throughput().await.unwrap();
        assert!(
            first.model.version.starts_with("prior:"),
            "{}",
            first.model.version
        );
        planner
            .register_node("mac-1", "mac-studio-m3-ultra-512", "{}")
            .await
            .unwrap();
        let now = now_unix_ms();
        planner
            .ingest(
                (1..=5)
                    .map(|seq| window(seq, now - 1_000 * seq as i64))
                    .collect(),
            )
            .await
            .unwrap();
        // Past the rebuild interval the model is stale: the call returns the old one at once.
        tokio::time::sleep(THROUGHPUT_REBUILD_INTERVAL + Duration::from_millis(100)).await;
        let stale = planner.throughput().await.unwrap();
        assert_eq!(stale.model.version, first.model.version);
        let mut rebuilt = stale;
        for _ in 0..100 {
            rebuilt = planner.throughput().await.unwrap();
            if rebuilt.model.version != first.model.version {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            rebuilt.model.version.starts_with("tm-"),
            "{}",
            rebuilt.model.version
        );
        assert!(
            rebuilt
                .model
                .points
                .iter()
                .any(|p| p.provenance.is_measured())
        );
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let cursor = parse_page_token("1700000000000:0018bcfe568-00ab12").unwrap();
        assert_eq!(cursor.created_at_unix_ms, 1_700_000_000_000);
        assert_eq!(cursor.id, "0018bcfe568-00ab12");
        for bad in ["", "abc", "12:", "x:y"] {
            let error = parse_page_token(bad).unwrap_err();
            assert!(error.to_string().contains("page_token"), "{bad}: {error}");
        }
    }

    #[test]
    fn plan_ids_sort_by_creation_time() {
        let a = new_plan_id(1_700_000_000_000);
        let b = new_plan_id(1_700_000_000_001);
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), 18);
    }

    #[test]
    fn catalog_rows_round_trip() {
        let catalog = Catalog::embedded_default();
        for sku in &catalog.hardware {
            assert_eq!(&hardware_from_row(hardware_row(sku)).unwrap(), sku);
        }
        for benchmark in &catalog.benchmarks {
            assert_eq!(
                &benchmark_from_row(benchmark_row(benchmark)).unwrap(),
                benchmark
            );
        }
        for api in &catalog.apis {
            assert_eq!(&api_offer_from_row(api_offer_row(api)).unwrap(), api);
        }
    }

    #[test]
    fn specs_not_given_stay_not_given_through_rows() {
        let catalog = Catalog::embedded_default();
        let mut sku = catalog.hardware[0].clone();
        sku.memory_bandwidth_gb_s = None;
        sku.compute_tflops = Some(104.8);
        sku.host_ram_gb = Some(0.0);
        sku.host_ram_bandwidth_gb_s = None;
        sku.host_link_gb_s = Some(63.0);
        sku.disk_read_gb_s = None;
        let row = hardware_row(&sku);
        assert_eq!(row.memory_bandwidth_gb_s, None);
        assert_eq!(row.host_ram_gb, Some(0.0));
        assert_eq!(hardware_from_row(row).unwrap(), sku);
        for context_tokens in [None, Some(32_768)] {
            let mut benchmark = catalog.benchmarks[0].clone();
            benchmark.context_tokens = context_tokens;
            let row = benchmark_row(&benchmark);
            assert_eq!(row.context_tokens, context_tokens);
            assert_eq!(benchmark_from_row(row).unwrap(), benchmark);
        }
    }
}
