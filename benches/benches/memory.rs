//! Memory per binding and build time, counted exactly by a counting global allocator (a
//! wrapper around the system allocator that tracks live and peak bytes).
//!
//! ```text
//! cargo bench -p scopegate-benches --bench memory
//! SCOPEGATE_BENCH_SIZES=100k cargo bench -p scopegate-benches --bench memory
//! ```
//!
//! For each selected size it prints, as a Markdown table: the live bytes of the compiled
//! `Policy` (allocated by `Policy::compile` and still held after it returns, divided by the
//! number of grants), the transient peak during compiling, the compile time, a reload
//! (compile + `Engine::replace` into an engine serving the previous snapshot), and the same
//! live-bytes figure for the Cedar translation of the policy (`SCOPEGATE_BENCH_CEDAR=0`
//! skips it; at 1M only with `SCOPEGATE_BENCH_CEDAR_1M=1`). One run per figure: times here are single measurements on a shared machine;
//! `benches/decision.rs` has the statistically sampled compile and reload times.

#[allow(dead_code)]
mod support;

use scopegate_benches::{GeneratedPolicy, PolicySize};
use scopegate_core::{Engine, EngineConfig, Policy, PolicyOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The system allocator, counting the bytes it has handed out and not got back.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Restarts peak tracking from the current live bytes.
fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn main() {
    let options = PolicyOptions::default();
    let with_cedar = support::flag("SCOPEGATE_BENCH_CEDAR", true);
    // Cedar at 1M takes about a minute and 7 GB to build; its bytes per binding are the same
    // at every size, so it is measured at 1M only when asked.
    let cedar_1m = support::flag("SCOPEGATE_BENCH_CEDAR_1M", false);
    println!(
        "| size | grants | objects (live) | Policy live | bytes/binding | compile peak (above baseline) | RSS delta | compile | reload (compile + replace) | Cedar live | Cedar bytes/binding | Cedar build |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for size in support::sizes() {
        let plan = GeneratedPolicy::new(size, support::SEED);
        let before_objects = live();
        let objects = plan.objects();
        let objects_bytes = live() - before_objects;

        let before = live();
        let rss_before = support::rss();
        reset_peak();
        let started = Instant::now();
        let policy = Policy::compile(&objects, &options);
        let compile = started.elapsed();
        let policy_bytes = live() - before;
        let transient = peak() - before;
        let rss_delta = support::rss().saturating_sub(rss_before);
        let grants = policy.grants().len();

        // A reload: the engine serves `policy`; compile a new snapshot and swap it in.
        let engine = Engine::with_policy(policy, &EngineConfig::default());
        let started = Instant::now();
        engine.replace(Policy::compile(&objects, &options));
        let reload = started.elapsed();
        drop(objects);

        let cedar = if with_cedar && (size < PolicySize::M1 || cedar_1m) {
            let snapshot = engine.snapshot().expect("loaded");
            let requests: Vec<_> = plan.requests(64, 7);
            let refs: Vec<_> = requests.iter().collect();
            let before = live();
            let started = Instant::now();
            let world = support::cedar::translate(&snapshot.policy, &refs);
            let build = started.elapsed();
            let bytes = live() - before;
            drop(world);
            format!(
                "{} | {:.0} | {:.1?}",
                mib(bytes),
                bytes as f64 / grants as f64,
                build
            )
        } else {
            "not run (SCOPEGATE_BENCH_CEDAR_1M=1) | | ".to_string()
        };
        println!(
            "| {size} | {grants} | {} | {} | {:.0} | {} | {} | {:.1?} | {:.1?} | {cedar} |",
            mib(objects_bytes),
            mib(policy_bytes),
            policy_bytes as f64 / grants as f64,
            mib(transient),
            mib(rss_delta),
            compile,
            reload,
        );
    }
}
