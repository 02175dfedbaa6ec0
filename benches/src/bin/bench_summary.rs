//! `bench_summary`: reads the estimates criterion wrote for `benches/decision.rs` (under
//! `target/criterion`) and prints them as Markdown tables, with the ratios the benchmarks
//! are judged by (linear scan / Scopegate, Cedar / Scopegate, cold-decision growth).
//!
//! ```text
//! cargo bench -p scopegate-benches --bench decision
//! cargo run -p scopegate-benches --bin bench_summary [-- target/criterion]
//! ```

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SIZES: [&str; 4] = ["1k", "10k", "100k", "1m"];
const VARIANTS: [&str; 10] = [
    "l1_hit",
    "l2_hit",
    "l2_miss",
    "cold_policy",
    "cold_policy_ref",
    "cold_engine",
    "cold_engine_with",
    "linear",
    "cedar",
    "cold_policy_cedar_subset",
];
const CLASSES: [&str; 2] = ["allowed", "denied"];

/// Mean and median point estimates, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Estimate {
    mean: f64,
    median: f64,
}

fn read(dir: &Path) -> anyhow::Result<Option<Estimate>> {
    let path = dir.join("new").join("estimates.json");
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let point = |k: &str| json[k]["point_estimate"].as_f64().unwrap_or(f64::NAN);
    Ok(Some(Estimate {
        mean: point("mean"),
        median: point("median"),
    }))
}

/// A duration in nanoseconds, written with a fitting unit.
fn human(ns: f64) -> String {
    if ns.is_nan() {
        "–".to_string()
    } else if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else {
        format!("{:.2} s", ns / 1_000_000_000.0)
    }
}

fn ratio(a: Option<Estimate>, b: Option<Estimate>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.mean > 0.0 => {
            let r = a.mean / b.mean;
            if r >= 100.0 {
                format!("{r:.0}×")
            } else {
                format!("{r:.2}×")
            }
        }
        _ => "–".to_string(),
    }
}

fn main() -> anyhow::Result<()> {
    let root: PathBuf = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    let mut table: BTreeMap<(&str, &str, &str), Estimate> = BTreeMap::new();
    for size in SIZES {
        for variant in VARIANTS {
            for class in CLASSES {
                let dir = root
                    .join(format!("decide_{size}"))
                    .join(variant)
                    .join(class);
                if let Some(e) = read(&dir)? {
                    table.insert((size, variant, class), e);
                }
            }
        }
    }
    let get = |s, v, c| table.get(&(s, v, c)).copied();
    let sizes: Vec<&str> = SIZES
        .iter()
        .copied()
        .filter(|s| VARIANTS.iter().any(|v| get(*s, *v, "allowed").is_some()))
        .collect();

    println!("Mean time per decision (criterion point estimate of the mean; median in brackets)\n");
    print!("| variant | class |");
    for s in &sizes {
        print!(" {s} |");
    }
    println!();
    print!("|---|---|");
    for _ in &sizes {
        print!("---|");
    }
    println!();
    for variant in VARIANTS {
        for class in CLASSES {
            if !sizes.iter().any(|s| get(s, variant, class).is_some()) {
                continue;
            }
            print!("| {variant} | {class} |");
            for s in &sizes {
                match get(s, variant, class) {
                    Some(e) => print!(" {} ({}) |", human(e.mean), human(e.median)),
                    None => print!(" – |"),
                }
            }
            println!();
        }
    }

    println!("\nRatios (of means)\n");
    print!("| ratio | class |");
    for s in &sizes {
        print!(" {s} |");
    }
    println!();
    print!("|---|---|");
    for _ in &sizes {
        print!("---|");
    }
    println!();
    for class in CLASSES {
        print!("| linear / cold_policy | {class} |");
        for s in &sizes {
            print!(
                " {} |",
                ratio(get(s, "linear", class), get(s, "cold_policy", class))
            );
        }
        println!();
    }
    for class in CLASSES {
        print!("| cedar / cold_policy (same requests) | {class} |");
        for s in &sizes {
            // Where Cedar decided a subset, compare with Scopegate on that subset.
            let base =
                get(s, "cold_policy_cedar_subset", class).or_else(|| get(s, "cold_policy", class));
            print!(" {} |", ratio(get(s, "cedar", class), base));
        }
        println!();
    }
    for class in CLASSES {
        print!("| cedar / l1_hit | {class} |");
        for s in &sizes {
            print!(
                " {} |",
                ratio(get(s, "cedar", class), get(s, "l1_hit", class))
            );
        }
        println!();
    }

    for variant in [
        "cold_policy",
        "cold_policy_ref",
        "cold_engine",
        "cold_engine_with",
    ] {
        println!("\nGrowth of a cold decision (`{variant}`, mean) from 10k to 1M bindings\n");
        for class in CLASSES {
            println!(
                "- {class}: {} → {}: {}",
                get("10k", variant, class).map_or("–".into(), |e| human(e.mean)),
                get("1m", variant, class).map_or("–".into(), |e| human(e.mean)),
                ratio(get("1m", variant, class), get("10k", variant, class))
            );
        }
    }

    println!("\nPolicy::compile and reload (mean)\n");
    for s in SIZES {
        if let Some(e) = read(&root.join("compile").join(s))? {
            println!("- compile {s}: {}", human(e.mean));
        }
    }
    if let Some(e) = read(&root.join("reload").join("100k"))? {
        println!(
            "- reload 100k (compile + Engine::replace): {}",
            human(e.mean)
        );
    }
    Ok(())
}
