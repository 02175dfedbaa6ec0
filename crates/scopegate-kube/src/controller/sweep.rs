//! The orphan sweep: deletes native objects Scopegate made whose IAMRole or IAMRoleBinding no
//! longer exists.
//!
//! In a full cluster the garbage collector (part of kube-controller-manager) does this from
//! the owner references every made object carries. The sweep does it too, because a deleted
//! source never reaches a reconcile (the controller only reconciles objects that exist), and
//! so that revocation does not depend on the garbage collector running, being healthy, or
//! being present at all (an API server without kube-controller-manager). It runs when the
//! controllers start, whenever an IAMRole or IAMRoleBinding is deleted or its watch re-lists,
//! and every resync period. Deletes carry the object's uid as a precondition.

use super::Context;
use crate::materialize::{
    DesiredRbac, IAMROLE_PREFIX, IAMROLEBINDING_PREFIX, ObjectKey, Plan, RbacObject,
};
use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a made object belongs to, from its name and its owner reference.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// An IAMRole, by name, and the uid its owner reference names (if it has one).
    IamRole(String, Option<String>),
    /// An IAMRoleBinding, likewise.
    IamRoleBinding(String, Option<String>),
}

/// The source of a made object, or `None` when its name is none Scopegate gives.
pub(crate) fn source_of(object: &RbacObject) -> Option<Source> {
    let meta = object.metadata();
    let name = meta.name.as_deref()?;
    let owner_uid = |kind: &str, source: &str| {
        meta.owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == kind && o.name == source && o.controller == Some(true))
            .map(|o| o.uid.clone())
    };
    if let Some(role) = name.strip_prefix(IAMROLE_PREFIX) {
        return Some(Source::IamRole(
            role.to_string(),
            owner_uid("IAMRole", role),
        ));
    }
    let binding = name.strip_prefix(IAMROLEBINDING_PREFIX)?;
    Some(Source::IamRoleBinding(
        binding.to_string(),
        owner_uid("IAMRoleBinding", binding),
    ))
}

/// The made objects (from `made`) whose source is not among `roles` / `bindings` (each a set
/// of (name, uid) of what exists): a source that is gone, or was deleted and created again
/// under the same name (a new uid; the new one makes its own objects).
pub(crate) fn orphans(
    made: DesiredRbac,
    roles: &BTreeSet<(String, String)>,
    bindings: &BTreeSet<(String, String)>,
) -> Vec<(ObjectKey, Option<String>)> {
    let exists = |sources: &BTreeSet<(String, String)>, name: &str, uid: &Option<String>| {
        sources
            .iter()
            .any(|(n, u)| n == name && uid.as_ref().is_none_or(|uid| uid == u))
    };
    made.into_objects()
        .into_iter()
        .filter(|object| match source_of(object) {
            Some(Source::IamRole(name, uid)) => !exists(roles, &name, &uid),
            Some(Source::IamRoleBinding(name, uid)) => !exists(bindings, &name, &uid),
            None => false,
        })
        .map(|object| (object.key(), object.metadata().uid.clone()))
        .collect()
}

/// Runs the sweep whenever `triggers` yields and every resync period, until the triggers end.
pub(crate) async fn run(ctx: Arc<Context>, mut triggers: UnboundedReceiver<()>) {
    if ctx.world.ready().await.is_err() {
        return;
    }
    loop {
        sweep(&ctx).await;
        tokio::select! {
            next = triggers.next() => if next.is_none() { return },
            () = tokio::time::sleep(ctx.options.resync) => {}
        }
        // Coalesce a burst of deletions into one sweep.
        while let Ok(()) = triggers.try_recv() {}
    }
}

