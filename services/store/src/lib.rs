//! fleetplan's durable storage: the catalog (hardware SKUs, benchmarks, API offers and their
//! version counter), plans as immutable records, registered nodes and the observations their
//! agents report. One [`Store`] speaks to SQLite (the embedded default) or PostgreSQL,
//! chosen by the URL scheme, and runs the embedded migrations
//! (`migrations/{sqlite,postgres}/`) when it connects.
//!
//! Module map:
//! - [`Store`] (`store`): connect, migrate, and every query, written once for both backends.
//! - `rows`: the records as stored ([`HardwareRow`], [`BenchmarkRow`], [`ApiOfferRow`],
//!   [`PlanRow`], [`PlanSummaryRow`], [`NodeRow`], [`ObservationRow`]) and query arguments.
//! - [`StoreError`] (`error`): the layer's one error type.
//!
//! Queries are checked at run time, not compile time, so building needs no database; the
//! conformance suite in `tests/` runs every behaviour against both backends instead.

mod error;
mod rows;
mod store;

pub use error::StoreError;
pub use rows::{
    ApiOfferRow, BenchmarkKey, BenchmarkRow, HardwareRow, NodeRow, ObservationFilter,
    ObservationRow, PlanCursor, PlanRow, PlanSummaryRow,
};
pub use store::{Backend, OBSERVATIONS_PER_STATEMENT, Store};
