//! Filling the preference lists: position by position, each partition takes
//! the first device of its candidate walk that is not already on its list
//! and (while the cluster has enough zones) is in a new zone, subject to a
//! load bound per device.
//!
//! With Q partitions, a device's share is counted in replica slots, and
//! hashing alone leaves it off its fair share by about `1/√slots` (Poisson
//! noise): 5 % at 400 slots. The bound caps every device's slots in each
//! list prefix at `max(⌈fair⌉, ⌊fair × (1 + slack)⌋)`, where `fair` is its
//! weight share (water-filled so no device needs a partition twice).
//! Partitions that reach a full device compete by walk distance: each
//! position is a many-to-one *deferred acceptance* (Gale–Shapley) where
//! partitions propose down their walks and a full device keeps the nearest
//! claims. Its result (the partition-optimal stable assignment) does not
//! depend on the order of proposals, so it is a function of the input; and
//! only devices at their bound redirect anything, so a join or leave changes
//! little beyond what it must. A partition that finds every allowed device
//! full (possible only when zones or sizes make the bound infeasible) takes
//! its first allowed device regardless of the bound.

use std::collections::{BTreeMap, BinaryHeap};

use super::classes::Member;
use super::walk::{Rings, Walk};

/// No device in this slot yet.
pub(crate) const UNSET: u32 = u32::MAX;

/// Fair fractions of the slots of `positions` list positions, for devices
/// of the given weights: proportional
/// to weight, except that nobody gets more than `1 / positions` (a device
/// holds a partition at most once); the excess goes to the others in
/// proportion. f64 with `+ - × ÷` only: the same on every machine.
pub fn fair_fractions(weights: &[u64], positions: usize) -> Vec<f64> {
    let cap = 1.0 / positions as f64;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weights[b].cmp(&weights[a]).then(a.cmp(&b)));
    let mut out = vec![0.0; weights.len()];
    let mut mass = 1.0;
    let mut rest: f64 = weights.iter().map(|&w| w as f64).sum();
    for (k, &d) in order.iter().enumerate() {
        let w = weights[d] as f64;
        if w * mass / rest > cap {
            out[d] = cap;
            mass -= cap;
            rest -= w;
        } else {
            for &e in &order[k..] {
                out[e] = weights[e] as f64 * mass / rest;
            }
            break;
        }
    }
    out
}

/// Slot bounds per device for the first `positions` positions.
fn bounds(weights: &[u64], partitions: u32, positions: usize, slack: Option<f64>) -> Vec<u32> {
    let Some(slack) = slack else {
        return vec![u32::MAX; weights.len()];
    };
    let slots = f64::from(partitions) * positions as f64;
    fair_fractions(weights, positions)
        .into_iter()
        .map(|f| {
            let fair = f * slots;
            let b = fair.ceil().max((fair * (1.0 + slack)).floor());
            (b as u32).min(partitions)
        })
        .collect()
}

/// Each partition's walk prefix, computed once; longer walks on demand.
struct Candidates<'a> {
    walk: Walk<'a>,
    prefix: usize,
    flat: Vec<(u32, u64)>,
    len: Vec<u16>,
    /// Longer walks: (candidates, whether that is the whole walk).
    longer: BTreeMap<u32, (Vec<(u32, u64)>, bool)>,
}

impl<'a> Candidates<'a> {
    fn new(rings: &'a Rings, partitions: u32, prefix: usize) -> Self {
        let mut walk = Walk::new(rings);
        let mut flat = Vec::with_capacity(partitions as usize * prefix);
        let mut len = Vec::with_capacity(partitions as usize);
        for p in 0..partitions {
            walk.start(p);
            let before = flat.len();
            flat.extend(walk.by_ref().take(prefix));
            len.push((flat.len() - before) as u16);
            flat.resize(before + prefix, (UNSET, u64::MAX));
        }
        Self {
            walk,
            prefix,
            flat,
            len,
            longer: BTreeMap::new(),
        }
    }

