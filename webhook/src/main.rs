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

// jemalloc as the allocator, its heap on transparent huge pages (see `scopegate_alloc`).
// The engine's answer time depends on memory layout more than on instructions: a large
// policy is 10^5 to 10^6 small allocations. With glibc's allocator the objects of each
// request and each cache entry land in the holes they leave, scattered over hundreds of
// megabytes; jemalloc's size-class slabs keep them dense (an L1 hit at 1M bindings costs
// 95 ns against 370 ns with glibc), and on huge pages an uncached decision at 1M bindings
// costs about a quarter less (BENCHMARKS.md, "Allocator" and "Growth"). The server returns
// what a policy load freed once the load is done (`serve::state`).
scopegate_alloc::use_jemalloc!();

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
