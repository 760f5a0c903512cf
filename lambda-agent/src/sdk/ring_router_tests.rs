//! Unit tests of the ring router's choices: no network (channels are lazy
//! and never used), rings installed by hand.

use super::*;
use crate::sdk::ring::tests::{config, layout};

async fn router(endpoints: &[&str]) -> RingRouter {
    let mut cfg = ClientConfig::new(endpoints.iter().copied());
    // Nothing listens there: the initial fetch fails fast.
    cfg.ring.fetch_timeout_ms = 200;
    cfg.ring.refresh_interval_ms = 3_600_000;
    RingRouter::connect(&cfg).await.unwrap()
}

fn install(r: &RingRouter, layouts: Vec<npb::Layout>, default_n: u32) {
    let ring = Ring::compute(&layouts, &config(), default_n).unwrap();
    r.inner.install(ring, layouts);
}

/// The id of the node a route goes to.
fn node(r: &RingRouter, route: &Route) -> String {
    route
        .node
        .clone()
        .unwrap_or_else(|| r.inner.slot(route.slot.unwrap()).unwrap().uri.clone())
}

#[tokio::test]
async fn without_a_ring_requests_go_round_robin() {
    let r = router(&["127.0.0.1:1", "127.0.0.1:2"]).await;
    assert!(r.snapshot().is_none());
    assert!(r.nodes_for(b"k").is_empty());
    let slots: Vec<usize> = (0..4).map(|_| r.route(b"k", 1).slot.unwrap()).collect();
    assert_eq!(slots.iter().filter(|&&s| s == 0).count(), 2, "{slots:?}");
    assert!((0..4).all(|_| !r.route(b"k", 1).coordinator));
}

#[tokio::test]
async fn a_key_goes_to_the_first_node_of_its_list() {
    // One configured endpoint, which is node a of the ring.
    let r = router(&["http://127.0.0.1:7000"]).await;
    install(&r, vec![layout(1, &["a", "b", "c", "d", "e"])], 3);
    let snap = r.snapshot().unwrap();
    assert_eq!(
        (snap.stable_epoch, snap.newest_epoch, snap.default_n),
        (1, 1, 3)
    );
    assert_eq!(snap.nodes.len(), 5);
    // The configured endpoint kept its slot; the others got new ones.
    assert_eq!(r.inner.slot(0).unwrap().id.get().unwrap(), "a");
    assert_eq!(r.inner.slots.read().len(), 5);
    let mut firsts = std::collections::BTreeSet::new();
    for i in 0..200u32 {
        let key = format!("key-{i}").into_bytes();
        let want = r.nodes_for(&key);
        assert_eq!(want.len(), 3);
        let route = r.route(&key, 1);
        assert!(route.coordinator);
        assert_eq!(node(&r, &route), want[0]);
        let endpoint = &snap.nodes.iter().find(|(id, _)| *id == want[0]).unwrap().1;
        assert_eq!(
            r.inner.slot(route.slot.unwrap()).unwrap().uri,
            normalize(endpoint)
        );
        firsts.insert(want[0].clone());
    }
    assert_eq!(firsts.len(), 5, "every node coordinates some keys");
    // Batches (no single key) go round robin.
    assert_eq!(r.route(b"", 1).slot, Some(0));
}

#[tokio::test]
async fn retries_go_down_the_list_then_to_the_endpoints() {
    let r = router(&["127.0.0.1:9999"]).await;
    install(&r, vec![layout(1, &["a", "b", "c", "d"])], 3);
    let key = b"some key";
    let want = r.nodes_for(key);
    let down = SdkError::Unavailable("tcp connect error".into());
    let mut seen = Vec::new();
    for attempt in 1..=4 {
        let route = r.route(key, attempt);
        seen.push(node(&r, &route));
        assert_eq!(route.coordinator, attempt <= 3);
        r.report(&route, Outcome::Failed(&down));
    }
    assert_eq!(&seen[..3], &want[..]);
    assert_eq!(seen[3], "http://127.0.0.1:9999", "then any endpoint");
    // Everything suspected: attempts cycle through the whole order.
    let cycle: Vec<String> = (1..=5).map(|a| node(&r, &r.route(key, a))).collect();
    assert_eq!(cycle[..3], want[..]);
    assert_eq!(cycle[4], want[0]);
    // A success clears the suspicion: the first node again.
    let first = r.route(key, 1);
    r.report(&first, Outcome::Answered { write_actors: None });
    assert_eq!(node(&r, &r.route(key, 1)), want[0]);
    for slot in r.inner.slots.read().iter() {
        *slot.suspect_until.lock() = None;
    }
    // A permanent error suspects nobody.
    let bad = SdkError::InvalidArgument("key too large".into());
    let route = r.route(key, 1);
    r.report(&route, Outcome::Failed(&bad));
    assert_eq!(node(&r, &r.route(key, 1)), want[0]);
    // A timed-out (abandoned) attempt does.
    r.report(&route, Outcome::Abandoned);
    assert_eq!(node(&r, &r.route(key, 1)), want[1]);
}

