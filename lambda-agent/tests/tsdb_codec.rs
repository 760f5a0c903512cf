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

// Blocks written by the version-1 encoder (before version 2 existed): an
// XOR block with special values and jittered timestamps, a decimal gauge
// (first differences, two fraction digits) and a decimal counter (second
// differences). They must decode forever: the cluster keeps them.
const V1_XOR_BLOCK: &[u8] = &[
    1, 8, 254, 159, 171, 254, 249, 98, 0, 63, 248, 0, 0, 0, 0, 0, 0, 244, 0, 1, 56, 134, 16, 109,
    154, 64, 0, 6, 245, 109, 247, 124, 144, 0, 0, 111, 86, 223, 119, 213, 128, 27, 9, 127, 254, 76,
    31, 223, 220, 204, 204, 204, 204, 204, 205, 170, 65, 142, 125, 165, 17, 153, 236, 6, 46, 112,
    117, 141,
];
const V1_XOR_POINTS: &[(i64, u64)] = &[
    (1699999999999, 0x3ff8000000000000),
    (1700000010000, 0x7ff8000000000000),
    (1700000020001, 0x7ff00000deadbeef),
    (1700000029999, 0x7ff0000000000000),
    (1700000040000, 0xfff0000000000000),
    (1700000050001, 0x8000000000000000),
    (1700000059999, 0x3fb999999999999a),
    (1700000070000, 0x7e37e43c8800759c),
];

const V1_GAUGE_BLOCK: &[u8] = &[
    1, 15, 128, 160, 171, 254, 249, 98, 1, 2, 1, 10, 244, 0, 1, 56, 126, 20, 68, 81, 36, 196, 84,
    73, 38, 45, 8, 20, 32, 60, 208, 17, 238,
];
const V1_GAUGE_POINTS: &[(i64, u64)] = &[
    (1700000000000, 0x3fa999999999999a),
    (1700000010000, 0x3fb1eb851eb851ec),
    (1700000020000, 0x3faeb851eb851eb8),
    (1700000030000, 0x3faeb851eb851eb8),
    (1700000040000, 0x3fb47ae147ae147b),
    (1700000050000, 0x3fb70a3d70a3d70a),
    (1700000060000, 0x3fb1eb851eb851ec),
    (1700000070000, 0x3fb1eb851eb851ec),
    (1700000080000, 0x3faeb851eb851eb8),
    (1700000090000, 0x3fb47ae147ae147b),
    (1700000100000, 0x3fb70a3d70a3d70a),
    (1700000110000, 0x3fb999999999999a),
    (1700000120000, 0x3fd3333333333333),
    (1700000130000, 0x3fd28f5c28f5c28f),
    (1700000140000, 0x3fd3d70a3d70a3d7),
];

const V1_COUNTER_BLOCK: &[u8] = &[
    1, 12, 128, 160, 171, 254, 249, 98, 1, 0, 2, 128, 137, 122, 244, 0, 1, 212, 198, 108, 0, 82,
    169, 194, 178, 218, 148, 181, 166, 210, 169, 172, 182, 164, 170, 152, 245, 169,
];
const V1_COUNTER_POINTS: &[(i64, u64)] = &[
    (1700000000000, 0x412e848000000000),
    (1700000015001, 0x412ea48200000000),
    (1700000030000, 0x412ec48400000000),
    (1700000045001, 0x412ee48000000000),
    (1700000060000, 0x412f048200000000),
    (1700000075001, 0x412f248400000000),
    (1700000090000, 0x412f448000000000),
    (1700000105001, 0x412f648200000000),
    (1700000120000, 0x412f848400000000),
    (1700000135001, 0x412fa48000000000),
    (1700000150000, 0x412fc48200000000),
    (1700000165001, 0x412fe48400000000),
];

