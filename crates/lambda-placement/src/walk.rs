//! CCHDP step 2 and the candidate walk of a partition: the devices in the
//! order a partition prefers them, each once, with a *distance* that ranks
//! competing partitions at a device (nearer claims first).
//!
//! - Race layout: every class ring is probed at its own points
//!   `XXH3(partition, class seed)`; the walk merges the rings' clockwise
//!   walks by distance from probe to virtual node. The first device is the
//!   owner of the nearest virtual node over all rings. A class wins a
//!   partition with probability ∝ its virtual-node count, i.e. its weight:
//!   its "sub-interval" of the hash space is the set of points where it wins
//!   the race. A new device's virtual nodes only shorten distances where it
//!   is the owner, so a join moves only what the new device wins.
//! - Contiguous layout (the whitepaper as written): a point in [0, 1) picks
//!   the class whose sub-interval holds it (intervals in class order, sized
//!   by class weight); the walk goes clockwise around that class's ring and
//!   then through the following classes' rings.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::classes::ClassRing;
use super::config::ClassLayout;
use super::hashing::{INTERVAL_SEED, RING_SEED, partition_point};

/// A walk cursor: (distance, class, ring index, steps taken, probe point).
type Cursor = (u64, u32, u32, u32, u64);

/// The classes and their layout: everything a walk needs.
#[derive(Clone, Debug)]
pub(crate) struct Rings {
    pub(crate) classes: Vec<ClassRing>,
    pub(crate) layout: ClassLayout,
    /// Contiguous layout: upper end (exclusive, as a fraction of 2^64) of
    /// each class's sub-interval; the last is `u64::MAX`.
    pub(crate) bounds: Vec<u64>,
    pub(crate) devices: usize,
}

impl Rings {
    /// Rings of `classes` for `devices` devices under `layout`.
    pub(crate) fn new(classes: Vec<ClassRing>, layout: ClassLayout, devices: usize) -> Self {
        let total: u128 = classes.iter().map(|c| c.weight).sum();
        let mut cum = 0u128;
        let mut bounds: Vec<u64> = classes
            .iter()
            .map(|c| {
                cum += c.weight;
                ((cum as f64 / total as f64) * 18_446_744_073_709_551_616.0) as u64
            })
            .collect();
        if let Some(last) = bounds.last_mut() {
            *last = u64::MAX;
        }
        Self {
            classes,
            layout,
            bounds,
            devices,
        }
    }
}

/// A resumable walk over one partition's candidates. Reuse one value for
/// many partitions with [`Walk::start`] to avoid allocations.
#[derive(Debug)]
pub(crate) struct Walk<'a> {
    rings: &'a Rings,
    heap: BinaryHeap<Reverse<Cursor>>,
    /// Contiguous layout: classes still to enter, and the ring point.
    pending: Vec<u32>,
    point: u64,
    seen: Vec<u64>,
}

impl<'a> Walk<'a> {
    /// An empty walk over `rings`.
    pub(crate) fn new(rings: &'a Rings) -> Self {
        Self {
            rings,
            heap: BinaryHeap::new(),
            pending: Vec::new(),
            point: 0,
            seen: vec![0; rings.devices.div_ceil(64)],
        }
    }

    /// Restarts the walk at `partition`.
    pub(crate) fn start(&mut self, partition: u32) {
        self.heap.clear();
        self.pending.clear();
        self.seen.iter_mut().for_each(|w| *w = 0);
        match self.rings.layout {
            ClassLayout::Race => {
                for (c, ring) in self.rings.classes.iter().enumerate() {
                    for &seed in &ring.seeds {
                        self.enter(c as u32, partition_point(partition, seed));
                    }
                }
            }
            ClassLayout::Contiguous => {
                let x = partition_point(partition, INTERVAL_SEED);
                let n = self.rings.classes.len();
                let first = self.rings.bounds.partition_point(|&b| b <= x).min(n - 1);
                self.point = partition_point(partition, RING_SEED);
                self.pending = (0..n).rev().map(|i| ((first + i) % n) as u32).collect();
                self.next_class();
            }
        }
    }

    /// Puts a cursor on class `class` at the successor of `point`.
    fn enter(&mut self, class: u32, point: u64) {
        let ring = &self.rings.classes[class as usize];
        if ring.points.is_empty() {
            return;
        }
        let i = ring.successor(point);
        let dist = ring.points[i].wrapping_sub(point);
        self.heap.push(Reverse((dist, class, i as u32, 0, point)));
    }

    /// Contiguous layout: enter the next class in interval order.
    fn next_class(&mut self) {
        if let Some(c) = self.pending.pop() {
            self.enter(c, self.point);
        }
    }

    /// Marks `device` seen; false if it was already.
    fn mark(&mut self, device: u32) -> bool {
        let (w, b) = ((device / 64) as usize, device % 64);
        let fresh = self.seen[w] & (1 << b) == 0;
        self.seen[w] |= 1 << b;
        fresh
    }
}

impl Iterator for Walk<'_> {
    /// (device index, distance).
    type Item = (u32, u64);

    fn next(&mut self) -> Option<(u32, u64)> {
        loop {
            let Reverse((dist, class, i, steps, point)) = self.heap.pop()?;
            let ring = &self.rings.classes[class as usize];
            let device = ring.owners[i as usize];
            let len = ring.points.len() as u32;
            if steps + 1 < len {
                let j = (i + 1) % len;
                let d = ring.points[j as usize].wrapping_sub(point);
                self.heap.push(Reverse((d, class, j, steps + 1, point)));
            } else if self.rings.layout == ClassLayout::Contiguous {
                self.next_class();
            }
            if self.mark(device) {
                return Some((device, dist));
            }
        }
    }
}
