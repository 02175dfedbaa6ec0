//! Decides N requests in one function, for instruction counts under callgrind:
//!
//! ```text
//! cargo build --release -p scopegate-benches --example decide_n
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_loop*' \
//!     target/release/examples/decide_n policy 100k 10000 denied
//! callgrind_annotate --inclusive=yes callgrind.out.PID | head -40
//! ```
//!
//! `decide_n MODE SIZE N [CLASS [SUBSET]]`: MODE is `baseline` (the loop alone), `policy`
//! (`Policy::decide`), `policy_ref` (`Policy::decide_ref`), `engine` (`Engine` with
//! `EngineConfig::uncached()`), `l1`, `l2` (engine tiers, warmed first), `linear` or
//! `cedar`; SIZE is 1k, 10k, 100k or 1m; CLASS is
//! `allowed`, `denied`, `mixed` (default; the 1,024 requests of the criterion benchmarks)
//! or `large` (16,384 other requests, as in the `[growth]` measurement); SUBSET keeps that
//! many of the class's requests, spread over it. Only `measured_loop` is collected, so its
//! inclusive instruction count divided by N is the cost of one decision (minus the
//! `baseline` mode's per-iteration cost, a few instructions).
//!
//! `decide_n compile SIZE N` instead times, N times each, what `Policy::compile` of the
//! generated objects costs and how much of it is the copy of the objects it is lent.
//!
//! `decide_n probes SIZE 0 [CLASS]` counts, from `Policy::explain`, what a decision of the
//! class looks up on average: chain steps, steps visited before the answer, subject keys
//! (the user and each group) looked up at those steps, and how many of them hold grants
//! there. Times nothing: it says how many of the lookups find nothing.
//!
//! Simulated cache misses per decision (L2 as the last level, 2 MiB):
//!
//! ```text
//! valgrind --tool=callgrind --cache-sim=yes --D1=49152,12,64 --LL=2097152,16,64 \
//!     --collect-atstart=no --toggle-collect='*measured_loop*' \
//!     target/release/examples/decide_n policy_ref 1m 20480 mixed
//! callgrind_annotate --show=Ir,D1mr,DLmr --sort=D1mr callgrind.out.PID | head -30
//! ```
//!
//! `decide_n by_scope SIZE N [CLASS]` groups the requests by the kind of scope that allows
//! them (or `no opinion`) and times `Policy::decide` on each group alone, N decisions each:
//! compared with the whole set, it tells a cost that grows with the policy from one that
//! grows with the working set of many requests together.

// The allocator and options `scopegate serve` runs with (webhook/src/main.rs), so that the
// engine is measured with the memory layout it is served with.
scopegate_alloc::use_jemalloc!();

#[allow(dead_code)]
#[path = "../benches/support/mod.rs"]
mod support;

use scopegate_benches::{PolicySize, linear};
use scopegate_core::{Engine, EngineConfig, Request};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Calls `decide` `n` times, round robin over `len` requests; returns how many allowed.
#[inline(never)]
fn measured_loop(n: usize, len: usize, decide: &mut dyn FnMut(usize) -> bool) -> usize {
    let mut allowed = 0;
    for i in 0..n {
        allowed += usize::from(decide(black_box(i % len)));
    }
    allowed
}

/// [`measured_loop`], timed.
fn timed(n: usize, len: usize, decide: &mut dyn FnMut(usize) -> bool) -> (usize, Duration) {
    let started = Instant::now();
    let allowed = measured_loop(n, len, decide);
    (allowed, started.elapsed())
}

/// Times `PolicyObjects::clone` (the copy `Policy::compile` makes of the objects it is lent)
/// against `Policy::compile` itself and dropping what it built, `rounds` times each.
fn compile_costs(size: PolicySize, rounds: usize) {
    let objects = scopegate_benches::GeneratedPolicy::new(size, support::SEED).objects();
    let options = scopegate_core::PolicyOptions::default();
    for round in 0..rounds {
        let started = Instant::now();
        let copy = black_box(objects.clone());
        let cloned = started.elapsed();
        let started = Instant::now();
        drop(copy);
        let dropped = started.elapsed();
        let started = Instant::now();
        let policy = black_box(scopegate_core::Policy::compile(&objects, &options));
        let compiled = started.elapsed();
        let started = Instant::now();
        drop(policy);
        eprintln!(
            "compile {size} round {round}: clone of the objects {cloned:.1?} (drop {dropped:.1?}), Policy::compile {compiled:.1?}, drop of the policy {:.1?}",
            started.elapsed()
        );
    }
}

/// Averages over `requests` of what their decisions look up (see the module documentation).
fn probe_counts(policy: &scopegate_core::Policy, requests: &[Request]) {
    let mut steps = 0;
    let mut visited = 0;
    let mut steps_with_grants = 0;
    let mut keys = 0;
    let mut keys_with_grants = 0;
    for request in requests {
        let explanation = policy.explain(request);
        steps += explanation.chain.len();
        for visit in explanation.chain.iter().filter(|v| v.visited) {
            visited += 1;
            keys += 1 + request.groups.len();
            steps_with_grants += usize::from(!visit.bindings.is_empty());
            let subjects: std::collections::BTreeSet<_> = visit
                .bindings
                .iter()
                .flat_map(|b| &b.matched_subjects)
                .collect();
            keys_with_grants += subjects.len();
        }
    }
    let per = |count: usize| count as f64 / requests.len().max(1) as f64;
    eprintln!(
        "per decision: {:.2} chain steps, {:.2} visited, {:.2} with grants for the subject; \
         {:.2} subject keys looked up, {:.2} holding grants",
        per(steps),
        per(visited),
        per(steps_with_grants),
        per(keys),
        per(keys_with_grants)
    );
}

