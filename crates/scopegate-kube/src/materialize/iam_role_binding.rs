//! IAMRoleBinding → native bindings (and, for scopes narrower than a namespace or the whole
//! cluster, a narrowed ClusterRole or Role), by scope kind; see the table in the
//! [module docs](super).

use super::{
    DesiredRbac, IAMROLEBINDING_LABEL, KNOWN_CLUSTER_SCOPED, MaterializeError, RBAC_GROUP, Target,
    iam_role_binding_object_name, iam_role_object_name, narrow, normalize_rules, object_meta,
};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use scopegate_core::ObjectKind;
use scopegate_core::PolicyObjects;
use scopegate_core::model::{
    Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, SCOPE_GROUP, Scope, ScopeKind,
    Workspace,
};
use scopegate_core::policy::{
    BoundSubject, IamBindingContext, check_iam_role_binding, effective_rules,
};
use scopegate_core::topology::{DEFAULT_CLUSTER_NAME, Topology};
use std::collections::BTreeSet;

/// What a binding's materialisation depends on besides the binding and its role: the
/// cluster's Namespaces and Nodes (for their membership labels), the declared Workspaces,
/// NodeGroups and Clusters, the RoleTemplates (a narrowed role needs the role's rules), and
/// the name of the cluster served here.
#[derive(Clone, Debug)]
pub struct ObservedWorld {
    /// The cluster this controller runs in (the webhook's `--cluster-name`).
    pub cluster_name: String,
    /// Namespaces, read for the `scope.theriseunion.io/workspace` label.
    pub namespaces: Vec<Namespace>,
    /// Nodes, read for the `scope.theriseunion.io/nodegroup` label.
    pub nodes: Vec<Node>,
    /// Declared NodeGroups.
    pub node_groups: Vec<NodeGroup>,
    /// Declared Workspaces.
    pub workspaces: Vec<Workspace>,
    /// Declared Clusters.
    pub clusters: Vec<Cluster>,
    /// Every RoleTemplate.
    pub role_templates: Vec<RoleTemplate>,
    /// Cluster-scoped resources (API group, plural) beyond [`KNOWN_CLUSTER_SCOPED`], e.g. from
    /// API discovery: a Resource-scope binding on an object without a namespace is
    /// materialised only for a resource known to be cluster-scoped.
    pub cluster_scoped_resources: BTreeSet<(String, String)>,
}

impl Default for ObservedWorld {
    fn default() -> Self {
        ObservedWorld {
            cluster_name: DEFAULT_CLUSTER_NAME.to_string(),
            namespaces: Vec::new(),
            nodes: Vec::new(),
            node_groups: Vec::new(),
            workspaces: Vec::new(),
            clusters: Vec::new(),
            role_templates: Vec::new(),
            cluster_scoped_resources: BTreeSet::new(),
        }
    }
}

impl ObservedWorld {
    /// The world a set of policy objects describes, for cluster `cluster_name`.
    pub fn from_objects(objects: &PolicyObjects, cluster_name: impl Into<String>) -> Self {
        ObservedWorld {
            cluster_name: cluster_name.into(),
            namespaces: objects.namespaces.clone(),
            nodes: objects.nodes.clone(),
            node_groups: objects.node_groups.clone(),
            workspaces: objects.workspaces.clone(),
            clusters: objects.clusters.clone(),
            role_templates: objects.role_templates.clone(),
            cluster_scoped_resources: BTreeSet::new(),
        }
    }

    fn topology(&self) -> Topology {
        Topology::new(self.cluster_name.clone(), &self.namespaces, &self.nodes)
    }

    /// The namespaces in workspace `workspace` (by label, as the engine reads them), sorted.
    pub fn workspace_namespaces(&self, workspace: &str) -> Vec<String> {
        let topology = self.topology();
        let names: BTreeSet<&str> = self
            .namespaces
            .iter()
            .filter_map(|ns| ns.metadata.name.as_deref())
            .filter(|name| topology.workspace_of(name) == Some(workspace))
            .collect();
        names.into_iter().map(str::to_string).collect()
    }

