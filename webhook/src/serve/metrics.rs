//! Prometheus metrics of the webhook: decisions by result, decision latency, policy reloads
//! and contents, and requests in flight.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use scopegate_core::ObjectKind;
use std::collections::BTreeMap;

/// A decision's outcome, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `allowed`, `no_opinion` or `error`.
    pub result: &'static str,
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
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("scopegate");
        let decisions = Family::<ResultLabel, Counter>::default();
        registry.register("decisions", "Decisions made, by result", decisions.clone());
        // 1 µs .. ~16 ms in powers of two: decisions live in the low microseconds.
        let decision_seconds = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1e-6, 2.0, 15));
        registry.register("decision_duration_seconds", "Time to decide one SubjectAccessReview", decision_seconds.clone());
        let reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register("policy_reloads", "Policy reloads, by outcome", reloads.clone());
        let policy_generation = Gauge::default();
        registry.register("policy_generation", "Generation of the policy being served", policy_generation.clone());
        let policy_objects = Family::<KindLabel, Gauge>::default();
        registry.register("policy_objects", "Objects in the policy being served, by kind", policy_objects.clone());
        let in_flight = Gauge::default();
        registry.register("in_flight_requests", "Requests being decided right now", in_flight.clone());
        let rejected = Family::<RejectionLabel, Counter>::default();
        registry.register("rejected_requests", "Requests refused before a decision, by reason", rejected.clone());
        Metrics { registry, decisions, decision_seconds, reloads, policy_generation, policy_objects, in_flight, rejected }
    }

    /// Records the contents of a newly served policy.
    pub fn set_policy(&self, generation: u64, counts: &BTreeMap<ObjectKind, usize>) {
        self.policy_generation.set(i64::try_from(generation).unwrap_or(i64::MAX));
        for (kind, n) in counts {
            self.policy_objects
                .get_or_create(&KindLabel { kind: kind.to_string() })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
