//! The placement schemes the report compares. Each one maps the same Q
//! partitions to `min(N, devices)` distinct devices (a flat table of device
//! indices) and can look a key up directly.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use hashring::HashRing;
use lambda_db::placement::{Device, DeviceId, Membership, Placement, PlacementConfig};
use xxhash_rust::xxh3::{Xxh3DefaultBuilder, xxh3_64, xxh3_64_with_seed};

/// A device of the report: id, number in the run's universe of devices,
/// weight (capacity = bandwidth = weight).
#[derive(Clone, Debug)]
pub(crate) struct Dev {
    pub(crate) id: String,
    pub(crate) uid: u32,
    pub(crate) weight: u64,
}

/// Preference lists of Q partitions as device uids.
pub(crate) struct Table {
    pub(crate) width: usize,
    pub(crate) lists: Vec<u32>,
}

impl Table {
    pub(crate) fn list(&self, p: usize) -> &[u32] {
        &self.lists[p * self.width..(p + 1) * self.width]
    }
}

/// CCHDP through the library (either layout, per `cfg`).
pub(crate) fn cchdp(devs: &[Dev], cfg: &PlacementConfig) -> anyhow::Result<(Table, Placement)> {
    let membership = Membership {
        epoch: 1,
        devices: devs
            .iter()
            .map(|d| Device {
                id: DeviceId(d.id.clone()),
                capacity: d.weight,
                bandwidth: d.weight,
                zone: d.id.clone(),
            })
            .collect(),
    };
    let placement = Placement::compute(&membership, cfg)?;
    let index: BTreeMap<&str, u32> = devs.iter().map(|d| (d.id.as_str(), d.uid)).collect();
    let mut lists = Vec::with_capacity(cfg.partitions as usize * placement.list_len());
    for p in 0..cfg.partitions {
        for id in placement.preference_list(p) {
            lists.push(index[id.0.as_str()]);
        }
    }
    Ok((
        Table {
            width: placement.list_len(),
            lists,
        },
        placement,
    ))
}

/// A flattened vnode ring built with the `hashring` crate.
pub(crate) struct Ring {
    pub(crate) points: Vec<u64>,
    pub(crate) owners: Vec<u32>,
    uids: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
struct VNode(u64, u32);

impl std::hash::Hash for VNode {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.0.to_le_bytes());
    }
}

impl Ring {
    /// `vnodes × weight` virtual nodes per device.
    pub(crate) fn new(devs: &[Dev], vnodes: u64) -> Self {
        let hasher = Xxh3DefaultBuilder;
        let mut ring: HashRing<VNode, Xxh3DefaultBuilder> = HashRing::with_hasher(hasher);
        let mut all = Vec::new();
        for (i, d) in devs.iter().enumerate() {
            for v in 0..vnodes * d.weight {
                all.push(VNode(xxh3_64(format!("{}#{v}", d.id).as_bytes()), i as u32));
            }
        }
        let n = all.len();
        ring.batch_add(all);
        let mut sorted: Vec<(u64, u32)> = ring
            .get_with_replicas(&0u64, n - 1)
            .unwrap_or_default()
            .into_iter()
            .map(|v| (hasher.hash_one(v), v.1))
            .collect();
        sorted.sort_unstable();
        Self {
            points: sorted.iter().map(|v| v.0).collect(),
            owners: sorted.iter().map(|v| v.1).collect(),
            uids: devs.iter().map(|d| d.uid).collect(),
        }
    }

    /// The first `width` distinct devices clockwise from `point`.
    pub(crate) fn lookup(&self, point: u64, width: usize, out: &mut Vec<u32>) {
        out.clear();
        let len = self.points.len();
        let start = self.points.partition_point(|&x| x < point);
        for step in 0..len {
            let d = self.owners[(start + step) % len];
            if !out.contains(&d) {
                out.push(d);
                if out.len() == width {
                    break;
                }
            }
        }
    }

    pub(crate) fn table(&self, partitions: u32, width: usize) -> Table {
        let width = width.min(self.uids.len());
        let mut lists = Vec::with_capacity(partitions as usize * width);
        let mut out = Vec::new();
        for p in 0..partitions {
            self.lookup(xxh3_64(&p.to_le_bytes()), width, &mut out);
            lists.extend(out.iter().map(|&i| self.uids[i as usize]));
        }
        Table { width, lists }
    }

    /// Exact key-space mass of each device (in slice order) over the first
    /// `width` positions (every point of an arc has the same list).
    pub(crate) fn key_mass(&self, width: usize) -> Vec<f64> {
        let width = width.min(self.uids.len());
        let mut mass = vec![0.0; self.uids.len()];
        let mut out = Vec::new();
        let len = self.points.len();
        for i in 0..len {
            let prev = self.points[(i + len - 1) % len];
            let arc = self.points[i].wrapping_sub(prev) as f64 / 18_446_744_073_709_551_616.0;
            self.lookup(self.points[i], width, &mut out);
            for &d in &out {
                mass[d as usize] += arc;
            }
        }
        mass
    }
}