    /// The nodes in node group `group` (by label, as the engine reads them), sorted.
    pub fn node_group_nodes(&self, group: &str) -> Vec<String> {
        let topology = self.topology();
        let names: BTreeSet<&str> = self
            .nodes
            .iter()
            .filter_map(|node| node.metadata.name.as_deref())
            .filter(|name| topology.node_group_of(name) == Some(group))
            .collect();
        names.into_iter().map(str::to_string).collect()
    }

    fn is_cluster_scoped(&self, group: &str, resource: &str) -> bool {
        KNOWN_CLUSTER_SCOPED.contains(&(group, resource))
            || self
                .cluster_scoped_resources
                .contains(&(group.to_string(), resource.to_string()))
    }
}

fn invalid(field: &str, message: impl Into<String>) -> MaterializeError {
    MaterializeError::InvalidBinding {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The native objects an IAMRoleBinding should have. `role` is the IAMRole its `roleRef`
/// names, if it exists.
///
/// The binding is checked exactly as the engine checks it; a binding the engine says grants
/// nothing (roleRef not to an IAMRole, a malformed scope, a missing role or a role with
/// errors, a scope of another kind than `role.spec.scope`, an undeclared Workspace, NodeGroup
/// or Cluster, an invalid subject) is an `Err` with the reason, and nothing is desired.
///
/// Subjects are copied in the form the API server expects: Users and Groups with apiGroup
/// `rbac.authorization.k8s.io`; ServiceAccounts with their namespace, defaulted as the engine
/// does (from a Namespace scope, or a Resource scope's namespace).
///
/// By scope kind (names from [`iam_role_binding_object_name`] and [`iam_role_object_name`]):
/// - Platform, and Cluster naming the served cluster: a ClusterRoleBinding to the role's
///   ClusterRole;
/// - Cluster naming another declared cluster: in the scope model such a binding reaches, in
///   this cluster, only requests about the `clusters/<name>` object, so a ClusterRole with the
///   role's rules on `clusters` narrowed to that name, and a ClusterRoleBinding, when the role
///   has such rules (else nothing);
/// - Namespace: a RoleBinding in the namespace to the role's ClusterRole;
/// - Workspace: a RoleBinding in every namespace labelled for the workspace, to the role's
///   ClusterRole; and, when the role has rules on `workspaces`, a ClusterRole narrowed to the
///   `workspaces/<name>` object with a ClusterRoleBinding (the Workspace object's own requests
///   have the Workspace in their chain);
/// - NodeGroup: a ClusterRole with the role's rules on `nodes` narrowed to the nodes labelled
///   for the group (and on `nodegroups` narrowed to the group's own object), and a
///   ClusterRoleBinding; made even when the group has no nodes, with no rules, so that nodes
///   joining only change the role;
/// - Node: the same, for the one node;
/// - Resource with a namespace: a Role narrowed to the one object and a RoleBinding, in that
///   namespace;
/// - Resource without a namespace: a ClusterRole narrowed to the one object and a
///   ClusterRoleBinding, when the resource is known to be cluster-scoped; nothing for the
///   `workspaces`, `nodegroups` and `clusters` objects of `scope.theriseunion.io` (their
///   requests are decided at Workspace, NodeGroup and Cluster steps, never at a Resource step,
///   so the scope model grants nothing there either); [`MaterializeError::NotExpressible`]
///   for `namespaces` (requests on a namespace carry it, so such a scope reaches no request
///   kube-apiserver sends: write the namespace in the scope), for an apiGroup of `*` (a
///   wildcard in RBAC, a literal in a scope), and for resources not known to be
///   cluster-scoped.
pub fn desired_objects(
    binding: &IamRoleBinding,
    role: Option<&IamRole>,
    world: &ObservedWorld,
) -> Result<DesiredRbac, MaterializeError> {
    let binding_name = binding
        .metadata
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(MaterializeError::Unnamed("IAMRoleBinding"))?;
    let spec = &binding.spec;
    let role_ref = &spec.role_ref;
    // The engine's own check (scopegate_core::policy::check_iam_role_binding): what grants
    // nothing in the webhook is never written out as native RBAC.
    let checked =
        check_iam_role_binding(spec, &MaterializeContext { world, role }).map_err(|problems| {
            match problems.into_iter().next() {
                Some(problem) if problem.role_not_found => {
                    MaterializeError::RoleNotFound(role_ref.name.clone())
                }
                Some(problem) => invalid(&problem.field, problem.message),
                None => invalid("spec", "is invalid"),
            }
        })?;
    let role = role
        .filter(|r| r.metadata.name.as_deref() == Some(role_ref.name.as_str()))
        .ok_or_else(|| MaterializeError::RoleNotFound(role_ref.name.clone()))?;
    let scope = checked.scope;
    let subjects = checked.subjects.iter().map(native_subject).collect();
    let effective = effective_rules(role, &world.role_templates).map_err(|problems| {
        MaterializeError::RoleHasErrors {
            role: role_ref.name.clone(),
            problems,
        }
    })?;
    let rules = normalize_rules(&effective.rules, false);

    let make = Maker {
        binding,
        object_name: iam_role_binding_object_name(binding_name),
        role_cluster_role: iam_role_object_name(&role_ref.name),
        subjects,
    };
    let mut out = DesiredRbac::default();
    match &scope {
        Scope::Platform => out.cluster_role_bindings.push(make.crb_to_role()),
        Scope::Cluster { name } if *name == world.cluster_name => {
            out.cluster_role_bindings.push(make.crb_to_role());
        }
        Scope::Cluster { name } => {
            let names = [name.clone()];
            let narrowed = narrow(&rules, target_of(SCOPE_GROUP, "clusters", &names));
            if !narrowed.is_empty() {
                make.narrowed_cluster_role(narrowed, &mut out);
            }
        }
        Scope::Namespace { name } => out.role_bindings.push(make.rb_to_role(name)),
        Scope::Workspace { name } => {
            for namespace in world.workspace_namespaces(name) {
                out.role_bindings.push(make.rb_to_role(&namespace));
            }
            let names = [name.clone()];
            let narrowed = narrow(&rules, target_of(SCOPE_GROUP, "workspaces", &names));
            if !narrowed.is_empty() {
                make.narrowed_cluster_role(narrowed, &mut out);
            }
        }
        Scope::NodeGroup { name } => {
            let members = world.node_group_nodes(name);
            let mut narrowed = narrow(&rules, target_of("", "nodes", &members));
            let own = [name.clone()];
            narrowed.extend(narrow(&rules, target_of(SCOPE_GROUP, "nodegroups", &own)));
            make.narrowed_cluster_role(narrowed, &mut out);
        }
        Scope::Node { name } => {
            let names = [name.clone()];
            make.narrowed_cluster_role(narrow(&rules, target_of("", "nodes", &names)), &mut out);
        }
        Scope::Resource {
            namespace,
            api_group,
            resource,
            name,
        } => {
            if api_group == "*" {
                return Err(MaterializeError::NotExpressible(
                    "apiGroups: [\"*\"] is a wildcard in RBAC but a literal group name in a scope"
                        .into(),
                ));
            }
            let names = [name.clone()];
            let narrowed = narrow(&rules, target_of(api_group, resource, &names));
            if !namespace.is_empty() {
                out.roles.push(Role {
                    metadata: make.meta(Some(namespace.clone())),
                    rules: Some(narrowed),
                });
                out.role_bindings.push(RoleBinding {
                    metadata: make.meta(Some(namespace.clone())),
                    role_ref: RoleRef {
                        api_group: RBAC_GROUP.to_string(),
                        kind: "Role".to_string(),
                        name: make.object_name.clone(),
                    },
                    subjects: Some(make.subjects.clone()),
                });
            } else if api_group == SCOPE_GROUP
                && matches!(resource.as_str(), "workspaces" | "nodegroups" | "clusters")
            {
                // Never a Resource step in the scope model: nothing granted, nothing made.
            } else if api_group.is_empty() && resource == "namespaces" {
                return Err(MaterializeError::NotExpressible(format!(
                    "requests on namespaces/{name} carry the namespace {name:?}, so a Resource \
                     scope without a namespace reaches none of them; write namespace: {name}"
                )));
            } else if world.is_cluster_scoped(api_group, resource) {
                make.narrowed_cluster_role(narrowed, &mut out);
            } else {
                let group = if api_group.is_empty() {
                    "core"
                } else {
                    api_group
                };
                return Err(MaterializeError::NotExpressible(format!(
                    "{resource}.{group} is not known to be cluster-scoped, and a \
                     ClusterRoleBinding would grant {resource}/{name} in every namespace"
                )));
            }
        }
    }
    Ok(out)
}

fn target_of<'a>(group: &'a str, resource: &'a str, names: &'a [String]) -> Target<'a> {
    Target {
        group,
        resource,
        names,
    }
}

