//! The descriptor set served for reflection describes both fleet.v1 services and their RPCs.

use prost::Message;
use prost_types::FileDescriptorSet;

fn services() -> Vec<(String, Vec<String>)> {
    let set = FileDescriptorSet::decode(fleet_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set decodes");
    set.file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_string();
            file.service.iter().map(move |service| {
                (
                    format!("{package}.{}", service.name()),
                    service
                        .method
                        .iter()
                        .map(|m| m.name().to_string())
                        .collect(),
                )
            })
        })
        .collect()
}

#[test]
fn descriptor_set_names_both_services() {
    let names: Vec<String> = services().into_iter().map(|(name, _)| name).collect();
    assert!(
        names.contains(&fleet_proto::PLANNER_SERVICE_NAME.to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&fleet_proto::TELEMETRY_SERVICE_NAME.to_string()),
        "{names:?}"
    );
}

#[test]
fn planner_service_has_every_rpc() {
    let (_, methods) = services()
        .into_iter()
        .find(|(name, _)| name == "fleet.v1.PlannerService")
        .expect("planner service");
    for rpc in [
        "Propose",
        "GetPlan",
        "ListPlans",
        "GetSchedule",
        "ListHardware",
        "UpsertHardware",
        "DeleteHardware",
        "ListBenchmarks",
        "UpsertBenchmark",
        "DeleteBenchmark",
        "ListApiOffers",
        "UpsertApiOffer",
        "DeleteApiOffer",
        "GetThroughputModel",
        "CheckCatalog",
        "Sweep",
    ] {
        assert!(
            methods.iter().any(|m| m == rpc),
            "missing {rpc} in {methods:?}"
        );
    }
}

#[test]
fn report_observations_streams_both_ways() {
    let set = FileDescriptorSet::decode(fleet_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set decodes");
    let method = set
        .file
        .iter()
        .flat_map(|file| &file.service)
        .filter(|service| service.name() == "TelemetryService")
        .flat_map(|service| &service.method)
        .find(|method| method.name() == "ReportObservations")
        .expect("ReportObservations");
    assert!(method.client_streaming());
    assert!(method.server_streaming());
}

#[test]
fn generated_messages_round_trip() {
    use fleet_proto::v1::{Observation, ObservationKind};
    let observation = Observation {
        node_id: "gpu-01".into(),
        seq: 7,
        power_w: Some(412.5),
        kind: ObservationKind::Probe as i32,
        ..Default::default()
    };
    let decoded = Observation::decode(observation.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(decoded, observation);
    assert_eq!(decoded.kind(), ObservationKind::Probe);
}
