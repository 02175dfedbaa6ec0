//! Decision latency at 1k, 10k, 100k and 1M bindings, side by side with Cedar and a
//! linear-scan (Kubernetes RBAC style) evaluator on the same requests.
//!
//! ```text
//! cargo bench -p scopegate-benches --bench decision
//! SCOPEGATE_BENCH_SIZES=1k,10k cargo bench -p scopegate-benches --bench decision
//! ```
//!
//! For each selected size, the policy is generated and compiled once; 1,024 requests are
//! drawn (about 70% allowed, 30% that nothing allows) and split by answer. Each benchmark
//! decides the requests of one class in turn, one per iteration, so a figure is the mean
//! over that mix. Groups are `decide_SIZE`, benchmarks `VARIANT/allowed` and
//! `VARIANT/denied`:
//!
//! - `l1_hit`: `Engine::decide` with the default config, every request already cached (L1);
//! - `l2_hit`: `Engine::decide` with only the subject cache, every subject compiled (L2);
//! - `cold_policy`: `Policy::decide`, no cache at all;
//! - `cold_policy_ref`: `Policy::decide_ref`, the same decision borrowed from the policy
//!   (no share of the allowing grant taken: what `Engine::decide_with`, and so the webhook,
//!   uses without caches);
//! - `cold_engine`: `Engine::decide` with `EngineConfig::uncached()`;
//! - `cold_engine_with`: `Engine::decide_with` with `EngineConfig::uncached()`, the answer
//!   read where it is borrowed: what `scopegate serve --no-cache` runs for each review;
//! - `l2_miss`: what the subject cache pays on a miss: `Policy::compile_subject`, then
//!   `Policy::decide_compiled`;
//! - `linear`: [`scopegate_benches::linear`], every binding visited (at 1M, on the first
//!   128 requests of each class: one scan takes tens of milliseconds there);
//! - `cedar`: `cedar_policy::Authorizer::is_authorized` on the translated policy (see
//!   `support/cedar.rs`), on a subset of the requests at the larger sizes
//!   ([`support::cedar_requests_per_class`]).
//!
//! - `cold_policy_cedar_subset`: `Policy::decide` on exactly the requests Cedar decides,
//!   where that is a subset.
//!
//! Before anything is timed, the linear scan and Cedar are checked to give every request
//! they decide the same allowed / no-opinion answer as `Policy::decide`, and the engines'
//! tiers are checked to be the ones a benchmark claims to measure. Where one Cedar decision
//! takes over a second (1M), it is not sampled by criterion: each request is timed once
//! during the check and the means are printed.
//!
//! When 10k and a larger size are both selected, the growth of a decision (cold, L2 hit and
//! L1 hit) is also measured in alternating passes over the 10k policy and the larger one in
//! the same process (so that the machine's load drifts equally on both), on the bench set
//! and on a larger set of 16,384 requests whose index entries do not stay in the CPU caches;
//! printed as `[growth]` lines.
//!
//! Also, group `compile`: `Policy::compile` of the generated objects (1k to 100k), and
//! `reload/100k`: compiling 100k bindings and swapping them into a serving engine
//! (`Engine::replace`).
//!
//! Environment: `SCOPEGATE_BENCH_SIZES` (default `1k,10k,100k,1m`), `SCOPEGATE_BENCH_CEDAR`
//! (default on; `0` skips Cedar), `SCOPEGATE_BENCH_LINEAR` (default on),
//! `SCOPEGATE_CEDAR_REQUESTS` (requests per class Cedar decides).

// The allocator and options `scopegate serve` runs with (webhook/src/main.rs), so that the
// engine is measured with the memory layout it is served with.
scopegate_alloc::use_jemalloc!();

#[allow(dead_code)]
mod support;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use scopegate_benches::{PolicySize, linear};
use scopegate_core::{Engine, EngineConfig, Policy, PolicyOptions, Request, Tier};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Fixture, cedar};

/// Times `decide` over `requests`, one request per iteration, round robin.
fn bench_requests<O>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    variant: &str,
    class: &str,
    requests: &[Request],
    mut decide: impl FnMut(&Request) -> O,
) {
    if requests.is_empty() {
        return;
    }
    group.bench_function(criterion::BenchmarkId::new(variant, class), |b| {
        let mut i = 0usize;
        b.iter(|| {
            let r = &requests[i];
            i += 1;
            if i == requests.len() {
                i = 0;
            }
            black_box(decide(black_box(r)))
        })
    });
}

