//! The IAMRoleBinding controller: keeps the native bindings (and narrowed roles) of each
//! IAMRoleBinding, by scope kind ([`desired_objects`]). Triggered by the binding, by what it
//! made (drift), by its IAMRole and the RoleTemplates the role uses, by the Workspace,
//! NodeGroup or Cluster it names, by Namespaces joining or leaving its workspace (or
//! appearing, for Namespace and Resource scopes), and by Nodes joining or leaving its node
//! group.

use super::apply::{self, Readiness};
use super::world::{World, from_meta};
use super::{Context, Error};
use crate::materialize::{DesiredRbac, ObservedWorld, desired_objects, plan};
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::ResourceExt;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use scopegate_core::model::{
    IamRole, IamRoleBinding, NODEGROUP_LABEL, RoleTemplate, ScopeKind, WORKSPACE_LABEL,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The controller's name in metrics and logs.
pub(crate) const NAME: &str = "iamrolebinding";

/// One reconcile of one IAMRoleBinding.
pub(crate) async fn reconcile(
    binding: Arc<IamRoleBinding>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.world.ready().await?;
    if binding.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = binding.name_any();
    let role = ctx
        .world
        .iam_roles
        .get(&ObjectRef::new(&binding.spec.role_ref.name));
    let world = observed_world(&binding, &ctx.world, &ctx.options.cluster_name);
    let (desired, readiness) = decide(
        &binding,
        role.as_deref(),
        &world,
        ctx.options.materialize,
        |ns| ctx.world.namespace_exists(ns),
    );
    let observed = ctx.world.made_for_binding(&name);
    let uids = apply::uids(&observed);
    let plan = plan(desired, observed);
    if let Err(error) = apply::execute(&ctx.client, plan, &uids).await {
        ctx.report_failure(&*binding, binding.status.as_ref(), &error)
            .await;
        return Err(error);
    }
    apply::write_status(
        &ctx.client,
        &ctx.recorder,
        &*binding,
        binding.status.as_ref(),
        &readiness,
    )
    .await?;
    Ok(Action::requeue(ctx.options.resync))
}

/// The part of the world a binding's materialisation reads: the declared Workspaces,
/// NodeGroups and Clusters and the RoleTemplates always, the Namespaces only for a Workspace
/// scope and the Nodes only for a NodeGroup scope (copying every Namespace for every binding
/// would make each reconcile as slow as the cluster is big).
pub(crate) fn observed_world(
    binding: &IamRoleBinding,
    world: &World,
    cluster_name: &str,
) -> ObservedWorld {
    let kind = binding.spec.scope.kind;
    ObservedWorld {
        cluster_name: cluster_name.to_string(),
        namespaces: if kind == ScopeKind::Workspace {
            world
                .namespaces
                .state()
                .iter()
                .map(|m| from_meta(m))
                .collect()
        } else {
            Vec::new()
        },
        nodes: if kind == ScopeKind::NodeGroup {
            world.nodes.state().iter().map(|m| from_meta(m)).collect()
        } else {
            Vec::new()
        },
        node_groups: super::world::owned(&world.node_groups),
        workspaces: super::world::owned(&world.workspaces),
        clusters: super::world::owned(&world.clusters),
        role_templates: world.role_templates(),
        cluster_scoped_resources: BTreeSet::new(),
    }
}

/// What a binding should have and what its status should say. Roles and RoleBindings in
/// namespaces that do not exist (yet) are left out, and the status says so: the API server
/// refuses them, and the Namespace's creation brings the binding back here.
pub(crate) fn decide(
    binding: &IamRoleBinding,
    role: Option<&IamRole>,
    world: &ObservedWorld,
    materialize: bool,
    namespace_exists: impl Fn(&str) -> bool,
) -> (DesiredRbac, Readiness) {
    let mut desired = match desired_objects(binding, role, world) {
        Err(e) => {
            return (
                DesiredRbac::default(),
                Readiness::failed(e.reason(), e.to_string()),
            );
        }
        Ok(desired) => desired,
    };
    if !materialize {
        return (
            DesiredRbac::default(),
            Readiness::ok(
                "MaterializationDisabled",
                "valid; materialisation is off, so no native objects are kept (the webhook decides)",
            )
            .keeping(&DesiredRbac::default()),
        );
    }
    let mut missing = BTreeSet::new();
    let mut exists = |ns: Option<&String>| {
        let ns = ns.map(String::as_str).unwrap_or_default();
        let found = namespace_exists(ns);
        if !found {
            missing.insert(ns.to_string());
        }
        found
    };
    desired
        .role_bindings
        .retain(|o| exists(o.metadata.namespace.as_ref()));
    desired
        .roles
        .retain(|o| exists(o.metadata.namespace.as_ref()));
    let made = apply::describe(&desired);
    // A binding waiting for a namespace still keeps (and reports) what it could make.
    let readiness = if missing.is_empty() {
        Readiness::ok("Materialized", made)
    } else {
        let names: Vec<String> = missing.iter().map(|n| format!("{n:?}")).collect();
        Readiness::failed(
            "NamespaceNotFound",
            format!(
                "namespace {} does not exist: its objects are made when it is created; {made}",
                names.join(", ")
            ),
        )
    }
    .keeping(&desired);
    (desired, readiness)
}

/// Bindings whose `roleRef` names one of `roles`.
fn bindings_of_roles(
    roles: &BTreeSet<String>,
    bindings: &Store<IamRoleBinding>,
) -> Vec<ObjectRef<IamRoleBinding>> {
    bindings
        .state()
        .iter()
        .filter(|b| roles.contains(&b.spec.role_ref.name))
        .map(|b| ObjectRef::from_obj(&**b))
        .collect()
}

/// Bindings at a scope of `kind` named one of `names`.
fn bindings_at(
    kind: ScopeKind,
    names: &BTreeSet<String>,
    bindings: &Store<IamRoleBinding>,
) -> Vec<ObjectRef<IamRoleBinding>> {
    bindings
        .state()
        .iter()
        .filter(|b| {
            b.spec.scope.kind == kind
                && b.spec
                    .scope
                    .name
                    .as_ref()
                    .is_some_and(|n| names.contains(n))
        })
        .map(|b| ObjectRef::from_obj(&**b))
        .collect()
}

/// A namespaced object made for a binding → the binding named by its controller owner
/// reference (cluster-scoped, so without the object's namespace).
pub(crate) fn owner<K: kube::Resource>(object: K) -> Option<ObjectRef<IamRoleBinding>> {
    object
        .meta()
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "IAMRoleBinding" && o.controller == Some(true))
        .map(|o| ObjectRef::new(&o.name))
}

