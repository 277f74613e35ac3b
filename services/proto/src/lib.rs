//! fleetplan's gRPC API, package `fleet.v1`: the only contract between the planner, the CLI and
//! the node agent. The `.proto` sources live in `proto/fleet/v1/` at the repository root; this
//! crate is the one place that runs code generation, with the pure-Rust `protox` compiler so
//! that a build needs nothing but cargo.
//!
//! Module map:
//! - [`v1`]: generated messages, enums, the `PlannerService` and `TelemetryService` servers
//!   (`planner_service_server`, `telemetry_service_server`) and clients
//!   (`planner_service_client`, `telemetry_service_client`).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptor set of both files, for server reflection.

/// Generated code for package `fleet.v1`.
pub mod v1 {
    #![allow(missing_docs)]
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("fleet.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of `fleet/v1/*.proto`, as
/// `tonic-reflection`'s `register_encoded_file_descriptor_set` expects it.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/fleet_v1_descriptor.bin"));

/// Fully qualified name of the planner service, as reflection and health checks name it.
pub const PLANNER_SERVICE_NAME: &str = "fleet.v1.PlannerService";

/// Fully qualified name of the telemetry service, as reflection and health checks name it.
pub const TELEMETRY_SERVICE_NAME: &str = "fleet.v1.TelemetryService";

/// Trailer of a refused `ReportObservations` batch that names the one observation at fault by
/// its seq (decimal), so an agent can set that observation aside and send the rest instead of
/// resending it forever.
pub const REJECTED_SEQ_METADATA: &str = "fleet-rejected-seq";
