//! Membership from the chain: [`ChainMembership`] is the
//! [`MembershipSource`] of a node in chain mode. At start and at every epoch
//! change of the chain tip it fetches the epoch's membership (fixed on chain
//! at the last block of the previous epoch) and publishes it, with the node
//! public keys of the current and previous epoch for peer authentication.
//!
//! The chain's membership already leaves out pending, offline, slashed,
//! leaving and exited nodes (`lambda-chain` `state::epoch`), so nothing is
//! filtered here: every node of every published epoch computes the same
//! ring. Pledges are in bytes and bytes/s; placement weighs GiB and Mbit/s
//! ([`device_of`] converts, rounding up so no member weighs zero). Gossip
//! runs over UDP on the port of the pledged endpoint (TCP and UDP ports are
//! separate), so the pledge needs no second address.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use lambda_chain::client::ClientError;
use lambda_chain::state::{Member as ChainMember, Membership as ChainMembershipRecord};
use lambda_common::keys::PublicKey;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{ChainLink, ChainLinkError};
use crate::cluster::membership::{EpochMembers, Member, MembershipSource};
use crate::placement::DeviceId;

#[cfg(test)]
const GIB: u64 = 1 << 30;

/// The node keys of the members of an epoch and of the one before it (a
/// peer still finishing work of the previous epoch is accepted during the
/// change).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerKeys {
    /// The epoch in force.
    pub epoch: u64,
    /// Its members' keys, by node id.
    pub current: BTreeMap<DeviceId, PublicKey>,
    /// The previous epoch's members' keys.
    pub previous: BTreeMap<DeviceId, PublicKey>,
}

impl PeerKeys {
    /// The key of `id` if it is a member of the current or previous epoch.
    pub fn key_of(&self, id: &DeviceId) -> Option<&PublicKey> {
        self.current.get(id).or_else(|| self.previous.get(id))
    }
}

/// Capacity in GiB and bandwidth in Mbit/s (placement's units) of a
/// pledge's bytes and bytes per second, each rounded up and at least 1.
pub fn weights_of(capacity_bytes: u64, bandwidth_bps: u64) -> (u64, u64) {
    crate::placement::pledge_weights(capacity_bytes, bandwidth_bps)
}

/// The ring member of a chain member: id = node address in hex, gossip on
/// the endpoint's port over UDP. An endpoint that does not resolve keeps
/// its place in the ring (every node must compute the same placement) with
/// an unspecified gossip address.
pub fn member_of(m: &ChainMember) -> Member {
    let (capacity, bandwidth) = weights_of(m.capacity_bytes, m.bandwidth_bps);
    let gossip = m
        .endpoint
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| {
            tracing::warn!(node = %m.id, endpoint = %m.endpoint, "member endpoint does not resolve; no gossip with it");
            SocketAddr::from(([0, 0, 0, 0], 0))
        });
    Member {
        id: DeviceId(m.id.to_string()),
        endpoint: m.endpoint.clone(),
        gossip,
        capacity,
        bandwidth,
        zone: m.zone.clone(),
    }
}

/// The membership of a chain epoch as the ring sees it (may be empty).
pub fn epoch_members_of(m: &ChainMembershipRecord) -> EpochMembers {
    EpochMembers {
        epoch: m.epoch,
        members: m.members.iter().map(member_of).collect(),
    }
}

fn keys_of(m: &ChainMembershipRecord) -> BTreeMap<DeviceId, PublicKey> {
    m.members
        .iter()
        .map(|x| (DeviceId(x.id.to_string()), x.public_key))
        .collect()
}

/// The membership source of a chain-mode node.
#[derive(Debug)]
pub struct ChainMembership {
    members: watch::Sender<Arc<EpochMembers>>,
    keys: watch::Sender<Arc<PeerKeys>>,
}

impl ChainMembership {
    /// Fetches the membership of the epoch in force and follows the tip of
    /// `link` until `cancel`, publishing each new epoch's membership.
    pub async fn start(
        link: &ChainLink,
        cancel: CancellationToken,
    ) -> Result<Arc<Self>, ChainLinkError> {
        let epoch = link.epoch();
        let (members, keys) = fetch(link, epoch).await?;
        let this = Arc::new(Self {
            members: watch::channel(Arc::new(members)).0,
            keys: watch::channel(Arc::new(keys)).0,
        });
        tokio::spawn(follow(this.clone(), link.clone(), cancel));
        Ok(this)
    }