#[tokio::test]
async fn answers_saying_the_ring_moved_ask_for_a_refresh() {
    let r = router(&["127.0.0.1:9999"]).await;
    install(&r, vec![layout(1, &["a", "b", "c"])], 3);
    let key = b"k";
    let route = r.route(key, 1);
    let slot = r.inner.slot(route.slot.unwrap()).unwrap();
    *slot.actor.lock() = Some("00000000000000aa".into());
    // Coordinated by the routed node: nothing moved.
    r.report(
        &route,
        Outcome::Answered {
            write_actors: Some(&["00000000000000bb", "00000000000000aa"]),
        },
    );
    assert_eq!(r.stats().moved_signals, 0);
    // Versioned by another node: the routed node forwarded it.
    r.report(
        &route,
        Outcome::Answered {
            write_actors: Some(&["00000000000000bb"]),
        },
    );
    assert_eq!(r.stats().moved_signals, 1);
    assert!(slot.actor.lock().is_none(), "the actor is learnt again");
    let e = SdkError::Unavailable(
        "node a is not a member of epoch 7; it serves requests from the epoch that includes it"
            .into(),
    );
    r.report(&route, Outcome::Failed(&e));
    assert_eq!(r.stats().moved_signals, 2);
    let quorum = SdkError::Unavailable("write quorum not met".into());
    r.report(&route, Outcome::Failed(&quorum));
    assert_eq!(r.stats().moved_signals, 2);
}

#[tokio::test]
async fn a_changing_membership_routes_by_the_stable_layout_and_keeps_slots() {
    let r = router(&["127.0.0.1:7000"]).await;
    install(&r, vec![layout(1, &["a", "b", "c"])], 2);
    let before: Vec<Arc<Slot>> = r.inner.slots.read().clone();
    install(
        &r,
        vec![
            layout(1, &["a", "b", "c"]),
            layout(2, &["a", "b", "c", "d"]),
        ],
        2,
    );
    let snap = r.snapshot().unwrap();
    assert_eq!((snap.stable_epoch, snap.newest_epoch), (1, 2));
    let after = r.inner.slots.read().clone();
    assert_eq!(after.len(), 4);
    for (a, b) in before.iter().zip(&after) {
        assert!(Arc::ptr_eq(a, b), "a node keeps its slot (and channel)");
    }
    for i in 0..100u32 {
        let key = format!("k{i}").into_bytes();
        let route = r.route(&key, 1);
        assert!(route.coordinator);
        assert_ne!(
            route.node.as_deref(),
            Some("d"),
            "d coordinates nothing yet"
        );
    }
    // Another node at a known endpoint gets a slot of its own (the SDK
    // caches billing identities per slot).
    let mut moved = layout(3, &["a", "b", "x"]);
    moved.members[2].endpoint = "127.0.0.1:7002".into();
    install(&r, vec![moved], 2);
    let slots = r.inner.slots.read().clone();
    assert_eq!(slots.len(), 5);
    assert_eq!(slots[4].id.get().unwrap(), "x");
    assert_eq!(slots[4].uri, slots[2].uri);
}

#[tokio::test]
async fn nodes_the_cluster_holds_down_are_tried_last() {
    let r = router(&["127.0.0.1:9999"]).await;
    install(&r, vec![layout(1, &["a", "b", "c"])], 3);
    let key = b"k";
    let want = r.nodes_for(key);
    let status = npb::StatusResponse {
        epoch: 1,
        nodes: ["a", "b", "c"]
            .iter()
            .map(|id| npb::NodeInfo {
                id: (*id).to_string(),
                up: *id != want[0],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    r.inner.note_down(&status);
    let route = r.route(key, 1);
    assert_eq!(node(&r, &route), want[1]);
    assert!(route.coordinator);
}
