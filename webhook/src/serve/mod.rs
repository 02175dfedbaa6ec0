//! `scopegate serve`: the authorization webhook kube-apiserver calls on every request.
//!
//! Flow: load the policy (files, the embedded demo, or a cluster's objects watched, with files
//! beside them) → listen with TLS (or plain HTTP for development) → decide each
//! SubjectAccessReview on the current snapshot → swap in a new snapshot whenever the files
//! or the watched objects change (an object with an error grants nothing; a broken file
//! counts with its last clean contents: `problems.rs`, `scopegate_core::load::PolicyFiles`).

mod connections;
mod decision_log;
mod errors;
mod linger;
mod metrics;
mod ops;
mod problems;
mod reload;
mod routes;
mod source;
mod state;
pub(crate) mod tls;
mod watch_metrics;

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
    let source = if args.watches_cluster() {
        PolicySource::Cluster {
            files: args.policy.clone(),
        }
    } else if args.policy.is_empty() {
        tracing::warn!("no --policy given: serving the embedded demo policy (examples/policies)");
        PolicySource::EmbeddedDemo
    } else {
        PolicySource::Files(args.policy.clone())
    };
    let mut state = AppState::new(StateConfig {
        source: source.clone(),
        options: PolicyOptions {
            cluster_name: args.cluster_name.clone(),
        },
        engine: args.engine_config(),
        snapshot_file: args.snapshot_file.clone(),
        decision_log: DecisionLog::new(args.decision_log, args.decision_log_sample),
        max_in_flight: args.max_in_flight,
        body_timeout: Duration::from_secs(args.body_timeout),
    });
    // `--controllers`: their metrics join this registry, before the state is shared.
    let controller_metrics = args.controller.controllers.then(|| {
        scopegate_kube::controller::ControllerMetrics::register(state.metrics.registry_mut())
    });
    let state = Arc::new(state);
    // No readable policy file at start-up is not fatal: the webhook serves the last-known-good
    // snapshot if it has one, or nothing (no opinion, not ready) until a file can be read, so
    // a rollout never turns into a crash loop.
    // With a cluster, files wait in the store for the first complete list, and a watch that
    // fails before it makes the webhook serve the snapshot (source::run_watch).
    if state.reload().is_err() && state.cluster.is_none() {
        state.serve_snapshot_if_nothing_loaded();
    }
    let _watch = if state.cluster.is_some() {
        Some(watch_cluster(args, &state).await?)
    } else {
        None
    };

    let _watcher = match &source {
        PolicySource::Files(paths) | PolicySource::Cluster { files: paths }
            if !args.no_watch && !paths.is_empty() =>
        {
            Some(reload::watch_files(state.clone(), paths.clone())?)
        }
        _ => None,
    };
    reload::reload_on_sighup(state.clone())?;
    let _controllers = match controller_metrics {
        Some(metrics) => Some(
            crate::controller::spawn_in_serve(
                args.kubeconfig.as_deref(),
                &args.cluster_name,
                &args.controller.settings,
                metrics,
            )
            .await?,
        ),
        None => None,
    };

    let tls = webhook_tls(args)?;
    // Bound (and announced) before the webhook port, so that once the webhook's line is
    // printed, both are.
    let ops_listener = match args.ops_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--ops-listen)"))?;
            let local = listener.local_addr()?;
            tracing::info!(address = %local, "scopegate ops endpoints listening");
            eprintln!(
                "scopegate: ops listening on http://{local} (GET /healthz, /readyz, /metrics)"
            );
            Some(listener)
        }
        None => None,
    };
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
    // One signal stops both listeners; each drains its own connections.
    let (stop, stopping) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        crate::shutdown::signal("draining connections").await;
        drop(stop);
    });
    let stopped = |mut stopping: tokio::sync::watch::Receiver<()>| async move {
        // Completes when the sender is dropped.
        while stopping.changed().await.is_ok() {}
    };
    let header_timeout = Duration::from_secs(args.header_timeout);
    let ops_app = ops::router(app.clone());
    let ops_stopped = stopped(stopping.clone());
    let ops = async move {
        if let Some(listener) = ops_listener {
            connections::serve(listener, None, ops_app, header_timeout, ops_stopped).await;
        }
    };
    let webhook = connections::serve(listener, tls, app, header_timeout, stopped(stopping));
    tokio::join!(webhook, ops);
    tracing::info!("scopegate webhook stopped");
    Ok(())
}

/// Starts watching the cluster (`--kubeconfig`, or found as kubectl finds it), feeding the
/// state's store, and writing the last-known-good snapshot as the policy changes. The
/// returned tasks stop when dropped.
async fn watch_cluster(args: &ServeArgs, state: &Arc<AppState>) -> anyhow::Result<WatchTasks> {
    let client = crate::kube_client::connect(args.kubeconfig.as_deref()).await?;
    let watch = scopegate_kube::watch::PolicyWatch::start(&client);
    tracing::info!(
        kinds = scopegate_kube::watch::WATCHED_KINDS.len(),
        "watching the cluster for policy; ready once every kind has been listed"
    );
    let feed = tokio::spawn(source::run_watch(Arc::clone(state), watch));
    let snapshots = tokio::spawn(source::write_snapshots(Arc::clone(state)));
    Ok(WatchTasks(vec![feed, snapshots]))
}

/// Background tasks aborted when dropped.
struct WatchTasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for WatchTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

fn webhook_tls(args: &ServeArgs) -> anyhow::Result<Option<Arc<tls::ReloadingTls>>> {
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
    let tls = tls::ReloadingTls::new(tls::ReloadingCert::new(cert, key)?, args.client_ca.clone())?;
    tls.spawn_reloader();
    Ok(Some(tls))
}
