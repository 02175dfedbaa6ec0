//! What the cache tiers cost and save on a given access pattern: decides the same request
//! stream through engines with different tiers and prints the mean time per decision.
//!
//! ```text
//! cargo run --release -p scopegate-benches --example cache_mix -- 100k 20000 cyclic
//! cargo run --release -p scopegate-benches --example cache_mix -- 100k 20000 skewed
//! ```
//!
//! `cyclic` replays the distinct requests round robin (the load generator's pattern, the
//! worst case for LRU and TinyLFU once the working set exceeds the capacity); `skewed`
//! draws them with a Zipf-like skew (a few subjects and requests are most of the traffic, as
//! in real clusters).
//!
//! "L1 only" is what `scopegate serve` runs by default; "L1 + L2" is
//! `EngineConfig::default()`, every tier on.

// The allocator and options `scopegate serve` runs with (webhook/src/main.rs), so that the
// engine is measured with the memory layout it is served with.
scopegate_alloc::use_jemalloc!();

use scopegate_benches::{GeneratedPolicy, PolicySize};
use scopegate_core::{Engine, EngineConfig, Policy, PolicyOptions};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = match args.first().map(String::as_str).unwrap_or("100k") {
        "1k" => PolicySize::K1,
        "10k" => PolicySize::K10,
        "1m" => PolicySize::M1,
        _ => PolicySize::K100,
    };
    let distinct: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let skewed = args.get(2).is_some_and(|p| p == "skewed");
    let generated = GeneratedPolicy::new(size, 42);
    let objects = generated.objects();
    let requests = generated.requests(distinct, 7);
    // The stream: 400,000 decisions, indexes into `requests`.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let stream: Vec<usize> = (0..400_000)
        .map(|i| {
            if !skewed {
                return i % distinct;
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // u^4 concentrates on low indexes: about 1/4 of the traffic on the first ~0.4%.
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            ((u * u * u * u) * distinct as f64) as usize % distinct
        })
        .collect();
    let configs = [
        ("uncached", EngineConfig::uncached()),
        (
            "L1 only (webhook)",
            EngineConfig {
                subject_cache: None,
                ..EngineConfig::default()
            },
        ),
        (
            "L2 only",
            EngineConfig {
                decision_cache: None,
                ..EngineConfig::default()
            },
        ),
        ("L1 + L2 (library)", EngineConfig::default()),
    ];
    println!(
        "{size} bindings, {distinct} distinct requests, {} pattern, {} decisions",
        if skewed { "skewed" } else { "cyclic" },
        stream.len()
    );
    for (name, config) in configs {
        let engine = Engine::with_policy(
            Policy::compile(&objects, &PolicyOptions::default()),
            &config,
        );
        // One pass to warm up, then the timed pass.
        for &i in &stream[..stream.len() / 4] {
            let _ = engine.decide(&requests[i]);
        }
        let started = Instant::now();
        let mut allowed = 0usize;
        for &i in &stream {
            allowed += usize::from(
                engine
                    .decide(&requests[i])
                    .is_ok_and(|a| a.decision.is_allowed()),
            );
        }
        let per = started.elapsed().as_secs_f64() / stream.len() as f64;
        let s = engine.cache_stats();
        let rate = |h: u64, m: u64| {
            if h + m == 0 {
                0.0
            } else {
                100.0 * h as f64 / (h + m) as f64
            }
        };
        println!(
            "{name:>20}: {:>6.2} µs/decision  (L1 hit {:>5.1}%, L2 hit {:>5.1}%, evicted {} / {}, allowed {allowed})",
            Duration::from_secs_f64(per).as_secs_f64() * 1e6,
            rate(s.decision_hits, s.decision_misses),
            rate(s.subject_hits, s.subject_misses),
            s.decision_evictions,
            s.subject_evictions
        );
    }
}
