//! The watch-fed policy source: one kube-runtime watcher per kind the policy is built from
//! (the six Scopegate custom resources, the four native RBAC kinds, Namespaces and Nodes),
//! turned into [`WatchUpdate`]s a policy store applies one by one.
//!
//! Flow, per kind: `watcher` → [`KindFeed`] (a re-list's objects are gathered from `Init` to
//! `InitDone` and handed over whole, so objects deleted while the watch was down go away;
//! every object is read into the engine's types and trimmed to what the policy reads) → one
//! channel shared by all kinds → [`PolicyWatch::recv`].
//!
//! - **Unreadable objects never stop a watch.** Objects are watched as `DynamicObject`s and
//!   read into the typed model one at a time: one that does not fit (a custom resource written
//!   past a schema an older API server could not enforce) is reported as
//!   [`WatchUpdate::Unreadable`] and left out (on a change, its previous version is taken out
//!   too: an object in error grants nothing). A typed watcher would instead fail the whole
//!   list, and with it every object of the kind.
//! - **A failed watch is listed again, after a backoff.** Any error ends the watcher; after
//!   kube-runtime's [`DefaultBackoff`] (0.8 s doubling to 30 s, jittered, reset after two
//!   quiet minutes, the policy `WatchStreamExt::default_backoff` applies) a fresh watcher lists
//!   the kind again. Like client-go's reflector, this makes recovery visible (a new
//!   [`WatchUpdate::Listed`]) and leaves nothing missed behind.
//! - **Only what the policy reads is kept.** Status, `managedFields`, `resourceVersion`,
//!   `kubectl`'s last-applied annotation, and a Node's spec are dropped, so a node heartbeat
//!   or a controller writing a status condition is an update that changes nothing.

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, TypeMeta};
use kube::runtime::watcher::{self, DefaultBackoff, Event};
use scopegate_core::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use scopegate_core::{ObjectKind, ObjectRef, PolicyObject};
use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Every kind a watch-fed policy is built from, watched one watcher each.
pub const WATCHED_KINDS: [ObjectKind; 12] = ObjectKind::ALL;

/// How many updates may wait for the consumer before the watchers pause.
const CHANNEL_CAPACITY: usize = 4096;

/// The annotation `kubectl apply` keeps a whole copy of the object in; never policy.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What the watches saw, in order for each kind.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchUpdate {
    /// A (re-)list of `kind` completed: the API server holds exactly `objects` of it now.
    /// Objects held from an earlier list and not among these were deleted meanwhile.
    Listed {
        /// The kind listed.
        kind: ObjectKind,
        /// Every readable object of it.
        objects: Vec<PolicyObject>,
    },
    /// An object was created or changed (boxed: an object is large, the other updates small).
    Applied(Box<PolicyObject>),
    /// An object was deleted, or changed into something that cannot be read.
    Deleted(ObjectRef),
    /// An object could not be read as its kind and was left out of the policy.
    Unreadable {
        /// The object.
        object: ObjectRef,
        /// Why, naming the field.
        error: String,
    },
    /// The watch of `kind` failed; the kind is listed again after a backoff. What was
    /// received before keeps counting.
    Failed {
        /// The kind whose watch failed.
        kind: ObjectKind,
        /// What went wrong.
        error: String,
    },
}

/// Turns one kind's watcher events into [`WatchUpdate`]s: reads each object into the
/// engine's types, and gathers a list's objects until it completes. No I/O, so it is tested
/// with made-up events.
#[derive(Debug)]
pub struct KindFeed {
    kind: ObjectKind,
    /// The objects of a list in progress (between `Init` and `InitDone`).
    listing: Option<Vec<PolicyObject>>,
}

impl KindFeed {
    /// A feed for `kind`, with no list in progress.
    pub fn new(kind: ObjectKind) -> Self {
        KindFeed {
            kind,
            listing: None,
        }
    }

