//! The `lambda` CLI against a real storage node process: the README's tour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;

use lambda_testkit::{binary, free_addr, spawn_db_node};

fn lambda(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary("lambda").unwrap())
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(endpoint: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let (ok, out, err) = lambda(endpoint, &all);
    assert!(ok, "lambda {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn tour_put_siblings_resolve_delete() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr().unwrap();
    let _node = spawn_db_node(&dir.path().join("n"), addr, &[]).unwrap();
    let ep = format!("http://{addr}");

    json(&ep, &["put", "greeting", "hello"]);
    json(&ep, &["put", "greeting", "bonjour"]);
    let (ok, table, _) = lambda(&ep, &["get", "greeting"]);
    assert!(ok);
    assert!(table.contains("2 siblings"), "{table}");
    assert!(
        table.contains("\"hello\"") && table.contains("\"bonjour\""),
        "{table}"
    );

    let read = json(&ep, &["get", "greeting"]);
    assert_eq!(read["siblings"].as_array().unwrap().len(), 2);
    let ctx = read["context"].as_str().unwrap().to_string();
    let w = json(&ep, &["put", "greeting", "hi", "--context", &ctx]);
    assert_eq!(w["siblings"].as_array().unwrap().len(), 1);
    let read = json(&ep, &["get", "greeting"]);
    assert_eq!(read["siblings"][0]["value"], "hi");

    let ctx = read["context"].as_str().unwrap().to_string();
    json(&ep, &["delete", "greeting", "--context", &ctx]);
    let read = json(&ep, &["get", "greeting"]);
    assert_eq!(read["found"], false);
    let (_, table, _) = lambda(&ep, &["get", "greeting"]);
    assert!(table.contains("not found"), "{table}");
}

#[test]
fn cli_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr().unwrap();
    let _node = spawn_db_node(&dir.path().join("n"), addr, &[]).unwrap();
    let ep = format!("http://{addr}");
    let (ok, _, err) = lambda(&ep, &["put", "k", "v", "--context", "!!not base64!!"]);
    assert!(!ok);
    assert!(err.contains("context is not valid base64"), "{err}");
    let (ok, _, err) = lambda(&ep, &["put", "k", "v", "--context", "AQID"]);
    assert!(!ok);
    assert!(err.contains("invalid causal context"), "{err}");
    let (ok, _, err) = lambda(&ep, &["get", ""]);
    assert!(!ok);
    assert!(err.contains("key is empty"), "{err}");
    let dead = free_addr().unwrap();
    let (ok, _, err) = lambda(&format!("http://{dead}"), &["get", "k"]);
    assert!(!ok);
    assert!(
        err.contains("unavailable") || err.contains("transport"),
        "{err}"
    );
}
