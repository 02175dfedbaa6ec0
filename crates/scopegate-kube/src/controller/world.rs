//! The controllers' view of the cluster: one reflector (a watch feeding an in-memory store)
//! per kind they read, shared by all three controllers, and the trigger streams fed from them.
//!
//! Every trigger a controller receives is sent *after* the reflector has written the change
//! into its store, so a reconcile started by a change always reads a world that contains it.
//! (Separate watches for triggers and for stores, as `Controller::owns` and `watches` would
//! make, can deliver the trigger first: a reconcile would then read the old world, decide
//! nothing changed, and miss a revocation until the next resync.) This is why the controllers
//! are built with `Controller::for_stream`, `owns_stream` and `watches_stream` over the
//! streams made here.
//!
//! Deletions are sent too (the last state of the deleted object), so that a deleted owned
//! object (drift) or a deleted dependency (a RoleTemplate, a Namespace) triggers a reconcile.
//! Namespaces and Nodes are watched as metadata only: labels are all Scopegate reads of them.

use super::Error;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use scopegate_core::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;

use crate::materialize::{
    DesiredRbac, MANAGED_BY_LABEL, MANAGED_BY_VALUE, iam_role_binding_object_name,
    iam_role_object_name,
};

/// A trigger stream: objects (or the last state of deleted ones) after their store has them.
pub(crate) type Trigger<K> = UnboundedReceiver<Result<K, watcher::Error>>;

/// The stores every reconcile reads.
#[derive(Clone)]
pub(crate) struct World {
    pub(crate) role_templates: Store<RoleTemplate>,
    pub(crate) iam_roles: Store<IamRole>,
    pub(crate) iam_role_bindings: Store<IamRoleBinding>,
    pub(crate) node_groups: Store<NodeGroup>,
    pub(crate) workspaces: Store<Workspace>,
    pub(crate) clusters: Store<Cluster>,
    pub(crate) namespaces: Store<PartialObjectMeta<Namespace>>,
    pub(crate) nodes: Store<PartialObjectMeta<Node>>,
    /// Only the objects labelled `app.kubernetes.io/managed-by: scopegate`.
    pub(crate) cluster_roles: Store<ClusterRole>,
    pub(crate) roles: Store<Role>,
    pub(crate) role_bindings: Store<RoleBinding>,
    pub(crate) cluster_role_bindings: Store<ClusterRoleBinding>,
}

/// The IAMRole controller's triggers.
pub(crate) struct IamRoleTriggers {
    pub(crate) roles: Trigger<IamRole>,
    pub(crate) templates: Trigger<RoleTemplate>,
    pub(crate) cluster_roles: Trigger<ClusterRole>,
}

/// The IAMRoleBinding controller's triggers.
pub(crate) struct IamRoleBindingTriggers {
    pub(crate) bindings: Trigger<IamRoleBinding>,
    pub(crate) roles: Trigger<IamRole>,
    pub(crate) templates: Trigger<RoleTemplate>,
    pub(crate) node_groups: Trigger<NodeGroup>,
    pub(crate) workspaces: Trigger<Workspace>,
    pub(crate) clusters: Trigger<Cluster>,
    pub(crate) namespaces: Trigger<PartialObjectMeta<Namespace>>,
    pub(crate) nodes: Trigger<PartialObjectMeta<Node>>,
    pub(crate) cluster_roles: Trigger<ClusterRole>,
    pub(crate) native_roles: Trigger<Role>,
    pub(crate) role_bindings: Trigger<RoleBinding>,
    pub(crate) cluster_role_bindings: Trigger<ClusterRoleBinding>,
}

/// The NodeGroup controller's triggers.
pub(crate) struct NodeGroupTriggers {
    pub(crate) groups: Trigger<NodeGroup>,
    pub(crate) other_groups: Trigger<NodeGroup>,
    pub(crate) nodes: Trigger<PartialObjectMeta<Node>>,
}

/// Everything [`World::start`] makes: the stores, the futures that drive the watches (they
/// must be polled for anything to happen), the triggers, and a stream that yields whenever an
/// IAMRole or IAMRoleBinding is deleted or its watch is re-listed (for the orphan sweep).
pub(crate) struct Feeds {
    pub(crate) world: World,
    pub(crate) drivers: Vec<BoxFuture<'static, ()>>,
    pub(crate) iam_role: IamRoleTriggers,
    pub(crate) iam_role_binding: IamRoleBindingTriggers,
    pub(crate) node_group: NodeGroupTriggers,
    pub(crate) sources_gone: UnboundedReceiver<()>,
}

