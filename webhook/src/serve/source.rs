//! The policy when it comes from the cluster: one [`PolicyStore`] fed by the watches
//! (`scopegate_kube::watch`) and, with `--policy` too, by file reloads.
//!
//! Flow: the watches' updates → [`run_watch`] takes whatever has arrived together as one
//! batch → [`ClusterSource::apply_updates`] applies it to the store (a re-list replaces the
//! kind, a change touches one object) → once every kind has been listed, one policy snapshot
//! per batch is served. A burst of events costs one snapshot.
//!
//! - **Errors are local, from either origin**: an object with an error grants nothing and
//!   the rest is served; problems are counted in `scopegate_store_policy_errors` and reported
//!   by the state ([`super::problems`]). Files and cluster objects decide alike.
//! - **Files** are read as without a cluster (`scopegate_core::load::PolicyFiles`: a file that
//!   cannot be read counts with its last clean contents). Until every kind has been listed,
//!   files wait: they join a complete cluster, not half of one.
//! - **Ready once every kind has been listed**; after that a failing watch leaves the webhook
//!   ready, deciding on what it has, and `/readyz` and the metrics say which kinds fail.

use super::state::{AppState, rfc3339};
use super::watch_metrics::WatchMetrics;
use scopegate_core::{
    Change, ChangeEffect, ObjectKind, ObjectList, Origin, Policy, PolicyObjects, PolicyOptions,
    PolicyStore, Severity,
};
use scopegate_kube::watch::{PolicyWatch, WATCHED_KINDS, WatchUpdate};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// At most this many updates are applied as one batch (one snapshot).
const MAX_BATCH: usize = 10_000;

/// How often the last-known-good snapshot is written at most, while the policy changes.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(5);

/// One kind's watch, as `/readyz` shows it.
#[derive(Clone, Debug, Default)]
struct KindStatus {
    /// Listed completely at least once.
    synced: bool,
    /// When it was last listed completely.
    listed_at: Option<SystemTime>,
    /// Since when it has been failing (cleared by its next complete list).
    failing_since: Option<SystemTime>,
    /// Its last failure, kept after recovery.
    last_error: Option<(SystemTime, String)>,
}

/// The store and what goes with it, changed under one lock so snapshots are served in the
/// order they were built.
struct Inner {
    store: PolicyStore,
    /// Every kind has been listed once (the store holds a whole cluster).
    synced: bool,
    /// Files read before the cluster was synced, waiting to join it.
    pending_files: Option<PolicyObjects>,
}

/// What a batch of watch updates led to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The generation served, if a new snapshot was.
    pub served: Option<u64>,
    /// Whether files that waited for the first sync joined the policy.
    pub pending_files: bool,
}

/// The cluster-fed policy source: the store, the watches' health, and their metrics.
pub struct ClusterSource {
    inner: Mutex<Inner>,
    kinds: Mutex<BTreeMap<ObjectKind, KindStatus>>,
    /// The source's metrics.
    pub metrics: WatchMetrics,
    snapshot_due: AtomicBool,
}