/// The size of `points` as a version-1 XOR block (plain Gorilla).
fn gorilla_len(points: &[Point]) -> usize {
    let varint_len = |v: u64| (64 - v.leading_zeros() as usize).div_ceil(7).max(1);
    let mut enc = GorillaEncoder::new();
    for p in points {
        enc.push(p.timestamp_ms, p.value).unwrap();
    }
    let first = points[0].timestamp_ms as u64;
    1 + varint_len(points.len() as u64) + varint_len(first << 1) + 1 + enc.payload().len() + 4
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
        prop_assert!(bytes.len() <= gorilla_len(&points));
        // The encoding is a function of the points.
        prop_assert_eq!(bytes, block::encode_points(&back).unwrap());
    }

    #[test]
    fn decimal_blocks_round_trip_bit_exactly(points in decimal_series()) {
        let bytes = block::encode_points(&points).unwrap();
        let back = block::decode(&bytes).unwrap();
        prop_assert!(same_bits(&points, &back));
        // Odd values are raw exceptions: a long enough block stays decimal,
        // and no block is larger than in plain Gorilla.
        let layout = block::layout(&bytes).unwrap();
        prop_assert_eq!(layout.points, points.len());
        if points.len() >= 20 {
            prop_assert_eq!(layout.value_code, "decimal");
            prop_assert_eq!(layout.timestamp_code, "grid");
        }
        prop_assert!(bytes.len() <= gorilla_len(&points));
    }

    #[test]
    fn checksummed_garbage_never_panics(
        count in 1u8..100,
        mode in 0u8..3,
        exp in 0u8..7,
        order in 0u8..4,
        payload in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        // A valid frame around random content reaches the bit decoders,
        // of version 1 (mode byte) and version 2 (bit stream).
        let mut body = vec![1, count, 0x80, 0x80, 0x01, mode];
        if mode == 1 {
            body.extend_from_slice(&[exp, order, 4]);
        }
        body.extend_from_slice(&payload);
        let _ = block::decode(&framed(&body));
        let mut v2 = vec![2, count, 0x80, 0x80, 0x01];
        v2.extend_from_slice(&payload);
        let _ = block::decode(&framed(&v2));
        let _ = block::layout(&framed(&v2));
    }

    #[test]
    fn mutated_blocks_with_valid_checksums_never_panic(
        points in decimal_series(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        // Past the checksum, every section decoder meets corrupt input.
        let bytes = block::encode_points(&points).unwrap();
        let mut body = bytes[..bytes.len() - 4].to_vec();
        for (at, bit) in flips {
            let i = at.index(body.len());
            body[i] ^= 1 << bit;
        }
        let _ = block::decode(&framed(&body));
        let _ = block::layout(&framed(&body));
    }

    #[test]
    fn sparse_counts_are_bounded(count in (1u64 << 20)..u64::MAX / 2) {
        // Few bytes may hold many points (a constant on an exact grid), but
        // never more than MAX_SPARSE_POINTS: a corrupt count cannot make
        // the reader allocate or loop without bound.
        let mut body = vec![2];
        let mut c = count + 1;
        while c >= 0x80 {
            body.push((c as u8) | 0x80);
            c >>= 7;
        }
        body.extend_from_slice(&[c as u8, 0, 0x40, 0x40]);
        let e = block::decode(&framed(&body)).unwrap_err().to_string();
        prop_assert!(e.contains("cannot fit"), "{}", e);
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
    let layout = block::layout(&bytes).unwrap();
    assert_eq!((layout.version, layout.value_code), (2, "decimal"));
    // An exact grid costs no bits per timestamp.
    assert_eq!(layout.timestamp_code, "grid");
    assert!(layout.timestamp_bits < 40, "{layout:?}");
    assert_eq!(
        layout.timestamp_bits + layout.value_bits + layout.overhead_bits,
        bytes.len() as u64 * 8
    );
    let mut enc = GorillaEncoder::new();
    for p in &pts {
        enc.push(p.timestamp_ms, p.value).unwrap();
    }
    assert!(
        bytes.len() * 3 < enc.payload().len(),
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
    let e = block::decode(&framed(&[3, 2, 0, 7]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown block version 3"), "{e}");
    // Version 2: timestamp mode 3 is unknown.
    let e = block::decode(&framed(&[2, 2, 0, 0xc0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown timestamp mode 3"), "{e}");
}

#[test]
fn huge_blocks_keep_two_bits_a_point() {
    // A constant on an exact grid would take no bits per point; past
    // MAX_SPARSE_POINTS the encoder falls back to codes of at least two
    // bits a point, so that the reader's bound on counts holds.
    let n = block::MAX_SPARSE_POINTS + 1;
    let mut enc = GorillaEncoder::new();
    for i in 0..n as i64 {
        enc.push(1_000 + i * 1_000, 42.0).unwrap();
    }
    let bytes = block::encode(&enc);
    assert!(bytes.len() * 4 >= n, "{} bytes", bytes.len());
    let layout = block::layout(&bytes).unwrap();
    assert_eq!((layout.timestamp_code, layout.value_code), ("dod", "xor"));
    let back = block::decode(&bytes).unwrap();
    assert_eq!(back.len(), n);
    assert_eq!(
        back[n - 1],
        Point::new(1_000 + (n as i64 - 1) * 1_000, 42.0)
    );
    // Just below the bound, the same points take a few bytes.
    let small: Vec<Point> = back[..block::MAX_SPARSE_POINTS].to_vec();
    assert!(block::encode_points(&small).unwrap().len() < 64);
}

#[test]
fn version_1_blocks_still_decode() {
    for (bytes, points, code) in [
        (V1_XOR_BLOCK, V1_XOR_POINTS, "xor"),
        (V1_GAUGE_BLOCK, V1_GAUGE_POINTS, "decimal"),
        (V1_COUNTER_BLOCK, V1_COUNTER_POINTS, "decimal"),
    ] {
        let back = block::decode(bytes).unwrap();
        let got: Vec<(i64, u64)> = back
            .iter()
            .map(|p| (p.timestamp_ms, p.value.to_bits()))
            .collect();
        assert_eq!(got, points);
        let layout = block::layout(bytes).unwrap();
        assert_eq!((layout.version, layout.value_code), (1, code));
        assert_eq!(layout.points, points.len());
        // Re-encoding writes version 2, no larger, with the same points.
        let again = block::encode_points(&back).unwrap();
        assert_eq!(again[0], 2);
        assert!(
            again.len() <= bytes.len(),
            "{} > {}",
            again.len(),
            bytes.len()
        );
        assert!(same_bits(&back, &block::decode(&again).unwrap()));
    }
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
