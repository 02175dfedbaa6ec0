//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several controller
//! replicas exactly one writes.
//!
//! The protocol is client-go's:
//!
//! - a replica may take the Lease when it does not exist, has no holder, or its record has
//!   not changed for `lease_duration` *as measured on the replica's own clock* since the
//!   replica first saw that record (so clocks that disagree between machines do not matter);
//! - the holder renews every `retry_period`; every write carries the `resourceVersion` read,
//!   so of two replicas racing for the same record exactly one wins (the other gets a 409);
//! - the holder stops leading (and so stops writing) when it has not renewed successfully for
//!   `renew_deadline`, which is shorter than `lease_duration`: it steps down before any other
//!   replica may consider the Lease expired;
//! - a holder shutting down gracefully releases the Lease (clears the holder) so another
//!   replica takes over at once rather than after `lease_duration`.
//!
//! A well-kept crate exists (`kube-lease-manager`), but it keeps reporting leadership while
//! renewals fail, until it manages to read the Lease again; stepping down before expiry is
//! the property this module exists for.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use std::time::{Duration, Instant};

/// Where the Lease is and how it is held.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// This replica's identity, unique among replicas (e.g. the pod name).
    pub identity: String,
    /// How long a record that stopped changing is respected by other replicas.
    pub lease_duration: Duration,
    /// How long the holder keeps leading without a successful renewal. Shorter than
    /// `lease_duration`.
    pub renew_deadline: Duration,
    /// How often the holder renews, and how often a follower tries to acquire.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// A Lease with client-go's default timings: 15 s duration, 10 s renew deadline, renewal
    /// every 2 s.
    pub fn new(
        name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaseConfig {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Checks that the timings make stepping down before expiry possible.
    pub fn validate(&self) -> Result<(), LeaseError> {
        let bad = |m: &str| Err(LeaseError::Config(m.to_string()));
        if self.identity.is_empty() {
            return bad("the identity must not be empty");
        }
        if self.renew_deadline >= self.lease_duration {
            return bad("the renew deadline must be shorter than the lease duration");
        }
        if self.retry_period >= self.renew_deadline {
            return bad("the retry period must be shorter than the renew deadline");
        }
        if self.lease_duration.as_secs() < 1 {
            return bad("the lease duration must be at least one second");
        }
        if self.retry_period.is_zero() {
            return bad("the retry period must not be zero (the elector would spin)");
        }
        Ok(())
    }
}

/// What can go wrong with the Lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The configuration cannot work.
    #[error("leader election: {0}")]
    Config(String),
    /// The API server refused or failed a request.
    #[error("leader election: {action} Lease {namespace}/{name}: {source}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// What a replica may do with a Lease record it observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// No Lease: create it.
    Create,
    /// Held by this replica: write a new renew time.
    Renew,
    /// Free (no holder) or expired: take it.
    Take,
    /// Held by another replica whose record is still fresh.
    Wait,
}

/// The decision for a record `spec`, unchanged for `unchanged_for` on this replica's clock.
pub(crate) fn next_step(spec: Option<&LeaseSpec>, identity: &str, unchanged_for: Duration) -> Step {
    let Some(spec) = spec else {
        return Step::Create;
    };
    match spec.holder_identity.as_deref().filter(|h| !h.is_empty()) {
        None => Step::Take,
        Some(holder) if holder == identity => Step::Renew,
        Some(_) => {
            let duration = Duration::from_secs(
                u64::try_from(spec.lease_duration_seconds.unwrap_or(0).max(1)).unwrap_or(1),
            );
            if unchanged_for >= duration {
                Step::Take
            } else {
                Step::Wait
            }
        }
    }
}

/// The record a replica writes to create, take or renew the Lease.
pub(crate) fn record(
    previous: Option<&LeaseSpec>,
    step: Step,
    config: &LeaseConfig,
    now: MicroTime,
) -> LeaseSpec {
    let mut spec = previous.cloned().unwrap_or_default();
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds =
        Some(i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX));
    spec.renew_time = Some(now.clone());
    match step {
        Step::Create => {
            spec.acquire_time = Some(now);
            spec.lease_transitions = Some(0);
        }
        Step::Take => {
            spec.acquire_time = Some(now);
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        Step::Renew | Step::Wait => {}
    }
    spec
}

/// One replica's hold on the Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The last record seen (its resourceVersion) and when this replica first saw it.
    observed: Option<(String, Instant)>,
}

