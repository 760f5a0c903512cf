//! The time-series store on a real disk with an in-memory cluster: ingest
//! rules, WAL replay, sealing and upload, reading back from the cluster,
//! backpressure, step aggregates and top-k against brute force.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use lambda_agent::tsdb::{
    MemoryStore, Point, Score, SeriesKey, SeriesPoints, TopKQuery, Tsdb, TsdbConfig, TsdbError,
};
use rand::{RngExt, SeedableRng};

const MIN: i64 = 60_000;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (10 * MIN);

fn cfg() -> TsdbConfig {
    TsdbConfig {
        block_ms: 10 * MIN,
        ..TsdbConfig::default()
    }
}

fn key(host: &str) -> SeriesKey {
    SeriesKey::new("cpu_usage", [("host", host)]).unwrap()
}

fn batch(k: &SeriesKey, pts: &[(i64, f64)]) -> Vec<SeriesPoints> {
    vec![SeriesPoints {
        key: k.clone(),
        points: pts.iter().map(|&(t, v)| Point::new(t, v)).collect(),
    }]
}

#[test]
fn order_errors_name_series_and_timestamps_and_batches_are_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), cfg(), Arc::new(MemoryStore::new())).unwrap();
    let k = key("a");
    db.ingest(&batch(&k, &[(T0, 1.0), (T0 + 10, 2.0)])).unwrap();
    let e = db.ingest(&batch(&k, &[(T0 + 10, 3.0)])).unwrap_err();
    assert!(matches!(e, TsdbError::DuplicateTimestamp { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(r#"cpu_usage{host="a"}"#) && msg.contains(&(T0 + 10).to_string()),
        "{msg}"
    );
    let e = db.ingest(&batch(&k, &[(T0 + 5, 3.0)])).unwrap_err();
    assert!(
        matches!(e, TsdbError::OutOfOrder { last_ms, got_ms, .. } if last_ms == T0 + 10 && got_ms == T0 + 5),
        "{e}"
    );
    // Within one batch too, and nothing of a refused batch is stored.
    let e = db
        .ingest(&batch(
            &k,
            &[(T0 + 20, 1.0), (T0 + 30, 1.0), (T0 + 25, 1.0)],
        ))
        .unwrap_err();
    assert!(e.to_string().contains("out-of-order"), "{e}");
    let e = db.ingest(&batch(&k, &[(-1, 1.0)])).unwrap_err();
    assert!(matches!(e, TsdbError::TimestampOutOfRange { .. }), "{e}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pts = rt.block_on(db.range(&k, T0, T0 + MIN)).unwrap();
    assert_eq!(
        pts.iter().map(|p| p.timestamp_ms).collect::<Vec<_>>(),
        vec![T0, T0 + 10]
    );
}

#[tokio::test]
async fn wal_replay_restores_every_acknowledged_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let k = key("a");
    let pts: Vec<(i64, f64)> = (0..500)
        .map(|i| (T0 + i * 7_000, (i as f64).sin()))
        .collect();
    {
        let db = Tsdb::open(dir.path(), cfg(), store.clone()).unwrap();
        for chunk in pts.chunks(37) {
            db.ingest(&batch(&k, chunk)).unwrap();
        }
        // Dropped without sealing or upload: only the WAL has the points.
    }
    // A torn tail (a batch whose write was cut short) is ignored.
    let wal_dir = dir.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let last = segs
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap()
        .clone();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(f);
    let db = Tsdb::open(dir.path(), cfg(), store.clone()).unwrap();
    let got = db.range(&k, T0, T0 + 3_600_000).await.unwrap();
    assert_eq!(got.len(), pts.len());
    assert!(
        got.iter()
            .zip(&pts)
            .all(|(g, p)| g.timestamp_ms == p.0 && g.value.to_bits() == p.1.to_bits())
    );
    // The series remembers its last timestamp across the restart.
    assert!(db.ingest(&batch(&k, &[(pts[10].0, 0.0)])).is_err());
}

#[tokio::test]
async fn sealed_blocks_are_uploaded_then_read_back_by_a_fresh_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let k = key("a");
    let pts: Vec<(i64, f64)> = (0..360).map(|i| (T0 + i * 10_000, i as f64)).collect();
    let db = Tsdb::open(dir.path(), cfg(), store.clone()).unwrap();
    db.ingest(&batch(&k, &pts)).unwrap();
    // 360 points over an hour in 10-minute windows: 5 sealed, 1 open.
    assert_eq!(db.stats().pending_blocks, 5);
    db.seal_idle(T0 + 2 * 3_600_000).unwrap();
    assert_eq!(db.upload_pending().await.unwrap(), 6);
    let s = db.stats();
    assert_eq!((s.pending_blocks, s.uploaded_blocks), (0, 6));
    assert_eq!(s.wal_segments, 1, "acknowledged WAL segments are removed");
    let keys = store.keys();
    assert!(keys.iter().any(|k| k.starts_with("ts/v1/block/")));
    assert!(keys.iter().any(|k| k.starts_with("ts/v1/index/")));
    assert!(keys.contains(&"ts/v1/catalog/cpu_usage".to_string()));
    drop(db);

    // A store with an empty directory finds everything through the index.
    let other = tempfile::tempdir().unwrap();
    let fresh = Tsdb::open(other.path(), cfg(), store.clone()).unwrap();
    let got = fresh.range(&k, T0 + 15_000, T0 + 3_000_000).await.unwrap();
    let want: Vec<_> = pts
        .iter()
        .filter(|p| p.0 >= T0 + 15_000 && p.0 < T0 + 3_000_000)
        .collect();
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter()
            .zip(want)
            .all(|(g, w)| g.timestamp_ms == w.0 && g.value == w.1)
    );
    let agg = fresh
        .aggregate(&k, T0, T0 + 3_600_000, 600_000)
        .await
        .unwrap();
    assert_eq!(agg.len(), 6);
    assert_eq!(agg[0].count, 60);
    assert_eq!(
        (agg[0].min, agg[0].max, agg[0].avg),
        (Some(0.0), Some(59.0), Some(29.5))
    );

    // Restarting the first store re-uploads nothing and loses nothing.
    let db = Tsdb::open(dir.path(), cfg(), store.clone()).unwrap();
    assert_eq!(db.stats().pending_blocks, 0);
    assert_eq!(db.range(&k, T0, T0 + 3_600_000).await.unwrap().len(), 360);
}