async fn sweep(ctx: &Context) {
    let ids = |names: Vec<(Option<String>, Option<String>)>| -> BTreeSet<(String, String)> {
        names
            .into_iter()
            .filter_map(|(n, u)| Some((n?, u.unwrap_or_default())))
            .collect()
    };
    let roles = ids(ctx
        .world
        .iam_roles
        .state()
        .iter()
        .map(|r| (r.metadata.name.clone(), r.metadata.uid.clone()))
        .collect());
    let bindings = ids(ctx
        .world
        .iam_role_bindings
        .state()
        .iter()
        .map(|b| (b.metadata.name.clone(), b.metadata.uid.clone()))
        .collect());
    let world = &ctx.world;
    let made = DesiredRbac {
        cluster_roles: super::world::owned(&world.cluster_roles),
        roles: super::world::owned(&world.roles),
        role_bindings: super::world::owned(&world.role_bindings),
        cluster_role_bindings: super::world::owned(&world.cluster_role_bindings),
    };
    ctx.record_materialized(&made);
    let orphans = orphans(made, &roles, &bindings);
    if orphans.is_empty() {
        return;
    }
    let mut plan = Plan::default();
    let mut uids = std::collections::BTreeMap::new();
    for (key, uid) in orphans {
        tracing::info!(object = %key, "deleting: its IAMRole or IAMRoleBinding is gone");
        if let Some(uid) = uid {
            uids.insert(key.clone(), uid);
        }
        plan.delete.push(key);
    }
    plan.delete
        .sort_by_key(|k| (!k.kind.is_binding(), k.clone()));
    if let Err(error) = super::apply::execute(&ctx.client, plan, &uids).await {
        tracing::warn!(%error, "orphan sweep failed; retrying at the next one");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn meta(name: &str, namespace: Option<&str>, owner: Option<(&str, &str, &str)>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: namespace.map(Into::into),
            uid: Some(format!("uid-of-{name}")),
            owner_references: owner.map(|(kind, name, uid)| {
                vec![OwnerReference {
                    api_version: "iam.theriseunion.io/v1alpha1".into(),
                    kind: kind.into(),
                    name: name.into(),
                    uid: uid.into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]
            }),
            ..Default::default()
        }
    }

    fn set(crs: Vec<ObjectMeta>, rbs: Vec<ObjectMeta>) -> DesiredRbac {
        DesiredRbac {
            cluster_roles: crs
                .into_iter()
                .map(|metadata| ClusterRole {
                    metadata,
                    ..Default::default()
                })
                .collect(),
            role_bindings: rbs
                .into_iter()
                .map(|metadata| RoleBinding {
                    metadata,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn names(found: Vec<(ObjectKey, Option<String>)>) -> Vec<String> {
        found.into_iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn objects_of_existing_sources_stay() {
        let made = set(
            vec![meta(
                "scopegate:iamrole:r",
                None,
                Some(("IAMRole", "r", "u-r")),
            )],
            vec![meta(
                "scopegate:iamrolebinding:b",
                Some("dev"),
                Some(("IAMRoleBinding", "b", "u-b")),
            )],
        );
        let roles = BTreeSet::from([("r".to_string(), "u-r".to_string())]);
        let bindings = BTreeSet::from([("b".to_string(), "u-b".to_string())]);
        assert!(orphans(made, &roles, &bindings).is_empty());
    }

    #[test]
    fn objects_of_deleted_sources_go() {
        let made = set(
            vec![meta(
                "scopegate:iamrole:r",
                None,
                Some(("IAMRole", "r", "u-r")),
            )],
            vec![meta(
                "scopegate:iamrolebinding:b",
                Some("dev"),
                Some(("IAMRoleBinding", "b", "u-b")),
            )],
        );
        let found = orphans(made, &BTreeSet::new(), &BTreeSet::new());
        assert_eq!(
            names(found.clone()),
            vec![
                "ClusterRole scopegate:iamrole:r",
                "RoleBinding dev/scopegate:iamrolebinding:b"
            ]
        );
        assert_eq!(found[0].1.as_deref(), Some("uid-of-scopegate:iamrole:r"));
    }

    #[test]
    fn objects_of_a_source_created_again_under_the_same_name_go() {
        let made = set(
            vec![meta(
                "scopegate:iamrole:r",
                None,
                Some(("IAMRole", "r", "old")),
            )],
            vec![],
        );
        let roles = BTreeSet::from([("r".to_string(), "new".to_string())]);
        assert_eq!(orphans(made, &roles, &BTreeSet::new()).len(), 1);
    }

    #[test]
    fn an_object_whose_owner_reference_was_removed_is_judged_by_its_name() {
        let made = set(vec![meta("scopegate:iamrole:r", None, None)], vec![]);
        let roles = BTreeSet::from([("r".to_string(), "u".to_string())]);
        assert!(orphans(made.clone(), &roles, &BTreeSet::new()).is_empty());
        assert_eq!(orphans(made, &BTreeSet::new(), &BTreeSet::new()).len(), 1);
    }

    #[test]
    fn objects_with_other_names_are_never_touched() {
        let made = set(vec![meta("admin", None, None)], vec![]);
        assert!(orphans(made, &BTreeSet::new(), &BTreeSet::new()).is_empty());
    }
}
