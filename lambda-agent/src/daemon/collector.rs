//! Host metrics from the proc file system, into the agent's own series.
//!
//! | series | kind | source |
//! |---|---|---|
//! | `host_cpu_usage_percent{host}` | gauge | `/proc/stat` (busy share of all CPU time since the last sample) |
//! | `host_memory_total_bytes{host}`, `host_memory_available_bytes{host}`, `host_memory_used_bytes{host}` | gauge | `/proc/meminfo` |
//! | `host_disk_read_bytes_total{host,device}`, `host_disk_written_bytes_total{host,device}` | counter | `/proc/diskstats` (512-byte sectors; loop and ram devices left out) |
//! | `host_network_receive_bytes_total{host,interface}`, `host_network_transmit_bytes_total{host,interface}` | counter | `/proc/net/dev` (loopback left out) |
//!
//! Samples are stamped with the collection tick rounded down to the
//! interval grid, so the delta of delta of their timestamps is usually 0
//! (one bit per point in the Gorilla stream). The parsers are pure
//! functions of the files' text, tested on sample text.

use std::path::{Path, PathBuf};

use crate::tsdb::{Point, SeriesKey, SeriesPoints};

/// Cumulative CPU time, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Time not idle or waiting for I/O.
    pub busy: u64,
    /// All time.
    pub total: u64,
}

/// The aggregate `cpu` line of `/proc/stat`.
pub fn parse_cpu(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo(s: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// Per interface (loopback left out): received and transmitted bytes.
pub fn parse_net_dev(s: &str) -> Vec<(String, u64, u64)> {
    s.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (name != "lo" && v.len() >= 9).then(|| (name.to_string(), v[0], v[8]))
        })
        .collect()
}

/// Per block device (loop and ram left out): bytes read and written.
pub fn parse_diskstats(s: &str) -> Vec<(String, u64, u64)> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = *f.get(2)?;
            if name.starts_with("loop") || name.starts_with("ram") {
                return None;
            }
            let read: u64 = f.get(5)?.parse().ok()?;
            let written: u64 = f.get(9)?.parse().ok()?;
            Some((name.to_string(), read * 512, written * 512))
        })
        .collect()
}

/// Collects host metrics, remembering the previous CPU sample.
#[derive(Debug)]
pub struct Collector {
    root: PathBuf,
    host: String,
    prev_cpu: Option<CpuTimes>,
}

impl Collector {
    /// A collector reading `proc_root`, labelling series `host=<host>` (the
    /// kernel's host name when empty).
    pub fn new(proc_root: &Path, host: &str) -> Self {
        let host = if host.is_empty() {
            std::fs::read_to_string(proc_root.join("sys/kernel/hostname"))
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".into())
        } else {
            host.to_string()
        };
        Self {
            root: proc_root.to_path_buf(),
            host,
            prev_cpu: None,
        }
    }