    /// The updates one watcher event makes.
    pub fn on_event(&mut self, event: Event<DynamicObject>) -> Vec<WatchUpdate> {
        match event {
            Event::Init => {
                self.listing = Some(Vec::new());
                Vec::new()
            }
            Event::InitApply(object) => {
                let object_ref = ObjectRef::of(self.kind, &object.metadata);
                match decode(self.kind, object) {
                    Ok(decoded) => {
                        self.listing.get_or_insert_with(Vec::new).push(decoded);
                        Vec::new()
                    }
                    Err(error) => vec![WatchUpdate::Unreadable {
                        object: object_ref,
                        error,
                    }],
                }
            }
            Event::InitDone => match self.listing.take() {
                Some(objects) => vec![WatchUpdate::Listed {
                    kind: self.kind,
                    objects,
                }],
                None => {
                    // kube-runtime always starts a list with Init; a list that never began
                    // must not be taken for an empty one (that would delete every object).
                    tracing::warn!(kind = %self.kind, "watch: a list ended that never began; ignored");
                    Vec::new()
                }
            },
            Event::Apply(object) => {
                let object_ref = ObjectRef::of(self.kind, &object.metadata);
                match decode(self.kind, object) {
                    Ok(decoded) => vec![WatchUpdate::Applied(Box::new(decoded))],
                    Err(error) => vec![
                        WatchUpdate::Unreadable {
                            object: object_ref.clone(),
                            error,
                        },
                        WatchUpdate::Deleted(object_ref),
                    ],
                }
            }
            Event::Delete(object) => {
                vec![WatchUpdate::Deleted(ObjectRef::of(
                    self.kind,
                    &object.metadata,
                ))]
            }
        }
    }

    /// The update a watch error makes. A list in progress is dropped: the next one starts over.
    pub fn on_error(&mut self, error: &impl Display) -> WatchUpdate {
        self.listing = None;
        WatchUpdate::Failed {
            kind: self.kind,
            error: error.to_string(),
        }
    }
}

/// Reads a watched object into the engine's type for `kind`, keeping only what the policy
/// reads (see the module documentation). The error names the field that does not fit.
pub fn decode(kind: ObjectKind, mut object: DynamicObject) -> Result<PolicyObject, String> {
    object.types = Some(TypeMeta {
        api_version: kind.api_version().to_string(),
        kind: kind.as_str().to_string(),
    });
    object.metadata = trimmed_metadata(object.metadata);
    if let Some(fields) = object.data.as_object_mut() {
        fields.remove("status");
        if kind == ObjectKind::Node {
            fields.remove("spec");
        }
    }
    let value = serde_json::to_value(&object).map_err(|e| e.to_string())?;
    match kind {
        ObjectKind::RoleTemplate => typed::<RoleTemplate>(value).map(PolicyObject::RoleTemplate),
        ObjectKind::IamRole => typed::<IamRole>(value).map(PolicyObject::IamRole),
        ObjectKind::IamRoleBinding => {
            typed::<IamRoleBinding>(value).map(PolicyObject::IamRoleBinding)
        }
        ObjectKind::Cluster => typed::<Cluster>(value).map(PolicyObject::Cluster),
        ObjectKind::Workspace => typed::<Workspace>(value).map(PolicyObject::Workspace),
        ObjectKind::NodeGroup => typed::<NodeGroup>(value).map(PolicyObject::NodeGroup),
        ObjectKind::Role => typed::<Role>(value).map(PolicyObject::Role),
        ObjectKind::ClusterRole => typed::<ClusterRole>(value).map(PolicyObject::ClusterRole),
        ObjectKind::RoleBinding => typed::<RoleBinding>(value).map(PolicyObject::RoleBinding),
        ObjectKind::ClusterRoleBinding => {
            typed::<ClusterRoleBinding>(value).map(PolicyObject::ClusterRoleBinding)
        }
        ObjectKind::Namespace => typed::<Namespace>(value).map(PolicyObject::Namespace),
        ObjectKind::Node => typed::<Node>(value).map(PolicyObject::Node),
    }
}

/// Name, namespace, labels and annotations (without kubectl's copy of the object): what the
/// policy and its diagnostics read, and nothing that changes on every write.
fn trimmed_metadata(meta: ObjectMeta) -> ObjectMeta {
    let annotations = meta.annotations.map(|mut a| {
        a.remove(LAST_APPLIED);
        a
    });
    ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        labels: meta.labels,
        annotations: annotations.filter(|a| !a.is_empty()),
        ..ObjectMeta::default()
    }
}