#[tokio::test]
async fn a_full_upload_queue_refuses_ingest_until_the_cluster_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let mut c = cfg();
    c.max_pending_blocks = 3;
    let db = Tsdb::open(dir.path(), c, store.clone()).unwrap();
    store.set_failing(true);
    let k = key("a");
    let mut t = T0;
    let mut refused = None;
    for i in 0..20 {
        t += 10 * MIN;
        match db.ingest(&batch(&k, &[(t, f64::from(i))])) {
            Ok(_) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let e = refused.expect("ingest must be refused once the queue is full");
    assert!(
        matches!(
            e,
            TsdbError::Backpressure {
                pending: 3,
                limit: 3
            }
        ),
        "{e}"
    );
    assert!(db.upload_pending().await.is_err());
    store.set_failing(false);
    assert_eq!(db.upload_pending().await.unwrap(), 3);
    db.ingest(&batch(&k, &[(t, 1.0)])).unwrap();
}

async fn fill(db: &Tsdb, seed: u64, n_series: usize) -> Vec<SeriesKey> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let keys: Vec<SeriesKey> = (0..n_series).map(|i| key(&format!("h{i:03}"))).collect();
    let levels: Vec<f64> = keys.iter().map(|_| rng.random_range(0.0..100.0)).collect();
    // Two hours of 10 s points, ingested 10 scrapes per batch.
    for first in (0..(2 * 360)).step_by(10) {
        let b: Vec<SeriesPoints> = keys
            .iter()
            .zip(&levels)
            .map(|(k, lvl)| {
                let points = (first..first + 10)
                    .map(|step| {
                        let v = if rng.random_range(0..50) == 0 {
                            f64::NAN
                        } else {
                            lvl + rng.random_range(-20.0..20.0)
                        };
                        Point::new(T0 + step * 10_000, v)
                    })
                    .collect();
                SeriesPoints {
                    key: k.clone(),
                    points,
                }
            })
            .collect();
        db.ingest(&b).unwrap();
    }
    db.seal_all();
    while db.upload_pending().await.unwrap() > 0 {}
    keys
}

