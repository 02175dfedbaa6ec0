//! What is wrong with the policy being served, for `/readyz`, the metrics and the log:
//! files that cannot be read (and which count with their last clean contents meanwhile), and
//! objects with errors (which grant nothing). Neither stops the rest of the policy from
//! being served: an error is local to its file or object.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use scopegate_core::load::FilesRead;
use scopegate_core::{Policy, Severity};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

/// At most this many problems are shown in `/readyz` and logged line by line per change.
const MAX_LISTED: usize = 50;

/// The problems of the policy being served.
#[derive(Default)]
pub struct PolicyProblems {
    inner: Mutex<Inner>,
    metrics: ProblemMetrics,
}

#[derive(Default)]
struct Inner {
    /// The problems of the files as last read, one line each (file, line, document, field).
    files: Vec<String>,
    /// Files counted with their last clean contents.
    stale_files: Vec<String>,
    /// Object errors and warnings of the policy being served, in the policy's order.
    objects: Vec<String>,
    object_errors: usize,
    object_warnings: usize,
    /// The file problems already logged: each is logged once, when it appears.
    logged_files: HashSet<String>,
    /// The object problems already logged.
    logged_objects: HashSet<String>,
}

/// The gauges that say how much is wrong.
#[derive(Clone, Default)]
struct ProblemMetrics {
    object_errors: Gauge,
    file_problems: Gauge,
    stale_files: Gauge,
}

impl PolicyProblems {
    /// Registers the gauges.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "policy_object_errors",
            "Objects of the served policy with an error: each grants nothing",
            self.metrics.object_errors.clone(),
        );
        registry.register(
            "policy_file_problems",
            "Problems in the policy files as last read (unreadable files, syntax errors, documents that do not fit their type)",
            self.metrics.file_problems.clone(),
        );
        registry.register(
            "policy_stale_files",
            "Policy files that cannot be read as they are now and count with their last clean contents",
            self.metrics.stale_files.clone(),
        );
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a read of the policy files.
    pub fn files_read(&self, read: &FilesRead) {
        let mut inner = self.inner();
        inner.files = read.problems.iter().map(ToString::to_string).collect();
        inner.stale_files = read
            .stale
            .iter()
            .map(|s| s.file.display().to_string())
            .collect();
        for stale in &inner.stale_files {
            tracing::warn!(file = %stale, "policy file cannot be read as it is now: its last clean contents count until it is fixed");
        }
        let inner = &mut *inner;
        log_new(&mut inner.logged_files, &inner.files, |problem| {
            tracing::error!(problem = %problem, "policy file problem: what it says is left out, or its last clean contents count");
        });
        self.metrics.file_problems.set(gauge(inner.files.len()));
        self.metrics.stale_files.set(gauge(inner.stale_files.len()));
    }

    /// Records the problems of a newly served policy.
    pub fn policy_served(&self, policy: &Policy) {
        let mut inner = self.inner();
        let diagnostics = policy.diagnostics();
        inner.object_errors = diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        inner.object_warnings = diagnostics.len() - inner.object_errors;
        inner.objects = diagnostics.iter().map(ToString::to_string).collect();
        let inner = &mut *inner;
        log_new(&mut inner.logged_objects, &inner.objects, |problem| {
            tracing::warn!(problem = %problem, "policy problem (an object with an error grants nothing)");
        });
        self.metrics.object_errors.set(gauge(inner.object_errors));
    }

    /// The problems as `/readyz` shows them under `policyProblems`.
    pub fn to_json(&self) -> Value {
        let inner = self.inner();
        json!({
            "objectErrors": inner.object_errors,
            "objectWarnings": inner.object_warnings,
            "objects": inner.objects.iter().take(MAX_LISTED).collect::<Vec<_>>(),
            "fileProblems": inner.files.iter().take(MAX_LISTED).collect::<Vec<_>>(),
            "staleFiles": inner.stale_files,
        })
    }
}

/// Logs the problems of `current` not logged before (at most [`MAX_LISTED`] lines), and
/// forgets those that are gone, so a problem that comes back is logged again.
fn log_new(logged: &mut HashSet<String>, current: &[String], log: impl Fn(&str)) {
    let new: Vec<&String> = current.iter().filter(|p| !logged.contains(*p)).collect();
    for problem in new.iter().take(MAX_LISTED) {
        log(problem);
    }
    if new.len() > MAX_LISTED {
        tracing::warn!(
            more = new.len() - MAX_LISTED,
            "more new policy problems, not logged one by one"
        );
    }
    *logged = current.iter().cloned().collect();
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
