//! The two cache tiers over `quick_cache`'s sharded concurrent cache.
//!
//! Why `quick_cache` and not `moka` (used before): an L1 hit must cost well under the cold
//! decision it saves (a few hundred nanoseconds at 100k bindings). A `moka` `get` spent
//! about 200 ns on bookkeeping: two clock reads for its expiry check, a read-log channel,
//! pending-task housekeeping on the caller's thread and an epoch pin, and handed back an
//! `Arc` clone of the entry. A `quick_cache` `get` is a shard read lock, one probe with the
//! precomputed hash, a relaxed reference-bit increment and a clone of the value (here the
//! decision, which the answer needs anyway). Its eviction (CLOCK-Pro style, hot/cold queues
//! with ghost entries) also keeps part of a cyclic working set larger than the capacity
//! instead of thrashing the whole of it, which is the load generator's pattern.
//!
//! What `quick_cache` does not do, done here: the time-to-live (an expiry time in each L1
//! entry, compared with a coarse clock on a hit; an expired entry is removed and counted as
//! evicted) and counting evictions (a `Lifecycle` hook bumping the engine's counters).

use super::clock;
use super::key::{PackedRequest, PrehashedKeys, RequestLookup};
use super::stats::{Counters, bump};
use crate::decision::{Decision, DecisionRef};
use crate::policy::CompiledSubject;
use crate::request::Request;
use quick_cache::UnitWeighter;
use quick_cache::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Bumps an eviction counter whenever `quick_cache` evicts an entry for size (replacements
/// and [`Cache::clear`] are not evictions).
#[derive(Clone)]
struct CountEvictions {
    counters: Arc<Counters>,
    which: fn(&Counters) -> &AtomicU64,
}

impl<K, V> quick_cache::Lifecycle<K, V> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: K, _value: V) {
        bump((self.which)(&self.counters));
    }
}

fn build<K, V>(
    capacity: u64,
    counters: &Arc<Counters>,
    which: fn(&Counters) -> &AtomicU64,
) -> Cache<K, V, UnitWeighter, PrehashedKeys, CountEvictions>
where
    K: Eq + std::hash::Hash,
    V: Clone,
{
    let lifecycle = CountEvictions {
        counters: Arc::clone(counters),
        which,
    };
    let items = usize::try_from(capacity).unwrap_or(usize::MAX);
    Cache::with(items, capacity, UnitWeighter, PrehashedKeys, lifecycle)
}

/// An L1 entry's value: the decision, the generation it was decided on, and when it expires.
#[derive(Clone)]
struct CachedDecision {
    generation: u64,
    expires_at_ms: u64,
    decision: Decision,
}

/// L1: recent decisions, keyed by the whole request (user, groups, action).
pub(super) struct DecisionCache {
    cache: Cache<PackedRequest, CachedDecision, UnitWeighter, PrehashedKeys, CountEvictions>,
    ttl_ms: u64,
    counters: Arc<Counters>,
}

impl DecisionCache {
    /// At most `capacity` decisions, each served for at most `ttl` (to the clock's tick).
    pub(super) fn new(capacity: u64, ttl: Duration, counters: &Arc<Counters>) -> Self {
        DecisionCache {
            cache: build(capacity, counters, |c| &c.decision_evictions),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            counters: Arc::clone(counters),
        }
    }

    /// The decision cached for exactly `request` on `generation`, if it has not expired.
    pub(super) fn get(&self, hash: u64, request: &Request, generation: u64) -> Option<Decision> {
        let lookup = RequestLookup { hash, request };
        let hit = self.cache.get(&lookup)?;
        if hit.generation != generation {
            return None;
        }
        let now = clock::now_ms();
        if now >= hit.expires_at_ms {
            if self
                .cache
                .remove_if(&lookup, |e| now >= e.expires_at_ms)
                .is_some()
            {
                bump(&self.counters.decision_evictions);
            }
            return None;
        }
        Some(hit.decision)
    }

    /// Caches `decision` for `request`, decided on `generation`.
    pub(super) fn insert(
        &self,
        hash: u64,
        request: &Request,
        generation: u64,
        decision: DecisionRef<'_>,
    ) {
        let Some(key) = PackedRequest::new(hash, request) else {
            return;
        };
        let expires_at_ms = clock::now_ms().saturating_add(self.ttl_ms);
        self.cache.insert(
            key,
            CachedDecision {
                generation,
                expires_at_ms,
                decision: decision.to_decision(),
            },
        );
    }

    /// Drops every entry (not counted as evictions).
    pub(super) fn clear(&self) {
        self.cache.clear();
    }

    /// Entries now.
    pub(super) fn len(&self) -> u64 {
        u64::try_from(self.cache.len()).unwrap_or(u64::MAX)
    }
}

/// An L2 entry: a subject compiled on one generation.
pub(super) struct CachedSubject {
    pub(super) generation: u64,
    pub(super) subject: CompiledSubject,
}

/// L2: compiled subjects, keyed by the hash of user and groups and checked with
/// [`CompiledSubject::is_for`] on a hit.
pub(super) struct SubjectCache {
    cache: Cache<u64, Arc<CachedSubject>, UnitWeighter, PrehashedKeys, CountEvictions>,
}

impl SubjectCache {
    /// At most `capacity` compiled subjects.
    pub(super) fn new(capacity: u64, counters: &Arc<Counters>) -> Self {
        SubjectCache {
            cache: build(capacity, counters, |c| &c.subject_evictions),
        }
    }

    /// The subject of `request` compiled on `generation`, if cached.
    pub(super) fn get(
        &self,
        hash: u64,
        request: &Request,
        generation: u64,
    ) -> Option<Arc<CachedSubject>> {
        self.cache
            .get(&hash)
            .filter(|hit| hit.generation == generation && hit.subject.is_for(request))
    }

    /// Caches a compiled subject under `hash`.
    pub(super) fn insert(&self, hash: u64, subject: Arc<CachedSubject>) {
        self.cache.insert(hash, subject);
    }

    /// Drops every entry (not counted as evictions).
    pub(super) fn clear(&self) {
        self.cache.clear();
    }

    /// Entries now.
    pub(super) fn len(&self) -> u64 {
        u64::try_from(self.cache.len()).unwrap_or(u64::MAX)
    }
}
