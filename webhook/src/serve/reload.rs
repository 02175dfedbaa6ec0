//! Keeping the served policy in step with its files: a watch on every policy path, and
//! SIGHUP, each leading to a whole reload that is swapped in only if it is valid.

use super::state::AppState;
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Changes arriving within this window are reloaded once (an editor's save is several events).
const DEBOUNCE: Duration = Duration::from_millis(10);

/// Reloads in the background, off the request threads.
async fn reload_now(state: &Arc<AppState>) {
    let state = Arc::clone(state);
    if let Err(e) = tokio::task::spawn_blocking(move || state.reload()).await {
        tracing::error!(error = %e, "policy reload task failed");
    }
}

/// Watches the policy paths; the returned watcher must be kept alive.
pub fn watch_files(
    state: Arc<AppState>,
    paths: Vec<PathBuf>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watched: Vec<PathBuf> = paths
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let filter = watched.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        let relevant = event
            .paths
            .iter()
            .any(|changed| filter.iter().any(|p| changed.starts_with(p)));
        if relevant {
            let _ = tx.send(());
        }
    })?;
    for path in &watched {
        if path.is_dir() {
            watcher.watch(path, RecursiveMode::Recursive)?;
        } else {
            // Editors and ConfigMap updates replace files by renaming: watch the directory.
            let parent = path
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            watcher.watch(&parent, RecursiveMode::NonRecursive)?;
        }
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            reload_now(&state).await;
        }
    });
    Ok(watcher)
}

/// Reloads on every SIGHUP.
pub fn reload_on_sighup(state: Arc<AppState>) -> anyhow::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the policy");
            reload_now(&state).await;
        }
    });
    Ok(())
}