/// The subjects in the form the API server expects, or the first one the engine refuses
/// (which makes the whole binding grant nothing).
/// A checked subject in the form the API server expects: Users and Groups with apiGroup
/// `rbac.authorization.k8s.io`, ServiceAccounts with their namespace.
fn native_subject(subject: &BoundSubject) -> Subject {
    let rbac = |kind: &str, name: &str| Subject {
        api_group: Some(RBAC_GROUP.to_string()),
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: None,
    };
    match subject {
        BoundSubject::User(name) => rbac("User", name),
        BoundSubject::Group(name) => rbac("Group", name),
        BoundSubject::ServiceAccount { namespace, name } => Subject {
            api_group: None,
            kind: "ServiceAccount".to_string(),
            name: name.clone(),
            namespace: Some(namespace.clone()),
        },
    }
}

/// What the engine's binding check looks up, from what the controller observed.
struct MaterializeContext<'a> {
    world: &'a ObservedWorld,
    /// The IAMRole the binding names, if it exists.
    role: Option<&'a IamRole>,
}

impl IamBindingContext for MaterializeContext<'_> {
    fn cluster_name(&self) -> &str {
        &self.world.cluster_name
    }

    fn iam_role_scope(&self, name: &str) -> Option<ScopeKind> {
        self.role
            .filter(|r| r.metadata.name.as_deref() == Some(name))
            .map(|r| r.spec.scope)
    }

    fn is_declared(&self, kind: ObjectKind, name: &str) -> bool {
        let named = |n: Option<&str>| n == Some(name);
        match kind {
            ObjectKind::Workspace => self
                .world
                .workspaces
                .iter()
                .any(|w| named(w.metadata.name.as_deref())),
            ObjectKind::NodeGroup => self
                .world
                .node_groups
                .iter()
                .any(|g| named(g.metadata.name.as_deref())),
            ObjectKind::Cluster => self
                .world
                .clusters
                .iter()
                .any(|c| named(c.metadata.name.as_deref())),
            _ => false,
        }
    }
}