/// Takes the policy back out of an engine (nothing else holds it).
fn into_policy(engine: Engine) -> Policy {
    let snapshot = engine.snapshot().expect("a policy is loaded");
    drop(engine);
    let snapshot = Arc::try_unwrap(snapshot).expect("the engine was the only other holder");
    Arc::try_unwrap(snapshot.policy).expect("the snapshot was the only holder")
}

/// Decides every request twice through `engine` and checks the second answer: its tier
/// and whether it allows.
fn warm(engine: &Engine, fx: &Fixture, tier: Tier) {
    for r in fx.all_requests() {
        engine.decide(r).expect("loaded");
    }
    for (requests, allowed) in [(&fx.allowed, true), (&fx.denied, false)] {
        for r in requests {
            let answer = engine.decide(r).expect("loaded");
            assert_eq!(answer.tier, tier, "{r:?}");
            assert_eq!(answer.decision.is_allowed(), allowed, "{r:?}");
        }
    }
}

const CLASSES: [&str; 2] = ["allowed", "denied"];

fn class<'f>(fx: &'f Fixture, name: &str) -> &'f [Request] {
    if name == "allowed" {
        &fx.allowed
    } else {
        &fx.denied
    }
}

/// The engine tiers and the cold paths; gives the policy back.
fn scopegate_benches(c: &mut Criterion, fx: &Fixture, policy: Policy) -> Policy {
    let name = format!("decide_{}", fx.size);

    // L1: every request cached.
    let engine = Engine::with_policy(policy, &EngineConfig::default());
    warm(&engine, fx, Tier::DecisionCache);
    let mut group = c.benchmark_group(&name);
    for k in CLASSES {
        bench_requests(&mut group, "l1_hit", k, class(fx, k), |r| engine.decide(r));
    }
    group.finish();
    let policy = into_policy(engine);

    // L2: every subject compiled, no decision cache.
    let l2_only = EngineConfig {
        decision_cache: None,
        ..EngineConfig::default()
    };
    let engine = Engine::with_policy(policy, &l2_only);
    warm(&engine, fx, Tier::SubjectCache);
    let mut group = c.benchmark_group(&name);
    for k in CLASSES {
        bench_requests(&mut group, "l2_hit", k, class(fx, k), |r| engine.decide(r));
    }
    group.finish();
    let policy = into_policy(engine);

    // Cold: the policy itself, then the engine without caches.
    let mut group = c.benchmark_group(&name);
    for k in CLASSES {
        bench_requests(&mut group, "cold_policy", k, class(fx, k), |r| {
            policy.decide(r)
        });
        bench_requests(&mut group, "cold_policy_ref", k, class(fx, k), |r| {
            policy.decide_ref(r).is_allowed()
        });
    }
    group.finish();

    // An L2 miss: compiling the request's subject, then deciding with it.
    let mut group = c.benchmark_group(&name);
    for k in CLASSES {
        bench_requests(&mut group, "l2_miss", k, class(fx, k), |r| {
            let subject = policy.compile_subject(&r.user, &r.groups);
            policy.decide_compiled(&subject, r)
        });
    }
    group.finish();
    let engine = Engine::with_policy(policy, &EngineConfig::uncached());
    warm(&engine, fx, Tier::Policy);
    let mut group = c.benchmark_group(&name);
    for k in CLASSES {
        bench_requests(&mut group, "cold_engine", k, class(fx, k), |r| {
            engine.decide(r)
        });
        bench_requests(&mut group, "cold_engine_with", k, class(fx, k), |r| {
            engine
                .decide_with(r, |answer| answer.decision.is_allowed())
                .expect("loaded")
        });
    }
    group.finish();
    into_policy(engine)
}

/// Settings for benchmarks whose one iteration takes milliseconds or more.
fn slow(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
}