impl World {
    /// Starts nothing by itself: returns the stores and the futures that fill them.
    pub(crate) fn start(client: &Client) -> Feeds {
        let managed = watcher::Config::default()
            .labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"))
            .any_semantic();
        let all = || watcher::Config::default().any_semantic();
        let (gone_tx, sources_gone) = unbounded();
        let mut drivers = Vec::new();

        let d = &mut drivers;
        let (role_templates, [tpl_for_roles, tpl_for_bindings]) =
            feed(watcher(Api::all(client.clone()), all()), None, d);
        let (iam_roles, [roles_primary, roles_for_bindings]) = feed(
            watcher(Api::all(client.clone()), all()),
            Some(gone_tx.clone()),
            d,
        );
        let (iam_role_bindings, [bindings_primary]) =
            feed(watcher(Api::all(client.clone()), all()), Some(gone_tx), d);
        let (node_groups, [groups_primary, groups_others, groups_for_bindings]) =
            feed(watcher(Api::all(client.clone()), all()), None, d);
        let (workspaces, [workspaces_for_bindings]) =
            feed(watcher(Api::all(client.clone()), all()), None, d);
        let (clusters, [clusters_for_bindings]) =
            feed(watcher(Api::all(client.clone()), all()), None, d);
        let (namespaces, [namespaces_for_bindings]) = feed(
            watcher(
                Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
                all(),
            ),
            None,
            d,
        );
        let (nodes, [nodes_for_groups, nodes_for_bindings]) = feed(
            watcher(Api::<PartialObjectMeta<Node>>::all(client.clone()), all()),
            None,
            d,
        );
        let (cluster_roles, [crs_for_roles, crs_for_bindings]) =
            feed(watcher(Api::all(client.clone()), managed.clone()), None, d);
        let (roles, [native_roles]) =
            feed(watcher(Api::all(client.clone()), managed.clone()), None, d);
        let (role_bindings, [rbs]) =
            feed(watcher(Api::all(client.clone()), managed.clone()), None, d);
        let (cluster_role_bindings, [crbs]) =
            feed(watcher(Api::all(client.clone()), managed), None, d);

        Feeds {
            world: World {
                role_templates,
                iam_roles,
                iam_role_bindings,
                node_groups,
                workspaces,
                clusters,
                namespaces,
                nodes,
                cluster_roles,
                roles,
                role_bindings,
                cluster_role_bindings,
            },
            drivers,
            iam_role: IamRoleTriggers {
                roles: roles_primary,
                templates: tpl_for_roles,
                cluster_roles: crs_for_roles,
            },
            iam_role_binding: IamRoleBindingTriggers {
                bindings: bindings_primary,
                roles: roles_for_bindings,
                templates: tpl_for_bindings,
                node_groups: groups_for_bindings,
                workspaces: workspaces_for_bindings,
                clusters: clusters_for_bindings,
                namespaces: namespaces_for_bindings,
                nodes: nodes_for_bindings,
                cluster_roles: crs_for_bindings,
                native_roles,
                role_bindings: rbs,
                cluster_role_bindings: crbs,
            },
            node_group: NodeGroupTriggers {
                groups: groups_primary,
                other_groups: groups_others,
                nodes: nodes_for_groups,
            },
            sources_gone,
        }
    }

    /// Waits until every store has been filled by its first complete list. Reconciles wait
    /// for this: deciding on a half-filled world would delete what the missing half justifies
    /// (a RoleBinding in a namespace not listed yet, a ClusterRole whose template is not).
    pub(crate) async fn ready(&self) -> Result<(), Error> {
        wait(&self.role_templates, "RoleTemplate").await?;
        wait(&self.iam_roles, "IAMRole").await?;
        wait(&self.iam_role_bindings, "IAMRoleBinding").await?;
        wait(&self.node_groups, "NodeGroup").await?;
        wait(&self.workspaces, "Workspace").await?;
        wait(&self.clusters, "Cluster").await?;
        wait(&self.namespaces, "Namespace").await?;
        wait(&self.nodes, "Node").await?;
        wait(&self.cluster_roles, "ClusterRole").await?;
        wait(&self.roles, "Role").await?;
        wait(&self.role_bindings, "RoleBinding").await?;
        wait(&self.cluster_role_bindings, "ClusterRoleBinding").await
    }

    /// Every RoleTemplate.
    pub(crate) fn role_templates(&self) -> Vec<RoleTemplate> {
        owned(&self.role_templates)
    }

    /// Whether namespace `name` exists.
    pub(crate) fn namespace_exists(&self, name: &str) -> bool {
        self.namespaces.get(&ObjectRef::new(name)).is_some()
    }

    /// What exists of what IAMRole `role` made: its ClusterRole, if labelled as Scopegate's.
    pub(crate) fn made_for_role(&self, role: &str) -> DesiredRbac {
        let name = iam_role_object_name(role);
        DesiredRbac {
            cluster_roles: self
                .cluster_roles
                .get(&ObjectRef::new(&name))
                .map(|o| vec![(*o).clone()])
                .unwrap_or_default(),
            ..DesiredRbac::default()
        }
    }

