//! The tiered engine: what a server embeds to decide requests fast on a policy that changes.
//!
//! - L1, decisions: a bounded, expiring cache of recent decisions, keyed by the whole request.
//! - L2, compiled subjects: per subject (user plus groups), every grant that can apply,
//!   filed by scope, compiled at the subject's first request.
//! - L3, the policy snapshot: the source of truth every tier is derived from.
//!
//! A request is hashed once (`key.rs`: one pass gives the L2 key, then the L1 key); an L1 hit
//! is one shard read lock and one probe (`tiers.rs`, over `quick_cache`), an exact comparison
//! of the request with the packed one in the entry, and a coarse clock read for the
//! time-to-live (`clock.rs`): no allocation, no clone but the decision's own.
//!
//! A new snapshot is swapped in atomically; every cached entry carries the generation it was
//! computed on and is never served for another, so no tier can answer with a revoked
//! permission once [`Engine::replace`] has returned. The caches are also cleared then, to free
//! their memory.

mod clock;
mod key;
mod stats;
mod tiers;

pub use stats::{CacheStats, Tier};

use crate::decision::{Decision, DecisionRef};
use crate::explain::Explanation;
use crate::policy::Policy;
use crate::request::Request;
use arc_swap::ArcSwapOption;
use key::{KeyHasher, RequestHashes};
use stats::{Counters, bump};
use std::sync::Arc;
use std::time::Duration;
use tiers::{CachedSubject, DecisionCache, SubjectCache};

/// Sizes of the cache tiers; `None` (or a size of 0) switches a tier off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// L1: at most this many decisions (approximately: the bound is kept per shard), each
    /// kept at most this long (to the coarse clock's tick, a few milliseconds).
    pub decision_cache: Option<(u64, Duration)>,
    /// L2: at most this many compiled subjects (approximately, as L1).
    pub subject_cache: Option<u64>,
}

impl Default for EngineConfig {
    /// 10,000 decisions for 300 s (the seed's `authorization.cacheSize`/`cacheTTL`) and
    /// 10,000 compiled subjects: every tier on, as `scopegate serve` runs by default.
    fn default() -> Self {
        EngineConfig {
            decision_cache: Some((10_000, Duration::from_secs(300))),
            subject_cache: Some(10_000),
        }
    }
}

impl EngineConfig {
    /// No caching at all: every request is decided on the snapshot.
    pub fn uncached() -> Self {
        EngineConfig {
            decision_cache: None,
            subject_cache: None,
        }
    }
}

/// A policy being served, and its generation (counting up from 1 with each replacement).
#[derive(Debug)]
pub struct Snapshot {
    /// The policy.
    pub policy: Arc<Policy>,
    /// Its generation.
    pub generation: u64,
}

/// An answer: the decision, which tier gave it, and on which generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The decision.
    pub decision: Decision,
    /// The tier that answered.
    pub tier: Tier,
    /// The generation of the policy it was decided on.
    pub generation: u64,
}

/// An answer borrowed from the snapshot (or cache entry) that gave it, for
/// [`Engine::decide_with`]: [`Answer`] without a share of the allowing grant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnswerRef<'a> {
    /// The decision.
    pub decision: DecisionRef<'a>,
    /// The tier that answered.
    pub tier: Tier,
    /// The generation of the policy it was decided on.
    pub generation: u64,
}

impl AnswerRef<'_> {
    /// The answer to keep.
    pub fn to_answer(&self) -> Answer {
        Answer {
            decision: self.decision.to_decision(),
            tier: self.tier,
            generation: self.generation,
        }
    }
}

/// What the tiers hand to a reader: an answer borrowed from the snapshot or a compiled
/// subject, or the copy of a decision the L1 cache gives out (kept whole, so that a caller
/// keeping the answer takes it without another share of the grant).
enum Decided<'a> {
    /// Decided now, on the snapshot or a compiled subject.
    Borrowed(AnswerRef<'a>),
    /// An L1 hit.
    Cached(Answer),
}

impl Decided<'_> {
    fn as_ref(&self) -> AnswerRef<'_> {
        match self {
            Decided::Borrowed(answer) => *answer,
            Decided::Cached(answer) => AnswerRef {
                decision: answer.decision.as_ref(),
                tier: answer.tier,
                generation: answer.generation,
            },
        }
    }

    fn into_answer(self) -> Answer {
        match self {
            Decided::Borrowed(answer) => answer.to_answer(),
            Decided::Cached(answer) => answer,
        }
    }
}

/// Deciding failed: nothing is loaded yet. Never to be taken as an allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no policy is loaded yet")]
pub struct NotLoaded;

/// The tiered decision engine over a replaceable policy snapshot.
pub struct Engine {
    current: ArcSwapOption<Snapshot>,
    decisions: Option<DecisionCache>,
    subjects: Option<SubjectCache>,
    hasher: KeyHasher,
    counters: Arc<Counters>,
    replace_lock: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with no policy yet; every decision fails with [`NotLoaded`] until
    /// [`Engine::replace`] is called.
    pub fn new(config: &EngineConfig) -> Self {
        let counters = Arc::new(Counters::default());
        let decisions = config
            .decision_cache
            .filter(|(capacity, _)| *capacity > 0)
            .map(|(capacity, ttl)| DecisionCache::new(capacity, ttl, &counters));
        let subjects = config
            .subject_cache
            .filter(|capacity| *capacity > 0)
            .map(|capacity| SubjectCache::new(capacity, &counters));
        Engine {
            current: ArcSwapOption::empty(),
            decisions,
            subjects,
            hasher: KeyHasher::default(),
            counters,
            replace_lock: std::sync::Mutex::new(()),
        }
    }

