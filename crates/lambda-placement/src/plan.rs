//! Rebalancing plans: which replicas must be copied where when the
//! placement changes from one epoch's to the next.
//!
//! Data moves only when a device enters a partition's list; a device that
//! stays on the list but changes position keeps its copy. So a plan lists,
//! for every partition, each device of the new list that was not on the old
//! one (`to`, at its new `position`), paired in list order with a device of
//! the old list that is not on the new one (`from`: a natural source to
//! stream from before it drops the partition; `None` when the list grew).
//! Devices that only leave a list need no move: they drop the partition
//! once the new owners hold it.

use serde::{Deserialize, Serialize};

use super::Placement;
use super::device::DeviceId;
use super::error::PlacementError;

/// One replica to copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The partition.
    pub partition: u32,
    /// A device that leaves the partition's list (a source to copy from),
    /// or `None` when the list grew.
    pub from: Option<DeviceId>,
    /// The device that enters the list and needs the partition's data.
    pub to: DeviceId,
    /// Position of `to` in the new list.
    pub position: usize,
}

/// The moves that turn `old`'s preference lists into `new`'s. Both must
/// have the same partition count.
pub fn plan(old: &Placement, new: &Placement) -> Result<Vec<Move>, PlacementError> {
    let (q_old, q_new) = (old.partitions(), new.partitions());
    if q_old != q_new {
        return Err(PlacementError::PartitionCountChanged {
            old: q_old,
            new: q_new,
        });
    }
    let mut moves = Vec::new();
    for partition in 0..q_new {
        let (before, after) = (
            old.preference_list(partition),
            new.preference_list(partition),
        );
        let mut leaving = before.iter().filter(|d| !after.contains(d));
        for (position, to) in after.iter().enumerate() {
            if !before.contains(to) {
                moves.push(Move {
                    partition,
                    from: leaving.next().cloned(),
                    to: to.clone(),
                    position,
                });
            }
        }
    }
    Ok(moves)
}
