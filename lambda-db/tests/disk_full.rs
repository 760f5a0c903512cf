//! A real disk running full under a node: RocksDB on a 24 MiB tmpfs. Once a
//! write fails, the node answers UNAVAILABLE and keeps refusing writes, and
//! every write it acknowledged before is still readable.
//!
//! Mounting needs root (CI runs as root); elsewhere the test says so and
//! passes without checking anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;

use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_testkit::{free_addr, spawn_db_node};
use tonic::Code;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn incompressible(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_writes_and_keeps_acknowledged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&mnt)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("skipping full_disk test: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _mount = Mount(mnt.clone());
    let addr = free_addr().unwrap();
    let mut node = spawn_db_node(&mnt.join("node"), addr, &[]).unwrap();
    let mut c = KvClient::connect(format!("http://{addr}")).await.unwrap();

    let mut acknowledged = Vec::new();
    let mut failure = None;
    for i in 0..64u64 {
        let req = pb::PutRequest {
            key: format!("k{i}").into_bytes(),
            value: incompressible(i, 1 << 20),
            context: vec![],
            options: None,
        };
        match c.put(req).await {
            Ok(_) => acknowledged.push(i),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let e = failure.expect("a 24 MiB disk must fill up within 64 MiB of writes");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(!acknowledged.is_empty());

    let small = pb::PutRequest {
        key: b"small".to_vec(),
        value: b"x".to_vec(),
        context: vec![],
        options: None,
    };
    let e = c.put(small).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().contains("refuses writes"), "{}", e.message());

    for i in &acknowledged {
        let r = c
            .get(pb::GetRequest {
                key: format!("k{i}").into_bytes(),
                options: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.siblings.len(), 1, "k{i}");
        assert_eq!(r.siblings[0].value, incompressible(*i, 1 << 20), "k{i}");
    }
    node.kill9().unwrap();
}