impl LeaderElector {
    /// An elector for `config` (checked with [`LeaseConfig::validate`]).
    pub fn new(client: Client, config: LeaseConfig) -> Result<Self, LeaseError> {
        config.validate()?;
        Ok(LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    fn api_error(&self, action: &'static str, source: kube::Error) -> LeaseError {
        LeaseError::Api {
            action,
            namespace: self.config.namespace.clone(),
            name: self.config.name.clone(),
            source: Box::new(source),
        }
    }

    /// One attempt to acquire or renew: `Ok(true)` when this replica holds the Lease
    /// afterwards, `Ok(false)` when another does (or won a race).
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaseError> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let current = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.api_error("read", e))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(record(None, Step::Create, &self.config, now)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(self.api_error("create", e)),
            };
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let first_seen = match &self.observed {
            Some((seen, at)) if *seen == version => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((version, at));
                at
            }
        };
        let step = next_step(
            lease.spec.as_ref(),
            &self.config.identity,
            first_seen.elapsed(),
        );
        if step == Step::Wait {
            return Ok(false);
        }
        lease.spec = Some(record(lease.spec.as_ref(), step, &self.config, now));
        // The resourceVersion read is in `lease.metadata`: a concurrent writer makes this 409.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                if let Some(version) = written.metadata.resource_version {
                    self.observed = Some((version, Instant::now()));
                }
                if step == Step::Take {
                    tracing::info!(identity = %self.config.identity, lease = %self.config.name, "acquired the Lease");
                }
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(self.api_error("update", e)),
        }
    }

    /// Waits until this replica holds the Lease (errors are logged and retried).
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot acquire the Lease; retrying"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Renews the Lease every `retry_period` while it is held; returns when leadership is
    /// lost: another replica holds it, or no renewal succeeded for `renew_deadline`. The
    /// caller must stop writing when this returns.
    pub async fn hold(&mut self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let attempt_started = Instant::now();
            let remaining = self
                .config
                .renew_deadline
                .saturating_sub(last_renewed.elapsed());
            match tokio::time::timeout(remaining, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last_renewed = attempt_started,
                Ok(Ok(false)) => {
                    tracing::warn!(identity = %self.config.identity, "the Lease is held by another replica: stepping down");
                    return;
                }
                Ok(Err(error)) => tracing::warn!(%error, "cannot renew the Lease"),
                Err(_) => {}
            }
            if last_renewed.elapsed() >= self.config.renew_deadline {
                tracing::warn!(identity = %self.config.identity, "no renewal within the renew deadline: stepping down");
                return;
            }
        }
    }

    /// Gives the Lease up if this replica holds it (best effort), so another replica can
    /// take it at once.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        spec.lease_duration_seconds = Some(1);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(identity = %self.config.identity, "released the Lease"),
            Err(error) => tracing::warn!(%error, "cannot release the Lease"),
        }
        self.observed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn held_by(holder: Option<&str>, seconds: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(Into::into),
            lease_duration_seconds: Some(seconds),
            ..Default::default()
        }
    }

    fn config() -> LeaseConfig {
        LeaseConfig::new("scopegate-controller", "scopegate-system", "me")
    }

    #[test]
    fn a_missing_lease_is_created() {
        assert_eq!(next_step(None, "me", Duration::ZERO), Step::Create);
    }

    #[test]
    fn a_free_lease_is_taken_at_once() {
        assert_eq!(
            next_step(Some(&held_by(None, 15)), "me", Duration::ZERO),
            Step::Take
        );
        assert_eq!(
            next_step(Some(&held_by(Some(""), 15)), "me", Duration::ZERO),
            Step::Take
        );
    }

    #[test]
    fn an_own_lease_is_renewed() {
        assert_eq!(
            next_step(Some(&held_by(Some("me"), 15)), "me", Duration::ZERO),
            Step::Renew
        );
    }

    #[test]
    fn another_holder_is_respected_until_its_record_is_stale_on_our_clock() {
        let spec = held_by(Some("other"), 15);
        assert_eq!(
            next_step(Some(&spec), "me", Duration::from_secs(14)),
            Step::Wait
        );
        assert_eq!(
            next_step(Some(&spec), "me", Duration::from_secs(15)),
            Step::Take
        );
    }

    #[test]
    fn taking_counts_a_transition_and_renewing_does_not() {
        let now = MicroTime(Timestamp::from_second(100).unwrap());
        let mut previous = held_by(Some("other"), 15);
        previous.lease_transitions = Some(3);
        previous.acquire_time = Some(MicroTime(Timestamp::from_second(1).unwrap()));
        let taken = record(Some(&previous), Step::Take, &config(), now.clone());
        assert_eq!(taken.holder_identity.as_deref(), Some("me"));
        assert_eq!(taken.lease_transitions, Some(4));
        assert_eq!(taken.acquire_time, Some(now.clone()));
        let renewed = record(
            Some(&taken),
            Step::Renew,
            &config(),
            MicroTime(Timestamp::from_second(102).unwrap()),
        );
        assert_eq!(renewed.lease_transitions, Some(4));
        assert_eq!(renewed.acquire_time, Some(now));
        assert_eq!(renewed.lease_duration_seconds, Some(15));
        let created = record(
            None,
            Step::Create,
            &config(),
            MicroTime(Timestamp::from_second(5).unwrap()),
        );
        assert_eq!(created.lease_transitions, Some(0));
    }

    #[test]
    fn timings_that_cannot_step_down_in_time_are_refused() {
        assert!(config().validate().is_ok());
        let mut c = config();
        c.renew_deadline = c.lease_duration;
        assert!(c.validate().is_err());
        let mut c = config();
        c.retry_period = c.renew_deadline;
        assert!(c.validate().is_err());
        let mut c = config();
        c.identity.clear();
        assert!(c.validate().is_err());
        let mut c = config();
        c.retry_period = Duration::ZERO;
        assert!(c.validate().is_err());
    }
}
