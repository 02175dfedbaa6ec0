//! Prometheus metrics of the webhook: decisions by result, decision latency, policy reloads
//! and contents, and requests in flight.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use scopegate_core::{Engine, ObjectKind};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A decision's outcome and the tier that gave it, as labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `allowed`, `no_opinion` or `error`.
    pub result: &'static str,
    /// `decision_cache`, `subject_cache`, `policy`, or `none` for errors.
    pub tier: &'static str,
}

/// A cache tier, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabel {
    tier: &'static str,
}

/// Reads the engine's cache counters at every scrape.
#[derive(Debug)]
struct CacheCollector(Arc<Engine>);

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.cache_stats();
        let tiers = |decision: u64, subject: u64| {
            [("decision_cache", decision), ("subject_cache", subject)]
        };
        let counters = [
            (
                "cache_hits",
                "Cache lookups that answered, by tier",
                tiers(s.decision_hits, s.subject_hits),
            ),
            (
                "cache_misses",
                "Cache lookups that did not answer, by tier",
                tiers(s.decision_misses, s.subject_misses),
            ),
            (
                "cache_evictions",
                "Cache entries evicted for size or age, by tier",
                tiers(s.decision_evictions, s.subject_evictions),
            ),
        ];
        for (name, help, values) in counters {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for (tier, value) in values {
                ConstCounter::new(value).encode(family.encode_family(&TierLabel { tier })?)?;
            }
        }
        let entries = tiers(s.decision_entries, s.subject_entries);
        let mut family = encoder.encode_descriptor(
            "cache_entries",
            "Cache entries now, by tier",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (tier, value) in entries {
            ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
                .encode(family.encode_family(&TierLabel { tier })?)?;
        }
        Ok(())
    }
}

/// A reload's outcome, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `success` or `failure`.
    pub outcome: &'static str,
}

/// An object kind, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The object kind, e.g. `IAMRoleBinding`.
    pub kind: String,
}

/// A refused request's reason, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabel {
    /// e.g. `bad_request`, `too_large`, `overloaded`.
    pub reason: &'static str,
}

/// Every metric the webhook exports.
pub struct Metrics {
    registry: Registry,
    /// Decisions made, by result.
    pub decisions: Family<ResultLabel, Counter>,
    /// Time to decide one review, from decoded body to encoded answer.
    pub decision_seconds: Histogram,
    /// Policy reloads, by outcome.
    pub reloads: Family<OutcomeLabel, Counter>,
    /// The generation of the policy being served.
    pub policy_generation: Gauge,
    /// Objects in the policy being served, by kind.
    pub policy_objects: Family<KindLabel, Gauge>,
    /// Requests being decided right now.
    pub in_flight: Gauge,
    /// Requests refused before a decision, by reason.
    pub rejected: Family<RejectionLabel, Counter>,
}

impl Metrics {
    /// Registers every metric, the engine's cache counters among them.
    pub fn new(engine: Arc<Engine>) -> Self {
        let mut registry = Registry::with_prefix("scopegate");
        let decisions = Family::<ResultLabel, Counter>::default();
        registry.register("decisions", "Decisions made, by result", decisions.clone());
        // 1 µs .. ~16 ms in powers of two: decisions live in the low microseconds.
        let decision_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(1e-6, 2.0, 15),
        );
        registry.register(
            "decision_duration_seconds",
            "Time to decide one SubjectAccessReview",
            decision_seconds.clone(),
        );
        let reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "policy_reloads",
            "Policy reloads, by outcome",
            reloads.clone(),
        );
        let policy_generation = Gauge::default();
        registry.register(
            "policy_generation",
            "Generation of the policy being served",
            policy_generation.clone(),
        );
        let policy_objects = Family::<KindLabel, Gauge>::default();
        registry.register(
            "policy_objects",
            "Objects in the policy being served, by kind",
            policy_objects.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "in_flight_requests",
            "Requests being decided right now",
            in_flight.clone(),
        );
        let rejected = Family::<RejectionLabel, Counter>::default();
        registry.register(
            "rejected_requests",
            "Requests refused before a decision, by reason",
            rejected.clone(),
        );
        registry.register_collector(Box::new(CacheCollector(engine)));
        Metrics {
            registry,
            decisions,
            decision_seconds,
            reloads,
            policy_generation,
            policy_objects,
            in_flight,
            rejected,
        }
    }

    /// Records the contents of a newly served policy.
    pub fn set_policy(&self, generation: u64, counts: &BTreeMap<ObjectKind, usize>) {
        self.policy_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        for (kind, n) in counts {
            self.policy_objects
                .get_or_create(&KindLabel {
                    kind: kind.to_string(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// The registry, for metrics defined elsewhere (the watch-fed source's, watch_metrics.rs).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.push_str("# error encoding metrics\n");
        }
        out
    }
}
