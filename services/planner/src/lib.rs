//! fleetplan's planning core: which local inference hardware to own, how many of each, and how
//! much traffic to spill to a hosted API, at the lowest monthly cost that meets every workload's
//! SLO.
//!
//! The domain modules do no I/O: pure functions over plain structs.
//!
//! | module | what it holds |
//! |---|---|
//! | [`units`] | `1.5B` token counts, `800ms` durations, money and token formatting |
//! | [`catalog`] | hardware, models, quants, benchmarks, API offers, with provenance; the embedded default |
//! | [`demand`] | workloads and plan requests, from flags or TOML/JSON files, validated |
//! | [`cost`] | amortization, energy, tokens/month and the break-even table |
//! | [`physics`] | placement, roofline ceilings and estimates, and the verdict on every benchmark |
//! | [`throughput`] | per-configuration throughput points and their basis: measured, published or estimated |
//! | [`calibration`] | measured windows → figures: rejections by reason, prior vs measurement by precision, error of the prior |
//! | [`queueing`] | Erlang C: the utilization a TTFT p95 limit allows at N slots |
//! | [`latency`] | the TTFT p50/p95 a plan implies per pool and hour, SLO attainment and goodput |
//! | [`solve`] | the mixed-integer program over hour buckets and [`solve::propose`]; large models decomposed |
//! | [`interior_point`] | an interior-point LP solver for block-angular programs, with duals |
//! | [`backend`] | the MIP backends: microlp, and HiGHS with the `highs` feature |
//! | [`sweep`] | one request over a range of demand or API prices: break-evens by bisection |
//! | [`schedule`] | the per-hour schedule and [`plan::Plan::routing_at`] for a gateway |
//! | [`plan`] | what a plan says: pools, routes, cost, baselines, solver report |
//! | [`error`] | [`PlanError`] |
//!
//! I/O lives outside the domain, and depends on it, never the other way:
//!
//! | module | what it holds |
//! |---|---|
//! | [`auth`] | bearer tokens: writes need one, reads optionally |
//! | [`service`] | [`service::Planner`]: the domain over durable storage (`fleet-store`) |
//! | [`grpc`] | `fleet.v1` services: proto ⇄ domain, errors ⇄ `Status` |
//! | [`server`] | [`server::serve`]: gRPC, health, reflection and `/metrics` on injected listeners |
//! | [`metrics`] | Prometheus metrics |
//! | [`tls`] | TLS for gRPC: the server's certificate and key, the CA a client trusts |
//! | [`env`] | env twins of flags: an empty variable counts as unset, in every binary |

pub mod auth;
pub mod backend;
pub mod calibration;
pub mod catalog;
pub mod cost;
pub mod demand;
pub mod env;
pub mod error;
pub mod grpc;
pub mod interior_point;
pub mod latency;
pub mod metrics;
pub mod physics;
pub mod plan;
pub mod queueing;
pub mod schedule;
pub mod server;
pub mod service;
pub mod solve;
pub mod sweep;
pub mod throughput;
pub mod tls;
pub mod units;

pub use catalog::Catalog;
pub use demand::{PlanRequest, Workload};
pub use error::PlanError;
pub use plan::Plan;
pub use solve::{SolveSettings, propose, propose_cancellable, propose_with};
pub use throughput::ThroughputModel;
pub use units::TokenCount;
