//! Writing to the API server: carrying out a [`Plan`] (server-side apply as `scopegate`,
//! deletes guarded by uid), the `Ready` condition on a source's status, and Events.

use super::{Error, FIELD_MANAGER};
use crate::materialize::{DesiredRbac, ObjectKey, Plan, RbacKind, RbacObject};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use scopegate_core::model::ObjectStatus;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// What the `Ready` condition should say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Readiness {
    /// `True` or `False`.
    pub(crate) ready: bool,
    /// CamelCase.
    pub(crate) reason: String,
    /// For people.
    pub(crate) message: String,
    /// How many native RBAC objects are kept for the source (`status.nativeObjects`), or
    /// `None` when that is not known or not the source's business (failures, NodeGroups).
    pub(crate) native_objects: Option<u32>,
}

impl Readiness {
    pub(crate) fn ok(reason: &str, message: impl Into<String>) -> Self {
        Readiness {
            ready: true,
            reason: reason.to_string(),
            message: message.into(),
            native_objects: None,
        }
    }

    pub(crate) fn failed(reason: &str, message: impl Into<String>) -> Self {
        Readiness {
            ready: false,
            reason: reason.to_string(),
            message: message.into(),
            native_objects: None,
        }
    }

    /// The same, reporting that `made` is what the controllers keep for the source.
    pub(crate) fn keeping(self, made: &DesiredRbac) -> Self {
        Readiness {
            native_objects: Some(u32::try_from(made.len()).unwrap_or(u32::MAX)),
            ..self
        }
    }
}

/// The uid of every observed object, so deletes only ever remove the object planned on.
pub(crate) fn uids(observed: &DesiredRbac) -> BTreeMap<ObjectKey, String> {
    observed
        .clone()
        .into_objects()
        .into_iter()
        .filter_map(|o| Some((o.key(), o.metadata().uid.clone()?)))
        .collect()
}

/// Carries out `plan`: deletes first (bindings before roles), then applies (roles before
/// bindings). Returns how many writes were made. An object already gone, or replaced since it
/// was observed (its uid differs), is not an error: the watch brings the change back here.
pub(crate) async fn execute(
    client: &Client,
    plan: Plan,
    uids: &BTreeMap<ObjectKey, String>,
) -> Result<usize, Error> {
    let mut writes = 0;
    for key in &plan.delete {
        let params = DeleteParams {
            preconditions: uids.get(key).map(|uid| Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let ns = key.namespace.as_deref().unwrap_or_default();
        let result = match key.kind {
            RbacKind::ClusterRole => {
                delete(Api::<ClusterRole>::all(client.clone()), key, &params).await
            }
            RbacKind::ClusterRoleBinding => {
                delete(Api::<ClusterRoleBinding>::all(client.clone()), key, &params).await
            }
            RbacKind::Role => {
                delete(Api::<Role>::namespaced(client.clone(), ns), key, &params).await
            }
            RbacKind::RoleBinding => {
                delete(
                    Api::<RoleBinding>::namespaced(client.clone(), ns),
                    key,
                    &params,
                )
                .await
            }
        };
        result?;
        writes += 1;
        tracing::info!(object = %key, "deleted");
    }
    for object in plan.apply {
        let key = object.key();
        let ns = key.namespace.clone().unwrap_or_default();
        match object {
            RbacObject::ClusterRole(o) => apply(Api::all(client.clone()), &o).await?,
            RbacObject::ClusterRoleBinding(o) => apply(Api::all(client.clone()), &o).await?,
            RbacObject::Role(o) => apply(Api::namespaced(client.clone(), &ns), &o).await?,
            RbacObject::RoleBinding(o) => apply(Api::namespaced(client.clone(), &ns), &o).await?,
        }
        writes += 1;
        tracing::info!(object = %key, "applied");
    }
    Ok(writes)
}

async fn delete<K>(api: Api<K>, key: &ObjectKey, params: &DeleteParams) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match api.delete(&key.name, params).await {
        Ok(_) => Ok(()),
        // Gone already, or replaced by another object since observed.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(source) => Err(Error::Api {
            action: "delete",
            object: key.to_string(),
            source,
        }),
    }
}

