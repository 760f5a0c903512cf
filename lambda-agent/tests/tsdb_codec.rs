//! Property tests of the time-series encodings: Gorilla blocks round-trip
//! bit-exactly (NaN payloads, ±inf, -0.0 included), bad timestamps are
//! refused, and random bytes fed to every decoder give an error, never a
//! panic.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use lambda_agent::tsdb::block::{self, BlockMeta};
use lambda_agent::tsdb::gorilla::GorillaEncoder;
use lambda_agent::tsdb::index::{Catalog, IndexShard};
use lambda_agent::tsdb::wal::{self, WalRecord};
use lambda_agent::tsdb::{Point, SeriesKey, state};
use proptest::prelude::*;

fn special() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::from_bits(0x7ff0_0000_dead_beef)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<f64>(),
        2 => (0u32..1000).prop_map(f64::from),
        1 => special(),
        2 => -1e6f64..1e6,
    ]
}

fn series() -> impl Strategy<Value = Vec<Point>> {
    (
        0i64..2_000_000_000_000,
        prop::collection::vec(
            (
                prop_oneof![Just(0i64), -5i64..5, -3000i64..3000, 0i64..5_000_000_000],
                value(),
            ),
            1..300,
        ),
    )
        .prop_map(|(start, steps)| {
            let mut ts = start;
            let mut delta = 10_000i64;
            let mut out = Vec::new();
            for (jitter, v) in steps {
                delta = (delta + jitter).max(1);
                ts += delta;
                out.push(Point::new(ts, v));
            }
            out
        })
}

/// Series whose values are exact decimals (0 to 4 fraction digits), with
/// occasional specials that force the XOR mode.
fn decimal_series() -> impl Strategy<Value = Vec<Point>> {
    (
        0u32..5,
        prop::collection::vec((-5i64..5, -100_000i64..100_000), 2..200),
        prop::option::weighted(0.1, special()),
    )
        .prop_map(|(e, steps, special)| {
            let scale = 10f64.powi(e as i32);
            let mut out: Vec<Point> = steps
                .iter()
                .enumerate()
                .map(|(i, &(j, m))| {
                    Point::new(1_700_000_000_000 + i as i64 * 10_000 + j, m as f64 / scale)
                })
                .collect();
            if let Some(v) = special {
                let n = out.len() / 2;
                out[n].value = v;
            }
            out
        })
}

/// The value mode byte of an encoded block (after version and two varints).
fn mode_of(bytes: &[u8]) -> u8 {
    let mut i = 1;
    for _ in 0..2 {
        while bytes[i] & 0x80 != 0 {
            i += 1;
        }
        i += 1;
    }
    bytes[i]
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    b.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    b
}

fn same_bits(a: &[Point], b: &[Point]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.timestamp_ms == y.timestamp_ms && x.value.to_bits() == y.value.to_bits()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn blocks_round_trip_bit_exactly(points in series()) {
        let bytes = block::encode_points(&points).unwrap();
        let back = block::decode(&bytes).unwrap();
        prop_assert!(same_bits(&points, &back));
        // The encoding is a function of the points.
        prop_assert_eq!(bytes, block::encode_points(&back).unwrap());
    }

    #[test]
    fn decimal_blocks_round_trip_bit_exactly(points in decimal_series()) {
        let bytes = block::encode_points(&points).unwrap();
        let back = block::decode(&bytes).unwrap();
        prop_assert!(same_bits(&points, &back));
        let xor_only = points.iter().any(|p| !p.value.is_finite() || p.value.to_bits() == (-0.0f64).to_bits());
        if xor_only {
            prop_assert_eq!(mode_of(&bytes), 0);
        }
    }

    #[test]
    fn checksummed_garbage_never_panics(
        count in 1u8..100,
        mode in 0u8..3,
        exp in 0u8..7,
        order in 0u8..4,
        payload in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        // A valid frame around random content reaches the bit decoders.
        let mut body = vec![1, count, 0x80, 0x80, 0x01, mode];
        if mode == 1 {
            body.extend_from_slice(&[exp, order, 4]);
        }
        body.extend_from_slice(&payload);
        let _ = block::decode(&framed(&body));
    }

    #[test]
    fn equal_and_earlier_timestamps_are_refused(points in series(), back in 0i64..20_000) {
        let mut enc = GorillaEncoder::new();
        for p in &points {
            enc.push(p.timestamp_ms, p.value).unwrap();
        }
        let last = points.last().unwrap().timestamp_ms;
        prop_assert_eq!(enc.push(last, 1.0), Err(last));
        prop_assert_eq!(enc.push(last - back, 1.0), Err(last));
        // The refused points left the encoder unchanged.
        let decoded = block::decode(&block::encode(&enc)).unwrap();
        prop_assert!(same_bits(&points, &decoded));
    }

    #[test]
    fn random_bytes_never_panic_any_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        // Random bytes essentially never carry a valid checksum: each
        // checksummed decoder must refuse them with an error (not panic).
        prop_assert!(block::decode(&bytes).is_err());
        prop_assert!(IndexShard::decode(&bytes).is_err());
        prop_assert!(Catalog::decode(&bytes).is_err());
        prop_assert!(state::decode(&bytes).is_err());
        // The WAL record body has no checksum of its own (its frame has):
        // it must not panic, whatever it returns.
        let _ = WalRecord::decode(&bytes);
        let (recs, bad) = wal::parse_segment(&bytes);
        prop_assert!(bytes.is_empty() || bad.is_some() || !recs.is_empty());
    }

    #[test]
    fn corrupted_blocks_fail_with_a_precise_error(points in series(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = block::encode_points(&points).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let err = block::decode(&bytes).unwrap_err();
        prop_assert!(err.to_string().starts_with("corrupt block at byte"), "{}", err);
    }

    #[test]
    fn truncated_blocks_fail(points in series(), cut in any::<prop::sample::Index>()) {
        let bytes = block::encode_points(&points).unwrap();
        let n = cut.index(bytes.len());
        prop_assert!(block::decode(&bytes[..n]).is_err());
    }
}