    /// An engine serving `policy` as generation 1.
    pub fn with_policy(policy: Policy, config: &EngineConfig) -> Self {
        let engine = Engine::new(config);
        engine.replace(policy);
        engine
    }

    /// Swaps in a new policy and returns its generation. Requests already deciding finish on
    /// the old snapshot; every request that starts after this returns is decided on the new
    /// one, and no cached answer from an older generation is served again.
    pub fn replace(&self, policy: Policy) -> u64 {
        let _guard = self.replace_lock.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.generation().unwrap_or(0) + 1;
        self.current.store(Some(Arc::new(Snapshot {
            policy: Arc::new(policy),
            generation,
        })));
        if let Some(cache) = &self.decisions {
            cache.clear();
        }
        if let Some(cache) = &self.subjects {
            cache.clear();
        }
        generation
    }

    /// The snapshot being served, if any.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// The generation being served, if any.
    pub fn generation(&self) -> Option<u64> {
        self.current.load().as_ref().map(|s| s.generation)
    }

    /// Decides a request through the tiers.
    ///
    /// The answer is owned: an uncached one holds a share of the allowing grant. A caller
    /// that only reads it uses [`Engine::decide_with`], which takes no share.
    pub fn decide(&self, request: &Request) -> Result<Answer, NotLoaded> {
        let guard = self.current.load();
        let snapshot = guard.as_ref().ok_or(NotLoaded)?;
        Ok(self.decide_on(snapshot, request, |decided| decided.into_answer()))
    }

    /// Decides a request through the tiers and hands the answer, borrowed, to `read`: what
    /// a caller that only reads the answer (a server building its response) uses, so that
    /// no share of the allowing grant is taken for it (see [`DecisionRef`]). The snapshot is
    /// held while `read` runs (a replacement is not delayed, but the old policy is freed
    /// only after): keep `read` short.
    pub fn decide_with<R>(
        &self,
        request: &Request,
        read: impl FnOnce(AnswerRef<'_>) -> R,
    ) -> Result<R, NotLoaded> {
        let guard = self.current.load();
        let snapshot = guard.as_ref().ok_or(NotLoaded)?;
        Ok(self.decide_on(snapshot, request, |decided| read(decided.as_ref())))
    }

    /// Decides a request through the tiers on `snapshot`.
    fn decide_on<R>(
        &self,
        snapshot: &Snapshot,
        request: &Request,
        read: impl FnOnce(Decided<'_>) -> R,
    ) -> R {
        let generation = snapshot.generation;
        let answer = |decision, tier| {
            Decided::Borrowed(AnswerRef {
                decision,
                tier,
                generation,
            })
        };
        if self.decisions.is_none() && self.subjects.is_none() {
            return read(answer(snapshot.policy.decide_ref(request), Tier::Policy));
        }
        let hashes = RequestHashes::of(request, &self.hasher);
        if let Some(cache) = &self.decisions {
            if let Some(decision) = cache.get(hashes.request, request, generation) {
                bump(&self.counters.decision_hits);
                return read(Decided::Cached(Answer {
                    decision,
                    tier: Tier::DecisionCache,
                    generation,
                }));
            }
            bump(&self.counters.decision_misses);
        }
        let remember = |decision: DecisionRef<'_>| {
            if let Some(cache) = &self.decisions {
                cache.insert(hashes.request, request, generation, decision);
            }
        };
        let Some(cache) = &self.subjects else {
            let decision = snapshot.policy.decide_ref(request);
            remember(decision);
            return read(answer(decision, Tier::Policy));
        };
        if let Some(hit) = cache.get(hashes.subject, request, generation) {
            bump(&self.counters.subject_hits);
            let decision = snapshot.policy.decide_compiled_ref(&hit.subject, request);
            remember(decision);
            return read(answer(decision, Tier::SubjectCache));
        }
        bump(&self.counters.subject_misses);
        let subject = Arc::new(CachedSubject {
            generation,
            subject: snapshot
                .policy
                .compile_subject(&request.user, &request.groups),
        });
        cache.insert(hashes.subject, subject.clone());
        let decision = snapshot
            .policy
            .decide_compiled_ref(&subject.subject, request);
        remember(decision);
        read(answer(decision, Tier::Policy))
    }

    /// Decides a request and explains it, both on the same snapshot; the explanation says
    /// which tier answered.
    pub fn explain(&self, request: &Request) -> Result<(Explanation, Answer), NotLoaded> {
        let snapshot = self.snapshot().ok_or(NotLoaded)?;
        let answer = self.decide_on(&snapshot, request, |decided| decided.into_answer());
        let mut explanation = snapshot.policy.explain(request);
        explanation.tier = Some(answer.tier);
        Ok((explanation, answer))
    }

    /// Hits, misses, sizes and evictions of the tiers.
    pub fn cache_stats(&self) -> CacheStats {
        let decision_entries = self.decisions.as_ref().map_or(0, DecisionCache::len);
        let subject_entries = self.subjects.as_ref().map_or(0, SubjectCache::len);
        self.counters.read(decision_entries, subject_entries)
    }
}

#[cfg(test)]
mod tests;