/// IAMRole → the bindings to it.
pub(crate) fn map_role(
    bindings: Store<IamRoleBinding>,
) -> impl Fn(IamRole) -> Vec<ObjectRef<IamRoleBinding>> + Send + Sync + 'static {
    move |role| bindings_of_roles(&BTreeSet::from([role.name_any()]), &bindings)
}

/// RoleTemplate → the bindings to the roles that may use it (the narrowed roles of NodeGroup,
/// Node, Resource, Workspace-object and other-Cluster scopes copy rules, and a role with an
/// error grants nothing).
pub(crate) fn map_template(
    roles: Store<IamRole>,
    bindings: Store<IamRoleBinding>,
) -> impl Fn(RoleTemplate) -> Vec<ObjectRef<IamRoleBinding>> + Send + Sync + 'static {
    move |template| {
        let names: BTreeSet<String> = super::iam_role::roles_using(&template, &roles)
            .into_iter()
            .map(|r| r.name)
            .collect();
        bindings_of_roles(&names, &bindings)
    }
}

/// A Workspace, NodeGroup or Cluster object → the bindings at that scope (whether it is
/// declared decides whether they grant).
pub(crate) fn map_declared<K: kube::Resource>(
    kind: ScopeKind,
    bindings: Store<IamRoleBinding>,
) -> impl Fn(K) -> Vec<ObjectRef<IamRoleBinding>> + Send + Sync + 'static {
    move |object| bindings_at(kind, &BTreeSet::from([object.name_any()]), &bindings)
}

/// Remembers one label per object name, to tell which value an object had before a change
/// (a Namespace leaving workspace `a` arrives without the label: the bindings at `a` must
/// still hear of it).
#[derive(Default)]
pub(crate) struct LastLabel {
    seen: Mutex<HashMap<String, Option<String>>>,
}

impl LastLabel {
    /// The (previous, current) label values of `name` if this is the first time it is seen
    /// or the label changed; `None` when nothing changed. `current` is `None` for an object
    /// deleted or without the label.
    pub(crate) fn change(
        &self,
        name: &str,
        current: Option<String>,
        exists: bool,
    ) -> Option<(Option<String>, Option<String>)> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if !exists {
            let previous = seen.remove(name)?;
            return Some((previous, None));
        }
        match seen.insert(name.to_string(), current.clone()) {
            Some(previous) if previous == current => None,
            Some(previous) => Some((previous, current)),
            None => Some((None, current)),
        }
    }
}

fn label(meta: &kube::api::ObjectMeta, key: &str) -> Option<String> {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .filter(|v| !v.is_empty())
        .cloned()
}

/// Namespace → the Workspace-scope bindings of the workspace it left and the one it joined,
/// and, when it appears or goes, the Namespace- and Resource-scope bindings in it.
pub(crate) fn map_namespace(
    namespaces: Store<PartialObjectMeta<Namespace>>,
    bindings: Store<IamRoleBinding>,
) -> impl Fn(PartialObjectMeta<Namespace>) -> Vec<ObjectRef<IamRoleBinding>> + Send + Sync + 'static
{
    let last = LastLabel::default();
    move |ns| {
        let name = ns.name_any();
        let exists = namespaces.get(&ObjectRef::from_obj(&ns)).is_some();
        let Some((before, after)) =
            last.change(&name, label(&ns.metadata, WORKSPACE_LABEL), exists)
        else {
            return Vec::new();
        };
        let workspaces: BTreeSet<String> = before.into_iter().chain(after).collect();
        let mut refs = bindings_at(ScopeKind::Workspace, &workspaces, &bindings);
        refs.extend(
            bindings
                .state()
                .iter()
                .filter(|b| match b.spec.scope.kind {
                    ScopeKind::Namespace => b.spec.scope.name.as_deref() == Some(name.as_str()),
                    ScopeKind::Resource => b.spec.scope.namespace.as_deref() == Some(name.as_str()),
                    _ => false,
                })
                .map(|b| ObjectRef::from_obj(&**b)),
        );
        refs
    }
}

