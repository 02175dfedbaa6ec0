//! How the long-running subcommands (`serve`, `controller`) learn that they must stop.

/// Completes on SIGTERM (how Kubernetes stops a pod) or Ctrl-C, logging `then`: what the
/// caller does next (drain connections, release the Lease).
pub async fn signal(then: &str) {
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
    tracing::info!("shutting down: {then}");
}
