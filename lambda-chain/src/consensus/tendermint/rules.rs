//! The `upon` rules of Algorithm 1, evaluated to a fixpoint after every
//! input. Each rule's guard is exactly the paper's; "for the first time"
//! guards are kept per round in `fired`.

use super::{RULE_34, RULE_36, RULE_47, Tendermint, Value};
use crate::consensus::io::{Effect, Step};
use crate::types::{Hash, Round, VoteType};

/// An upper bound on rule firings per input; every firing changes state
/// monotonically, so the real count is far below.
const MAX_FIRINGS: usize = 256;

impl Tendermint {
    pub(super) fn apply_rules(&mut self, out: &mut Vec<Effect>) {
        for _ in 0..MAX_FIRINGS {
            if self.validators.is_none() || self.decided.is_some() {
                return;
            }
            let fired = self.rule_49_decide(out)
                || self.rule_55_skip_round(out)
                || self.rule_22_28_prevote(out)
                || self.rule_34_prevote_timeout(out)
                || self.rule_36_lock(out)
                || self.rule_44_precommit_nil(out)
                || self.rule_47_precommit_timeout(out);
            if !fired {
                return;
            }
        }
        tracing::error!(height = self.height, "rule evaluation did not settle");
    }

    fn verdict(&self, hash: Hash) -> Option<bool> {
        self.verdicts.get(&hash).copied()
    }

    /// A block with `hash` that this validator holds and knows to be valid.
    fn valid_value(&self, hash: Hash) -> Option<Value> {
        if self.verdict(hash) != Some(true) {
            return None;
        }
        self.block_of(hash).map(|block| Value { hash, block })
    }

    /// Line 49: a proposal for `v` and 2f+1 precommits for `id(v)` in some
    /// round decide `v` (when `valid(v)`).
    fn rule_49_decide(&mut self, out: &mut Vec<Effect>) -> bool {
        let quorum = self.quorum();
        for r in self.votes.precommit_rounds() {
            for (value, power) in self.votes.precommitted_values(r) {
                let Some(hash) = value else { continue };
                if power < quorum {
                    continue;
                }
                let Some(v) = self.valid_value(hash) else {
                    continue;
                };
                let certificate = self.votes.certificate(self.height, r, hash);
                self.decided = Some(r);
                self.metrics.decisions += 1;
                out.push(Effect::Decide {
                    block_hash: hash,
                    block: v.block,
                    certificate,
                });
                return true;
            }
        }
        false
    }

    /// Line 55: f+1 messages of a higher round move this validator there.
    fn rule_55_skip_round(&mut self, out: &mut Vec<Effect>) -> bool {
        let one_third = self.one_third();
        for r in self.votes.rounds_above(self.round) {
            if self.votes.round_power(r) >= one_third {
                self.start_round(r, out);
                return true;
            }
        }
        false
    }

    /// Lines 22 and 28: prevote on the round's proposal.
    fn rule_22_28_prevote(&mut self, out: &mut Vec<Effect>) -> bool {
        if self.step != Step::Propose {
            return false;
        }
        let quorum = self.quorum();
        let Some(list) = self.proposals.get(&self.round) else {
            return false;
        };
        let mut choice: Option<Option<Hash>> = None;
        for p in list {
            let hash = p.proposal.block_hash;
            let Some(valid) = self.verdict(hash) else {
                continue;
            };
            let locked_on = |ok_round: Option<Round>| match &self.locked {
                None => true,
                Some((lr, lv)) => lv.hash == hash || ok_round.is_some_and(|vr| *lr <= vr),
            };
            match p.proposal.pol_round {
                None => {
                    choice = Some((valid && locked_on(None)).then_some(hash));
                }
                Some(vr) => {
                    if self.votes.power_for(VoteType::Prevote, vr, Some(hash)) < quorum {
                        continue;
                    }
                    choice = Some((valid && locked_on(Some(vr))).then_some(hash));
                }
            }
            break;
        }
        let Some(hash) = choice else { return false };
        self.vote(VoteType::Prevote, hash, out);
        self.step = Step::Prevote;
        true
    }

    /// Line 34: 2f+1 prevotes of any kind start `timeoutPrevote`.
    fn rule_34_prevote_timeout(&mut self, out: &mut Vec<Effect>) -> bool {
        if self.step != Step::Prevote
            || self.votes.total(VoteType::Prevote, self.round) < self.quorum()
            || !self.fired.insert((self.round, RULE_34))
        {
            return false;
        }
        self.schedule(Step::Prevote, out);
        true
    }

    /// Line 36: a valid proposal and 2f+1 prevotes for it lock the value
    /// (when still prevoting) and make it the valid value.
    fn rule_36_lock(&mut self, out: &mut Vec<Effect>) -> bool {
        if self.step == Step::Propose || self.fired.contains(&(self.round, RULE_36)) {
            return false;
        }
        let quorum = self.quorum();
        let hashes: Vec<Hash> = self
            .proposals
            .get(&self.round)
            .map(|l| l.iter().map(|p| p.proposal.block_hash).collect())
            .unwrap_or_default();
        for hash in hashes {
            if self
                .votes
                .power_for(VoteType::Prevote, self.round, Some(hash))
                < quorum
            {
                continue;
            }
            let Some(v) = self.valid_value(hash) else {
                continue;
            };
            self.fired.insert((self.round, RULE_36));
            if self.step == Step::Prevote {
                self.locked = Some((self.round, v.clone()));
                self.vote(VoteType::Precommit, Some(hash), out);
                self.step = Step::Precommit;
            }
            self.valid = Some((self.round, v));
            return true;
        }
        false
    }

    /// Line 44: 2f+1 prevotes for nil precommit nil.
    fn rule_44_precommit_nil(&mut self, out: &mut Vec<Effect>) -> bool {
        if self.step != Step::Prevote
            || self.votes.power_for(VoteType::Prevote, self.round, None) < self.quorum()
        {
            return false;
        }
        self.vote(VoteType::Precommit, None, out);
        self.step = Step::Precommit;
        true
    }

    /// Line 47: 2f+1 precommits of any kind start `timeoutPrecommit`.
    fn rule_47_precommit_timeout(&mut self, out: &mut Vec<Effect>) -> bool {
        if self.votes.total(VoteType::Precommit, self.round) < self.quorum()
            || !self.fired.insert((self.round, RULE_47))
        {
            return false;
        }
        self.schedule(Step::Precommit, out);
        true
    }
}