    /// The node keys of the current and previous epoch's members.
    pub fn keys(&self) -> watch::Receiver<Arc<PeerKeys>> {
        self.keys.subscribe()
    }

    fn publish(&self, members: EpochMembers, keys: PeerKeys) {
        tracing::info!(
            epoch = members.epoch,
            members = members.members.len(),
            "chain membership of the new epoch"
        );
        self.keys.send_replace(Arc::new(keys));
        self.members.send_replace(Arc::new(members));
    }
}

impl MembershipSource for ChainMembership {
    fn current(&self) -> Arc<EpochMembers> {
        self.members.borrow().clone()
    }

    fn subscribe(&self) -> watch::Receiver<Arc<EpochMembers>> {
        self.members.subscribe()
    }
}

async fn membership(link: &ChainLink, epoch: u64) -> Result<ChainMembershipRecord, ChainLinkError> {
    match link.client().await?.membership(epoch).await {
        Ok(m) => Ok(m),
        // No record: an epoch without members (e.g. before genesis nodes).
        Err(ClientError::NotFound(_)) => Ok(ChainMembershipRecord {
            epoch,
            members: Vec::new(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The ring membership and keys of `epoch` (and of `epoch - 1`).
pub async fn fetch(
    link: &ChainLink,
    epoch: u64,
) -> Result<(EpochMembers, PeerKeys), ChainLinkError> {
    let now = membership(link, epoch).await?;
    let previous = match epoch {
        0 => BTreeMap::new(),
        e => keys_of(&membership(link, e - 1).await?),
    };
    let keys = PeerKeys {
        epoch,
        current: keys_of(&now),
        previous,
    };
    Ok((epoch_members_of(&now), keys))
}

async fn follow(this: Arc<ChainMembership>, link: ChainLink, cancel: CancellationToken) {
    let mut tip = link.tip();
    loop {
        let published = this.members.borrow().epoch;
        let epoch = tip.borrow_and_update().epoch;
        if epoch != published {
            match fetch(&link, epoch).await {
                Ok((m, k)) => {
                    this.publish(m, k);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, epoch, "fetching the epoch's membership failed; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(300)) => continue,
                    }
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            r = tip.changed() => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_common::keys::SigningKey;

    #[test]
    fn pledged_units_become_placement_units_never_zero() {
        assert_eq!(weights_of(1, 1), (1, 1));
        assert_eq!(weights_of(100 * GIB, 125_000_000), (100, 1000));
        assert_eq!(weights_of(100 * GIB + 1, 125_000_001), (101, 1001));
        assert_eq!(weights_of(u64::MAX, u64::MAX).0, u64::MAX.div_ceil(GIB));
    }

    #[test]
    fn a_chain_member_becomes_a_ring_member_keyed_by_address() {
        let key = SigningKey::generate().public();
        let m = ChainMember {
            id: key.address(),
            public_key: key,
            endpoint: "127.0.0.1:7071".into(),
            capacity_bytes: 2 * GIB,
            bandwidth_bps: 1_000_000,
            zone: "z1".into(),
        };
        let r = member_of(&m);
        assert_eq!(r.id.0, key.address().to_string());
        assert_eq!(r.gossip, "127.0.0.1:7071".parse().unwrap());
        assert_eq!((r.capacity, r.bandwidth), (2, 8));
        let bad = ChainMember {
            endpoint: "no-such-host.invalid:1".into(),
            ..m.clone()
        };
        assert!(member_of(&bad).gossip.ip().is_unspecified());
        let rec = ChainMembershipRecord {
            epoch: 4,
            members: vec![m],
        };
        let e = epoch_members_of(&rec);
        assert_eq!(e.epoch, 4);
        let keys = PeerKeys {
            epoch: 4,
            current: keys_of(&rec),
            previous: BTreeMap::new(),
        };
        assert_eq!(keys.key_of(&r.id), Some(&key));
        assert!(keys.key_of(&DeviceId("x".into())).is_none());
    }
}
