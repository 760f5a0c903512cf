//! Compiles every `.proto` file under `proto/lambda/` with tonic/prost and
//! writes the file descriptor set that servers expose through reflection.
//!
//! `protoc` comes from the vendored `protoc-bin-vendored` crate, so a fresh
//! machine needs no system protobuf compiler.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut protos = Vec::new();
    collect(&root.join("lambda"), &mut protos)?;
    protos.sort();
    // The directory too, so that a newly added .proto triggers a rebuild.
    println!("cargo:rerun-if-changed={}", root.join("lambda").display());
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("lambda_descriptor.bin"))
        .compile_with_config(config, &protos, &[root])?;
    Ok(())
}