/// Server-side applies `object` as the `scopegate` field manager, taking over fields others
/// changed (drift correction).
pub(crate) async fn apply<K>(api: Api<K>, object: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
{
    let name = object.name_any();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Api {
        action: "apply",
        object: format!("{} {}", K::kind(&()), display_name(object)),
        source,
    })
}

fn display_name<K: Resource>(object: &K) -> String {
    match &object.meta().namespace {
        Some(ns) => format!("{ns}/{}", object.name_any()),
        None => object.name_any(),
    }
}

/// "3 native objects: 1 ClusterRole, 2 RoleBindings" (or "no native objects").
pub(crate) fn describe(made: &DesiredRbac) -> String {
    let parts: Vec<String> = [
        (made.cluster_roles.len(), "ClusterRole"),
        (made.roles.len(), "Role"),
        (made.cluster_role_bindings.len(), "ClusterRoleBinding"),
        (made.role_bindings.len(), "RoleBinding"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, kind)| format!("{n} {kind}{}", if *n == 1 { "" } else { "s" }))
    .collect();
    match made.len() {
        0 => "no native objects".to_string(),
        1 => format!("1 native object: {}", parts.join(", ")),
        n => format!("{n} native objects: {}", parts.join(", ")),
    }
}

/// The status a source should have, or `None` when `current` already says it (no write:
/// a reconcile with nothing changed writes nothing). `lastTransitionTime` is kept while the
/// condition's status stays the same.
pub(crate) fn desired_status(
    generation: Option<i64>,
    current: Option<&ObjectStatus>,
    readiness: &Readiness,
    now: Time,
) -> Option<ObjectStatus> {
    let status = if readiness.ready { "True" } else { "False" };
    let previous = current.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    if let Some(p) = previous
        && p.status == status
        && p.reason == readiness.reason
        && p.message == readiness.message
        && p.observed_generation == generation
        && current.and_then(|s| s.observed_generation) == generation
        && current.and_then(|s| s.native_objects) == readiness.native_objects
    {
        return None;
    }
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => now,
    };
    Some(ObjectStatus {
        observed_generation: generation,
        conditions: vec![Condition {
            type_: "Ready".to_string(),
            status: status.to_string(),
            reason: readiness.reason.clone(),
            message: readiness.message.clone(),
            observed_generation: generation,
            last_transition_time,
        }],
        native_objects: readiness.native_objects,
    })
}

/// Writes the `Ready` condition, `observedGeneration` and `nativeObjects` onto `object`'s status subresource
/// when they differ from what it has; a Warning Event goes with every write of a `False`
/// condition (so a lasting error is one Event, not one per reconcile). Returns whether it
/// wrote.
pub(crate) async fn write_status<K>(
    client: &Client,
    recorder: &Recorder,
    object: &K,
    current: Option<&ObjectStatus>,
    readiness: &Readiness,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
{
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let Some(status) = desired_status(object.meta().generation, current, readiness, now) else {
        return Ok(false);
    };
    let api: Api<K> = Api::all(client.clone());
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|source| Error::Api {
        action: "update the status of",
        object: format!("{} {}", K::kind(&()), object.name_any()),
        source,
    })?;
    if !readiness.ready {
        warn(recorder, object, &readiness.reason, &readiness.message).await;
    }
    Ok(true)
}