/// `requests` grouped by the kind of scope that allows each (`no opinion` for the rest).
fn by_allowing_scope(
    policy: &scopegate_core::Policy,
    requests: &[Request],
) -> std::collections::BTreeMap<&'static str, Vec<Request>> {
    use scopegate_core::model::Scope;
    let mut groups: std::collections::BTreeMap<&'static str, Vec<Request>> = Default::default();
    for r in requests {
        let kind = match policy.decide(r) {
            scopegate_core::Decision::Allowed(a) => match a.grant.scope {
                Scope::Platform => "Platform",
                Scope::Cluster { .. } => "Cluster",
                Scope::Workspace { .. } => "Workspace",
                Scope::NodeGroup { .. } => "NodeGroup",
                Scope::Namespace { .. } => "Namespace",
                Scope::Node { .. } => "Node",
                Scope::Resource { .. } => "Resource",
            },
            scopegate_core::Decision::NoOpinion => "no opinion",
        };
        groups.entry(kind).or_default().push(r.clone());
    }
    groups
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: decide_n MODE SIZE N [allowed|denied|mixed|large [SUBSET]]";
    let mode = args.get(1).expect(usage).as_str();
    let size: PolicySize = args.get(2).expect(usage).parse().expect(usage);
    let n: usize = args.get(3).expect(usage).parse().expect(usage);
    let class = args.get(4).map_or("mixed", String::as_str);
    if mode == "compile" {
        compile_costs(size, n);
        return;
    }

    let (fx, policy) = support::Fixture::new(size, false);
    let requests: Vec<Request> = match class {
        "allowed" => fx.allowed.clone(),
        "denied" => fx.denied.clone(),
        "mixed" => fx.all_requests().cloned().collect(),
        // A larger set whose index entries do not stay in the CPU caches.
        "large" => fx.plan.requests(16_384, 11),
        other => panic!("unknown class {other:?}; {usage}"),
    };
    // A subset spread over the set: how the cost grows with the number of requests.
    let requests: Vec<Request> = match args.get(5) {
        Some(subset) => {
            let subset: usize = subset.parse().expect(usage);
            let step = (requests.len() / subset.max(1)).max(1);
            requests.into_iter().step_by(step).take(subset).collect()
        }
        None => requests,
    };
    let len = requests.len();
    let (allowed, elapsed) = match mode {
        "baseline" => timed(n, len, &mut |i| requests[i].groups.len() > 100),
        "probes" => {
            probe_counts(&policy, &requests);
            return;
        }
        "by_scope" => {
            for (kind, group) in by_allowing_scope(&policy, &requests) {
                let (_, elapsed) = timed(n, group.len(), &mut |i| {
                    policy.decide(&group[i]).is_allowed()
                });
                eprintln!(
                    "by_scope {size} {class}, {kind}: {} requests, {:.0} ns each",
                    group.len(),
                    elapsed.as_nanos() as f64 / n as f64
                );
            }
            return;
        }
        "policy" => timed(n, len, &mut |i| policy.decide(&requests[i]).is_allowed()),
        "policy_ref" => timed(n, len, &mut |i| {
            policy.decide_ref(&requests[i]).is_allowed()
        }),
        "linear" => timed(n, len, &mut |i| linear::is_allowed(&policy, &requests[i])),
        // What an L2 miss costs: compiling the request's subject, then deciding with it.
        "l2_miss" => {
            let scopes: usize = requests
                .iter()
                .map(|r| policy.compile_subject(&r.user, &r.groups).scope_count())
                .sum();
            eprintln!(
                "{:.1} scopes per compiled subject",
                scopes as f64 / len as f64
            );
            timed(n, len, &mut |i| {
                let r = &requests[i];
                let subject = policy.compile_subject(&r.user, &r.groups);
                policy.decide_compiled(&subject, r).is_allowed()
            })
        }
        "engine" | "l1" | "l2" => {
            let config = match mode {
                "engine" => EngineConfig::uncached(),
                "l1" => EngineConfig::default(),
                _ => EngineConfig {
                    decision_cache: None,
                    ..EngineConfig::default()
                },
            };
            let engine = Engine::with_policy(policy, &config);
            for r in &requests {
                engine.decide(r).expect("loaded");
            }
            timed(n, len, &mut |i| {
                engine
                    .decide(&requests[i])
                    .expect("loaded")
                    .decision
                    .is_allowed()
            })
        }
        "cedar" => {
            let refs: Vec<&Request> = requests.iter().collect();
            let started = Instant::now();
            let world = support::cedar::translate(&policy, &refs);
            eprintln!("Cedar translation built in {:.1?}", started.elapsed());
            let cedar: Vec<_> = requests
                .iter()
                .map(|r| support::cedar::cedar_request(&policy, r))
                .collect();
            eprintln!("{} linked policies", world.links);
            timed(n, len, &mut |i| {
                world.decide(&cedar[i]) == cedar_policy::Decision::Allow
            })
        }
        other => panic!("unknown mode {other:?}; {usage}"),
    };
    eprintln!(
        "{mode} {size} {class}: {n} decisions over {len} requests, {allowed} allowed, {elapsed:.1?} in all, {:.0} ns each",
        elapsed.as_nanos() as f64 / n as f64
    );
}