    /// Candidate `i` of partition `p`, or `None` past the end of its walk.
    fn get(&mut self, p: u32, i: usize) -> Option<(u32, u64)> {
        if i < self.prefix {
            let c = self.flat[p as usize * self.prefix + i];
            return (c.0 != UNSET).then_some(c);
        }
        if usize::from(self.len[p as usize]) < self.prefix {
            return None;
        }
        loop {
            let have = match self.longer.get(&p) {
                Some((l, complete)) if i < l.len() || *complete => return l.get(i).copied(),
                Some((l, _)) => l.len(),
                None => self.prefix,
            };
            let want = (2 * have).max(i + 1);
            self.walk.start(p);
            let l: Vec<_> = self.walk.by_ref().take(want).collect();
            let complete = l.len() < want;
            self.longer.insert(p, (l, complete));
        }
    }
}

/// Assigns list positions `0..width` of every partition. Returns the flat
/// table of device indices (`partitions × width`).
pub(crate) fn assign(
    rings: &Rings,
    members: &[Member],
    partitions: u32,
    width: usize,
    slack: Option<f64>,
) -> Vec<u32> {
    let zones = members
        .iter()
        .map(|m| m.zone)
        .max()
        .map_or(0, |z| z as usize + 1);
    let weights: Vec<u64> = members.iter().map(|m| m.weight).collect();
    let mut cands = Candidates::new(rings, partitions, width + 2);
    let mut table = vec![UNSET; partitions as usize * width];
    let mut load = vec![0u32; members.len()];
    for k in 0..width {
        let cap = bounds(&weights, partitions, k + 1, slack);
        let room: Vec<u32> = cap
            .iter()
            .zip(&load)
            .map(|(c, l)| c.saturating_sub(*l))
            .collect();
        let mut stage = Stage {
            cands: &mut cands,
            table: &mut table,
            members,
            width,
            k,
            zoned: k < zones,
        };
        for (p, d) in stage.run(&room) {
            table[p as usize * width + k] = d;
            load[d as usize] += 1;
        }
    }
    table
}

/// One list position: deferred acceptance under the remaining room.
struct Stage<'s, 'a> {
    cands: &'s mut Candidates<'a>,
    table: &'s mut [u32],
    members: &'s [Member],
    width: usize,
    k: usize,
    zoned: bool,
}

impl Stage<'_, '_> {
    /// Whether device `d` may take position `k` of partition `p`.
    fn allowed(&self, p: u32, d: u32) -> bool {
        let row = &self.table[p as usize * self.width..][..self.k];
        let zone = self.members[d as usize].zone;
        row.iter()
            .all(|&e| e != d && !(self.zoned && self.members[e as usize].zone == zone))
    }

    /// Next allowed candidate of `p` at or after `*cursor`.
    fn next(&mut self, p: u32, cursor: &mut u32) -> Option<(u32, u64)> {
        loop {
            let (d, dist) = self.cands.get(p, *cursor as usize)?;
            if self.allowed(p, d) {
                return Some((d, dist));
            }
            *cursor += 1;
        }
    }

    /// (partition, device) for every partition.
    fn run(&mut self, room: &[u32]) -> Vec<(u32, u32)> {
        let partitions = self.table.len() / self.width;
        let mut held: Vec<BinaryHeap<(u64, u32)>> = vec![BinaryHeap::new(); room.len()];
        let mut cursor = vec![0u32; partitions];
        let mut queue: Vec<u32> = (0..partitions as u32).rev().collect();
        let mut stranded = Vec::new();
        while let Some(p) = queue.pop() {
            loop {
                let Some((d, dist)) = self.next(p, &mut cursor[p as usize]) else {
                    stranded.push(p);
                    break;
                };
                let h = &mut held[d as usize];
                if (h.len() as u32) < room[d as usize] {
                    h.push((dist, p));
                    break;
                }
                if h.peek().is_some_and(|&worst| (dist, p) < worst) {
                    if let Some((_, q)) = h.pop() {
                        cursor[q as usize] += 1;
                        queue.push(q);
                    }
                    h.push((dist, p));
                    break;
                }
                cursor[p as usize] += 1;
            }
        }
        let mut out: Vec<(u32, u32)> = held
            .iter()
            .enumerate()
            .flat_map(|(d, h)| h.iter().map(move |&(_, p)| (p, d as u32)))
            .collect();
        stranded.sort_unstable();
        for p in stranded {
            let mut c = 0;
            if let Some((d, _)) = self.next(p, &mut c) {
                out.push((p, d));
            }
        }
        out
    }
}
