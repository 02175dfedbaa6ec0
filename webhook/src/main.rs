//! The `scopegate` binary: the authorization webhook and the tools around the engine.

mod apiserver_config;
mod args;
mod check;
mod controller;
mod crd;
mod explain;
mod kube_client;
mod policy_files;
mod quick_request;
mod serve;
mod shutdown;
mod validate;

use clap::Parser;
use std::process::ExitCode;

/// jemalloc instead of the system allocator. The engine's answer time depends on memory
/// layout more than on instructions: a large policy is 10^5 to 10^6 small allocations, and
/// with glibc's allocator the objects of each request and each cache entry land in the holes
/// they leave, scattered over hundreds of megabytes (a TLB and cache miss per touch). With
/// jemalloc's size-class slabs they stay dense: at 1M bindings an L1 hit costs what it
/// costs at 10k (95 ns against 370 ns with glibc) and an L2 hit too (BENCHMARKS.md,
/// "Allocator").
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read by jemalloc at start-up (`_RJEM_MALLOC_CONF` in the environment
/// can still override them). Without them an idle server keeps the memory freed after a
/// policy load (the parsed files) for good: jemalloc returns freed pages only as it
/// allocates, after a decay time. A background thread returns them at once. Measured on
/// the 100k-binding policy: 110 MB resident after a load run, against 458 MB without these
/// options and 222 MB with glibc's allocator (BENCHMARKS.md, "Allocator"). Linux only:
/// jemalloc's background threads are not supported everywhere.
#[cfg(target_os = "linux")]
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_OPTIONS: &u8 =
    &b"background_thread:true,max_background_threads:1,dirty_decay_ms:0,muzzy_decay_ms:0\0"[0];

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging(matches!(
        cli.command,
        args::Command::Serve(_) | args::Command::Controller(_)
    ));
    let result = match &cli.command {
        args::Command::Check(a) => check::run(a),
        args::Command::Explain(a) => explain::run(a),
        args::Command::Validate(a) => validate::run(a),
        args::Command::Serve(a) => serve::run(a),
        args::Command::ApiserverConfig(a) => apiserver_config::run(a),
        args::Command::Crd(a) => crd::run(a),
        args::Command::Controller(a) => controller::run_command(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to standard error, filtered by `RUST_LOG`: JSON lines for the server (default
/// level info), plain text for the tools (default level warn).
fn init_logging(server: bool) {
    let default = if server { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if server {
        builder.json().with_current_span(false).init();
    } else {
        builder.init();
    }
}
