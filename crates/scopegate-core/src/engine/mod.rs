//! The tiered engine: what a server embeds to decide requests fast on a policy that changes.
//!
//! - L1, decisions: a bounded, expiring cache of recent decisions, keyed by the whole request.
//! - L2, compiled subjects: per subject (user plus groups), every grant that can apply,
//!   filed by scope, compiled at the subject's first request and evicted least recently used.
//! - L3, the policy snapshot: the source of truth every tier is derived from.
//!
//! A new snapshot is swapped in atomically; every cached entry carries the generation it was
//! computed on and is never served for another, so no tier can answer with a revoked
//! permission once [`Engine::replace`] has returned. The caches are also cleared then, to free
//! their memory.

mod stats;

pub use stats::{CacheStats, Tier};

use crate::decision::Decision;
use crate::explain::Explanation;
use crate::policy::{CompiledSubject, Policy};
use crate::request::Request;
use arc_swap::ArcSwapOption;
use stats::{Counters, bump};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// Sizes of the cache tiers; `None` switches a tier off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// L1: at most this many decisions, each kept at most this long.
    pub decision_cache: Option<(u64, Duration)>,
    /// L2: at most this many compiled subjects.
    pub subject_cache: Option<u64>,
}

impl Default for EngineConfig {
    /// 10,000 decisions for 300 s (the seed's `authorization.cacheSize`/`cacheTTL`) and
    /// 10,000 compiled subjects.
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

/// Deciding failed: nothing is loaded yet. Never to be taken as an allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no policy is loaded yet")]
pub struct NotLoaded;

/// An L1 entry: the decision and exactly what it depends on (uid and extra do not count).
struct CachedDecision {
    generation: u64,
    user: String,
    groups: Vec<String>,
    action: crate::request::Action,
    decision: Decision,
}

impl CachedDecision {
    fn answers(&self, generation: u64, request: &Request) -> bool {
        self.generation == generation
            && self.user == request.user
            && self.groups == request.groups
            && self.action == request.action
    }
}

struct CachedSubject {
    generation: u64,
    subject: CompiledSubject,
}

type RequestHasher = foldhash::fast::RandomState;

/// The tiered decision engine over a replaceable policy snapshot.
pub struct Engine {
    current: ArcSwapOption<Snapshot>,
    decisions: Option<moka::sync::Cache<u64, Arc<CachedDecision>, foldhash::fast::RandomState>>,
    subjects: Option<moka::sync::Cache<u64, Arc<CachedSubject>, foldhash::fast::RandomState>>,
    hasher: RequestHasher,
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
        let decisions = config.decision_cache.map(|(capacity, ttl)| {
            let c = Arc::clone(&counters);
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .eviction_listener(move |_, _, _| bump(&c.decision_evictions))
                .build_with_hasher(foldhash::fast::RandomState::default())
        });
        let subjects = config.subject_cache.map(|capacity| {
            let c = Arc::clone(&counters);
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .eviction_listener(move |_, _, _| bump(&c.subject_evictions))
                .build_with_hasher(foldhash::fast::RandomState::default())
        });
        Engine {
            current: ArcSwapOption::empty(),
            decisions,
            subjects,
            hasher: RequestHasher::default(),
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
            cache.invalidate_all();
        }
        if let Some(cache) = &self.subjects {
            cache.invalidate_all();
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
    pub fn decide(&self, request: &Request) -> Result<Answer, NotLoaded> {
        let guard = self.current.load();
        let snapshot = guard.as_ref().ok_or(NotLoaded)?;
        let generation = snapshot.generation;
        let key = self.decisions.as_ref().map(|_| self.request_key(request));
        if let (Some(cache), Some(key)) = (&self.decisions, key) {
            match cache.get(&key) {
                Some(hit) if hit.answers(generation, request) => {
                    bump(&self.counters.decision_hits);
                    return Ok(Answer {
                        decision: hit.decision.clone(),
                        tier: Tier::DecisionCache,
                        generation,
                    });
                }
                _ => bump(&self.counters.decision_misses),
            }
        }
        let (decision, tier) = self.decide_uncached_l1(snapshot, request);
        if let (Some(cache), Some(key)) = (&self.decisions, key) {
            let entry = CachedDecision {
                generation,
                user: request.user.clone(),
                groups: request.groups.clone(),
                action: request.action.clone(),
                decision: decision.clone(),
            };
            cache.insert(key, Arc::new(entry));
        }
        Ok(Answer {
            decision,
            tier,
            generation,
        })
    }

    /// Decides below L1: with the compiled subject if L2 is on, else on the snapshot.
    fn decide_uncached_l1(&self, snapshot: &Snapshot, request: &Request) -> (Decision, Tier) {
        let Some(cache) = &self.subjects else {
            return (snapshot.policy.decide(request), Tier::Policy);
        };
        let key = self.subject_key(&request.user, &request.groups);
        if let Some(hit) = cache.get(&key)
            && hit.generation == snapshot.generation
            && hit.subject.is_for(request)
        {
            bump(&self.counters.subject_hits);
            return (
                snapshot.policy.decide_compiled(&hit.subject, request),
                Tier::SubjectCache,
            );
        }
        bump(&self.counters.subject_misses);
        let subject = snapshot
            .policy
            .compile_subject(&request.user, &request.groups);
        let decision = snapshot.policy.decide_compiled(&subject, request);
        cache.insert(
            key,
            Arc::new(CachedSubject {
                generation: snapshot.generation,
                subject,
            }),
        );
        (decision, Tier::Policy)
    }

    /// Decides a request and explains it; the explanation says which tier answered.
    pub fn explain(&self, request: &Request) -> Result<(Explanation, Answer), NotLoaded> {
        let answer = self.decide(request)?;
        let snapshot = self.snapshot().ok_or(NotLoaded)?;
        let mut explanation = snapshot.policy.explain(request);
        explanation.tier = Some(answer.tier);
        Ok((explanation, answer))
    }

    /// Hits, misses, sizes and evictions of the tiers.
    pub fn cache_stats(&self) -> CacheStats {
        let decision_entries = self
            .decisions
            .as_ref()
            .map_or(0, moka::sync::Cache::entry_count);
        let subject_entries = self
            .subjects
            .as_ref()
            .map_or(0, moka::sync::Cache::entry_count);
        self.counters.read(decision_entries, subject_entries)
    }

    fn request_key(&self, request: &Request) -> u64 {
        let mut h = self.hasher.build_hasher();
        request.user.hash(&mut h);
        request.groups.hash(&mut h);
        request.action.hash(&mut h);
        h.finish()
    }

    fn subject_key(&self, user: &str, groups: &[String]) -> u64 {
        let mut h = self.hasher.build_hasher();
        user.hash(&mut h);
        groups.hash(&mut h);
        h.finish()
    }
}
