//! Overload: a node serves at most `limits.max_inflight_requests` client
//! requests at once and refuses the rest at once with RESOURCE_EXHAUSTED
//! (nothing queues, memory stays bounded); when the load drops it serves
//! again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use lambda_db::admin_cli::fetch_status;
use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use tonic::Code;
use tonic::transport::Channel;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn excess_requests_are_refused_at_once_and_the_node_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ClusterSpec::new(3);
    spec.extra_config = "[limits]\nmax_inflight_requests = 4\n".into();
    let cluster = LocalCluster::start(dir.path(), &spec).unwrap();
    let addr = cluster.nodes[0].addr;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    // Freeze the other two replicas: every W=3 write now waits for its
    // replica calls to time out, holding its slot.
    cluster.nodes[1].process.pause().unwrap();
    cluster.nodes[2].process.pause().unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let mut c = KvClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = c
                .put(pb::PutRequest {
                    key: format!("k{i}").into_bytes(),
                    value: b"v".to_vec(),
                    context: vec![],
                    options: Some(pb::RequestOptions {
                        w: Some(3),
                        ..Default::default()
                    }),
                })
                .await;
            (r.err().map(|e| e.code()), started.elapsed())
        }));
    }
    let mut refused = 0;
    for t in tasks {
        let (code, took) = t.await.unwrap();
        if code == Some(Code::ResourceExhausted) {
            refused += 1;
            assert!(
                took < Duration::from_millis(400),
                "refusals are immediate, took {took:?}"
            );
        }
    }
    assert!(refused >= 30, "only {refused} of 40 refused with 4 slots");
    let status = fetch_status(&addr.to_string()).await.unwrap();
    assert!(status.requests_rejected_overload >= 30);

    cluster.nodes[1].process.resume().unwrap();
    cluster.nodes[2].process.resume().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = KvClient::new(channel.clone())
            .put(pb::PutRequest {
                key: b"after".to_vec(),
                value: b"v".to_vec(),
                context: vec![],
                options: None,
            })
            .await;
        if r.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "node did not recover: {r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        fetch_status(&addr.to_string())
            .await
            .unwrap()
            .requests_in_flight,
        0
    );
}
