//! Why a placement cannot be computed or compared: every input the chain or
//! an operator can get wrong has its own variant naming what is wrong.

use super::config::MAX_REPLICAS;
use crate::keyspace::MAX_PARTITIONS;

/// Errors of [`Placement::compute`](super::Placement::compute) and
/// [`plan`](super::plan).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    /// The membership has no device.
    #[error("membership of epoch {epoch} has no device")]
    EmptyMembership {
        /// The epoch of the membership.
        epoch: u64,
    },
    /// Two devices share one id.
    #[error("device id {0:?} appears more than once in the membership")]
    DuplicateDevice(String),
    /// A device id is the empty string.
    #[error("a device has an empty id")]
    EmptyDeviceId,
    /// A device's weight (from capacity and bandwidth) is zero.
    #[error("device {id:?} has zero weight (capacity {capacity}, bandwidth {bandwidth})")]
    ZeroWeight {
        /// The device.
        id: String,
        /// Its capacity.
        capacity: u64,
        /// Its bandwidth.
        bandwidth: u64,
    },
    /// `partitions` is not a power of two in range.
    #[error("partitions = {0} must be a power of two between 1 and {MAX_PARTITIONS}")]
    BadPartitionCount(u32),
    /// `replicas` is out of range.
    #[error("replicas = {0} must be between 1 and {MAX_REPLICAS}")]
    BadReplicas(u32),
    /// `vnodes` is zero.
    #[error("vnodes (virtual nodes per weight unit) must be at least 1")]
    ZeroVnodes,
    /// `weight_unit` is zero.
    #[error("weight_unit must be at least 1")]
    ZeroWeightUnit,
    /// `class_threshold` is out of range.
    #[error("class_threshold = {0} must be 0 or between 0.01 and 10")]
    BadClassThreshold(f64),
    /// `load_slack` is out of range.
    #[error("load_slack = {0} must be between 0 and 1")]
    BadLoadSlack(f64),
    /// `probes` is out of range.
    #[error("probes = {0} must be between 1 and 64")]
    BadProbes(u32),
    /// No device may take a list position (cannot happen with valid input:
    /// reported rather than panicking if it ever does).
    #[error("partition {partition} found no device for list position {position}")]
    Unplaceable {
        /// The partition.
        partition: u32,
        /// The list position.
        position: usize,
    },
    /// Two placements over different partition counts cannot be compared.
    #[error(
        "placements have different partition counts ({old} and {new}); Q is fixed at cluster creation"
    )]
    PartitionCountChanged {
        /// Partitions of the old placement.
        old: u32,
        /// Partitions of the new placement.
        new: u32,
    },
}
