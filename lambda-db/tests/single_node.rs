//! A single storage node as a separate process over gRPC: versioning
//! through the API, precise errors, durability across `kill -9`, graceful
//! shutdown, health and reflection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_testkit::{Process, free_addr, spawn_db_node};
use tonic::Code;
use tonic::transport::Channel;

struct Node {
    _dir: tempfile::TempDir,
    process: Process,
    addr: std::net::SocketAddr,
}

fn start(extra: &[&str]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr().unwrap();
    let process = spawn_db_node(&dir.path().join("node"), addr, extra).unwrap();
    Node {
        _dir: dir,
        process,
        addr,
    }
}

async fn client(addr: std::net::SocketAddr) -> KvClient<Channel> {
    KvClient::connect(format!("http://{addr}")).await.unwrap()
}

fn put(key: &str, value: &str, context: Vec<u8>) -> pb::PutRequest {
    pb::PutRequest {
        key: key.into(),
        value: value.into(),
        context,
        options: None,
    }
}

fn get(key: &str) -> pb::GetRequest {
    pb::GetRequest {
        key: key.into(),
        options: None,
    }
}

fn values(r: &pb::GetResponse) -> Vec<String> {
    r.siblings
        .iter()
        .map(|s| String::from_utf8(s.value.clone()).unwrap())
        .collect()
}

#[tokio::test]
async fn siblings_contexts_and_deletes() {
    let node = start(&[]);
    let mut c = client(node.addr).await;
    c.put(put("k", "a", vec![])).await.unwrap();
    c.put(put("k", "b", vec![])).await.unwrap();
    let r = c.get(get("k")).await.unwrap().into_inner();
    assert!(r.found);
    assert_eq!(values(&r), ["a", "b"], "two blind puts are siblings");

    let w = c
        .put(put("k", "c", r.context.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.siblings.len(), 1);
    let r = c.get(get("k")).await.unwrap().into_inner();
    assert_eq!(values(&r), ["c"], "a put with the context replaces both");

    // A put with the stale context only replaces what that context saw.
    let stale = r.context.clone();
    c.put(put("k", "d", vec![])).await.unwrap();
    c.put(put("k", "e", stale)).await.unwrap();
    let r = c.get(get("k")).await.unwrap().into_inner();
    assert_eq!(values(&r), ["d", "e"]);

    let del = pb::DeleteRequest {
        key: "k".into(),
        context: r.context,
        options: None,
    };
    c.delete(del).await.unwrap();
    let r = c.get(get("k")).await.unwrap().into_inner();
    assert!(!r.found);
    assert!(r.siblings.is_empty());
    assert!(
        !r.context.is_empty(),
        "a deleted key keeps its causal history"
    );
}

#[tokio::test]
async fn bad_input_gets_precise_errors() {
    let node = start(&[]);
    let mut c = client(node.addr).await;

    let e = c.put(put("", "v", vec![])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "key is empty");

    let long_key = "k".repeat(1025);
    let e = c.put(put(&long_key, "v", vec![])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("max_key_bytes"), "{}", e.message());
    let e = c.get(get(&long_key)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    let big = pb::PutRequest {
        key: "k".into(),
        value: vec![0; (4 << 20) + 1],
        context: vec![],
        options: None,
    };
    let e = c.put(big).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("max_value_bytes"), "{}", e.message());

    let e = c
        .put(put("k", "v", b"\x01garbage that is not a context".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("invalid causal context"),
        "{}",
        e.message()
    );
    let e = c.put(put("k", "v", vec![0x7f, 1, 2])).await.unwrap_err();
    assert!(
        e.message().contains("unknown format version 127"),
        "{}",
        e.message()
    );

    let bad_opts = pb::GetRequest {
        key: "k".into(),
        options: Some(pb::RequestOptions {
            r: Some(9),
            ..Default::default()
        }),
    };
    let e = c.get(bad_opts).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Nothing was written by any of the refused requests.
    assert!(!c.get(get("k")).await.unwrap().into_inner().found);
}

#[tokio::test]
async fn batch_reports_each_operation() {
    let node = start(&[]);
    let mut c = client(node.addr).await;
    use pb::operation::Op;
    use pb::operation_result::Result as R;
    let ops = vec![
        pb::Operation {
            op: Some(Op::Put(put("a", "1", vec![]))),
        },
        pb::Operation {
            op: Some(Op::Put(put("", "1", vec![]))),
        },
        pb::Operation {
            op: Some(Op::Get(get("a"))),
        },
        pb::Operation { op: None },
    ];
    let results = c
        .batch(pb::BatchRequest { operations: ops })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), 4);
    assert!(matches!(results[0].result, Some(R::Put(_))));
    match &results[1].result {
        Some(R::Error(e)) => assert_eq!(e.code, Code::InvalidArgument as i32),
        other => panic!("expected an error, got {other:?}"),
    }
    match &results[2].result {
        Some(R::Get(g)) => assert_eq!(values(g), ["1"]),
        other => panic!("expected a read, got {other:?}"),
    }
    assert!(matches!(results[3].result, Some(R::Error(_))));
}

#[tokio::test]
async fn kill_9_after_acknowledged_writes_loses_nothing() {
    let mut node = start(&[]);
    let mut c = client(node.addr).await;
    for i in 0..200 {
        c.put(put(&format!("key-{i}"), &format!("value-{i}"), vec![]))
            .await
            .unwrap();
    }
    // SIGKILL right after the last acknowledgement: no flush, no shutdown.
    node.process.kill9().unwrap();
    node.process.restart().unwrap();
    lambda_testkit::wait_for_port(node.addr, Duration::from_secs(60)).unwrap();
    let mut c = client(node.addr).await;
    for i in 0..200 {
        let r = c.get(get(&format!("key-{i}"))).await.unwrap().into_inner();
        assert_eq!(values(&r), [format!("value-{i}")], "key-{i} after kill -9");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly() {
    let mut node = start(&[]);
    let mut c = client(node.addr).await;
    c.put(put("k", "v", vec![])).await.unwrap();
    // The client's connection stays open (and served) while the node drains.
    let status = node.process.terminate(Duration::from_secs(30)).unwrap();
    assert!(
        status.success(),
        "exit status {status}\n{}",
        node.process.log()
    );
    assert!(node.process.log().contains("storage node stopped"));
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let node = start(&[]);
    let channel = Channel::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let resp = health
        .check(HealthCheckRequest {
            service: "lambda.kv.v1.Kv".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.status, ServingStatus::Serving as i32);

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut refl = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = refl
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let msg = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"lambda.kv.v1.Kv"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
}
