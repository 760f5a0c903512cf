//! Replay protection: a sliding window over a client's request counters.
//!
//! A client numbers its requests; concurrent requests may arrive out of
//! order, so a node does not demand increasing counters. It keeps the
//! highest counter seen and a bitmap of the `size` counters below it: a
//! counter above the highest is new (the window slides up); one inside the
//! window is new unless its bit is set; one below the window is refused, as
//! the node can no longer tell whether it was seen. After a restart only the
//! highest counter is known, so the whole window counts as seen.

/// Why a counter is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The counter was already accepted.
    #[error("counter {counter} was already used (replay)")]
    Seen {
        /// The counter.
        counter: u64,
    },
    /// The counter is too far below the highest one seen.
    #[error("counter {counter} is below the replay window (highest seen {highest}, window {size})")]
    BelowWindow {
        /// The counter.
        counter: u64,
        /// The highest counter seen.
        highest: u64,
        /// The window size.
        size: u64,
    },
    /// Counters start at 1.
    #[error("counter 0 is not allowed (counters start at 1)")]
    Zero,
}

/// The counters of one client that a node has accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    highest: u64,
    size: u64,
    bits: Vec<u64>,
}

impl ReplayWindow {
    /// An empty window of `size` counters (rounded up to a multiple of 64,
    /// at least 64).
    pub fn new(size: u64) -> Self {
        let words = size.div_ceil(64).max(1);
        Self {
            highest: 0,
            size: words * 64,
            bits: vec![0; words as usize],
        }
    }

    /// A window after a restart: `highest` was the highest counter accepted
    /// and everything at or below it counts as seen.
    pub fn restored(size: u64, highest: u64) -> Self {
        let mut w = Self::new(size);
        w.highest = highest;
        w.bits.iter_mut().for_each(|b| *b = u64::MAX);
        w
    }

    /// The highest counter accepted (0: none).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// The window size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn slot(&self, counter: u64) -> (usize, u64) {
        let i = counter % self.size;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn flip(&mut self, counter: u64, on: bool) {
        let (w, m) = self.slot(counter);
        if let Some(word) = self.bits.get_mut(w) {
            if on {
                *word |= m;
            } else {
                *word &= !m;
            }
        }
    }

    fn is_set(&self, counter: u64) -> bool {
        let (w, m) = self.slot(counter);
        self.bits.get(w).is_some_and(|word| word & m != 0)
    }

    /// Checks `counter` and, if it is new, records it.
    pub fn accept(&mut self, counter: u64) -> Result<(), ReplayError> {
        if counter == 0 {
            return Err(ReplayError::Zero);
        }
        if counter > self.highest {
            let gap = counter - self.highest;
            if gap >= self.size {
                self.bits.iter_mut().for_each(|b| *b = 0);
            } else {
                // Counters skipped over enter the window unseen.
                for c in self.highest + 1..counter {
                    self.flip(c, false);
                }
            }
            self.flip(counter, true);
            self.highest = counter;
            return Ok(());
        }
        if self.highest - counter >= self.size {
            return Err(ReplayError::BelowWindow {
                counter,
                highest: self.highest,
                size: self.size,
            });
        }
        if self.is_set(counter) {
            return Err(ReplayError::Seen { counter });
        }
        self.flip(counter, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn in_order_out_of_order_and_replays() {
        let mut w = ReplayWindow::new(64);
        assert_eq!(w.accept(0), Err(ReplayError::Zero));
        w.accept(5).unwrap();
        w.accept(3).unwrap();
        assert_eq!(w.accept(5), Err(ReplayError::Seen { counter: 5 }));
        assert_eq!(w.accept(3), Err(ReplayError::Seen { counter: 3 }));
        w.accept(4).unwrap();
        w.accept(100).unwrap();
        assert!(matches!(w.accept(5), Err(ReplayError::BelowWindow { .. })));
        w.accept(37).unwrap();
        assert_eq!(w.accept(37), Err(ReplayError::Seen { counter: 37 }));
        // A jump beyond the window forgets everything below it.
        w.accept(1_000).unwrap();
        assert!(matches!(
            w.accept(100),
            Err(ReplayError::BelowWindow { .. })
        ));
        w.accept(999).unwrap();
    }

    #[test]
    fn a_restored_window_refuses_everything_up_to_the_highest() {
        let mut w = ReplayWindow::restored(128, 500);
        for c in [500, 499, 373] {
            assert_eq!(w.accept(c), Err(ReplayError::Seen { counter: c }));
        }
        assert!(matches!(
            w.accept(372),
            Err(ReplayError::BelowWindow { .. })
        ));
        w.accept(501).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Against a model that remembers every counter: the window never
        /// accepts a counter twice, and accepts every new counter within
        /// `size` of the highest seen.
        #[test]
        fn matches_a_model_that_remembers_everything(
            size in 1u64..200,
            counters in proptest::collection::vec(1u64..600, 1..300),
        ) {
            let mut w = ReplayWindow::new(size);
            let size = w.size();
            let mut seen = BTreeSet::new();
            let mut highest = 0u64;
            for c in counters {
                let r = w.accept(c);
                if seen.contains(&c) {
                    prop_assert!(r.is_err(), "replayed {} accepted", c);
                } else if c + size > highest {
                    prop_assert!(r.is_ok(), "new {} refused: {:?} (highest {})", c, r, highest);
                } else {
                    let below = matches!(r, Err(ReplayError::BelowWindow { .. }));
                    prop_assert!(below, "old {} not refused as below the window: {:?}", c, r);
                }
                if r.is_ok() {
                    seen.insert(c);
                    highest = highest.max(c);
                }
                prop_assert_eq!(w.highest(), highest);
            }
        }
    }
}
