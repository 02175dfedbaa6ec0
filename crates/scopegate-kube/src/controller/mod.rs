//! The controllers: the scope model written out as native RBAC, kept in step with the
//! cluster.
//!
//! | controller | source | keeps |
//! |---|---|---|
//! | `iamrole` | IAMRole | ClusterRole `scopegate:iamrole:<name>` with the role's effective rules |
//! | `iamrolebinding` | IAMRoleBinding | its native bindings and narrowed roles, by scope kind (see [`crate::materialize`]) |
//! | `nodegroup` | NodeGroup | the `scope.theriseunion.io/nodegroup` label on exactly the nodes it selects |
//!
//! Each is a `kube::runtime::Controller` over reflectors shared by all three (`world.rs`): a
//! reconcile reads the world from the stores, calls the pure functions of
//! [`crate::materialize`] and [`plan`](crate::materialize::plan), deletes what the plan says
//! (only objects labelled `app.kubernetes.io/managed-by: scopegate`, guarded by uid), server-
//! side applies the rest as the field manager `scopegate` (forcing: drift is taken back), and
//! writes the `Ready` condition and `observedGeneration` to the source's status. A reconcile
//! with nothing changed writes nothing: the plan is empty and the status already says the
//! same. Errors in what users wrote (a role that does not exist, a scope of the wrong kind)
//! are a `Ready: False` status with the reason and a Warning Event, not a retry; API failures
//! are retried with exponential backoff (and also reported). Every reconcile is requeued after
//! [`ControllerOptions::resync`] as a safety net.
//!
//! Objects made carry a controller owner reference to their source, so the garbage collector
//! removes them with it; the orphan sweep (`sweep.rs`) does the same without one.
//!
//! With [`ControllerOptions::materialize`] off, the IAMRole and IAMRoleBinding controllers
//! still run: they report whether each object is valid in its status, and they delete every
//! native object made before (a stale grant left behind would outlive a revocation the
//! webhook makes). NodeGroup labelling is unaffected: the webhook reads the labels too.
//!
//! Only one replica may write: [`run_with_leader_election`] runs the controllers only while
//! this replica holds the Lease ([`lease`]), and stops them (dropping every in-flight
//! reconcile) the moment it stops holding it.

mod apply;
mod iam_role;
mod iam_role_binding;
pub mod lease;
pub mod metrics;
mod node_group;
mod sweep;
mod world;

pub use lease::{LeaderElector, LeaseConfig, LeaseError};
pub use metrics::ControllerMetrics;
pub use node_group::FINALIZER as NODEGROUP_FINALIZER;

use crate::materialize::DesiredRbac;
use futures::StreamExt;
use futures::future::select_all;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use scopegate_core::model::{Cluster, NodeGroup, ObjectStatus, ScopeKind, Workspace};
use scopegate_core::topology::DEFAULT_CLUSTER_NAME;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "scopegate";

/// How the controllers behave.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// The cluster this controller runs in (as the webhook's `--cluster-name`): a Cluster-scope
    /// binding naming it becomes a ClusterRoleBinding.
    pub cluster_name: String,
    /// Whether IAMRoles and IAMRoleBindings are written out as native RBAC. Off, they are
    /// only validated (status), and native objects made before are deleted.
    pub materialize: bool,
    /// How often every object is reconciled again even when nothing triggered it.
    pub resync: Duration,
    /// The name Events are reported under (`reportingInstance`), e.g. the pod name.
    pub instance: String,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            cluster_name: DEFAULT_CLUSTER_NAME.to_string(),
            materialize: true,
            resync: Duration::from_secs(600),
            instance: "scopegate".to_string(),
        }
    }
}

/// Why a reconcile or the controllers failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("cannot {action} {object}: {source}")]
    Api {
        /// What was being done, e.g. `apply`.
        action: &'static str,
        /// The object, e.g. `RoleBinding team-a-dev/scopegate:iamrolebinding:b`.
        object: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// Adding or removing the NodeGroup finalizer, or the labelling under it, failed.
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The reflectors stopped (the controllers are shutting down).
    #[error("the watches feeding the controllers stopped")]
    WorldStopped,
    /// Leader election failed.
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

impl Error {
    fn metric_reason(&self) -> &'static str {
        match self {
            Error::Api { .. } | Error::Lease(_) => "api",
            Error::Finalizer(_) => "finalizer",
            Error::WorldStopped => "world",
        }
    }
}