#[tokio::test]
async fn top_k_equals_brute_force_and_reads_fewer_blocks() {
    for seed in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::new());
        let db = Tsdb::open(dir.path(), cfg(), store.clone()).unwrap();
        fill(&db, seed, 40).await;
        for (score, t0, t1) in [
            (Score::Max, T0 + 95_000, T0 + 7_000_000),
            (Score::Avg, T0 + 95_000, T0 + 7_000_000),
            (Score::Max, T0, T0 + 2 * 3_600_000),
            (Score::Avg, T0 + 1_234_567, T0 + 5_555_555),
        ] {
            for k in [1, 3, 10] {
                let q = TopKQuery {
                    metric: "cpu_usage".into(),
                    matchers: vec![],
                    t0,
                    t1,
                    k,
                    score,
                    sub_domains: 8,
                };
                let fast = db.top_k(&q).await.unwrap();
                let slow = db.top_k_brute_force(&q).await.unwrap();
                let names = |r: &lambda_agent::tsdb::TopKResult| {
                    r.top.iter().map(|x| x.0.canonical()).collect::<Vec<_>>()
                };
                assert_eq!(names(&fast), names(&slow), "seed {seed} {score:?} k={k}");
                for (a, b) in fast.top.iter().zip(&slow.top) {
                    assert!(
                        (a.1 - b.1).abs() <= 1e-9 * b.1.abs().max(1.0),
                        "{} vs {}",
                        a.1,
                        b.1
                    );
                }
                assert_eq!(slow.blocks_read, slow.blocks_total);
                assert!(
                    fast.blocks_read < slow.blocks_read / 2,
                    "seed {seed} {score:?} k={k}: {} vs {}",
                    fast.blocks_read,
                    slow.blocks_read
                );
                assert!(fast.scored < fast.candidates, "the scan stopped early");
            }
        }
        // The counters of the cluster agree that fewer blocks were fetched.
        let before = store.gets("block");
        let q = TopKQuery {
            metric: "cpu_usage".into(),
            matchers: vec![],
            t0: T0 + 95_000,
            t1: T0 + 7_000_000,
            k: 3,
            score: Score::Max,
            sub_domains: 8,
        };
        db.top_k(&q).await.unwrap();
        let fast = store.gets("block") - before;
        db.top_k_brute_force(&q).await.unwrap();
        let slow = store.gets("block") - before - fast;
        assert!(fast * 4 < slow, "{fast} vs {slow}");
    }
}

#[tokio::test]
async fn top_k_with_label_filters_and_local_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), cfg(), Arc::new(MemoryStore::new())).unwrap();
    for (host, v) in [("a", 5.0), ("b", 9.0), ("c", 7.0)] {
        db.ingest(&batch(&key(host), &[(T0, v), (T0 + 1000, v - 1.0)]))
            .unwrap();
    }
    let q = TopKQuery {
        metric: "cpu_usage".into(),
        matchers: vec![],
        t0: T0,
        t1: T0 + MIN,
        k: 2,
        score: Score::Max,
        sub_domains: 0,
    };
    let r = db.top_k(&q).await.unwrap();
    assert_eq!(r.top, vec![(key("b"), 9.0), (key("c"), 7.0)]);
    let q = TopKQuery {
        matchers: vec![("host".into(), "a".into())],
        ..q
    };
    assert_eq!(db.top_k(&q).await.unwrap().top, vec![(key("a"), 5.0)]);
}

#[test]
fn corruption_before_the_last_wal_segment_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let c = TsdbConfig {
        wal_segment_bytes: 1,
        ..cfg()
    };
    let k = key("a");
    {
        let db = Tsdb::open(dir.path(), c.clone(), store.clone()).unwrap();
        for i in 0..3 {
            db.ingest(&batch(&k, &[(T0 + i, 1.0)])).unwrap();
        }
    }
    let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&segs[0], bytes).unwrap();
    let e = Tsdb::open(dir.path(), c, store).unwrap_err();
    assert!(matches!(e, TsdbError::WalCorrupt { .. }), "{e}");
    assert!(
        e.to_string().contains(&segs[0].display().to_string())
            && e.to_string().contains("checksum"),
        "{e}"
    );
}

#[tokio::test]
async fn a_chunk_reaching_the_size_limit_is_sealed_early() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let c = TsdbConfig {
        max_block_bytes: 64,
        ..cfg()
    };
    let db = Tsdb::open(dir.path(), c, store.clone()).unwrap();
    let k = key("a");
    // Random-looking values: about 8 bytes each, all in one window.
    let pts: Vec<(i64, f64)> = (0..100)
        .map(|i| (T0 + i * 1000, (i as f64 * 1.1).sin()))
        .collect();
    db.ingest(&batch(&k, &pts)).unwrap();
    let pending = db.stats().pending_blocks;
    assert!(pending >= 5, "{pending} blocks sealed");
    db.seal_all();
    while db.upload_pending().await.unwrap() > 0 {}
    let got = db.range(&k, T0, T0 + MIN * 10).await.unwrap();
    assert_eq!(got.len(), 100);
    assert!(
        got.iter()
            .zip(&pts)
            .all(|(g, p)| g.timestamp_ms == p.0 && g.value == p.1)
    );
}