impl ClusterSource {
    /// A source with an empty store, building policies with `options`.
    pub fn new(options: PolicyOptions) -> Self {
        let metrics = WatchMetrics::default();
        for kind in WATCHED_KINDS {
            metrics
                .synced
                .get_or_create(&WatchMetrics::kind(kind))
                .set(0);
            metrics
                .healthy
                .get_or_create(&WatchMetrics::kind(kind))
                .set(1);
        }
        ClusterSource {
            inner: Mutex::new(Inner {
                store: PolicyStore::new(options),
                synced: false,
                pending_files: None,
            }),
            kinds: Mutex::new(
                WATCHED_KINDS
                    .iter()
                    .map(|&k| (k, KindStatus::default()))
                    .collect(),
            ),
            metrics,
            snapshot_due: AtomicBool::new(false),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn kinds(&self) -> MutexGuard<'_, BTreeMap<ObjectKind, KindStatus>> {
        self.kinds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether every kind has been listed at least once.
    pub fn is_synced(&self) -> bool {
        self.kinds().values().all(|k| k.synced)
    }

    /// Applies a batch of watch updates and, once every kind has been listed and something
    /// changed, builds one snapshot and hands it to `serve` (which returns its generation).
    pub fn apply_updates(
        &self,
        updates: Vec<WatchUpdate>,
        serve: impl FnOnce(Policy) -> u64,
    ) -> BatchOutcome {
        let started = Instant::now();
        let mut inner = self.inner();
        let mut effect = ChangeEffect::default();
        let mut merge = |e: ChangeEffect| {
            effect.changed |= e.changed;
            effect.bindings_recompiled += e.bindings_recompiled;
        };
        for update in updates {
            match update {
                WatchUpdate::Listed { kind, objects } => {
                    let n = objects.len();
                    self.metrics.count_events(kind, "listed", n);
                    merge(inner.store.replace_kind(Origin::Cluster, kind, objects));
                    self.listed(kind);
                    tracing::info!(kind = %kind, objects = n, "watch: listed");
                }
                WatchUpdate::Applied(object) => {
                    self.metrics.count_events(object.kind(), "applied", 1);
                    merge(inner.store.apply(Origin::Cluster, Change::Apply(*object)));
                }
                WatchUpdate::Deleted(object) => {
                    self.metrics.count_events(object.kind, "deleted", 1);
                    merge(inner.store.apply(Origin::Cluster, Change::Delete(object)));
                }
                WatchUpdate::Unreadable { object, error } => {
                    self.metrics.count_events(object.kind, "unreadable", 1);
                    tracing::warn!(object = %object, error = %error, "watch: an object that cannot be read is left out and grants nothing");
                }
                WatchUpdate::Failed { kind, error } => self.failed(kind, &error),
            }
        }
        let mut outcome = BatchOutcome::default();
        let first_sync = !inner.synced && self.is_synced();
        if first_sync {
            inner.synced = true;
            tracing::info!(
                objects = inner.store.len(),
                "watch: every kind listed; the cluster's policy is served"
            );
            if let Some(files) = inner.pending_files.take() {
                merge(inner.store.replace_origin_with(Origin::Files, files));
                outcome.pending_files = true;
            }
        }
        self.metrics
            .bindings_recompiled
            .inc_by(u64::try_from(effect.bindings_recompiled).unwrap_or(u64::MAX));
        if inner.synced && (effect.changed || first_sync) {
            let policy = inner.store.policy();
            outcome.served = Some(self.serve_locked(&mut inner, policy, serve));
            self.metrics
                .update_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        outcome
    }

    /// Puts what the files hold into the store, beside the cluster's objects, and serves the
    /// result. Before the first sync the files wait (`None`).
    pub fn replace_files(
        &self,
        files: PolicyObjects,
        serve: impl FnOnce(Policy) -> u64,
    ) -> Option<u64> {
        let mut inner = self.inner();
        if !inner.synced {
            inner.pending_files = Some(files);
            tracing::info!(
                "policy files read; they join the policy once every kind has been listed"
            );
            return None;
        }
        let effect = inner.store.replace_origin_with(Origin::Files, files);
        self.metrics
            .bindings_recompiled
            .inc_by(u64::try_from(effect.bindings_recompiled).unwrap_or(u64::MAX));
        if !effect.changed {
            return None;
        }
        let policy = inner.store.policy();
        Some(self.serve_locked(&mut inner, policy, serve))
    }

    /// Serves `policy` while the store is locked, so generations follow the store's order.
    fn serve_locked(
        &self,
        _locked: &mut Inner,
        policy: Policy,
        serve: impl FnOnce(Policy) -> u64,
    ) -> u64 {
        self.count_errors(&policy);
        let generation = serve(policy);
        self.snapshot_due.store(true, Ordering::Release);
        generation
    }

    /// Counts the policy's errors (the state logs and reports them, `super::problems`).
    fn count_errors(&self, policy: &Policy) {
        let errors = policy
            .diagnostics()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        self.metrics
            .policy_errors
            .set(i64::try_from(errors).unwrap_or(i64::MAX));
    }

    fn listed(&self, kind: ObjectKind) {
        let now = SystemTime::now();
        let mut kinds = self.kinds();
        let status = kinds.entry(kind).or_default();
        if status.failing_since.take().is_some() {
            tracing::info!(kind = %kind, "watch: listed again after a failure; healthy");
        }
        status.synced = true;
        status.listed_at = Some(now);
        let label = WatchMetrics::kind(kind);
        self.metrics.relists.get_or_create(&label).inc();
        self.metrics.synced.get_or_create(&label).set(1);
        self.metrics.healthy.get_or_create(&label).set(1);
        self.metrics.last_sync.get_or_create(&label).set(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
    }

    fn failed(&self, kind: ObjectKind, error: &str) {
        let now = SystemTime::now();
        let mut kinds = self.kinds();
        let status = kinds.entry(kind).or_default();
        status.failing_since.get_or_insert(now);
        status.last_error = Some((now, error.to_string()));
        let label = WatchMetrics::kind(kind);
        self.metrics.errors.get_or_create(&label).inc();
        self.metrics.healthy.get_or_create(&label).set(0);
        tracing::warn!(kind = %kind, error = %error, "watch failed; listing again after a backoff, deciding on what is held meanwhile");
    }

    /// Whether a snapshot was served since the last call (the last-known-good file is due).
    pub fn take_snapshot_due(&self) -> bool {
        self.snapshot_due.swap(false, Ordering::AcqRel)
    }

    /// Every object in the store, for the last-known-good file.
    pub fn object_list(&self) -> ObjectList {
        self.inner().store.object_list()
    }

    /// The watches as `/readyz` shows them under `source.cluster`.
    pub fn status_json(&self) -> Value {
        let kinds = self.kinds();
        let synced = kinds.values().all(|k| k.synced);
        let unsynced: Vec<&str> = kinds
            .iter()
            .filter(|(_, s)| !s.synced)
            .map(|(k, _)| k.as_str())
            .collect();
        let failing: Vec<&str> = kinds
            .iter()
            .filter(|(_, s)| s.failing_since.is_some())
            .map(|(k, _)| k.as_str())
            .collect();
        let since = kinds.values().filter_map(|s| s.failing_since).min();
        let last_error = kinds
            .iter()
            .filter_map(|(k, s)| s.last_error.as_ref().map(|(at, e)| (at, k, e)))
            .max_by_key(|(at, _, _)| **at)
            .map(|(at, kind, message)| {
                json!({"kind": kind.as_str(), "message": message, "at": rfc3339(*at)})
            });
        let last_sync = kinds.values().filter_map(|s| s.listed_at).max();
        let per_kind: serde_json::Map<String, Value> = kinds
            .iter()
            .map(|(k, s)| {
                (
                    k.as_str().to_string(),
                    json!({
                        "synced": s.synced,
                        "healthy": s.failing_since.is_none(),
                        "lastListedAt": s.listed_at.map(rfc3339),
                        "lastError": s.last_error.as_ref().map(|(_, e)| e),
                    }),
                )
            })
            .collect();
        json!({
            "synced": synced,
            "healthy": failing.is_empty(),
            "notSynced": unsynced,
            "failing": failing,
            "since": since.map(rfc3339),
            "lastError": last_error,
            "lastSyncAt": last_sync.map(rfc3339),
            "kinds": per_kind,
        })
    }
}

/// Feeds the watches' updates to the state's cluster source until the watches stop: what has
/// arrived together is one batch (one snapshot). A watch failing before the first sync makes
/// the webhook serve its last-known-good snapshot, if it has one and serves nothing yet.
pub async fn run_watch(state: Arc<AppState>, mut watch: PolicyWatch) {
    while let Some(first) = watch.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match watch.try_recv() {
                Some(update) => batch.push(update),
                None => break,
            }
        }
        let failed = batch
            .iter()
            .any(|u| matches!(u, WatchUpdate::Failed { .. }));
        let worker = Arc::clone(&state);
        // Building a snapshot is CPU work: off the async workers that serve requests.
        let applied = tokio::task::spawn_blocking(move || {
            worker.apply_watch_updates(batch);
            if failed {
                worker.serve_snapshot_if_nothing_loaded();
            }
        })
        .await;
        if let Err(e) = applied {
            tracing::error!(error = %e, "applying watch updates failed");
        }
    }
    tracing::warn!("every watch stopped");
}

/// Writes the last-known-good snapshot after the policy changed, at most every
/// [`SNAPSHOT_INTERVAL`].
pub async fn write_snapshots(state: Arc<AppState>) {
    let mut ticks = tokio::time::interval(SNAPSHOT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let worker = Arc::clone(&state);
        if let Err(e) = tokio::task::spawn_blocking(move || worker.write_cluster_snapshot()).await {
            tracing::error!(error = %e, "writing the last-known-good snapshot failed");
        }
    }
}

#[cfg(test)]
mod tests;