    /// What exists of what IAMRoleBinding `binding` made: the objects of the four kinds named
    /// for it (in any namespace) and labelled as Scopegate's.
    pub(crate) fn made_for_binding(&self, binding: &str) -> DesiredRbac {
        let name = iam_role_binding_object_name(binding);
        let named = |meta: &kube::api::ObjectMeta| meta.name.as_deref() == Some(name.as_str());
        DesiredRbac {
            cluster_roles: self
                .cluster_roles
                .get(&ObjectRef::new(&name))
                .map(|o| vec![(*o).clone()])
                .unwrap_or_default(),
            roles: self
                .roles
                .state_filter(|o| named(&o.metadata))
                .iter()
                .map(|o| (**o).clone())
                .collect(),
            role_bindings: self
                .role_bindings
                .state_filter(|o| named(&o.metadata))
                .iter()
                .map(|o| (**o).clone())
                .collect(),
            cluster_role_bindings: self
                .cluster_role_bindings
                .get(&ObjectRef::new(&name))
                .map(|o| vec![(*o).clone()])
                .unwrap_or_default(),
        }
    }
}

/// Waits for one store's first complete list, saying which kind it waits for when that takes
/// long (a missing CRD or permission shows here).
async fn wait<K>(store: &Store<K>, kind: &str) -> Result<(), Error>
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    // Waited for in short slices: with many reconciles waiting on one store at once, not
    // every waiter is woken when the store becomes ready (seen as a ~10 s stall at start-up
    // with a single 10 s timeout); a fresh wait on a ready store returns at once.
    const SLICE: std::time::Duration = std::time::Duration::from_millis(100);
    let started = tokio::time::Instant::now();
    let mut warned_at = started;
    loop {
        match tokio::time::timeout(SLICE, store.wait_until_ready()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(_)) => return Err(Error::WorldStopped),
            Err(_) if warned_at.elapsed() >= std::time::Duration::from_secs(10) => {
                tracing::warn!(%kind, waited = ?started.elapsed(), "still waiting for the first complete list");
                warned_at = tokio::time::Instant::now();
            }
            Err(_) => {}
        }
    }
}

/// Clones of every object in a store.
pub(crate) fn owned<K: Clone + kube::runtime::reflector::Lookup>(store: &Store<K>) -> Vec<K>
where
    K::DynamicType: Eq + Hash + Clone,
{
    store.state().iter().map(|o| (**o).clone()).collect()
}

/// A Namespace or Node with only its metadata, as the materialiser takes them.
pub(crate) fn from_meta<K: Default + Resource>(meta: &PartialObjectMeta<K>) -> K {
    let mut object = K::default();
    *object.meta_mut() = meta.metadata.clone();
    object
}

/// A reflector over `events` with `N` trigger streams, each receiving every applied or
/// deleted object after the store has it; the future driving it is pushed onto `drivers`.
/// `gone`, if given, is told about every deletion and every completed (re-)list, after which
/// objects may have vanished unseen.
fn feed<K, S, const N: usize>(
    events: S,
    gone: Option<UnboundedSender<()>>,
    drivers: &mut Vec<BoxFuture<'static, ()>>,
) -> (Store<K>, [Trigger<K>; N])
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Default,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (reader, writer) = reflector::store();
    let channels: [(UnboundedSender<_>, Trigger<K>); N] = std::array::from_fn(|_| unbounded());
    let (senders, receivers): (Vec<_>, Vec<_>) = channels.into_iter().unzip();
    let receivers: [Trigger<K>; N] = match receivers.try_into() {
        Ok(array) => array,
        // Unreachable: there are exactly N of them.
        Err(_) => std::array::from_fn(|_| unbounded().1),
    };
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let driver = async move {
        let mut stream = std::pin::pin!(reflector::reflector(writer, events.default_backoff()));
        while let Some(event) = stream.next().await {
            let (object, deleted) = match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => (o, false),
                Ok(watcher::Event::Delete(o)) => (o, true),
                Ok(watcher::Event::InitDone) => {
                    if let Some(gone) = &gone {
                        let _ = gone.unbounded_send(());
                    }
                    continue;
                }
                Ok(watcher::Event::Init) => continue,
                Err(error) => {
                    tracing::warn!(%kind, %error, "watch failed; retrying with backoff");
                    continue;
                }
            };
            for sender in &senders {
                // A closed receiver is a controller that stopped: nothing to tell it.
                let _ = sender.unbounded_send(Ok(object.clone()));
            }
            if deleted && let Some(gone) = &gone {
                let _ = gone.unbounded_send(());
            }
        }
    }
    .boxed();
    drivers.push(driver);
    (reader, receivers)
}
