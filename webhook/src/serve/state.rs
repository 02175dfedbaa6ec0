//! What the webhook serves from: the current policy snapshot (swapped atomically on
//! reload), where it came from, the last reload error, metrics and the decision log. With a
//! cluster to watch, the policy is kept in the [`ClusterSource`]'s store, which file reloads
//! feed too.

use super::decision_log::DecisionLog;
use super::metrics::{Metrics, OutcomeLabel};
use super::problems::PolicyProblems;
use super::source::ClusterSource;
use arc_swap::ArcSwapOption;
use scopegate_core::load::{FilesRead, PolicyFiles, load_paths, parse_str};
use scopegate_core::{
    Engine, EngineConfig, ObjectList, Origin, Policy, PolicyObjects, PolicyOptions, PolicyStore,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::Semaphore;

/// The demo policy (examples/policies), compiled into the binary for a first run.
pub const EMBEDDED_DEMO_POLICY: &str = include_str!(concat!(env!("OUT_DIR"), "/demo-policy.yaml"));

/// Where the policy is read from.
#[derive(Clone, Debug)]
pub enum PolicySource {
    /// Manifest files and directories.
    Files(Vec<PathBuf>),
    /// The demo policy compiled into the binary.
    EmbeddedDemo,
    /// The cluster's objects, watched, and these manifest files (maybe none) beside them.
    Cluster {
        /// Manifest files and directories served together with the cluster's objects.
        files: Vec<PathBuf>,
    },
}

/// Where the policy being served was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ServedFrom {
    /// The policy files.
    Files,
    /// The demo compiled into the binary.
    Embedded,
    /// The last-known-good snapshot on disk, because the source could not be loaded.
    Snapshot,
    /// The cluster's objects, as watched.
    Cluster,
    /// Policy files and the cluster's objects together.
    FilesAndCluster,
}

/// When and from where the policy being served was loaded.
#[derive(Clone, Debug)]
pub struct LoadInfo {
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Where it was read from.
    pub from: ServedFrom,
}

/// The last reload that was refused (no policy file could be read at all), while an older
/// policy kept serving.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadFailure {
    /// When it failed, as RFC 3339.
    pub at: String,
    /// Every problem, one per line, each naming file, line and field.
    pub message: String,
}

/// Everything the handlers share.
pub struct AppState {
    /// The tiered engine deciding on the current policy.
    pub engine: Arc<Engine>,
    /// When and from where the current policy was loaded; `None` until a load succeeds.
    pub loaded: ArcSwapOption<LoadInfo>,
    /// The last refused reload, cleared by the next success.
    pub last_reload_error: Mutex<Option<ReloadFailure>>,
    /// What is wrong with the files and objects of the policy being served.
    pub problems: PolicyProblems,
    /// The policy files, with the last clean contents of each (none for the embedded demo).
    files: Mutex<PolicyFiles>,
    /// Where the policy comes from.
    pub source: PolicySource,
    /// How the policy is built.
    pub options: PolicyOptions,
    /// Where the objects of the policy served are kept on disk, if anywhere.
    pub snapshot_file: Option<PathBuf>,
    /// Metrics.
    pub metrics: Metrics,
    /// The decision log.
    pub decision_log: DecisionLog,
    /// Bounds the requests decided at once.
    pub in_flight: Semaphore,
    /// Time a client has to send its body.
    pub body_timeout: std::time::Duration,
    /// The watched cluster's store and watch health, when the policy comes from a cluster.
    pub cluster: Option<Arc<ClusterSource>>,
    reload_lock: Mutex<()>,
}

/// How the webhook's state is set up.
pub struct StateConfig {
    /// Where the policy comes from.
    pub source: PolicySource,
    /// How the policy is built.
    pub options: PolicyOptions,
    /// The cache tiers.
    pub engine: EngineConfig,
    /// Where to keep the objects of the policy served on disk.
    pub snapshot_file: Option<PathBuf>,
    /// The decision log.
    pub decision_log: DecisionLog,
    /// At most this many requests decided at once.
    pub max_in_flight: usize,
    /// Time a client has to send its body.
    pub body_timeout: std::time::Duration,
}

impl AppState {
    /// A state with no policy loaded yet.
    pub fn new(config: StateConfig) -> Self {
        let engine = Arc::new(Engine::new(&config.engine));
        let cluster = matches!(config.source, PolicySource::Cluster { .. })
            .then(|| Arc::new(ClusterSource::new(config.options.clone())));
        let mut metrics = Metrics::new(Arc::clone(&engine));
        if let Some(cluster) = &cluster {
            cluster.metrics.register(metrics.registry_mut());
        }
        let problems = PolicyProblems::default();
        problems.register(metrics.registry_mut());
        let files = match &config.source {
            PolicySource::Files(paths) | PolicySource::Cluster { files: paths } => {
                PolicyFiles::new(paths.clone())
            }
            PolicySource::EmbeddedDemo => PolicyFiles::default(),
        };
        AppState {
            problems,
            files: Mutex::new(files),
            metrics,
            engine,
            loaded: ArcSwapOption::empty(),
            last_reload_error: Mutex::new(None),
            source: config.source,
            options: config.options,
            snapshot_file: config.snapshot_file,
            decision_log: config.decision_log,
            in_flight: Semaphore::new(config.max_in_flight.max(1)),
            body_timeout: config.body_timeout,
            cluster,
            reload_lock: Mutex::new(()),
        }
    }

