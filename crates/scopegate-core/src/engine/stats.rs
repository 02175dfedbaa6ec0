//! Counters of the cache tiers: hits and misses by tier, evictions. Lock-free, read by the
//! webhook's metrics.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which tier answered a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Tier {
    /// L1: a recent identical request's decision, from the decision cache.
    DecisionCache,
    /// L2: decided with the subject's compiled grants, from the subject cache.
    SubjectCache,
    /// L3: decided on the policy snapshot itself (the source of truth).
    Policy,
}

impl Tier {
    /// The tier as a metric label / log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::DecisionCache => "decision_cache",
            Tier::SubjectCache => "subject_cache",
            Tier::Policy => "policy",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) decision_hits: AtomicU64,
    pub(crate) decision_misses: AtomicU64,
    pub(crate) subject_hits: AtomicU64,
    pub(crate) subject_misses: AtomicU64,
    pub(crate) decision_evictions: AtomicU64,
    pub(crate) subject_evictions: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A reading of the counters and cache sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// L1 lookups that answered.
    pub decision_hits: u64,
    /// L1 lookups that did not (absent, or from an older policy generation).
    pub decision_misses: u64,
    /// L1 entries now (approximate).
    pub decision_entries: u64,
    /// L1 entries evicted for size or age.
    pub decision_evictions: u64,
    /// L2 lookups that found the subject compiled.
    pub subject_hits: u64,
    /// L2 lookups that had to compile it.
    pub subject_misses: u64,
    /// L2 entries now (approximate).
    pub subject_entries: u64,
    /// L2 entries evicted for size.
    pub subject_evictions: u64,
}

impl Counters {
    pub(crate) fn read(&self, decision_entries: u64, subject_entries: u64) -> CacheStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            decision_hits: r(&self.decision_hits),
            decision_misses: r(&self.decision_misses),
            decision_entries,
            decision_evictions: r(&self.decision_evictions),
            subject_hits: r(&self.subject_hits),
            subject_misses: r(&self.subject_misses),
            subject_entries,
            subject_evictions: r(&self.subject_evictions),
        }
    }
}
