//! Metrics of the watch-fed policy source (`--kubeconfig`/`--watch-cluster`): what the
//! watches saw, their health, and what keeping the policy current costs. Registered in the
//! webhook's registry beside [`super::metrics::Metrics`], under the same `scopegate_` prefix.

use super::metrics::KindLabel;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use scopegate_core::ObjectKind;
use std::sync::atomic::AtomicU64;

/// A watch event's kind and type, as labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    /// The object kind, e.g. `IAMRoleBinding`.
    pub kind: String,
    /// `listed` (an object in a list), `applied`, `deleted` or `unreadable`.
    pub event: &'static str,
}

/// Every metric of the watch-fed source.
#[derive(Clone, Debug)]
pub struct WatchMetrics {
    /// Watch events, by kind and type.
    pub events: Family<EventLabel, Counter>,
    /// Completed lists (the first, and each after a failure), by kind.
    pub relists: Family<KindLabel, Counter>,
    /// Watch failures, by kind.
    pub errors: Family<KindLabel, Counter>,
    /// 1 once a kind has been listed completely, by kind.
    pub synced: Family<KindLabel, Gauge>,
    /// 1 while a kind's watch is working, 0 from its failure until its next complete list.
    pub healthy: Family<KindLabel, Gauge>,
    /// When a kind was last listed completely, in seconds since the Unix epoch.
    pub last_sync: Family<KindLabel, Gauge<f64, AtomicU64>>,
    /// Time from a batch of watch updates to its policy snapshot being served.
    pub update_seconds: Histogram,
    /// Bindings compiled again because of watch updates and file reloads.
    pub bindings_recompiled: Counter,
    /// Objects with errors (granting nothing) in the policy being served.
    pub policy_errors: Gauge,
}

impl Default for WatchMetrics {
    fn default() -> Self {
        WatchMetrics {
            events: Family::default(),
            relists: Family::default(),
            errors: Family::default(),
            synced: Family::default(),
            healthy: Family::default(),
            last_sync: Family::default(),
            // 10 µs .. ~20 s in powers of two: one binding is microseconds, a re-list of
            // 100,000 is seconds.
            update_seconds: Histogram::new(exponential_buckets(1e-5, 2.0, 22)),
            bindings_recompiled: Counter::default(),
            policy_errors: Gauge::default(),
        }
    }
}

impl WatchMetrics {
    /// Adds every metric to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "watch_events",
            "Watch events, by kind and type (listed, applied, deleted, unreadable)",
            self.events.clone(),
        );
        registry.register(
            "watch_relists",
            "Complete lists of a kind (the first, and each after a failure)",
            self.relists.clone(),
        );
        registry.register(
            "watch_errors",
            "Watch failures, by kind (each is followed by a re-list after a backoff)",
            self.errors.clone(),
        );
        registry.register(
            "watch_synced",
            "1 once a kind has been listed completely",
            self.synced.clone(),
        );
        registry.register(
            "watch_healthy",
            "1 while a kind's watch works, 0 from a failure until the next complete list",
            self.healthy.clone(),
        );
        registry.register(
            "watch_last_sync_timestamp_seconds",
            "When a kind was last listed completely",
            self.last_sync.clone(),
        );
        registry.register(
            "store_update_duration_seconds",
            "Time from a batch of watch updates to its policy snapshot being served",
            self.update_seconds.clone(),
        );
        registry.register(
            "store_bindings_recompiled",
            "Bindings compiled again because of watch updates and file reloads",
            self.bindings_recompiled.clone(),
        );
        registry.register(
            "store_policy_errors",
            "Objects with errors, which grant nothing, in the policy being served",
            self.policy_errors.clone(),
        );
    }

    /// The label of a kind.
    pub fn kind(kind: ObjectKind) -> KindLabel {
        KindLabel {
            kind: kind.to_string(),
        }
    }

    /// Counts `n` events of one kind and type.
    pub fn count_events(&self, kind: ObjectKind, event: &'static str, n: usize) {
        self.events
            .get_or_create(&EventLabel {
                kind: kind.to_string(),
                event,
            })
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }
}