fn linear_benches(c: &mut Criterion, fx: &Fixture, policy: &Policy) {
    // At 1M one scan takes tens of milliseconds: the first requests of each class only.
    let per_class = if fx.size >= PolicySize::M1 {
        128
    } else {
        usize::MAX
    };
    let allowed: Vec<Request> = fx.allowed.iter().take(per_class).cloned().collect();
    let denied: Vec<Request> = fx.denied.iter().take(per_class).cloned().collect();
    let started = Instant::now();
    for r in allowed.iter().chain(&denied) {
        assert_eq!(
            linear::is_allowed(policy, r),
            policy.decide(r).is_allowed(),
            "linear scan and Policy::decide disagree on {r:?}"
        );
    }
    eprintln!(
        "[{}] linear scan agrees with Policy::decide on all {} requests it decides ({} allowed, {} no opinion; checked in {:.1?})",
        fx.size,
        allowed.len() + denied.len(),
        allowed.len(),
        denied.len(),
        started.elapsed()
    );
    let mut group = c.benchmark_group(format!("decide_{}", fx.size));
    if fx.size >= PolicySize::K100 {
        slow(&mut group);
    }
    bench_requests(&mut group, "linear", "allowed", &allowed, |r| {
        linear::decide(policy, r)
    });
    bench_requests(&mut group, "linear", "denied", &denied, |r| {
        linear::decide(policy, r)
    });
    group.finish();
}

fn cedar_benches(c: &mut Criterion, fx: &Fixture, policy: &Policy) {
    let per_class = support::cedar_requests_per_class(fx.size);
    let allowed: Vec<&Request> = fx.allowed.iter().take(per_class).collect();
    let denied: Vec<&Request> = fx.denied.iter().take(per_class).collect();
    let all: Vec<&Request> = allowed.iter().chain(&denied).copied().collect();
    let rss_before = support::rss();
    let started = Instant::now();
    let world = cedar::translate(policy, &all);
    eprintln!(
        "[{}] Cedar: {} templates, {} linked policies, {} entities, built in {:.1?}, RSS +{:.0} MiB",
        fx.size,
        world.templates,
        world.links,
        world.entity_count,
        started.elapsed(),
        support::rss().saturating_sub(rss_before) as f64 / (1024.0 * 1024.0)
    );
    let to_cedar = |list: &[&Request]| -> Vec<cedar_policy::Request> {
        list.iter()
            .map(|r| cedar::cedar_request(policy, r))
            .collect()
    };
    let cedar_allowed = to_cedar(&allowed);
    let cedar_denied = to_cedar(&denied);
    // Verify every request Cedar decides, timing each decision once on the way.
    let mut once = [Duration::ZERO; 2];
    for (k, (list, cedar_list)) in [(&allowed, &cedar_allowed), (&denied, &cedar_denied)]
        .into_iter()
        .enumerate()
    {
        for (r, cr) in list.iter().zip(cedar_list) {
            let started = Instant::now();
            let cedar_allows = world.is_allowed(cr);
            once[k] += started.elapsed();
            assert_eq!(
                cedar_allows,
                policy.decide(r).is_allowed(),
                "Cedar and Policy::decide disagree on {r:?}"
            );
        }
    }
    let mean = |k: usize, n: usize| once[k] / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    eprintln!(
        "[{}] Cedar agrees with Policy::decide on all {} requests it decides ({} allowed, {} no opinion); timed once each: allowed mean {:.1?}, denied mean {:.1?}",
        fx.size,
        all.len(),
        allowed.len(),
        denied.len(),
        mean(0, allowed.len()),
        mean(1, denied.len()),
    );
    // Sampling a decision that takes seconds would take minutes: such sizes keep the
    // single timings above.
    let sample_cedar = mean(0, allowed.len()).max(mean(1, denied.len())) < Duration::from_secs(1);
    if !sample_cedar {
        eprintln!(
            "[{}] Cedar: one decision takes over a second; not sampled by criterion (the single timings above are the figures)",
            fx.size
        );
    }
    let mut group = c.benchmark_group(format!("decide_{}", fx.size));
    slow(&mut group);
    for (class, requests) in [("allowed", &cedar_allowed), ("denied", &cedar_denied)] {
        if requests.is_empty() || !sample_cedar {
            continue;
        }
        group.bench_function(criterion::BenchmarkId::new("cedar", class), |b| {
            let mut i = 0usize;
            b.iter(|| {
                let r = &requests[i];
                i += 1;
                if i == requests.len() {
                    i = 0;
                }
                black_box(world.decide(black_box(r)))
            })
        });
    }
    group.finish();
    // The same Scopegate requests, for a like-for-like ratio on the subset Cedar decides.
    let mut group = c.benchmark_group(format!("decide_{}", fx.size));
    let owned = |list: &[&Request]| -> Vec<Request> { list.iter().map(|r| (*r).clone()).collect() };
    if per_class < fx.allowed.len().max(fx.denied.len()) {
        bench_requests(
            &mut group,
            "cold_policy_cedar_subset",
            "allowed",
            &owned(&allowed),
            |r| policy.decide(r),
        );
        bench_requests(
            &mut group,
            "cold_policy_cedar_subset",
            "denied",
            &owned(&denied),
            |r| policy.decide(r),
        );
    }
    group.finish();
    let started = Instant::now();
    drop(world);
    eprintln!("[{}] Cedar dropped in {:.1?}", fx.size, started.elapsed());
}