/// Builds the objects of one binding.
struct Maker<'a> {
    binding: &'a IamRoleBinding,
    object_name: String,
    role_cluster_role: String,
    subjects: Vec<Subject>,
}

impl Maker<'_> {
    fn meta(
        &self,
        namespace: Option<String>,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        object_meta(
            self.object_name.clone(),
            namespace,
            IAMROLEBINDING_LABEL,
            "IAMRoleBinding",
            &self.binding.metadata,
        )
    }

    fn cluster_role_ref(name: &str) -> RoleRef {
        RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "ClusterRole".to_string(),
            name: name.to_string(),
        }
    }

    /// A ClusterRoleBinding to the role's own ClusterRole.
    fn crb_to_role(&self) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: self.meta(None),
            role_ref: Self::cluster_role_ref(&self.role_cluster_role),
            subjects: Some(self.subjects.clone()),
        }
    }

    /// A RoleBinding in `namespace` to the role's own ClusterRole.
    fn rb_to_role(&self, namespace: &str) -> RoleBinding {
        RoleBinding {
            metadata: self.meta(Some(namespace.to_string())),
            role_ref: Self::cluster_role_ref(&self.role_cluster_role),
            subjects: Some(self.subjects.clone()),
        }
    }

    /// A ClusterRole of the binding's own with `rules`, and a ClusterRoleBinding to it.
    fn narrowed_cluster_role(&self, rules: Vec<PolicyRule>, out: &mut DesiredRbac) {
        out.cluster_roles.push(ClusterRole {
            metadata: self.meta(None),
            rules: Some(rules),
            aggregation_rule: None,
        });
        out.cluster_role_bindings.push(ClusterRoleBinding {
            metadata: self.meta(None),
            role_ref: Self::cluster_role_ref(&self.object_name),
            subjects: Some(self.subjects.clone()),
        });
    }
}

#[cfg(test)]
mod tests;
