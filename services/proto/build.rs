//! Compiles `proto/fleet/v1/*.proto` with the pure-Rust `protox` compiler, so a build needs no
//! system `protoc`, and writes the descriptor set the server serves for reflection.

use std::path::PathBuf;

use prost::Message;

const PROTO_ROOT: &str = "../../proto";
const PROTO_FILES: &[&str] = &[
    "../../proto/fleet/v1/planner.proto",
    "../../proto/fleet/v1/telemetry.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let descriptor_path = out_dir.join("fleet_v1_descriptor.bin");
    std::fs::write(&descriptor_path, descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_protos(PROTO_FILES, &[PROTO_ROOT])?;
    Ok(())
}