/// What every reconcile shares.
pub(crate) struct Context {
    pub(crate) client: Client,
    pub(crate) world: world::World,
    pub(crate) options: ControllerOptions,
    pub(crate) metrics: ControllerMetrics,
    pub(crate) recorder: Recorder,
    /// Consecutive failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// Reports an API failure on a source: `Ready: False` with reason `ApplyFailed` (when the
    /// status does not say so already) and a Warning Event. Best effort: the reconcile fails
    /// anyway and is retried.
    pub(crate) async fn report_failure<K>(
        &self,
        object: &K,
        current: Option<&ObjectStatus>,
        error: &Error,
    ) where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
    {
        let readiness = apply::Readiness::failed("ApplyFailed", error.to_string());
        match apply::write_status(&self.client, &self.recorder, object, current, &readiness).await {
            Ok(true) => {}
            // Unchanged status: still say it happened again.
            Ok(false) => {
                apply::warn(&self.recorder, object, "ApplyFailed", &error.to_string()).await
            }
            Err(e) => tracing::warn!(error = %e, "cannot report a failure in the status"),
        }
    }

    /// Sets the materialised-objects gauges from what exists.
    pub(crate) fn record_materialized(&self, made: &DesiredRbac) {
        self.metrics
            .set_materialized("ClusterRole", made.cluster_roles.len());
        self.metrics.set_materialized("Role", made.roles.len());
        self.metrics
            .set_materialized("ClusterRoleBinding", made.cluster_role_bindings.len());
        self.metrics
            .set_materialized("RoleBinding", made.role_bindings.len());
    }

    fn record_counts(&self) {
        self.metrics
            .set_materialized("ClusterRole", self.world.cluster_roles.len());
        self.metrics
            .set_materialized("Role", self.world.roles.len());
        self.metrics
            .set_materialized("ClusterRoleBinding", self.world.cluster_role_bindings.len());
        self.metrics
            .set_materialized("RoleBinding", self.world.role_bindings.len());
    }

    /// The delay before retrying a failed object: 1 s, doubling per consecutive failure, at
    /// most 5 minutes.
    fn backoff(&self, key: String) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        backoff_delay(*n)
    }

    fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// 1 s after the first failure, doubling, at most 5 minutes.
pub(crate) fn backoff_delay(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(9);
    Duration::from_secs(1u64 << exponent).min(Duration::from_secs(300))
}

/// Wraps a reconcile with metrics and the backoff bookkeeping.
async fn instrumented<K, F>(
    controller: &'static str,
    object: Arc<K>,
    ctx: Arc<Context>,
    reconcile: impl FnOnce(Arc<K>, Arc<Context>) -> F,
) -> Result<Action, Error>
where
    K: Resource,
    F: Future<Output = Result<Action, Error>>,
{
    let key = format!("{controller}/{}", object.name_any());
    let timer = ctx.metrics.start(controller);
    let result = reconcile(object, ctx.clone()).await;
    ctx.metrics
        .finish(timer, result.as_ref().err().map(Error::metric_reason));
    ctx.record_counts();
    if result.is_ok() {
        ctx.succeeded(&key);
    }
    result
}

fn error_policy<K: Resource>(
    controller: &'static str,
) -> impl Fn(Arc<K>, &Error, Arc<Context>) -> Action {
    move |object, error, ctx| {
        let delay = ctx.backoff(format!("{controller}/{}", object.name_any()));
        tracing::warn!(%controller, object = %object.name_any(), %error, retry_in = ?delay, "reconcile failed");
        Action::requeue(delay)
    }
}

/// One result of a controller's stream.
type Reconciled<K, E, Q> = Result<(ObjectRef<K>, Action), kube::runtime::controller::Error<E, Q>>;

fn log_result<K: Resource, E: std::error::Error, Q: std::error::Error>(
    controller: &'static str,
) -> impl Fn(Reconciled<K, E, Q>) -> std::future::Ready<()> {
    move |result| {
        match result {
            Ok((object, _)) => tracing::debug!(%controller, %object, "reconciled"),
            // A deleted object's trigger: nothing to reconcile.
            Err(kube::runtime::controller::Error::ObjectNotFound(object)) => {
                tracing::debug!(%controller, %object, "gone")
            }
            // Already logged by the error policy.
            Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
            Err(error) => tracing::warn!(%controller, %error, "controller"),
        }
        std::future::ready(())
    }
}