    /// Loads the policy from its source and swaps it in: requests already deciding finish on
    /// the old snapshot, new ones see the new one, and no cache tier answers from the old one
    /// again. Errors are local: an object with an error grants nothing, and a file that cannot
    /// be read counts with its last clean contents (see [`PolicyFiles`]); both are reported in
    /// `/readyz`, the metrics and the log. Only a read that finds no policy file it can read
    /// at all is refused: the old policy keeps serving and the error is kept for `/readyz`.
    pub fn reload(&self) -> Result<u64, String> {
        // One reload at a time, so generations are handed out in the order policies load.
        let _guard = self
            .reload_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = match &self.cluster {
            Some(cluster) => self.reload_files_into(cluster),
            None => self.load().map(|(policy, objects)| {
                let from = match self.source {
                    PolicySource::Files(_) => ServedFrom::Files,
                    _ => ServedFrom::Embedded,
                };
                let generation = self.serve(policy, from);
                if let (Some(file), Some(objects)) = (&self.snapshot_file, objects)
                    && let Err(e) = write_snapshot(file, &objects)
                {
                    tracing::warn!(file = %file.display(), error = %e, "last-known-good snapshot not written");
                }
                Some(generation)
            }),
        };
        // Whether it was served or refused, what the load read is dropped by now.
        return_freed_memory();
        match result {
            Ok(generation) => {
                self.clear_error();
                self.metrics
                    .reloads
                    .get_or_create(&OutcomeLabel { outcome: "success" })
                    .inc();
                match generation {
                    Some(generation) => tracing::info!(generation, "policy loaded"),
                    None => tracing::debug!("policy files read; nothing new to serve"),
                }
                Ok(generation.or_else(|| self.engine.generation()).unwrap_or(0))
            }
            Err(message) => {
                self.record_failure(&message);
                Err(message)
            }
        }
    }

    /// With a cluster: reads the files (each as [`PolicyFiles`] says) and hands what counts
    /// to the store, beside the cluster's objects. The generation served, or `None` when
    /// nothing new is served (no files, nothing changed, or the cluster not listed yet).
    fn reload_files_into(&self, cluster: &ClusterSource) -> Result<Option<u64>, String> {
        let PolicySource::Cluster { files } = &self.source else {
            return Ok(None);
        };
        if files.is_empty() {
            return Ok(None);
        }
        let read = self.read_files()?;
        Ok(cluster.replace_files(read.manifests.objects, |policy| {
            self.serve(policy, ServedFrom::FilesAndCluster)
        }))
    }

    /// Reads the policy files, records their problems, and refuses the read only when no
    /// file could be read at all (a missing directory, every file broken since the start):
    /// then nothing is known, and what is served stays.
    fn read_files(&self) -> Result<FilesRead, String> {
        let read = self.files.lock().unwrap_or_else(|p| p.into_inner()).read();
        let nothing_readable =
            !read.is_clean() && read.clean_files == 0 && read.manifests.objects.is_empty();
        if nothing_readable {
            let problems: Vec<String> = read.problems.iter().map(ToString::to_string).collect();
            return Err(problems.join("\n"));
        }
        for unknown in &read.manifests.unknown_fields {
            tracing::warn!(problem = %unknown, "unknown field ignored");
        }
        self.problems.files_read(&read);
        Ok(read)
    }

