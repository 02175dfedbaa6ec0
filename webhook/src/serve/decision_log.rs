//! The decision log: one structured JSON line per decision (or per N decisions), for audit.
//! It records who asked for what and why the answer was what it was; it never records the
//! values of `extra` (authenticators put tokens and session ids there), only their keys.

use scopegate_core::{Action, AnswerRef, DecisionRef, Request};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Whether and how often decisions are logged.
pub struct DecisionLog {
    enabled: bool,
    sample_every: u64,
    seen: AtomicU64,
}

impl DecisionLog {
    /// A log that records one decision in `sample_every` (at least 1) when enabled.
    pub fn new(enabled: bool, sample_every: u64) -> Self {
        DecisionLog {
            enabled,
            sample_every: sample_every.max(1),
            seen: AtomicU64::new(0),
        }
    }

    /// Logs one decision if it is enabled and this one is sampled.
    pub fn record(&self, request: &Request, answer: AnswerRef<'_>, latency: Duration) {
        let (decision, generation) = (answer.decision, answer.generation);
        if !self.enabled
            || !self
                .seen
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(self.sample_every)
        {
            return;
        }
        let extra_keys: Vec<&str> = request.extra.keys().map(String::as_str).collect();
        let (scope, binding) = match decision {
            DecisionRef::Allowed(a) => (a.grant.scope.to_string(), a.grant.binding.to_string()),
            DecisionRef::NoOpinion => (String::new(), String::new()),
        };
        let (verb, target) = match &request.action {
            Action::Resource(r) => (
                r.verb.as_str(),
                format!(
                    "{}{}{}{}{}",
                    if r.group.is_empty() {
                        String::new()
                    } else {
                        format!("{}/", r.group)
                    },
                    r.resource,
                    if r.subresource.is_empty() {
                        String::new()
                    } else {
                        format!("/{}", r.subresource)
                    },
                    if r.namespace.is_empty() {
                        String::new()
                    } else {
                        format!(" namespace={}", r.namespace)
                    },
                    if r.name.is_empty() {
                        String::new()
                    } else {
                        format!(" name={}", r.name)
                    },
                ),
            ),
            Action::NonResource(n) => (n.verb.as_str(), n.path.clone()),
        };
        tracing::info!(
            target: "scopegate::decision",
            user = %request.user,
            groups = ?request.groups,
            extra_keys = ?extra_keys,
            verb,
            target = %target,
            allowed = decision.is_allowed(),
            reason = %decision.reason(),
            scope = %scope,
            binding = %binding,
            generation,
            tier = answer.tier.as_str(),
            latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            "decision"
        );
    }
}