/// Publishes a Warning Event about `object` (best effort: a failure is logged).
pub(crate) async fn warn<K>(recorder: &Recorder, object: &K, reason: &str, message: &str)
where
    K: Resource<DynamicType = ()>,
{
    let event = Event {
        type_: EventType::Warning,
        reason: reason.to_string(),
        note: Some(truncate(message, 1000)),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    let mut reference = object.object_ref(&());
    let mut result = recorder.publish(&event, &reference).await;
    // API servers before v1.22 or so refuse an Event about a cluster-scoped object unless its
    // reference names the Event's namespace ("default").
    if matches!(&result, Err(kube::Error::Api(s)) if s.code == 422) && reference.namespace.is_none()
    {
        reference.namespace = Some("default".to_string());
        result = recorder.publish(&event, &reference).await;
    }
    if let Err(error) = result {
        tracing::warn!(%error, object = %object.name_any(), "cannot publish an Event");
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn a_status_that_says_the_same_is_not_written_again() {
        let ready = Readiness::ok("Materialized", "1 native object: 1 ClusterRole");
        let first = desired_status(Some(3), None, &ready, t(10)).unwrap();
        assert_eq!(first.observed_generation, Some(3));
        assert_eq!(first.conditions[0].status, "True");
        assert!(desired_status(Some(3), Some(&first), &ready, t(20)).is_none());
    }

    #[test]
    fn a_new_generation_is_written_keeping_the_transition_time() {
        let ready = Readiness::ok("Materialized", "x");
        let first = desired_status(Some(1), None, &ready, t(10)).unwrap();
        let second = desired_status(Some(2), Some(&first), &ready, t(20)).unwrap();
        assert_eq!(second.observed_generation, Some(2));
        assert_eq!(second.conditions[0].last_transition_time, t(10));
    }

    #[test]
    fn a_change_of_status_moves_the_transition_time() {
        let first =
            desired_status(Some(1), None, &Readiness::ok("Materialized", "x"), t(10)).unwrap();
        let failed = Readiness::failed("RoleNotFound", "IAMRole \"r\" does not exist");
        let second = desired_status(Some(1), Some(&first), &failed, t(20)).unwrap();
        assert_eq!(second.conditions[0].status, "False");
        assert_eq!(second.conditions[0].reason, "RoleNotFound");
        assert_eq!(second.conditions[0].last_transition_time, t(20));
        // Same status, another reason: rewritten, transition time kept.
        let other = Readiness::failed("InvalidBinding", "spec.scope: bad");
        let third = desired_status(Some(1), Some(&second), &other, t(30)).unwrap();
        assert_eq!(third.conditions[0].last_transition_time, t(20));
    }

    #[test]
    fn the_native_object_count_is_written_and_compared() {
        let mut made = DesiredRbac::default();
        made.cluster_roles.push(ClusterRole::default());
        let one = Readiness::ok("Materialized", "m").keeping(&made);
        let first = desired_status(Some(1), None, &one, t(10)).unwrap();
        assert_eq!(first.native_objects, Some(1));
        assert!(desired_status(Some(1), Some(&first), &one, t(20)).is_none());
        // Only the count changed (same message): still written.
        made.role_bindings.push(RoleBinding::default());
        let two = Readiness::ok("Materialized", "m").keeping(&made);
        let second = desired_status(Some(1), Some(&first), &two, t(30)).unwrap();
        assert_eq!(second.native_objects, Some(2));
        // A failure does not claim a count.
        let failed = Readiness::failed("ApplyFailed", "boom");
        let third = desired_status(Some(1), Some(&second), &failed, t(40)).unwrap();
        assert_eq!(third.native_objects, None);
    }

    #[test]
    fn objects_are_described_by_kind() {
        let mut made = DesiredRbac::default();
        assert_eq!(describe(&made), "no native objects");
        made.cluster_roles.push(ClusterRole::default());
        assert_eq!(describe(&made), "1 native object: 1 ClusterRole");
        made.role_bindings.push(RoleBinding::default());
        made.role_bindings.push(RoleBinding::default());
        assert_eq!(
            describe(&made),
            "3 native objects: 1 ClusterRole, 2 RoleBindings"
        );
    }

    #[test]
    fn long_event_notes_are_cut_on_a_character_boundary() {
        let text = "é".repeat(600);
        let cut = truncate(&text, 1001);
        assert!(cut.len() <= 1004);
        assert!(cut.ends_with('…'));
    }
}