/// Node → the NodeGroup-scope bindings of the group it left and the one it joined (only when
/// its group label changed: nodes change often, their group rarely).
pub(crate) fn map_node(
    nodes: Store<PartialObjectMeta<Node>>,
    bindings: Store<IamRoleBinding>,
) -> impl Fn(PartialObjectMeta<Node>) -> Vec<ObjectRef<IamRoleBinding>> + Send + Sync + 'static {
    let last = LastLabel::default();
    move |node| {
        let exists = nodes.get(&ObjectRef::from_obj(&node)).is_some();
        let Some((before, after)) = last.change(
            &node.name_any(),
            label(&node.metadata, NODEGROUP_LABEL),
            exists,
        ) else {
            return Vec::new();
        };
        let groups: BTreeSet<String> = before.into_iter().chain(after).collect();
        bindings_at(ScopeKind::NodeGroup, &groups, &bindings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binding(scope: serde_json::Value) -> IamRoleBinding {
        serde_json::from_value(json!({
            "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "IAMRoleBinding",
            "metadata": {"name": "b", "uid": "u"},
            "spec": {
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
                "roleRef": {"apiGroup": "iam.theriseunion.io", "kind": "IAMRole", "name": "r"},
                "scope": scope
            }
        }))
        .unwrap()
    }

    fn role(scope: &str) -> IamRole {
        serde_json::from_value(json!({
            "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "IAMRole",
            "metadata": {"name": "r", "uid": "ur"},
            "spec": {"scope": scope, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_namespace_binding_is_made_when_the_namespace_exists() {
        let b = binding(json!({"kind": "Namespace", "name": "dev"}));
        let (made, ready) = decide(
            &b,
            Some(&role("Namespace")),
            &ObservedWorld::default(),
            true,
            |_| true,
        );
        assert_eq!(made.role_bindings.len(), 1);
        assert!(ready.ready, "{ready:?}");
        assert_eq!(ready.message, "1 native object: 1 RoleBinding");
        assert_eq!(ready.native_objects, Some(1));
    }

    #[test]
    fn a_missing_namespace_is_waited_for_and_reported() {
        let b = binding(json!({"kind": "Namespace", "name": "dev"}));
        let (made, ready) = decide(
            &b,
            Some(&role("Namespace")),
            &ObservedWorld::default(),
            true,
            |_| false,
        );
        assert!(made.is_empty());
        assert!(!ready.ready);
        assert_eq!(ready.reason, "NamespaceNotFound");
        assert!(ready.message.contains("\"dev\""), "{}", ready.message);
        assert_eq!(ready.native_objects, Some(0));
    }

    #[test]
    fn a_binding_to_a_missing_role_has_nothing_and_says_why() {
        let b = binding(json!({"kind": "Namespace", "name": "dev"}));
        let (made, ready) = decide(&b, None, &ObservedWorld::default(), true, |_| true);
        assert!(made.is_empty());
        assert_eq!(ready.reason, "RoleNotFound");
        assert!(!ready.ready);
        assert_eq!(ready.native_objects, None);
    }

    #[test]
    fn with_materialisation_off_a_valid_binding_keeps_nothing() {
        let b = binding(json!({"kind": "Namespace", "name": "dev"}));
        let (made, ready) = decide(
            &b,
            Some(&role("Namespace")),
            &ObservedWorld::default(),
            false,
            |_| true,
        );
        assert!(made.is_empty());
        assert_eq!(ready.reason, "MaterializationDisabled");
        assert!(ready.ready);
        assert_eq!(ready.native_objects, Some(0));
    }

    #[test]
    fn a_label_change_reports_both_values_once() {
        let last = LastLabel::default();
        assert_eq!(
            last.change("ns", Some("a".into()), true),
            Some((None, Some("a".into())))
        );
        // Nothing changed (e.g. another label, or a status update): no trigger.
        assert_eq!(last.change("ns", Some("a".into()), true), None);
        // Leaving workspace a for b: both hear of it.
        assert_eq!(
            last.change("ns", Some("b".into()), true),
            Some((Some("a".into()), Some("b".into())))
        );
        // Leaving every workspace.
        assert_eq!(
            last.change("ns", None, true),
            Some((Some("b".into()), None))
        );
        assert_eq!(
            last.change("ns", Some("c".into()), true),
            Some((None, Some("c".into())))
        );
        // Deleted: the workspace it was in hears of it, once.
        assert_eq!(
            last.change("ns", None, false),
            Some((Some("c".into()), None))
        );
        assert_eq!(last.change("ns", None, false), None);
    }
}
