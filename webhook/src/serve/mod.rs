//! `scopegate serve`: the authorization webhook kube-apiserver calls on every request.
//!
//! Flow: load the policy (files or the embedded demo) → listen with TLS (or plain HTTP for
//! development) → decide each SubjectAccessReview on the current snapshot → swap in a new
//! snapshot whenever the files change and the new policy is valid.

mod connections;
mod decision_log;
mod errors;
mod linger;
mod metrics;
mod reload;
mod routes;
mod state;
pub(crate) mod tls;

use crate::args::ServeArgs;
use anyhow::{Context, bail};
use decision_log::DecisionLog;
use scopegate_core::PolicyOptions;
use state::{AppState, PolicySource, StateConfig};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Runs the webhook until SIGTERM or Ctrl-C.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let source = if args.policy.is_empty() {
        tracing::warn!("no --policy given: serving the embedded demo policy (examples/policies)");
        PolicySource::EmbeddedDemo
    } else {
        PolicySource::Files(args.policy.clone())
    };
    let state = Arc::new(AppState::new(StateConfig {
        source: source.clone(),
        options: PolicyOptions {
            cluster_name: args.cluster_name.clone(),
        },
        engine: args.engine_config(),
        snapshot_file: args.snapshot_file.clone(),
        decision_log: DecisionLog::new(args.decision_log, args.decision_log_sample),
        max_in_flight: args.max_in_flight,
        body_timeout: Duration::from_secs(args.body_timeout),
    }));
    // A bad policy at start-up is not fatal: the webhook serves the last-known-good snapshot
    // if it has one, or nothing (no opinion, not ready) until the files are fixed, so a
    // rollout never turns into a crash loop.
    if state.reload().is_err() {
        state.serve_snapshot_if_nothing_loaded();
    }

    let _watcher = match &source {
        PolicySource::Files(paths) if !args.no_watch => {
            Some(reload::watch_files(state.clone(), paths.clone())?)
        }
        _ => None,
    };
    reload::reload_on_sighup(state.clone())?;

    let tls = tls_acceptor(args)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %local, "scopegate webhook listening");
    eprintln!(
        "scopegate: listening on {scheme}://{local} (POST /authorize, /explain; GET /healthz, /readyz, /metrics)"
    );

    let app = routes::router(state);
    connections::serve(
        listener,
        tls,
        app,
        Duration::from_secs(args.header_timeout),
        shutdown_signal(),
    )
    .await;
    tracing::info!("scopegate webhook stopped");
    Ok(())
}

fn tls_acceptor(args: &ServeArgs) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    if args.insecure_http {
        tracing::warn!(
            "serving plain HTTP (--insecure-http): for local development only, never for a real API server"
        );
        eprintln!(
            "scopegate: WARNING: --insecure-http serves decisions without TLS; use it only for local development"
        );
        return Ok(None);
    }
    let (cert, key) = match (&args.tls_cert, &args.tls_key, &args.self_signed) {
        (Some(cert), Some(key), _) => (cert.clone(), key.clone()),
        (_, _, Some(dir)) => {
            let files = tls::SelfSigned::ensure(dir)?;
            eprintln!(
                "scopegate: self-signed certificates in {}: trust {} ; client certificate {} with key {}",
                dir.display(),
                files.ca_cert.display(),
                files.client_cert.display(),
                files.client_key.display()
            );
            (files.server_cert, files.server_key)
        }
        _ => bail!(
            "give --tls-cert and --tls-key, or --self-signed DIR, or --insecure-http for local development"
        ),
    };
    let resolver = tls::ReloadingCert::new(cert, key)?;
    resolver.spawn_reloader();
    let config = tls::server_config(resolver, args.client_ca.as_deref())?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

/// Completes on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining connections");
}