    /// Applies a batch of watch updates to the cluster source, serving the snapshot it builds.
    pub fn apply_watch_updates(&self, updates: Vec<scopegate_kube::watch::WatchUpdate>) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let _guard = self
            .reload_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let from = self.store_served_from();
        let outcome = cluster.apply_updates(updates, |policy| self.serve(policy, from));
        return_freed_memory();
        if let Some(generation) = outcome.served {
            tracing::debug!(generation, "policy updated from the cluster");
        }
        if outcome.pending_files {
            self.clear_error();
            self.metrics
                .reloads
                .get_or_create(&OutcomeLabel { outcome: "success" })
                .inc();
        }
    }

    /// Writes the store's objects to the last-known-good file, if a new snapshot was served
    /// since the last write.
    pub fn write_cluster_snapshot(&self) {
        let (Some(cluster), Some(file)) = (&self.cluster, &self.snapshot_file) else {
            return;
        };
        if !cluster.take_snapshot_due() {
            return;
        }
        let objects = cluster.object_list();
        match write_snapshot(file, &objects) {
            Ok(()) => {
                tracing::debug!(file = %file.display(), objects = objects.len(), "last-known-good snapshot written")
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "last-known-good snapshot not written")
            }
        }
    }

    /// What a snapshot built by the store is served as.
    fn store_served_from(&self) -> ServedFrom {
        match &self.source {
            PolicySource::Cluster { files } if !files.is_empty() => ServedFrom::FilesAndCluster,
            _ => ServedFrom::Cluster,
        }
    }

    /// Counts and keeps a failed reload for `/readyz`.
    fn record_failure(&self, message: &str) {
        self.metrics
            .reloads
            .get_or_create(&OutcomeLabel { outcome: "failure" })
            .inc();
        tracing::error!(error = %message, "no policy file could be read; the policy being served stays");
        *self
            .last_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(ReloadFailure {
            at: rfc3339(SystemTime::now()),
            message: message.to_string(),
        });
    }

    /// At start-up, when the source cannot be loaded: serve the last-known-good snapshot
    /// from disk, if there is one and nothing is served yet. Returns whether it did.
    pub fn serve_snapshot_if_nothing_loaded(&self) -> bool {
        let Some(file) = &self.snapshot_file else {
            return false;
        };
        if self.loaded.load().is_some() || !file.is_file() {
            return false;
        }
        let _guard = self
            .reload_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Taken as it is: objects with errors grant nothing, as everywhere.
        let loaded = load_paths(std::slice::from_ref(file))
            .map(|m| {
                let mut store = PolicyStore::new(self.options.clone());
                store.replace_origin_with(Origin::Files, m.objects);
                store.policy()
            })
            .map_err(|e| e.to_string());
        let served = match loaded {
            Ok(policy) => {
                let generation = self.serve(policy, ServedFrom::Snapshot);
                tracing::warn!(generation, file = %file.display(), "serving the last-known-good snapshot until the policy source loads");
                true
            }
            Err(e) => {
                tracing::error!(file = %file.display(), error = %e, "last-known-good snapshot unusable");
                false
            }
        };
        return_freed_memory();
        served
    }

    fn serve(&self, policy: Policy, from: ServedFrom) -> u64 {
        let counts = policy.object_counts().clone();
        let generation = self.engine.replace(policy);
        // Reported once it decides: nothing is done between the build and the swap.
        if let Some(served) = self.engine.snapshot() {
            self.problems.policy_served(&served.policy);
        }
        self.metrics.set_policy(generation, &counts);
        self.loaded.store(Some(Arc::new(LoadInfo {
            loaded_at: SystemTime::now(),
            from,
        })));
        generation
    }

    fn clear_error(&self) {
        *self
            .last_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Loads the policy from files or the embedded demo; with it, when there is a
    /// last-known-good file to write, the objects it was built from.
    ///
    /// The objects read are moved into a store fed once, not copied: on a large policy a
    /// second copy of every object was a quarter of the peak memory of a load.
    fn load(&self) -> Result<(Policy, Option<ObjectList>), String> {
        let objects = match &self.source {
            PolicySource::Files(_) => self.read_files()?.manifests.objects,
            PolicySource::EmbeddedDemo => parse_str(EMBEDDED_DEMO_POLICY, "<embedded demo policy>")
                .map_err(|e| e.to_string())?,
            // Kept in the cluster source's store instead (see `reload_files_into`).
            PolicySource::Cluster { .. } => PolicyObjects::default(),
        };
        let mut store = PolicyStore::new(self.options.clone());
        store.replace_origin_with(Origin::Files, objects);
        let policy = store.policy();
        let objects = self.snapshot_file.is_some().then(|| store.object_list());
        Ok((policy, objects))
    }
}

/// Hands back to the system the memory a policy load or change freed, now rather than after
/// the allocator's one-second decay (`scopegate_alloc`): called once the load's objects are
/// dropped.
fn return_freed_memory() {
    if let Err(e) = scopegate_alloc::return_freed_memory() {
        tracing::debug!(error = %e, "memory freed by the load not returned");
    }
}

/// Writes the objects of the policy served to `file`, atomically (a reader never sees half)
/// and durably (on disk before it replaces the last one: a crash leaves one or the other).
fn write_snapshot(file: &Path, objects: &ObjectList) -> std::io::Result<()> {
    let temporary = file.with_extension("tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
    objects
        .write_list(&mut out)
        .map_err(std::io::Error::other)?;
    let written = out.into_inner().map_err(|e| e.into_error())?;
    written.sync_all()?;
    std::fs::rename(&temporary, file)
}

/// A time as RFC 3339 in UTC, e.g. `2026-11-22T03:42:23Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2000-03-01T12:34:56Z: after a leap day in a century leap year.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_914_096);
        assert_eq!(rfc3339(t), "2000-03-01T12:34:56Z");
    }
}