fn compile_benches(c: &mut Criterion, fx: &Fixture) {
    let Some(objects) = &fx.objects else {
        return;
    };
    let options = PolicyOptions::default();
    let mut group = c.benchmark_group("compile");
    if fx.size >= PolicySize::K10 {
        slow(&mut group);
    }
    group.bench_function(fx.size.as_str(), |b| {
        b.iter(|| Policy::compile(black_box(objects), &options))
    });
    group.finish();
    if fx.size == PolicySize::K100 {
        // A reload: compile the new snapshot and swap it into a serving engine (the old one
        // is dropped when the swap returns, as in the server).
        let engine =
            Engine::with_policy(Policy::compile(objects, &options), &EngineConfig::default());
        let mut group = c.benchmark_group("reload");
        slow(&mut group);
        group.bench_function(fx.size.as_str(), |b| {
            b.iter(|| engine.replace(Policy::compile(black_box(objects), &options)))
        });
        group.finish();
    }
}

/// Requests per size for the interleaved growth measurement, and its rounds.
const GROWTH_REQUESTS: usize = 16_384;
const GROWTH_ROUNDS: usize = 21;

/// One side of the growth measurement: a policy, engines over it, and requests split by
/// answer.
struct GrowthSide {
    size: PolicySize,
    policy: Policy,
    /// Every tier on, each bench request cached (L1 hits).
    l1: Engine,
    /// L2 only, every subject of both sets compiled (L2 hits).
    l2: Engine,
    /// The fixture's requests (the criterion set), by class.
    bench: [Vec<Request>; 2],
    /// A larger set, drawn with another seed, by class.
    large: [Vec<Request>; 2],
}

impl GrowthSide {
    fn new(fx: &Fixture, policy: Policy) -> Self {
        let mut large = [Vec::new(), Vec::new()];
        for r in fx.plan.requests(GROWTH_REQUESTS, 11) {
            let k = usize::from(!policy.decide(&r).is_allowed());
            large[k].push(r);
        }
        let bench = [fx.allowed.clone(), fx.denied.clone()];
        let l1 = Engine::with_policy(policy.clone(), &EngineConfig::default());
        let l2 = Engine::with_policy(
            policy.clone(),
            &EngineConfig {
                decision_cache: None,
                ..EngineConfig::default()
            },
        );
        for r in bench.iter().flatten() {
            l1.decide(r).expect("loaded");
        }
        for r in bench.iter().chain(&large).flatten() {
            l2.decide(r).expect("loaded");
        }
        GrowthSide {
            size: fx.size,
            policy,
            l1,
            l2,
            bench,
            large,
        }
    }

    /// The engine of `tier`, or `None` for the policy itself.
    fn engine(&self, tier: &str) -> Option<&Engine> {
        match tier {
            "L1 hit" => Some(&self.l1),
            "L2 hit" => Some(&self.l2),
            _ => None,
        }
    }
}