/// Jump consistent hash (Lamping & Veach): the bucket in `0..buckets`.
pub(crate) fn jump(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// Jump hash with replicas: re-hash with successive seeds until `width`
/// distinct buckets.
pub(crate) fn jump_list(key: u64, buckets: u32, width: usize, out: &mut Vec<u32>) {
    out.clear();
    let mut seed = 0u64;
    while out.len() < width.min(buckets as usize) {
        let b = jump(xxh3_64_with_seed(&key.to_le_bytes(), seed), buckets);
        if !out.contains(&b) {
            out.push(b);
        }
        seed += 1;
    }
}

/// Jump hash over `devs` as buckets `0..devs.len()` (only appending or
/// removing the last bucket keeps movement minimal).
pub(crate) fn jump_table(devs: &[Dev], partitions: u32, width: usize) -> Table {
    let buckets = devs.len() as u32;
    let width = width.min(devs.len());
    let mut lists = Vec::with_capacity(partitions as usize * width);
    let mut out = Vec::new();
    for p in 0..partitions {
        jump_list(u64::from(p), buckets, width, &mut out);
        lists.extend(out.iter().map(|&b| devs[b as usize].uid));
    }
    Table { width, lists }
}

/// Weighted rendezvous (highest random weight) hashing: the devices with
/// the largest `weight / -ln(u)`, u uniform from XXH3(key, device).
pub(crate) struct Rendezvous {
    seeds: Vec<u64>,
    weights: Vec<f64>,
    uids: Vec<u32>,
}

/// Per partition, the best `width + 1` (score, uid), best first: enough to
/// derive the table after one join or one leave exactly.
pub(crate) struct Scored {
    pub(crate) keep: usize,
    pub(crate) top: Vec<(f64, u32)>,
}

impl Rendezvous {
    pub(crate) fn new(devs: &[Dev]) -> Self {
        Self {
            seeds: devs.iter().map(|d| xxh3_64(d.id.as_bytes())).collect(),
            weights: devs.iter().map(|d| d.weight as f64).collect(),
            uids: devs.iter().map(|d| d.uid).collect(),
        }
    }

    fn score(key: &[u8; 8], seed: u64, weight: f64) -> f64 {
        let u = ((xxh3_64_with_seed(key, seed) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        weight / -u.ln()
    }

    /// The top `keep` (score, uid) for `key`, best first.
    pub(crate) fn lookup(&self, key: u64, keep: usize, top: &mut Vec<(f64, u32)>) {
        top.clear();
        let bytes = key.to_le_bytes();
        for (d, (&seed, &w)) in self.seeds.iter().zip(&self.weights).enumerate() {
            let score = Self::score(&bytes, seed, w);
            if top.len() < keep || score > top[top.len() - 1].0 {
                let at = top.partition_point(|e| e.0 > score);
                top.insert(at, (score, self.uids[d]));
                top.truncate(keep);
            }
        }
    }

    /// Scores of Q partitions, on two threads.
    pub(crate) fn scored(&self, partitions: u32, keep: usize) -> anyhow::Result<Scored> {
        let half = partitions / 2;
        let run = |range: std::ops::Range<u32>| {
            let mut all = Vec::with_capacity(range.len() * keep);
            let mut top = Vec::new();
            for p in range {
                self.lookup(u64::from(p), keep, &mut top);
                top.resize(keep, (f64::NEG_INFINITY, u32::MAX));
                all.extend_from_slice(&top);
            }
            all
        };
        let (first, second) = std::thread::scope(|s| {
            let first = s.spawn(|| run(0..half));
            (first.join(), run(half..partitions))
        });
        let mut top = first.map_err(|_| anyhow::anyhow!("rendezvous thread panicked"))?;
        top.extend(second);
        Ok(Scored { keep, top })
    }
}

impl Scored {
    /// The table of the first `width` entries, leaving out `gone`, with
    /// `extra` (seed, weight, uid) competing.
    pub(crate) fn table(
        &self,
        width: usize,
        gone: Option<u32>,
        extra: Option<(u64, f64, u32)>,
    ) -> Table {
        let mut lists = Vec::with_capacity(self.top.len() / self.keep * width);
        let mut row: Vec<(f64, u32)> = Vec::with_capacity(self.keep + 1);
        for (p, chunk) in self.top.chunks(self.keep).enumerate() {
            row.clear();
            row.extend(
                chunk
                    .iter()
                    .filter(|e| e.1 != u32::MAX && Some(e.1) != gone),
            );
            if let Some((seed, w, uid)) = extra {
                let score = Rendezvous::score(&(p as u64).to_le_bytes(), seed, w);
                let at = row.partition_point(|e| e.0 > score);
                row.insert(at, (score, uid));
            }
            lists.extend(row.iter().take(width).map(|e| e.1));
        }
        let width = lists.len() / (self.top.len() / self.keep).max(1);
        Table { width, lists }
    }
}

/// The rendezvous seed of a device id.
pub(crate) fn rendezvous_seed(id: &str) -> u64 {
    xxh3_64(id.as_bytes())
}
