//! Where the memory of loading a policy goes: resident memory, and its peak, after each
//! step of what `scopegate serve` does with policy files (read them, build the policy, drop
//! the objects read).
//!
//! ```text
//! target/release/gen_policy --size 100k --seed 42 --out /tmp/sg-policy-100k
//! cargo build --release -p scopegate-benches --example load_memory
//! target/release/examples/load_memory /tmp/sg-policy-100k
//! ```
//!
//! The allocator and its options are the ones `scopegate serve` is built with, and the last
//! step returns freed memory as `serve` does after a load. Linux only: it reads
//! `/proc/self/status` and resets the peak through `/proc/self/clear_refs`.

scopegate_alloc::use_jemalloc!();

use std::time::Instant;

/// A `kB` field of `/proc/self/status`, in MB.
fn status_mb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb >> 10)
}

/// Prints resident memory now and its peak since the last step, then resets the peak.
fn step(name: &str, started: Instant) {
    eprintln!(
        "{name:<16} at {:>6.2?}: resident {:>5} MB, peak during the step {:>5} MB",
        started.elapsed(),
        status_mb("VmRSS"),
        status_mb("VmHWM"),
    );
    // "5" resets the peak resident size (proc(5)); without it, peaks are since the start.
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak: {e}");
    }
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: load_memory POLICY_DIR");
        std::process::exit(2);
    };
    let started = Instant::now();
    step("start", started);
    let manifests = match scopegate_core::load::load_paths(&[&dir]) {
        Ok(manifests) => manifests,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    step("files read", started);
    let options = scopegate_core::PolicyOptions::default();
    let policy = match scopegate_core::Policy::from_objects(&manifests.objects, &options) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    step("policy built", started);
    drop(manifests);
    step("objects dropped", started);
    if let Err(e) = scopegate_alloc::return_freed_memory() {
        eprintln!("freed memory not returned: {e}");
    }
    step("freed returned", started);
    std::hint::black_box(&policy);
}
