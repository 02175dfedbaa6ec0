//! Prometheus metrics of the controllers: reconciles, failures and their duration by
//! controller, the native objects Scopegate has made by kind, and whether this replica leads.
//! Registered into a registry the caller owns (the binary serves it on `/metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Instant;

/// A controller, as a label: `iamrole`, `iamrolebinding` or `nodegroup`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    /// The controller's name.
    pub controller: &'static str,
}

/// A failed reconcile, as labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabel {
    /// The controller's name.
    pub controller: &'static str,
    /// Why, e.g. `api`, `finalizer`.
    pub reason: &'static str,
}

/// A native RBAC kind, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `ClusterRole`, `Role`, `ClusterRoleBinding` or `RoleBinding`.
    pub kind: &'static str,
}

fn duration_histogram() -> Histogram {
    // 1 ms .. ~16 s: a reconcile is a few API calls at most.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The controllers' metrics. Cheap to clone: every clone updates the same series.
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    reconciles: Family<ControllerLabel, Counter>,
    failures: Family<FailureLabel, Counter>,
    duration: Family<ControllerLabel, Histogram, fn() -> Histogram>,
    materialized: Family<KindLabel, Gauge>,
    leader: Gauge,
}

impl Default for ControllerMetrics {
    /// Metrics registered nowhere (for tests, or when no one scrapes).
    fn default() -> Self {
        ControllerMetrics {
            reconciles: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            materialized: Family::default(),
            leader: Gauge::default(),
        }
    }
}

impl ControllerMetrics {
    /// Registers every controller metric into `registry` (with the registry's own prefix,
    /// e.g. `scopegate_`): `controller_reconciles_total{controller}`,
    /// `controller_reconcile_failures_total{controller,reason}`,
    /// `controller_reconcile_duration_seconds{controller}`,
    /// `controller_materialized_objects{kind}` and `controller_leader`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ControllerMetrics::default();
        let sub = registry.sub_registry_with_prefix("controller");
        sub.register(
            "reconciles",
            "Reconciles run, by controller",
            metrics.reconciles.clone(),
        );
        sub.register(
            "reconcile_failures",
            "Reconciles that failed (and were requeued with backoff), by controller and reason",
            metrics.failures.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, by controller",
            metrics.duration.clone(),
        );
        sub.register(
            "materialized_objects",
            "Native RBAC objects Scopegate has made and keeps, by kind",
            metrics.materialized.clone(),
        );
        sub.register(
            "leader",
            "1 while this replica holds the controllers' Lease and runs them, else 0",
            metrics.leader.clone(),
        );
        metrics
    }

    /// Starts timing one reconcile of `controller`.
    pub(crate) fn start(&self, controller: &'static str) -> ReconcileTimer {
        ReconcileTimer {
            controller,
            started: Instant::now(),
        }
    }

    /// Records a finished reconcile, and its failure reason if it failed.
    pub(crate) fn finish(&self, timer: ReconcileTimer, failure: Option<&'static str>) {
        let label = ControllerLabel {
            controller: timer.controller,
        };
        self.reconciles.get_or_create(&label).inc();
        self.duration
            .get_or_create(&label)
            .observe(timer.started.elapsed().as_secs_f64());
        if let Some(reason) = failure {
            self.failures
                .get_or_create(&FailureLabel {
                    controller: timer.controller,
                    reason,
                })
                .inc();
        }
    }

    /// Sets how many native objects of `kind` Scopegate keeps.
    pub(crate) fn set_materialized(&self, kind: &'static str, count: usize) {
        self.materialized
            .get_or_create(&KindLabel { kind })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Sets whether this replica leads.
    pub(crate) fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// How many reconciles `controller` has run (for tests and health checks).
    pub fn reconciles(&self, controller: &'static str) -> u64 {
        self.reconciles
            .get_or_create(&ControllerLabel { controller })
            .get()
    }

    /// How many reconciles of `controller` failed, whatever the reason.
    pub fn failures(&self, controller: &'static str) -> u64 {
        ["api", "finalizer", "world"]
            .iter()
            .map(|reason| {
                self.failures
                    .get_or_create(&FailureLabel { controller, reason })
                    .get()
            })
            .sum()
    }

    /// Whether this replica currently leads.
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }
}

/// A reconcile being timed.
pub(crate) struct ReconcileTimer {
    controller: &'static str,
    started: Instant,
}
