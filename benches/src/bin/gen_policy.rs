//! `gen_policy`: writes a generated policy of a given size as multi-document YAML files into
//! a directory, for `scopegate serve --policy DIR` (and `scopegate validate`).
//!
//! ```text
//! gen_policy --size 100k --seed 42 --out /tmp/sg-policy-100k
//! ```

use anyhow::Context;
use clap::Parser;
use scopegate_benches::{GeneratedPolicy, PolicySize};
use std::path::PathBuf;
use std::time::Instant;

/// Writes a deterministic generated Scopegate policy as YAML.
#[derive(Debug, Parser)]
#[command(name = "gen_policy", about)]
struct Args {
    /// Total bindings: 1k, 10k, 100k or 1m.
    #[arg(long, default_value = "10k")]
    size: PolicySize,
    /// Seed of the generator: the same size and seed give the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory to write into (created; must hold no manifest yet).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let plan = GeneratedPolicy::new(args.size, args.seed);
    let files = plan
        .write_yaml_dir(&args.out)
        .with_context(|| format!("cannot write the policy into {}", args.out.display()))?;
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let (users, groups) = plan.distinct_subjects();
    println!(
        "wrote {} bindings ({} users, {} groups, {} namespaces, {} nodes) in {} files, {:.1} MiB, into {} in {:.2} s",
        plan.binding_count(),
        users,
        groups,
        plan.namespace_count(),
        plan.node_count(),
        files.len(),
        bytes as f64 / (1024.0 * 1024.0),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    for (kind, n) in plan.bindings_by_scope() {
        println!("  {:<10} {n:>8} bindings", kind.as_str());
    }
    Ok(())
}