/// Runs the three controllers (and the orphan sweep) until the returned future is dropped.
/// Nothing else must write what they write: use [`run_with_leader_election`] when more than
/// one replica may run.
pub async fn run(
    client: Client,
    options: ControllerOptions,
    metrics: ControllerMetrics,
) -> Result<(), Error> {
    let feeds = world::World::start(&client);
    let world = feeds.world.clone();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "scopegate".to_string(),
            instance: Some(options.instance.clone()),
        },
    );
    let ctx = Arc::new(Context {
        client,
        world: world.clone(),
        options,
        metrics,
        recorder,
        failures: Mutex::default(),
    });

    let t = feeds.iam_role;
    let roles = Controller::for_stream(t.roles, world.iam_roles.clone())
        .owns_stream(t.cluster_roles)
        .watches_stream(t.templates, {
            let roles = world.iam_roles.clone();
            move |template| iam_role::roles_using(&template, &roles)
        })
        .run(
            |o, c| instrumented(iam_role::NAME, o, c, iam_role::reconcile),
            error_policy(iam_role::NAME),
            ctx.clone(),
        )
        .for_each(log_result(iam_role::NAME));

    let t = feeds.iam_role_binding;
    let b = || world.iam_role_bindings.clone();
    let bindings = Controller::for_stream(t.bindings, b())
        .owns_stream(t.cluster_roles)
        .owns_stream(t.cluster_role_bindings)
        // Not `owns_stream`: it looks the owner up in the child's namespace, and an
        // IAMRoleBinding is cluster-scoped.
        .watches_stream(
            t.native_roles,
            iam_role_binding::owner::<k8s_openapi::api::rbac::v1::Role>,
        )
        .watches_stream(
            t.role_bindings,
            iam_role_binding::owner::<k8s_openapi::api::rbac::v1::RoleBinding>,
        )
        .watches_stream(t.roles, iam_role_binding::map_role(b()))
        .watches_stream(
            t.templates,
            iam_role_binding::map_template(world.iam_roles.clone(), b()),
        )
        .watches_stream(
            t.node_groups,
            iam_role_binding::map_declared::<NodeGroup>(ScopeKind::NodeGroup, b()),
        )
        .watches_stream(
            t.workspaces,
            iam_role_binding::map_declared::<Workspace>(ScopeKind::Workspace, b()),
        )
        .watches_stream(
            t.clusters,
            iam_role_binding::map_declared::<Cluster>(ScopeKind::Cluster, b()),
        )
        .watches_stream(
            t.namespaces,
            iam_role_binding::map_namespace(world.namespaces.clone(), b()),
        )
        .watches_stream(
            t.nodes,
            iam_role_binding::map_node(world.nodes.clone(), b()),
        )
        .run(
            |o, c| instrumented(iam_role_binding::NAME, o, c, iam_role_binding::reconcile),
            error_policy(iam_role_binding::NAME),
            ctx.clone(),
        )
        .for_each(log_result(iam_role_binding::NAME));

    let t = feeds.node_group;
    let groups = Controller::for_stream(t.groups, world.node_groups.clone())
        .watches_stream(
            t.other_groups,
            node_group::map_group(world.node_groups.clone()),
        )
        .watches_stream(
            t.nodes,
            node_group::map_node(world.nodes.clone(), world.node_groups.clone()),
        )
        .run(
            |o, c| instrumented(node_group::NAME, o, c, node_group::reconcile),
            error_policy(node_group::NAME),
            ctx.clone(),
        )
        .for_each(log_result(node_group::NAME));

    let sweeper = sweep::run(ctx.clone(), feeds.sources_gone);
    let mut tasks: Vec<futures::future::BoxFuture<'static, ()>> = feeds.drivers;
    tasks.push(Box::pin(roles));
    tasks.push(Box::pin(bindings));
    tasks.push(Box::pin(groups));
    tasks.push(Box::pin(sweeper));
    tracing::info!(materialize = ctx.options.materialize, cluster = %ctx.options.cluster_name, "controllers running");
    // None of these ends while the API server is reachable; if one does, everything stops.
    select_all(tasks).await;
    Err(Error::WorldStopped)
}

/// Runs the controllers only while this replica holds the Lease `lease`: waits to acquire it,
/// runs [`run`] while renewing it, stops the controllers as soon as renewal fails or another
/// replica holds it (and waits to acquire it again), and releases it when `shutdown`
/// completes.
pub async fn run_with_leader_election(
    client: Client,
    options: ControllerOptions,
    metrics: ControllerMetrics,
    lease: LeaseConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let mut elector = LeaderElector::new(client.clone(), lease)?;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = elector.acquire() => {}
        }
        tracing::info!(identity = %elector.config().identity, "leading: starting the controllers");
        metrics.set_leader(true);
        enum Ended {
            Shutdown,
            Lost,
            Stopped(Result<(), Error>),
        }
        let ended = tokio::select! {
            () = &mut shutdown => Ended::Shutdown,
            () = elector.hold() => Ended::Lost,
            result = run(client.clone(), options.clone(), metrics.clone()) => Ended::Stopped(result),
        };
        // Every controller future is dropped here: no more writes from this replica.
        metrics.set_leader(false);
        match ended {
            Ended::Lost => tracing::warn!("lost the Lease: controllers stopped"),
            Ended::Shutdown => {
                elector.release().await;
                return Ok(());
            }
            Ended::Stopped(result) => {
                elector.release().await;
                return result;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff_delay(1), Duration::from_secs(1));
        assert_eq!(backoff_delay(2), Duration::from_secs(2));
        assert_eq!(backoff_delay(4), Duration::from_secs(8));
        assert_eq!(backoff_delay(9), Duration::from_secs(256));
        assert_eq!(backoff_delay(10), Duration::from_secs(300));
        assert_eq!(backoff_delay(u32::MAX), Duration::from_secs(300));
    }
}
