//! Who is in the cluster: the [`MembershipSource`] interface and the static
//! membership file that serves it until the chain does.
//!
//! A membership is an epoch number and the member nodes with their
//! addresses and weights. Sources publish it on a `watch` channel so the node
//! can react to a new epoch (the chain integration publishes one per chain
//! epoch; the file source when the file is reloaded: [`watch_file`] polls its
//! modification time and reloads on SIGHUP). A change of members must come
//! with a higher epoch; the node then moves partitions (`transition`).
//!
//! The file format (TOML):
//!
//! ```toml
//! epoch = 1
//! [[node]]
//! id = "n1"
//! endpoint = "127.0.0.1:7071"   # gRPC: KV API and replica traffic
//! gossip = "127.0.0.1:7171"     # UDP gossip (failure detection)
//! capacity = 100                # GiB
//! bandwidth = 1000              # Mbit/s
//! zone = "z1"
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::placement::{Device, DeviceId, Membership};

/// One member node and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Stable node id.
    pub id: DeviceId,
    /// gRPC address (`host:port`).
    pub endpoint: String,
    /// Gossip (UDP) address.
    pub gossip: SocketAddr,
    /// Pledged capacity, GiB.
    pub capacity: u64,
    /// Pledged bandwidth, Mbit/s.
    pub bandwidth: u64,
    /// Failure zone.
    pub zone: String,
}

/// The members of one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochMembers {
    /// The epoch.
    pub epoch: u64,
    /// The members.
    #[serde(rename = "node")]
    pub members: Vec<Member>,
}

impl EpochMembers {
    /// Checks ids and endpoints are unique and the set is not empty.
    pub fn validate(&self) -> Result<()> {
        if self.members.is_empty() {
            return Err(Error::Layout("membership has no nodes".into()));
        }
        let mut ids = BTreeSet::new();
        let mut endpoints = BTreeSet::new();
        for m in &self.members {
            if !ids.insert(&m.id) {
                return Err(Error::Layout(format!(
                    "node id {} appears twice in the membership",
                    m.id
                )));
            }
            if !endpoints.insert(&m.endpoint) {
                return Err(Error::Layout(format!(
                    "endpoint {} appears twice in the membership",
                    m.endpoint
                )));
            }
        }
        Ok(())
    }

    /// The placement input of this membership.
    pub fn placement_input(&self) -> Membership {
        Membership {
            epoch: self.epoch,
            devices: self
                .members
                .iter()
                .map(|m| Device {
                    id: m.id.clone(),
                    capacity: m.capacity,
                    bandwidth: m.bandwidth,
                    zone: m.zone.clone(),
                })
                .collect(),
        }
    }

    /// The member with `id`.
    pub fn get(&self, id: &DeviceId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == *id)
    }
}

/// Where the membership comes from.
pub trait MembershipSource: Send + Sync + 'static {
    /// The current membership.
    fn current(&self) -> Arc<EpochMembers>;
    /// A receiver that sees every new membership.
    fn subscribe(&self) -> watch::Receiver<Arc<EpochMembers>>;
}

/// A membership read from a TOML file.
#[derive(Debug)]
pub struct FileMembership {
    path: PathBuf,
    tx: watch::Sender<Arc<EpochMembers>>,
}

/// Reads and validates a membership file.
pub fn read_membership_file(path: &Path) -> Result<EpochMembers> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Layout(format!("membership file {}: {e}", path.display())))?;
    let members: EpochMembers = toml::from_str(&text)
        .map_err(|e| Error::Layout(format!("membership file {}: {e}", path.display())))?;
    members.validate()?;
    Ok(members)
}

impl FileMembership {
    /// Loads the file.
    pub fn load(path: &Path) -> Result<Self> {
        let members = read_membership_file(path)?;
        let (tx, _) = watch::channel(Arc::new(members));
        Ok(Self {
            path: path.to_path_buf(),
            tx,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file; publishes and returns true when it changed.
    pub fn reload(&self) -> Result<bool> {
        let members = read_membership_file(&self.path)?;
        let changed = *self.tx.borrow().as_ref() != members;
        if changed {
            self.tx.send_replace(Arc::new(members));
        }
        Ok(changed)
    }
}

fn modified(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Reloads `source` whenever the file's modification time (or size)
/// changes, checked every `poll`, and at once on SIGHUP, until `shutdown`
/// fires. A file that does not parse is reported and the last good
/// membership kept.
pub async fn watch_file(
    source: Arc<FileMembership>,
    poll: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = modified(&source.path);
    loop {
        let signalled = tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(poll) => false,
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        let now = modified(&source.path);
        if !signalled && now == seen {
            continue;
        }
        seen = now;
        match source.reload() {
            Ok(true) => tracing::info!(
                path = %source.path.display(),
                epoch = source.current().epoch,
                "membership file changed"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "membership file not reloaded; keeping the last good one")
            }
        }
    }
}

impl MembershipSource for FileMembership {
    fn current(&self) -> Arc<EpochMembers> {
        self.tx.borrow().clone()
    }

    fn subscribe(&self) -> watch::Receiver<Arc<EpochMembers>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
epoch = 3
[[node]]
id = "n1"
endpoint = "127.0.0.1:7071"
gossip = "127.0.0.1:7171"
capacity = 100
bandwidth = 100
zone = "a"
[[node]]
id = "n2"
endpoint = "127.0.0.1:7072"
gossip = "127.0.0.1:7172"
capacity = 200
bandwidth = 100
zone = "b"
"#;

    #[tokio::test]
    async fn a_watched_file_is_reloaded_when_it_changes_and_a_bad_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, FILE).unwrap();
        let src = Arc::new(FileMembership::load(&path).unwrap());
        let mut rx = src.subscribe();
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(watch_file(
            src.clone(),
            std::time::Duration::from_millis(20),
            stop.clone(),
        ));
        std::fs::write(&path, "not toml [").unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            src.current().epoch,
            3,
            "a bad file keeps the last good membership"
        );
        std::fs::write(&path, FILE.replace("epoch = 3", "epoch = 4")).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rx.borrow().epoch, 4);
        stop.cancel();
        task.await.unwrap();
    }

    #[test]
    fn file_loads_validates_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, FILE).unwrap();
        let src = FileMembership::load(&path).unwrap();
        assert_eq!(src.current().epoch, 3);
        assert_eq!(src.current().placement_input().devices.len(), 2);
        assert!(!src.reload().unwrap());
        std::fs::write(&path, FILE.replace("epoch = 3", "epoch = 4")).unwrap();
        let mut rx = src.subscribe();
        assert!(src.reload().unwrap());
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().epoch, 4);

        std::fs::write(&path, FILE.replace("n2", "n1")).unwrap();
        let e = src.reload().unwrap_err().to_string();
        assert!(e.contains("n1 appears twice"), "{e}");
        std::fs::write(
            &path,
            FILE.replace("zone = \"a\"", "zone = \"a\"\nweight = 3"),
        )
        .unwrap();
        let e = src.reload().unwrap_err().to_string();
        assert!(e.contains("weight"), "{e}");
    }
}