/// Nanoseconds per decision over `requests`, one pass, on `tier` of `side` (`cold`:
/// `Policy::decide`; `cold, borrowed`: `Policy::decide_ref`). Each request is first
/// copied, so that its own data is in cache as a freshly decoded request's is, and only the
/// decision is timed (minus the cost of reading the clock, measured the same way). Also how
/// many answers came from the tier named.
fn pass(side: &GrowthSide, tier: &str, requests: &[Request]) -> (f64, usize) {
    let mut total = Duration::ZERO;
    let mut clock = Duration::ZERO;
    let mut from_tier = 0;
    let engine = side.engine(tier);
    for r in requests {
        let r = black_box(r.clone());
        let started = Instant::now();
        match engine {
            Some(engine) => {
                let answer = black_box(engine.decide(black_box(&r)).expect("loaded"));
                total += started.elapsed();
                let expected = if tier == "L1 hit" {
                    Tier::DecisionCache
                } else {
                    Tier::SubjectCache
                };
                from_tier += usize::from(answer.tier == expected);
            }
            None if tier == "cold, borrowed" => {
                black_box(side.policy.decide_ref(black_box(&r)).is_allowed());
                total += started.elapsed();
                from_tier += 1;
            }
            None => {
                black_box(side.policy.decide(black_box(&r)));
                total += started.elapsed();
                from_tier += 1;
            }
        }
        let started = Instant::now();
        clock += black_box(started).elapsed();
    }
    let ns = total.saturating_sub(clock).as_nanos() as f64 / requests.len().max(1) as f64;
    (ns, from_tier)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The growth of a decision from `small` to `large` bindings, cold and on each cache tier,
/// measured in alternating passes over both sides in one process, so that the machine's load
/// drifts equally on both; the median pass of each side is reported. (L1 on the bench set
/// only: the large set is bigger than the decision cache.)
fn growth(small: &GrowthSide, large: &GrowthSide) {
    type Pick = fn(&GrowthSide, usize) -> &[Request];
    let sets: [(&str, Pick); 2] = [
        ("bench set", |s, k| s.bench[k].as_slice()),
        ("large set", |s, k| s.large[k].as_slice()),
    ];
    for tier in ["cold", "cold, borrowed", "L2 hit", "L1 hit"] {
        for (set, pick) in sets {
            if tier == "L1 hit" && set == "large set" {
                continue;
            }
            for (k, class) in ["allowed", "denied"].into_iter().enumerate() {
                let (a, b) = (pick(small, k), pick(large, k));
                pass(small, tier, a);
                pass(large, tier, b);
                let mut ta = Vec::new();
                let mut tb = Vec::new();
                let mut hits = (0, 0);
                for round in 0..GROWTH_ROUNDS {
                    let (x, y) = if round % 2 == 0 {
                        (pass(small, tier, a), pass(large, tier, b))
                    } else {
                        let y = pass(large, tier, b);
                        (pass(small, tier, a), y)
                    };
                    ta.push(x.0);
                    tb.push(y.0);
                    hits = (hits.0 + x.1, hits.1 + y.1);
                }
                let (ma, mb) = (median(ta), median(tb));
                let share =
                    |h: usize, n: usize| 100.0 * h as f64 / (n * GROWTH_ROUNDS).max(1) as f64;
                eprintln!(
                    "[growth] {tier}, {set}, {class} ({} and {} requests, {GROWTH_ROUNDS} alternating passes, {:.0}% and {:.0}% from the tier): {} {ma:.0} ns, {} {mb:.0} ns, ratio {:.2}",
                    a.len(),
                    b.len(),
                    share(hits.0, a.len()),
                    share(hits.1, b.len()),
                    small.size,
                    large.size,
                    mb / ma
                );
            }
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    let with_cedar = support::flag("SCOPEGATE_BENCH_CEDAR", true);
    let with_linear = support::flag("SCOPEGATE_BENCH_LINEAR", true);
    let sizes = support::sizes();
    // 10k is the base the larger sizes are compared with, in one process.
    let measure_growth =
        sizes.contains(&PolicySize::K10) && sizes.iter().any(|s| *s > PolicySize::K10);
    let mut growth_base: Option<GrowthSide> = None;
    for size in sizes {
        let started = Instant::now();
        let (fx, policy) = Fixture::new(size, size <= PolicySize::K100);
        eprintln!(
            "[{size}] {} grants; objects generated in {:.1?}, compiled in {:.1?}; {} allowed and {} no-opinion requests (fixture in {:.1?})",
            fx.grants,
            fx.generate_time,
            fx.compile_time,
            fx.allowed.len(),
            fx.denied.len(),
            started.elapsed()
        );
        let mut policy = scopegate_benches(&mut c, &fx, policy);
        if size > PolicySize::K10
            && let Some(base) = &growth_base
        {
            let side = GrowthSide::new(&fx, policy);
            growth(base, &side);
            policy = side.policy;
        }
        if with_linear {
            linear_benches(&mut c, &fx, &policy);
        }
        if with_cedar {
            cedar_benches(&mut c, &fx, &policy);
        }
        if measure_growth && size == PolicySize::K10 {
            growth_base = Some(GrowthSide::new(&fx, policy));
        } else {
            drop(policy);
        }
        compile_benches(&mut c, &fx);
    }
    c.final_summary();
}
