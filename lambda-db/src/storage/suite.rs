//! One test suite, run against every [`Engine`] implementation.

use super::*;

fn each_engine(test: impl Fn(&dyn Engine)) {
    test(&MemoryEngine::new());
    let dir = tempfile::tempdir().unwrap();
    let rocks = RocksEngine::open(&RocksOptions::new(dir.path().join("db"))).unwrap();
    test(&rocks);
}

#[test]
fn put_get_delete_per_family() {
    each_engine(|e| {
        let mut b = WriteBatch::new();
        b.put(Cf::Data, b"k".to_vec(), b"data".to_vec());
        b.put(Cf::Meta, b"k".to_vec(), b"meta".to_vec());
        e.write(b).unwrap();
        assert_eq!(
            e.get(Cf::Data, b"k").unwrap().as_deref(),
            Some(&b"data"[..])
        );
        assert_eq!(
            e.get(Cf::Meta, b"k").unwrap().as_deref(),
            Some(&b"meta"[..])
        );
        assert_eq!(e.get(Cf::Hints, b"k").unwrap(), None);
        let mut b = WriteBatch::new();
        b.delete(Cf::Data, b"k".to_vec());
        e.write(b).unwrap();
        assert_eq!(e.get(Cf::Data, b"k").unwrap(), None);
        assert_eq!(
            e.get(Cf::Meta, b"k").unwrap().as_deref(),
            Some(&b"meta"[..])
        );
    });
}

#[test]
fn batches_apply_in_order() {
    each_engine(|e| {
        let mut b = WriteBatch::new();
        b.put(Cf::Data, b"a".to_vec(), b"1".to_vec());
        b.delete(Cf::Data, b"a".to_vec());
        b.put(Cf::Data, b"b".to_vec(), b"2".to_vec());
        b.put(Cf::Data, b"b".to_vec(), b"3".to_vec());
        e.write(b).unwrap();
        assert_eq!(e.get(Cf::Data, b"a").unwrap(), None);
        assert_eq!(e.get(Cf::Data, b"b").unwrap().as_deref(), Some(&b"3"[..]));
    });
}

#[test]
fn scans_are_ordered_bounded_and_paged() {
    each_engine(|e| {
        let mut b = WriteBatch::new();
        for i in 0u8..20 {
            b.put(Cf::Data, vec![1, i], vec![i]);
        }
        b.put(Cf::Data, vec![0, 9], vec![0]);
        b.put(Cf::Data, vec![2, 0], vec![0]);
        e.write(b).unwrap();
        let range = KeyRange::prefix(&[1]);
        let all = e.scan(Cf::Data, &range, usize::MAX).unwrap();
        assert_eq!(all.len(), 20);
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        let page = e.scan(Cf::Data, &range, 7).unwrap();
        assert_eq!(page, all[..7]);
        let mut next = page.last().unwrap().0.clone();
        next.push(0);
        let rest = e
            .scan(
                Cf::Data,
                &KeyRange {
                    start: next,
                    end: range.end.clone(),
                },
                usize::MAX,
            )
            .unwrap();
        assert_eq!(rest, all[7..]);
        let empty = KeyRange {
            start: vec![5],
            end: Some(vec![4]),
        };
        assert!(e.scan(Cf::Data, &empty, 10).unwrap().is_empty());
        let tail = e
            .scan(
                Cf::Data,
                &KeyRange {
                    start: vec![2],
                    end: None,
                },
                10,
            )
            .unwrap();
        assert_eq!(tail.len(), 1);
    });
}

#[test]
fn empty_keys_and_values_and_stats() {
    each_engine(|e| {
        let mut b = WriteBatch::new();
        b.put(Cf::Hints, Vec::new(), Vec::new());
        e.write(b).unwrap();
        assert_eq!(e.get(Cf::Hints, b"").unwrap(), Some(Vec::new()));
        e.flush().unwrap();
        let _ = e.stats();
    });
}

#[test]
fn prefix_successor_edges() {
    assert_eq!(prefix_successor(&[1, 2]), Some(vec![1, 3]));
    assert_eq!(prefix_successor(&[1, 255]), Some(vec![2]));
    assert_eq!(prefix_successor(&[255, 255]), None);
    assert!(KeyRange::prefix(&[255]).contains(&[255, 0, 1]));
}

#[test]
fn rocks_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = RocksOptions::new(dir.path().join("db"));
    {
        let e = RocksEngine::open(&opts).unwrap();
        let mut b = WriteBatch::new();
        b.put(Cf::Data, b"k".to_vec(), b"v".to_vec());
        e.write(b).unwrap();
    }
    let e = RocksEngine::open(&opts).unwrap();
    assert_eq!(e.get(Cf::Data, b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn memory_engine_injects_write_faults() {
    let e = MemoryEngine::new();
    e.fail_writes(true);
    let mut b = WriteBatch::new();
    b.put(Cf::Data, b"k".to_vec(), b"v".to_vec());
    assert_eq!(e.write(b.clone()), Err(StorageError::Injected));
    assert_eq!(e.get(Cf::Data, b"k").unwrap(), None);
    e.fail_writes(false);
    e.write(b).unwrap();
}
