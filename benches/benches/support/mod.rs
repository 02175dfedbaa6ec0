//! What the decision benchmarks, the memory benchmark and the `decide_n` example share: the
//! sizes to run, the policy and request set of one size, and the Cedar translation.

pub mod cedar;

use scopegate_benches::{GeneratedPolicy, PolicySize};
use scopegate_core::{Policy, PolicyObjects, PolicyOptions, Request};
use std::time::{Duration, Instant};

/// The generator seed of every benchmark.
pub const SEED: u64 = 42;

/// Requests drawn per size (about 70% allowed, 30% no opinion).
pub const REQUESTS: usize = 1_024;

/// The sizes selected by `SCOPEGATE_BENCH_SIZES` (e.g. `1k,10k`), every size by default.
pub fn sizes() -> Vec<PolicySize> {
    match std::env::var("SCOPEGATE_BENCH_SIZES") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.parse::<PolicySize>()
                    .unwrap_or_else(|e| panic!("SCOPEGATE_BENCH_SIZES: {e}"))
            })
            .collect(),
        _ => PolicySize::ALL.to_vec(),
    }
}

/// Whether an environment flag is on (`1`, `true`, `yes`); `default` when unset.
pub fn flag(name: &str, default: bool) -> bool {
    match std::env::var(name) {
        Ok(v) => matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"),
        Err(_) => default,
    }
}

/// One size's generated policy and requests (the compiled policy is handed out beside it,
/// so that it can be moved into engines and back).
pub struct Fixture {
    /// The size.
    pub size: PolicySize,
    /// The generator's plan.
    pub plan: GeneratedPolicy,
    /// The policy objects, kept only when asked for (they are large at 1M).
    pub objects: Option<PolicyObjects>,
    /// Grants in the compiled policy.
    pub grants: usize,
    /// How long generating the objects took.
    pub generate_time: Duration,
    /// How long `Policy::compile` took, once.
    pub compile_time: Duration,
    /// Requests the policy allows.
    pub allowed: Vec<Request>,
    /// Requests nothing allows (no opinion).
    pub denied: Vec<Request>,
}

impl Fixture {
    /// Generates and compiles the policy of `size` and draws its requests, checking each
    /// against the answer the generator expects.
    pub fn new(size: PolicySize, keep_objects: bool) -> (Self, Policy) {
        let plan = GeneratedPolicy::new(size, SEED);
        let started = Instant::now();
        let objects = plan.objects();
        let generate_time = started.elapsed();
        let started = Instant::now();
        let policy = Policy::compile(&objects, &PolicyOptions::default());
        let compile_time = started.elapsed();
        let objects = keep_objects.then_some(objects);
        // What `scopegate serve` does after a load, so that the policy is laid out as served.
        if let Err(e) = scopegate_alloc::return_freed_memory() {
            eprintln!("freed memory not returned: {e}");
        }
        let mut allowed = Vec::new();
        let mut denied = Vec::new();
        for r in plan.labelled_requests(REQUESTS, 7) {
            let is_allowed = policy.decide(&r.request).is_allowed();
            assert_eq!(
                is_allowed,
                r.expected.is_allowed(),
                "{:?}: generator and policy disagree",
                r.request
            );
            if is_allowed {
                allowed.push(r.request);
            } else {
                denied.push(r.request);
            }
        }
        let fixture = Fixture {
            size,
            plan,
            objects,
            grants: policy.grants().len(),
            generate_time,
            compile_time,
            allowed,
            denied,
        };
        (fixture, policy)
    }

    /// Every request, allowed ones first.
    pub fn all_requests(&self) -> impl Iterator<Item = &Request> {
        self.allowed.iter().chain(&self.denied)
    }
}

/// The resident set size of this process, from /proc (0 where there is none).
pub fn rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// How many requests of each class (allowed, no opinion) Cedar decides at a size: all of
/// them while a decision is cheap, fewer where one takes milliseconds, so that verifying
/// every one of them stays within seconds. Overridden by `SCOPEGATE_CEDAR_REQUESTS`.
pub fn cedar_requests_per_class(size: PolicySize) -> usize {
    if let Ok(v) = std::env::var("SCOPEGATE_CEDAR_REQUESTS")
        && let Ok(n) = v.trim().parse()
    {
        return n;
    }
    match size {
        PolicySize::K1 => REQUESTS,
        PolicySize::K10 => 32,
        PolicySize::K100 => 8,
        PolicySize::M1 => 2,
    }
}
