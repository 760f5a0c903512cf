//! The devnet's port layout: every port is an offset from one base port, so
//! a devnet's addresses are predictable (and stay the same across restarts,
//! since they are written into the chain's genesis and the configs).
//!
//! From base B: validator i at B + 2i (validator port) and B + 2i + 1 (API);
//! storage node i (1-based) at B + 100 + i (gRPC: KV, admin, replica) and
//! B + 200 + i (UDP gossip); the agent at B + 300; validator i's admin HTTP
//! port (`/metrics`, `/health`, the dashboard) at B + 400 + i.

use std::net::{SocketAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::error::DevnetError;
use crate::spec::{DEFAULT_BASE_PORT, PortChoice};

/// Ports spanned by a layout (B … B + 449).
const SPAN: u16 = 450;

/// A port layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPlan {
    /// The base port.
    pub base: u16,
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl PortPlan {
    /// Validator `i`'s validator (consensus) port.
    pub fn validator_p2p(&self, i: usize) -> SocketAddr {
        local(self.base + 2 * i as u16)
    }

    /// Validator `i`'s public API.
    pub fn validator_api(&self, i: usize) -> SocketAddr {
        local(self.base + 2 * i as u16 + 1)
    }

    /// Validator `i`'s admin HTTP address (`/metrics`, `/health`, the
    /// dashboard).
    pub fn validator_admin(&self, i: usize) -> SocketAddr {
        local(self.base + 400 + i as u16)
    }

    /// Storage node `i`'s (0-based) gRPC address.
    pub fn node_grpc(&self, i: usize) -> SocketAddr {
        local(self.base + 101 + i as u16)
    }

    /// Storage node `i`'s (0-based) gossip (UDP) address.
    pub fn node_gossip(&self, i: usize) -> SocketAddr {
        local(self.base + 201 + i as u16)
    }

    /// The agent's gRPC address.
    pub fn agent(&self) -> SocketAddr {
        local(self.base + 300)
    }

    /// The first port of the plan that something else holds, if any.
    pub fn busy_port(&self, validators: usize, nodes: usize) -> Option<SocketAddr> {
        let tcp = (0..validators)
            .flat_map(|i| {
                [
                    self.validator_p2p(i),
                    self.validator_api(i),
                    self.validator_admin(i),
                ]
            })
            .chain((0..nodes).map(|i| self.node_grpc(i)))
            .chain([self.agent()]);
        for a in tcp {
            if TcpListener::bind(a).is_err() {
                return Some(a);
            }
        }
        (0..nodes)
            .map(|i| self.node_gossip(i))
            .find(|a| UdpSocket::bind(a).is_err())
    }

    /// A plan by `choice` whose ports are all free (a bounded search).
    pub fn choose(
        choice: PortChoice,
        validators: usize,
        nodes: usize,
    ) -> Result<Self, DevnetError> {
        if let PortChoice::Exactly(base) = choice {
            let plan = Self { base };
            return match plan.busy_port(validators, nodes) {
                None => Ok(plan),
                Some(a) => Err(DevnetError::Ports(format!(
                    "{a} (of the layout from base port {base}) is in use"
                ))),
            };
        }
        let seed = std::process::id();
        let first = (choice == PortChoice::PreferDefault).then_some(DEFAULT_BASE_PORT);
        let candidates = first.into_iter().chain((0..64u32).map(|k| {
            let x = seed
                .wrapping_mul(7919)
                .wrapping_add(k.wrapping_mul(104_729));
            20_000 + (x % (40_000 - u32::from(SPAN))) as u16
        }));
        for base in candidates {
            let plan = Self { base };
            if plan.busy_port(validators, nodes).is_none() {
                return Ok(plan);
            }
        }
        Err(DevnetError::Ports(
            "no free block of loopback ports found in 65 tries".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_does_not_overlap() {
        let p = PortPlan { base: 30_000 };
        let mut all: Vec<u16> = (0..50)
            .flat_map(|i| {
                [
                    p.validator_p2p(i).port(),
                    p.validator_api(i).port(),
                    p.validator_admin(i).port(),
                ]
            })
            .chain((0..99).map(|i| p.node_grpc(i).port()))
            .chain((0..99).map(|i| p.node_gossip(i).port()))
            .chain([p.agent().port()])
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn a_held_port_is_named() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        // Make the held port the plan's first port (validator 0's p2p port):
        // it is checked first, so another process holding a port near it
        // cannot change the answer.
        let plan = PortPlan { base: port };
        assert_eq!(plan.busy_port(1, 3), Some(local(port)));
        let e = PortPlan::choose(PortChoice::Exactly(port), 1, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&port.to_string()), "{e}");
    }
}