fn typed<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// The API resource a kind is watched at.
pub fn api_resource(kind: ObjectKind) -> ApiResource {
    match kind {
        ObjectKind::RoleTemplate => ApiResource::erase::<RoleTemplate>(&()),
        ObjectKind::IamRole => ApiResource::erase::<IamRole>(&()),
        ObjectKind::IamRoleBinding => ApiResource::erase::<IamRoleBinding>(&()),
        ObjectKind::Cluster => ApiResource::erase::<Cluster>(&()),
        ObjectKind::Workspace => ApiResource::erase::<Workspace>(&()),
        ObjectKind::NodeGroup => ApiResource::erase::<NodeGroup>(&()),
        ObjectKind::Role => ApiResource::erase::<Role>(&()),
        ObjectKind::ClusterRole => ApiResource::erase::<ClusterRole>(&()),
        ObjectKind::RoleBinding => ApiResource::erase::<RoleBinding>(&()),
        ObjectKind::ClusterRoleBinding => ApiResource::erase::<ClusterRoleBinding>(&()),
        ObjectKind::Namespace => ApiResource::erase::<Namespace>(&()),
        ObjectKind::Node => ApiResource::erase::<Node>(&()),
    }
}

/// Runs one kind's watch until `updates` is closed: a watcher from `connect`, its events
/// through a [`KindFeed`], and after an error or an ended stream a pause from `backoff`
/// before a new watcher lists again.
pub async fn run_kind<S, E>(
    kind: ObjectKind,
    mut connect: impl FnMut() -> S,
    mut backoff: impl Iterator<Item = Duration>,
    updates: mpsc::Sender<WatchUpdate>,
) where
    S: Stream<Item = Result<Event<DynamicObject>, E>>,
    E: Display,
{
    loop {
        let mut feed = KindFeed::new(kind);
        let mut stream = std::pin::pin!(connect());
        while let Some(item) = stream.next().await {
            let (batch, failed) = match item {
                Ok(event) => (feed.on_event(event), false),
                Err(error) => (vec![feed.on_error(&error)], true),
            };
            for update in batch {
                if updates.send(update).await.is_err() {
                    return; // nobody listens any more
                }
            }
            if failed {
                break;
            }
        }
        if updates.is_closed() {
            return;
        }
        let pause = backoff.next().unwrap_or(Duration::from_secs(30));
        tracing::debug!(kind = %kind, pause = ?pause, "watch: listing again after a pause");
        tokio::time::sleep(pause).await;
    }
}

/// The running watches of every kind in [`WATCHED_KINDS`], and the updates they send.
/// Dropping it stops them.
#[derive(Debug)]
pub struct PolicyWatch {
    updates: mpsc::Receiver<WatchUpdate>,
    tasks: Vec<JoinHandle<()>>,
}

impl PolicyWatch {
    /// Starts one watcher per kind on `client` (cluster-wide; RBAC must allow list and watch
    /// of every kind). Must be called within a tokio runtime.
    pub fn start(client: &Client) -> PolicyWatch {
        let (sender, updates) = mpsc::channel(CHANNEL_CAPACITY);
        let tasks = WATCHED_KINDS
            .iter()
            .map(|&kind| {
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(kind));
                let sender = sender.clone();
                tokio::spawn(async move {
                    let connect = || watcher::watcher(api.clone(), watcher::Config::default());
                    run_kind(kind, connect, DefaultBackoff::default(), sender).await;
                })
            })
            .collect();
        PolicyWatch { updates, tasks }
    }

    /// The next update; `None` once every watch has stopped.
    pub async fn recv(&mut self) -> Option<WatchUpdate> {
        self.updates.recv().await
    }

    /// An update that is already waiting, if any: to take a burst as one batch.
    pub fn try_recv(&mut self) -> Option<WatchUpdate> {
        self.updates.try_recv().ok()
    }
}

impl Drop for PolicyWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