    fn read(&self, rel: &str) -> Option<String> {
        match std::fs::read_to_string(self.root.join(rel)) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(file = rel, error = %e, "cannot read host metrics file");
                None
            }
        }
    }

    fn series(
        &self,
        out: &mut Vec<SeriesPoints>,
        metric: &str,
        extra: Option<(&str, &str)>,
        ts: i64,
        v: f64,
    ) {
        let mut labels = vec![("host", self.host.as_str())];
        labels.extend(extra);
        match SeriesKey::new(metric, labels) {
            Ok(key) => out.push(SeriesPoints {
                key,
                points: vec![Point::new(ts, v)],
            }),
            Err(e) => tracing::debug!(error = %e, "skipping a host metric"),
        }
    }

    /// One sample of every metric, stamped `ts`.
    pub fn sample(&mut self, ts: i64) -> Vec<SeriesPoints> {
        let mut out = Vec::new();
        if let Some(cpu) = self.read("stat").as_deref().and_then(parse_cpu) {
            if let Some(prev) = self.prev_cpu {
                let total = cpu.total.saturating_sub(prev.total);
                if total > 0 {
                    let busy = cpu.busy.saturating_sub(prev.busy) as f64;
                    self.series(
                        &mut out,
                        "host_cpu_usage_percent",
                        None,
                        ts,
                        100.0 * busy / total as f64,
                    );
                }
            }
            self.prev_cpu = Some(cpu);
        }
        if let Some((total, avail)) = self.read("meminfo").as_deref().and_then(parse_meminfo) {
            self.series(&mut out, "host_memory_total_bytes", None, ts, total as f64);
            self.series(
                &mut out,
                "host_memory_available_bytes",
                None,
                ts,
                avail as f64,
            );
            self.series(
                &mut out,
                "host_memory_used_bytes",
                None,
                ts,
                total.saturating_sub(avail) as f64,
            );
        }
        for (dev, r, w) in self
            .read("diskstats")
            .as_deref()
            .map(parse_diskstats)
            .unwrap_or_default()
        {
            self.series(
                &mut out,
                "host_disk_read_bytes_total",
                Some(("device", &dev)),
                ts,
                r as f64,
            );
            self.series(
                &mut out,
                "host_disk_written_bytes_total",
                Some(("device", &dev)),
                ts,
                w as f64,
            );
        }
        for (ifc, rx, tx) in self
            .read("net/dev")
            .as_deref()
            .map(parse_net_dev)
            .unwrap_or_default()
        {
            self.series(
                &mut out,
                "host_network_receive_bytes_total",
                Some(("interface", &ifc)),
                ts,
                rx as f64,
            );
            self.series(
                &mut out,
                "host_network_transmit_bytes_total",
                Some(("interface", &ifc)),
                ts,
                tx as f64,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_read_sample_text() {
        let stat = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(
            parse_cpu(stat),
            Some(CpuTimes {
                busy: 160,
                total: 980
            })
        );
        let mem = "MemTotal:       16000 kB\nMemFree:  1 kB\nMemAvailable:   4000 kB\n";
        assert_eq!(parse_meminfo(mem), Some((16000 * 1024, 4000 * 1024)));
        let net = "Inter-|   Receive\n face |bytes\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 1234 5 0 0 0 0 0 0 5678 6 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(net), vec![("eth0".to_string(), 1234, 5678)]);
        let disk = "   7       0 loop0 1 0 2 0 0 0 0 0 0 0 0\n 259       0 nvme0n1 10 0 100 5 20 0 300 9 0 0 0\n";
        assert_eq!(
            parse_diskstats(disk),
            vec![("nvme0n1".to_string(), 100 * 512, 300 * 512)]
        );
    }

    #[test]
    fn collects_from_a_fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("net")).unwrap();
        std::fs::write(p.join("stat"), "cpu  100 0 0 900 0 0 0 0\n").unwrap();
        std::fs::write(p.join("meminfo"), "MemTotal: 10 kB\nMemAvailable: 4 kB\n").unwrap();
        std::fs::write(p.join("net/dev"), "eth0: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0\n").unwrap();
        let mut c = Collector::new(p, "h1");
        let first = c.sample(1000);
        assert!(
            !first
                .iter()
                .any(|s| s.key.metric() == "host_cpu_usage_percent")
        );
        std::fs::write(p.join("stat"), "cpu  150 0 0 950 0 0 0 0\n").unwrap();
        let second = c.sample(2000);
        let cpu = second
            .iter()
            .find(|s| s.key.metric() == "host_cpu_usage_percent")
            .unwrap();
        assert_eq!(cpu.points[0].value, 50.0);
        let used = second
            .iter()
            .find(|s| s.key.metric() == "host_memory_used_bytes")
            .unwrap();
        assert_eq!(used.points[0].value, 6.0 * 1024.0);
        assert_eq!(used.key.label("host"), Some("h1"));
        assert!(
            second
                .iter()
                .any(|s| s.key.label("interface") == Some("eth0"))
        );
    }
}