#[test]
fn decimal_mode_is_chosen_for_decimal_gauges_and_is_smaller() {
    let pts: Vec<Point> = (0..60)
        .map(|i| {
            Point::new(
                1_700_000_000_000 + i * 10_000,
                f64::from((i * 37 % 200) as i32) / 10.0,
            )
        })
        .collect();
    let bytes = block::encode_points(&pts).unwrap();
    assert_eq!(mode_of(&bytes), 1);
    let mut enc = GorillaEncoder::new();
    for p in &pts {
        enc.push(p.timestamp_ms, p.value).unwrap();
    }
    assert!(
        bytes.len() * 2 < enc.payload().len(),
        "{} vs {}",
        bytes.len(),
        enc.payload().len()
    );
    assert!(same_bits(&pts, &block::decode(&bytes).unwrap()));
    let e = block::decode(&framed(&[1, 2, 0, 1, 9, 1, 2]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("decimal exponent 9"), "{e}");
    let e = block::decode(&framed(&[1, 2, 0, 7]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown value mode 7"), "{e}");
}

#[test]
fn decoder_errors_name_what_is_wrong() {
    let e = block::decode(&[]).unwrap_err().to_string();
    assert!(e.contains("block") && e.contains("too short"), "{e}");
    let e = IndexShard::decode(&[1, 2, 3, 4, 5])
        .unwrap_err()
        .to_string();
    assert!(e.contains("index shard") && e.contains("checksum"), "{e}");
    let e = WalRecord::decode(&[9]).unwrap_err().to_string();
    assert!(
        e.contains("WAL record") && e.contains("unknown record kind 9"),
        "{e}"
    );
    let (_, bad) = wal::parse_segment(&[1, 0, 0]);
    assert!(bad.unwrap().1.contains("truncated header"));
}

#[test]
fn index_and_wal_round_trip() {
    let key = SeriesKey::new("cpu", [("host", "a")]).unwrap();
    let pts = [
        Point::new(1000, 1.0),
        Point::new(2000, f64::NAN),
        Point::new(3000, 5.0),
    ];
    let meta = BlockMeta::of(&pts, 40);
    assert_eq!(
        (meta.count, meta.nan_count, meta.min, meta.max, meta.sum),
        (3, 1, 1.0, 5.0, 6.0)
    );
    let mut shard = IndexShard::new(key.clone(), 0);
    shard.insert(meta);
    assert_eq!(IndexShard::decode(&shard.encode()).unwrap(), shard);
    let rec = WalRecord {
        series: vec![key.clone()],
        points: vec![(key.id(), 5, -0.0), (key.id(), 6, f64::INFINITY)],
    };
    let framed = wal::frame(&rec.encode());
    let (recs, bad) = wal::parse_segment(&framed);
    assert!(bad.is_none());
    assert_eq!(recs[0].series, rec.series);
    assert_eq!(recs[0].points[0].2.to_bits(), (-0.0f64).to_bits());
    // A torn tail: everything before it is read, the tail is reported.
    let mut two = framed.clone();
    two.extend_from_slice(&framed[..framed.len() - 3]);
    let (recs, bad) = wal::parse_segment(&two);
    assert_eq!(recs.len(), 1);
    assert_eq!(bad.unwrap().0, framed.len());
}
