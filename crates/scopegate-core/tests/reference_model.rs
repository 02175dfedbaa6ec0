//! The indexed engine against a deliberately naive reference evaluator.
//!
//! The reference below is written from the user-facing model (`model.md`: the scope chain
//! table of section 3, the bindings that grant nothing of section 2) and from the Kubernetes
//! RBAC authorizer (`evaluation_helpers.go`, `appliesToUser`, the ClusterRole aggregation
//! controller), and from nothing in the engine: it reads the raw [`PolicyObjects`], computes
//! a request's chain by scanning Namespace and Node labels, and at each step scans every
//! binding, resolving its role from scratch. Proptest then draws small, collision-rich
//! universes (few names, so bindings, roles, subjects and requests keep meeting) and checks
//! that `Policy::decide`, `Policy::explain` and `Policy::ui_permissions` say exactly what the
//! reference says: allowed or not, at which scope, by which binding and role, with which
//! rule (not for aggregated ClusterRoles, whose rule order is the controller's), and for
//! explanations the chain, the bindings considered at each step and the one that decided.
//!
//! Where the model is silent the reference follows the engine's documented choices: the
//! first object of each name counts, and an object with an error grants nothing (an IAMRole
//! naming a RoleTemplate that does not exist, and every binding to it; a binding with a
//! subject Kubernetes would refuse: no name, an unknown kind, a ServiceAccount without a
//! namespace when the binding has none to lend).

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use scopegate_core::model::{
    Cluster, ClusterSpec, IamRole, IamRoleBinding, IamRoleBindingSpec, IamRoleRef, IamRoleSpec,
    NodeGroup, NodeGroupSpec, RoleTemplate, RoleTemplateSpec, Scope, ScopeKind, ScopeSpec,
    Workspace, WorkspaceSpec,
};
use scopegate_core::{
    Action, Decision, NonResourceAttributes, ObjectKind, ObjectRef, Policy, PolicyObjects,
    PolicyOptions, Request, ResourceAttributes, SubjectInfo,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

// ---------------------------------------------------------------------------------------
// The reference evaluator. Plain loops over plain objects; slow on purpose.
// ---------------------------------------------------------------------------------------

/// The cluster a webhook serves when none is configured (model section 1).
const SERVED_CLUSTER: &str = "default";
const WORKSPACE_LABEL: &str = "scope.theriseunion.io/workspace";
const NODEGROUP_LABEL: &str = "scope.theriseunion.io/nodegroup";
const SCOPE_API_GROUP: &str = "scope.theriseunion.io";
const IAM_API_GROUP: &str = "iam.theriseunion.io";
const RBAC_API_GROUP: &str = "rbac.authorization.k8s.io";

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("")
}

/// Two objects of one kind with one name are an error, and the second grants nothing: only
/// the first cluster-scoped object of each name counts (Kubernetes ignores a
/// `metadata.namespace` written on a cluster-scoped object).
fn is_first<T>(items: &[T], index: usize, meta: impl Fn(&T) -> &ObjectMeta) -> bool {
    let me = meta(&items[index]);
    !items[..index].iter().any(|o| name(meta(o)) == name(me))
}

/// The same for namespaced objects: the first of each (namespace, name).
fn is_first_in_namespace<T>(items: &[T], index: usize, meta: impl Fn(&T) -> &ObjectMeta) -> bool {
    let me = meta(&items[index]);
    !items[..index]
        .iter()
        .any(|o| name(meta(o)) == name(me) && namespace(meta(o)) == namespace(me))
}

/// A label's value, when set and not empty.
fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The workspace of a namespace: the label on the (first) Namespace object of that name.
fn workspace_of(objects: &PolicyObjects, ns: &str) -> Option<String> {
    let object = objects
        .namespaces
        .iter()
        .find(|n| name(&n.metadata) == ns)?;
    label(&object.metadata, WORKSPACE_LABEL).map(str::to_string)
}

/// The node group of a node: the label on the (first) Node object of that name.
fn node_group_of(objects: &PolicyObjects, node: &str) -> Option<String> {
    let object = objects.nodes.iter().find(|n| name(&n.metadata) == node)?;
    label(&object.metadata, NODEGROUP_LABEL).map(str::to_string)
}

fn push_unique(chain: &mut Vec<Scope>, scope: Scope) {
    if !chain.contains(&scope) {
        chain.push(scope);
    }
}

fn finish_chain(mut chain: Vec<Scope>) -> Vec<Scope> {
    push_unique(
        &mut chain,
        Scope::Cluster {
            name: SERVED_CLUSTER.into(),
        },
    );
    push_unique(&mut chain, Scope::Platform);
    chain
}

/// A request's scope chain, row by row from the table in model section 3.
fn request_chain(action: &Action, objects: &PolicyObjects) -> Vec<Scope> {
    let mut chain = Vec::new();
    let Action::Resource(r) = action else {
        // A non-resource URL: Cluster → Platform.
        return finish_chain(chain);
    };
    let named = !r.name.is_empty();
    let object = Scope::Resource {
        namespace: r.namespace.clone(),
        api_group: r.group.clone(),
        resource: r.resource.clone(),
        name: r.name.clone(),
    };
    if !r.namespace.is_empty() {
        // Resource (if name set) → Namespace → Workspace of that namespace (if any).
        if named {
            chain.push(object);
        }
        chain.push(Scope::Namespace {
            name: r.namespace.clone(),
        });
        if let Some(ws) = workspace_of(objects, &r.namespace) {
            chain.push(Scope::Workspace { name: ws });
        }
    } else if named && r.group.is_empty() && r.resource == "nodes" {
        // Resource → Node → NodeGroup of that node (if any).
        chain.push(object);
        chain.push(Scope::Node {
            name: r.name.clone(),
        });
        if let Some(group) = node_group_of(objects, &r.name) {
            chain.push(Scope::NodeGroup { name: group });
        }
    } else if named && r.group == SCOPE_API_GROUP && r.resource == "workspaces" {
        chain.push(Scope::Workspace {
            name: r.name.clone(),
        });
    } else if named && r.group == SCOPE_API_GROUP && r.resource == "nodegroups" {
        chain.push(Scope::NodeGroup {
            name: r.name.clone(),
        });
    } else if named && r.group == SCOPE_API_GROUP && r.resource == "clusters" {
        chain.push(Scope::Cluster {
            name: r.name.clone(),
        });
    } else if named {
        // Any other cluster-scoped resource: Resource (if name set).
        chain.push(object);
    }
    finish_chain(chain)
}

/// The chain of a scope itself, for UI permissions: the scope, then the scopes that contain
/// it (a namespace's workspace, a node's node group, the served cluster, the platform).
fn scope_chain(scope: &Scope, objects: &PolicyObjects) -> Vec<Scope> {
    let mut chain = Vec::new();
    let namespace_and_up = |chain: &mut Vec<Scope>, ns: &str| {
        chain.push(Scope::Namespace { name: ns.into() });
        if let Some(ws) = workspace_of(objects, ns) {
            chain.push(Scope::Workspace { name: ws });
        }
    };
    let node_and_up = |chain: &mut Vec<Scope>, node: &str| {
        chain.push(Scope::Node { name: node.into() });
        if let Some(group) = node_group_of(objects, node) {
            chain.push(Scope::NodeGroup { name: group });
        }
    };
    match scope {
        // Nothing is above Platform, and only Platform is above a cluster (another cluster
        // than the served one does not sit inside it).
        Scope::Platform => return vec![Scope::Platform],
        Scope::Cluster { .. } => return vec![scope.clone(), Scope::Platform],
        Scope::Workspace { .. } | Scope::NodeGroup { .. } => chain.push(scope.clone()),
        Scope::Namespace { name } => namespace_and_up(&mut chain, name),
        Scope::Node { name } => node_and_up(&mut chain, name),
        Scope::Resource {
            namespace,
            api_group,
            resource,
            name,
        } => {
            chain.push(scope.clone());
            if !namespace.is_empty() {
                namespace_and_up(&mut chain, namespace);
            } else if api_group.is_empty() && resource == "nodes" {
                node_and_up(&mut chain, name);
            }
        }
    }
    finish_chain(chain)
}

/// What a user wrote as a scope, or `None` when it does not name one scope.
fn scope_of(spec: &ScopeSpec) -> Option<Scope> {
    let given = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    let name = given(&spec.name);
    if spec.kind != ScopeKind::Resource
        && !(given(&spec.namespace).is_empty()
            && given(&spec.api_group).is_empty()
            && given(&spec.resource).is_empty())
    {
        return None;
    }
    if spec.kind == ScopeKind::Platform {
        return name.is_empty().then_some(Scope::Platform);
    }
    if name.is_empty() {
        return None;
    }
    Some(match spec.kind {
        ScopeKind::Platform => unreachable!(),
        ScopeKind::Cluster => Scope::Cluster { name },
        ScopeKind::Workspace => Scope::Workspace { name },
        ScopeKind::NodeGroup => Scope::NodeGroup { name },
        ScopeKind::Namespace => Scope::Namespace { name },
        ScopeKind::Node => Scope::Node { name },
        ScopeKind::Resource => {
            let resource = given(&spec.resource);
            if resource.is_empty() || resource == "*" || resource.contains('/') {
                return None;
            }
            Scope::Resource {
                namespace: given(&spec.namespace),
                api_group: given(&spec.api_group),
                resource,
                name,
            }
        }
    })
}

fn scope_kind(scope: &Scope) -> ScopeKind {
    match scope {
        Scope::Platform => ScopeKind::Platform,
        Scope::Cluster { .. } => ScopeKind::Cluster,
        Scope::Workspace { .. } => ScopeKind::Workspace,
        Scope::NodeGroup { .. } => ScopeKind::NodeGroup,
        Scope::Namespace { .. } => ScopeKind::Namespace,
        Scope::Node { .. } => ScopeKind::Node,
        Scope::Resource { .. } => ScopeKind::Resource,
    }
}

/// `matchLabels` only (the generator writes no `matchExpressions`); `{}` selects everything.
fn selects(selector: &LabelSelector, meta: &ObjectMeta) -> bool {
    assert!(
        selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty),
        "the reference only knows matchLabels"
    );
    let labels = meta.labels.clone().unwrap_or_default();
    selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
}

/// The Kubernetes RBAC rule matcher (`RuleAllows`), written out plainly.
fn rule_allows(rule: &PolicyRule, action: &Action) -> bool {
    let verb = match action {
        Action::Resource(r) => &r.verb,
        Action::NonResource(n) => &n.verb,
    };
    if !rule.verbs.iter().any(|v| v == "*" || v == verb) {
        return false;
    }
    match action {
        Action::Resource(r) => {
            let combined = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            let group_ok = rule
                .api_groups
                .iter()
                .flatten()
                .any(|g| g == "*" || *g == r.group);
            let resource_ok = rule.resources.iter().flatten().any(|res| {
                res == "*"
                    || *res == combined
                    || (!r.subresource.is_empty() && *res == format!("*/{}", r.subresource))
            });
            let names = rule.resource_names.clone().unwrap_or_default();
            let name_ok = names.is_empty() || names.contains(&r.name);
            group_ok && resource_ok && name_ok
        }
        Action::NonResource(n) => rule.non_resource_urls.iter().flatten().any(|url| {
            url == "*"
                || *url == n.path
                || (url.ends_with('*') && n.path.starts_with(url.trim_end_matches('*')))
        }),
    }
}

/// Whether Kubernetes would accept a subject: it has a name, a kind it knows, and for a
/// ServiceAccount a namespace (its own, or the binding's).
fn names_someone(s: &Subject, default_ns: Option<&str>) -> bool {
    !s.name.is_empty()
        && match s.kind.as_str() {
            "User" | "Group" => true,
            "ServiceAccount" => {
                s.namespace.as_deref().is_some_and(|n| !n.is_empty()) || default_ns.is_some()
            }
            _ => false,
        }
}

/// Kubernetes' `appliesToUser`: a ServiceAccount's namespace defaults to the binding's.
fn subject_applies(s: &Subject, default_ns: Option<&str>, user: &str, groups: &[String]) -> bool {
    match s.kind.as_str() {
        "User" => s.name == user,
        "Group" => groups.contains(&s.name),
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .or(default_ns);
            ns.is_some_and(|ns| user == format!("system:serviceaccount:{ns}:{}", s.name))
        }
        _ => false,
    }
}

/// A binding that grants something, resolved the slow way.
#[derive(Debug)]
struct RefGrant {
    binding: ObjectRef,
    /// IAMRoleBinding < RoleBinding < ClusterRoleBinding, then namespace, then name.
    order: (u8, String, String),
    role: ObjectRef,
    scope: Scope,
    subjects: Vec<Subject>,
    default_sa_namespace: Option<String>,
    rules: Vec<PolicyRule>,
    /// False for aggregated ClusterRoles, whose rule order is the controller's business.
    rule_order_known: bool,
    ui: BTreeSet<String>,
}

impl RefGrant {
    fn applies_to(&self, user: &str, groups: &[String]) -> bool {
        self.subjects
            .iter()
            .any(|s| subject_applies(s, self.default_sa_namespace.as_deref(), user, groups))
    }
}

/// Every ClusterRole's effective rules: its own, or for an aggregated one the union of the
/// rules of the roles its selectors match, iterated to a fixed point as the aggregation
/// controller converges.
fn cluster_role_rules(objects: &PolicyObjects) -> BTreeMap<String, (Vec<PolicyRule>, bool)> {
    let roles: Vec<&ClusterRole> = (0..objects.cluster_roles.len())
        .filter(|&i| is_first(&objects.cluster_roles, i, |r| &r.metadata))
        .map(|i| &objects.cluster_roles[i])
        .collect();
    let mut rules: BTreeMap<String, (Vec<PolicyRule>, bool)> = roles
        .iter()
        .map(|r| {
            let own = match r.aggregation_rule {
                None => r.rules.clone().unwrap_or_default(),
                Some(_) => Vec::new(),
            };
            (
                name(&r.metadata).to_string(),
                (own, r.aggregation_rule.is_some()),
            )
        })
        .collect();
    loop {
        let mut changed = false;
        for role in &roles {
            let Some(aggregation) = &role.aggregation_rule else {
                continue;
            };
            for selector in aggregation.cluster_role_selectors.iter().flatten() {
                for other in &roles {
                    if name(&other.metadata) == name(&role.metadata)
                        || !selects(selector, &other.metadata)
                    {
                        continue;
                    }
                    let theirs = rules[name(&other.metadata)].0.clone();
                    let mine = &mut rules.get_mut(name(&role.metadata)).unwrap().0;
                    for rule in theirs {
                        if !mine.contains(&rule) {
                            mine.push(rule);
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            return rules;
        }
    }
}

/// Every binding that the model says grants something, with its role resolved.
fn reference_grants(objects: &PolicyObjects) -> Vec<RefGrant> {
    let mut grants = Vec::new();
    let cluster_roles = cluster_role_rules(objects);

    for (i, b) in objects.iam_role_bindings.iter().enumerate() {
        if !is_first(&objects.iam_role_bindings, i, |b| &b.metadata) {
            continue;
        }
        let role_ref = &b.spec.role_ref;
        if role_ref.kind != "IAMRole"
            || !matches!(
                role_ref.api_group.as_deref(),
                None | Some("") | Some(IAM_API_GROUP)
            )
        {
            continue;
        }
        let Some(scope) = scope_of(&b.spec.scope) else {
            continue;
        };
        // A missing role grants nothing; so does a role bound at a scope of another kind.
        let Some(role) = objects
            .iam_roles
            .iter()
            .find(|r| name(&r.metadata) == role_ref.name)
        else {
            continue;
        };
        if role.spec.scope != scope_kind(&scope) {
            continue;
        }
        // A workspace, node group or (other) cluster must be declared.
        let declared = match &scope {
            Scope::Workspace { name: w } => {
                objects.workspaces.iter().any(|o| name(&o.metadata) == w)
            }
            Scope::NodeGroup { name: g } => {
                objects.node_groups.iter().any(|o| name(&o.metadata) == g)
            }
            Scope::Cluster { name: c } => {
                c == SERVED_CLUSTER || objects.clusters.iter().any(|o| name(&o.metadata) == c)
            }
            _ => true,
        };
        if !declared {
            continue;
        }
        // The role: own rules, named templates in order, selected templates in name order.
        let mut rules = role.spec.rules.clone();
        let mut ui: BTreeSet<String> = role.spec.ui_permissions.iter().cloned().collect();
        let mut missing_template = false;
        for wanted in &role.spec.role_templates {
            match objects
                .role_templates
                .iter()
                .find(|t| name(&t.metadata) == wanted)
            {
                Some(t) => {
                    rules.extend(t.spec.rules.iter().cloned());
                    ui.extend(t.spec.ui_permissions.iter().cloned());
                }
                None => missing_template = true,
            }
        }
        // A role that names a RoleTemplate that does not exist has an error: it grants
        // nothing, and so neither do its bindings.
        if missing_template {
            continue;
        }
        if let Some(selector) = &role.spec.template_selector {
            let mut selected: Vec<&RoleTemplate> = (0..objects.role_templates.len())
                .filter(|&i| is_first(&objects.role_templates, i, |t| &t.metadata))
                .map(|i| &objects.role_templates[i])
                .filter(|t| selects(selector, &t.metadata))
                .collect();
            selected.sort_by(|a, b| name(&a.metadata).cmp(name(&b.metadata)));
            for t in selected {
                rules.extend(t.spec.rules.iter().cloned());
                ui.extend(t.spec.ui_permissions.iter().cloned());
            }
        }
        let default_sa_namespace = match &scope {
            Scope::Namespace { name } => Some(name.clone()),
            Scope::Resource { namespace, .. } if !namespace.is_empty() => Some(namespace.clone()),
            _ => None,
        };
        grants.push(RefGrant {
            binding: ObjectRef::cluster_scoped(ObjectKind::IamRoleBinding, name(&b.metadata)),
            order: (0, String::new(), name(&b.metadata).to_string()),
            role: ObjectRef::cluster_scoped(ObjectKind::IamRole, &role_ref.name),
            scope,
            subjects: b.spec.subjects.clone(),
            default_sa_namespace,
            rules,
            rule_order_known: true,
            ui,
        });
    }

    for (i, b) in objects.role_bindings.iter().enumerate() {
        let ns = namespace(&b.metadata).to_string();
        if ns.is_empty()
            || !is_first_in_namespace(&objects.role_bindings, i, |b| &b.metadata)
            || b.role_ref.api_group != RBAC_API_GROUP
        {
            continue;
        }
        let (role, rules, rule_order_known) =
            match b.role_ref.kind.as_str() {
                "Role" => {
                    let Some(role) = objects.roles.iter().find(|r| {
                        name(&r.metadata) == b.role_ref.name && namespace(&r.metadata) == ns
                    }) else {
                        continue;
                    };
                    (
                        ObjectRef::namespaced(ObjectKind::Role, &ns, &b.role_ref.name),
                        role.rules.clone().unwrap_or_default(),
                        true,
                    )
                }
                "ClusterRole" => {
                    let Some((rules, aggregated)) = cluster_roles.get(&b.role_ref.name) else {
                        continue;
                    };
                    (
                        ObjectRef::cluster_scoped(ObjectKind::ClusterRole, &b.role_ref.name),
                        rules.clone(),
                        !aggregated,
                    )
                }
                _ => continue,
            };
        grants.push(RefGrant {
            binding: ObjectRef::namespaced(ObjectKind::RoleBinding, &ns, name(&b.metadata)),
            order: (1, ns.clone(), name(&b.metadata).to_string()),
            role,
            scope: Scope::Namespace { name: ns.clone() },
            subjects: b.subjects.clone().unwrap_or_default(),
            default_sa_namespace: Some(ns),
            rules,
            rule_order_known,
            ui: BTreeSet::new(),
        });
    }

    for (i, b) in objects.cluster_role_bindings.iter().enumerate() {
        if !is_first(&objects.cluster_role_bindings, i, |b| &b.metadata)
            || b.role_ref.api_group != RBAC_API_GROUP
            || b.role_ref.kind != "ClusterRole"
        {
            continue;
        }
        let Some((rules, aggregated)) = cluster_roles.get(&b.role_ref.name) else {
            continue;
        };
        grants.push(RefGrant {
            binding: ObjectRef::cluster_scoped(ObjectKind::ClusterRoleBinding, name(&b.metadata)),
            order: (2, String::new(), name(&b.metadata).to_string()),
            role: ObjectRef::cluster_scoped(ObjectKind::ClusterRole, &b.role_ref.name),
            scope: Scope::Cluster {
                name: SERVED_CLUSTER.into(),
            },
            subjects: b.subjects.clone().unwrap_or_default(),
            default_sa_namespace: None,
            rules: rules.clone(),
            rule_order_known: !aggregated,
            ui: BTreeSet::new(),
        });
    }
    // A binding with a subject that names no one has an error (Kubernetes refuses such a
    // binding whole) and grants nothing.
    grants.retain(|g| {
        g.subjects
            .iter()
            .all(|s| names_someone(s, g.default_sa_namespace.as_deref()))
    });
    grants
}

/// What the reference decides: where, by which binding and role, with which rule.
#[derive(Debug, PartialEq)]
struct RefAllow {
    scope: Scope,
    binding: ObjectRef,
    role: ObjectRef,
    /// `None` when the role is aggregated (any allowing rule will do).
    rule_index: Option<usize>,
}

/// Walks the chain from the most specific step; at the first step where any binding allows,
/// the smallest such binding decides.
fn reference_decide(grants: &[RefGrant], chain: &[Scope], request: &Request) -> Option<RefAllow> {
    for step in chain {
        let mut allowing: Vec<(&RefGrant, usize)> = Vec::new();
        for g in grants {
            if g.scope != *step || !g.applies_to(&request.user, &request.groups) {
                continue;
            }
            if let Some(i) = g.rules.iter().position(|r| rule_allows(r, &request.action)) {
                allowing.push((g, i));
            }
        }
        if let Some((g, i)) = allowing
            .into_iter()
            .min_by(|a, b| a.0.order.cmp(&b.0.order))
        {
            return Some(RefAllow {
                scope: step.clone(),
                binding: g.binding.clone(),
                role: g.role.clone(),
                rule_index: g.rule_order_known.then_some(i),
            });
        }
    }
    None
}

/// The bindings at one step that name the user or one of their groups, in decision order.
fn reference_considered(
    grants: &[RefGrant],
    step: &Scope,
    user: &str,
    groups: &[String],
) -> Vec<ObjectRef> {
    let mut found: Vec<&RefGrant> = grants
        .iter()
        .filter(|g| g.scope == *step && g.applies_to(user, groups))
        .collect();
    found.sort_by(|a, b| a.order.cmp(&b.order));
    found.into_iter().map(|g| g.binding.clone()).collect()
}

fn reference_ui(
    grants: &[RefGrant],
    objects: &PolicyObjects,
    subject: &SubjectInfo,
    scope: &Scope,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for step in scope_chain(scope, objects) {
        for g in grants {
            if g.scope == step && g.applies_to(&subject.user, &subject.groups) {
                out.extend(g.ui.iter().cloned());
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Generators: small universes where names keep colliding.
// ---------------------------------------------------------------------------------------

const RULE_VERBS: &[&str] = &["get", "list", "create", "delete", "*"];
const REQUEST_VERBS: &[&str] = &["get", "list", "create", "delete", "watch"];
const RULE_GROUPS: &[&str] = &["", "apps", SCOPE_API_GROUP, "*"];
const RULE_RESOURCES: &[&str] = &[
    "pods",
    "pods/log",
    "*/log",
    "deployments",
    "nodes",
    "nodes/status",
    "workspaces",
    "nodegroups",
    "clusters",
    "*",
];
/// (apiGroup, resource) pairs that belong together.
const COHERENT_RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "pods/log"),
    ("", "*/log"),
    ("apps", "deployments"),
    ("", "nodes"),
    ("", "nodes/status"),
    (SCOPE_API_GROUP, "workspaces"),
    (SCOPE_API_GROUP, "nodegroups"),
    (SCOPE_API_GROUP, "clusters"),
    ("*", "*"),
    ("", "*"),
    ("*", "pods"),
];
const RULE_NAMES: &[&str] = &["p1", "n1", "ws-a", "default", ""];
const RULE_URLS: &[&str] = &["/metrics", "/healthz", "/apis/*", "*", "/api"];
const UI_PERMISSIONS: &[&str] = &["ui.view", "ui.edit", "ws.members.manage"];
const TEMPLATE_NAMES: &[&str] = &["t1", "t2", "t3"];
const IAM_ROLE_NAMES: &[&str] = &["r1", "r2", "r3"];
/// Binding names interleave across kinds ("a" < "b" < "r" < "z"), so that only the kind
/// order (IAMRoleBinding < RoleBinding < ClusterRoleBinding) can pick the right one.
const IAM_BINDING_NAMES: &[&str] = &["b1", "b2", "b3", "z4", "z5"];
/// Who asks; repeats make some more likely.
const USERS: &[&str] = &[
    "alice",
    "alice",
    "alice",
    "bob",
    "bob",
    "",
    "system:serviceaccount:ns-1:sa",
    "system:serviceaccount:ns-2:sa",
    "system:serviceaccount:ns-1:builder",
];
const GROUPS: &[&str] = &["dev", "ops", "system:authenticated"];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn some_of(
    values: &'static [&'static str],
    size: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Vec<String>> {
    subsequence(values, size).prop_map(|v| strings(&v))
}

fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        labels: (!labels.is_empty()).then(|| {
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
        ..Default::default()
    }
}

fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        match_expressions: None,
    }
}

/// Verbs of a rule: often `*`, often a few plain verbs.
fn rule_verbs() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        1 => Just(strings(&["*"])),
        2 => some_of(&["get", "list", "create", "delete"], 1..=3),
        1 => some_of(RULE_VERBS, 1..=2),
    ]
}

fn rule() -> impl Strategy<Value = PolicyRule> {
    // Mostly groups and resources that belong together, so that rules often match; with
    // some noise (any group with any resource) and, rarely, no apiGroups at all.
    let resource_rule = (
        rule_verbs(),
        subsequence(COHERENT_RESOURCES, 1..=2),
        prop::option::weighted(
            0.15,
            (some_of(RULE_GROUPS, 1..=1), some_of(RULE_RESOURCES, 1..=1)),
        ),
        prop::bool::weighted(0.03),
        prop::option::weighted(0.25, some_of(RULE_NAMES, 0..=2)),
    )
        .prop_map(|(verbs, pairs, noise, no_groups, resource_names)| {
            let mut api_groups: Vec<String> = Vec::new();
            let mut resources: Vec<String> = Vec::new();
            let (noise_groups, noise_resources) = noise.unwrap_or_default();
            let groups = pairs.iter().map(|p| p.0.to_string()).chain(noise_groups);
            let plurals = pairs.iter().map(|p| p.1.to_string()).chain(noise_resources);
            for g in groups {
                if !api_groups.contains(&g) {
                    api_groups.push(g);
                }
            }
            for r in plurals {
                if !resources.contains(&r) {
                    resources.push(r);
                }
            }
            PolicyRule {
                verbs,
                api_groups: (!no_groups).then_some(api_groups),
                resources: Some(resources),
                resource_names,
                non_resource_urls: None,
            }
        });
    let url_rule = (rule_verbs(), some_of(RULE_URLS, 1..=2)).prop_map(|(verbs, urls)| PolicyRule {
        verbs,
        non_resource_urls: Some(urls),
        ..Default::default()
    });
    let mixed = (
        some_of(RULE_VERBS, 1..=2),
        some_of(RULE_GROUPS, 1..=1),
        some_of(RULE_RESOURCES, 1..=1),
        some_of(RULE_URLS, 1..=1),
    )
        .prop_map(|(verbs, api_groups, resources, urls)| PolicyRule {
            verbs,
            api_groups: Some(api_groups),
            resources: Some(resources),
            resource_names: None,
            non_resource_urls: Some(urls),
        });
    prop_oneof![6 => resource_rule, 2 => url_rule, 1 => mixed]
}

fn rules(max: usize) -> impl Strategy<Value = Vec<PolicyRule>> {
    prop_oneof![1 => Just(Vec::new()), 6 => prop::collection::vec(rule(), 1..=max)]
}

fn subject() -> impl Strategy<Value = Subject> {
    let make = |kind: &str, name: &str, namespace: Option<&str>| Subject {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
        api_group: None,
    };
    prop_oneof![
        5 => select(vec!["alice", "alice", "bob", "system:serviceaccount:ns-1:sa"])
            .prop_map(move |n| make("User", n, None)),
        4 => select(GROUPS).prop_map(move |n| make("Group", n, None)),
        4 => (
            select(vec!["sa", "builder"]),
            select(vec![None, Some(""), Some("ns-1"), Some("ns-2")]),
        )
            .prop_map(move |(n, ns)| make("ServiceAccount", n, ns)),
        // Subjects that name no one: no name, or a kind Kubernetes does not know.
        1 => select(vec![("User", ""), ("Group", ""), ("Robot", "alice")])
            .prop_map(move |(k, n)| make(k, n, None)),
    ]
}

fn subjects() -> impl Strategy<Value = Vec<Subject>> {
    prop_oneof![1 => Just(Vec::new()), 12 => prop::collection::vec(subject(), 1..=2)]
}

/// Objects a Resource scope can name: (namespace, apiGroup, resource, name).
const RESOURCE_TARGETS: &[(&str, &str, &str, &str)] = &[
    ("ns-1", "", "pods", "p1"),
    ("ns-1", "apps", "deployments", "p1"),
    ("ns-2", "", "pods", "p2"),
    ("ns-3", "", "pods", "p1"),
    ("", "", "nodes", "n1"),
    ("", "", "nodes", "n2"),
    ("", SCOPE_API_GROUP, "workspaces", "ws-a"),
    ("", "", "namespaces", "ns-1"),
    ("", "apps", "pods", "p1"),
];

/// A scope picked by kind and a few raw choices, so that a binding's scope can be made to
/// fit its role's kind after the roles are drawn.
#[derive(Clone, Debug)]
struct ScopePick {
    kind: ScopeKind,
    index: usize,
    blanks_as_none: bool,
}

impl ScopePick {
    fn spec(&self, kind: ScopeKind) -> ScopeSpec {
        let blank = |v: &str| {
            if v.is_empty() && self.blanks_as_none {
                None
            } else {
                Some(v.to_string())
            }
        };
        let named = |names: &[&str]| ScopeSpec {
            kind,
            name: Some(names[self.index % names.len()].to_string()),
            namespace: None,
            api_group: None,
            resource: None,
        };
        match kind {
            ScopeKind::Platform => ScopeSpec {
                kind,
                name: blank(""),
                namespace: None,
                api_group: None,
                resource: None,
            },
            ScopeKind::Cluster => named(&["default", "default", "other", "far"]),
            ScopeKind::Workspace => named(&["ws-a", "ws-a", "ws-b", "ws-x"]),
            ScopeKind::NodeGroup => named(&["ng-a", "ng-a", "ng-x"]),
            ScopeKind::Namespace => named(&["ns-1", "ns-2", "ns-3"]),
            ScopeKind::Node => named(&["n1", "n2", "n3"]),
            ScopeKind::Resource => {
                let (ns, group, resource, name) =
                    RESOURCE_TARGETS[self.index % RESOURCE_TARGETS.len()];
                ScopeSpec {
                    kind,
                    name: Some(name.to_string()),
                    namespace: blank(ns),
                    api_group: blank(group),
                    resource: Some(resource.to_string()),
                }
            }
        }
    }
}

fn scope_pick() -> impl Strategy<Value = ScopePick> {
    (select(ScopeKind::ALL.to_vec()), 0..64usize, any::<bool>()).prop_map(
        |(kind, index, blanks_as_none)| ScopePick {
            kind,
            index,
            blanks_as_none,
        },
    )
}

/// An IAMRoleBinding before its scope is fitted to its role.
#[derive(Clone, Debug)]
struct RawIamBinding {
    name: &'static str,
    role: &'static str,
    subjects: Vec<Subject>,
    scope: ScopePick,
    /// Usually bind at the role's own kind; sometimes at whatever kind was drawn.
    fit_role_kind: bool,
}

fn raw_iam_binding() -> impl Strategy<Value = RawIamBinding> {
    (
        select(IAM_BINDING_NAMES),
        select(vec!["r1", "r2", "r3", "r1", "r2", "r3", "r-missing"]),
        subjects(),
        scope_pick(),
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(name, role, subjects, scope, fit_role_kind)| RawIamBinding {
                name,
                role,
                subjects,
                scope,
                fit_role_kind,
            },
        )
}

/// t1 and t2 usually exist, t3 sometimes; sometimes a second template reuses a name.
fn templates() -> impl Strategy<Value = Vec<RoleTemplate>> {
    (
        prop::option::weighted(0.85, template(vec!["t1"])),
        prop::option::weighted(0.8, template(vec!["t2"])),
        prop::option::weighted(0.5, template(vec!["t3"])),
        prop::collection::vec(template(TEMPLATE_NAMES.to_vec()), 0..=1),
    )
        .prop_map(|(a, b, c, extra)| a.into_iter().chain(b).chain(c).chain(extra).collect())
}

fn template(names: Vec<&'static str>) -> impl Strategy<Value = RoleTemplate> {
    (
        select(names),
        select(vec![None, Some("a"), Some("b")]),
        rules(2),
        some_of(UI_PERMISSIONS, 0..=2),
    )
        .prop_map(|(name, tier, rules, ui_permissions)| {
            let mut t = RoleTemplate::new(
                name,
                RoleTemplateSpec {
                    rules,
                    ui_permissions,
                    ..Default::default()
                },
            );
            if let Some(tier) = tier {
                t.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
            }
            t
        })
}

/// An IAMRole named one of `names`.
fn iam_role(names: Vec<&'static str>) -> impl Strategy<Value = IamRole> {
    let selector = prop_oneof![
        Just(LabelSelector::default()),
        Just(match_labels(&[("tier", "a")])),
        Just(match_labels(&[("tier", "b")])),
        Just(match_labels(&[])),
    ];
    (
        select(names),
        select(ScopeKind::ALL.to_vec()),
        rules(2),
        some_of(UI_PERMISSIONS, 0..=2),
        prop_oneof![
            6 => some_of(TEMPLATE_NAMES, 0..=2),
            1 => some_of(&["t1", "t-missing"], 1..=2),
        ],
        prop::option::weighted(0.3, selector),
    )
        .prop_map(
            |(name, scope, rules, ui_permissions, role_templates, template_selector)| {
                IamRole::new(
                    name,
                    IamRoleSpec {
                        scope,
                        display_name: None,
                        description: None,
                        rules,
                        ui_permissions,
                        role_templates,
                        template_selector,
                    },
                )
            },
        )
}

/// r1, r2 and r3 usually exist; sometimes a second role reuses a name (and counts for
/// nothing).
fn iam_roles() -> impl Strategy<Value = Vec<IamRole>> {
    (
        prop::option::weighted(0.9, iam_role(vec!["r1"])),
        prop::option::weighted(0.9, iam_role(vec!["r2"])),
        prop::option::weighted(0.8, iam_role(vec!["r3"])),
        prop::collection::vec(iam_role(IAM_ROLE_NAMES.to_vec()), 0..=1),
    )
        .prop_map(|(a, b, c, extra)| a.into_iter().chain(b).chain(c).chain(extra).collect())
}

fn native_role(
    namespaces: Vec<&'static str>,
    names: Vec<&'static str>,
) -> impl Strategy<Value = Role> {
    (select(namespaces), select(names), rules(2)).prop_map(|(ns, name, rules)| Role {
        metadata: ObjectMeta {
            namespace: Some(ns.to_string()),
            ..meta(name, &[])
        },
        rules: Some(rules),
    })
}

fn native_roles() -> impl Strategy<Value = Vec<Role>> {
    (
        prop::option::weighted(0.8, native_role(vec!["ns-1"], vec!["role-a"])),
        prop::option::weighted(0.5, native_role(vec!["ns-2"], vec!["role-b"])),
        prop::collection::vec(
            native_role(vec!["ns-1", "ns-2"], vec!["role-a", "role-b"]),
            0..=1,
        ),
    )
        .prop_map(|(a, b, extra)| a.into_iter().chain(b).chain(extra).collect())
}

/// A ClusterRole named one of `names`, aggregated with probability `aggregated`.
fn cluster_role(names: Vec<&'static str>, aggregated: f64) -> impl Strategy<Value = ClusterRole> {
    let selectors = prop::collection::vec(
        prop_oneof![
            3 => Just(match_labels(&[("agg", "yes")])),
            1 => Just(match_labels(&[("agg", "no")])),
            1 => Just(LabelSelector::default()),
        ],
        0..=2,
    );
    (
        select(names),
        select(vec![None, Some("yes"), Some("yes"), Some("no")]),
        rules(2),
        prop::option::weighted(aggregated, prop::option::weighted(0.9, selectors)),
    )
        .prop_map(|(name, agg, rules, aggregation)| ClusterRole {
            metadata: match agg {
                Some(v) => meta(name, &[("agg", v)]),
                None => meta(name, &[]),
            },
            rules: Some(rules),
            aggregation_rule: aggregation.map(|cluster_role_selectors| AggregationRule {
                cluster_role_selectors,
            }),
        })
}

fn cluster_roles() -> impl Strategy<Value = Vec<ClusterRole>> {
    (
        prop::option::weighted(0.8, cluster_role(vec!["cr-a"], 0.1)),
        prop::option::weighted(0.6, cluster_role(vec!["cr-b"], 0.1)),
        prop::option::weighted(0.6, cluster_role(vec!["cr-agg"], 0.8)),
        prop::collection::vec(
            cluster_role(vec!["cr-a", "cr-b", "cr-c", "cr-agg"], 0.3),
            0..=1,
        ),
    )
        .prop_map(|(a, b, c, extra)| a.into_iter().chain(b).chain(c).chain(extra).collect())
}

fn role_binding() -> impl Strategy<Value = RoleBinding> {
    (
        select(vec!["ns-1", "ns-2", "ns-3"]),
        select(vec!["rb-1", "a-rb"]),
        select(vec![
            ("Role", "role-a"),
            ("Role", "role-b"),
            ("Role", "cr-a"),
            ("ClusterRole", "cr-a"),
            ("ClusterRole", "cr-b"),
            ("ClusterRole", "cr-agg"),
            ("ClusterRole", "role-a"),
        ]),
        subjects(),
    )
        .prop_map(|(ns, name, (kind, role), subjects)| RoleBinding {
            metadata: ObjectMeta {
                namespace: Some(ns.to_string()),
                ..meta(name, &[])
            },
            role_ref: RoleRef {
                api_group: RBAC_API_GROUP.into(),
                kind: kind.into(),
                name: role.into(),
            },
            subjects: Some(subjects),
        })
}

fn cluster_role_binding() -> impl Strategy<Value = ClusterRoleBinding> {
    (
        select(vec!["crb-1", "a-crb"]),
        select(vec!["cr-a", "cr-b", "cr-c", "cr-agg", "cr-missing"]),
        subjects(),
    )
        .prop_map(|(name, role, subjects)| ClusterRoleBinding {
            metadata: meta(name, &[]),
            role_ref: RoleRef {
                api_group: RBAC_API_GROUP.into(),
                kind: "ClusterRole".into(),
                name: role.into(),
            },
            subjects: Some(subjects),
        })
}

/// Namespaces, nodes and the declared workspaces, node groups and clusters.
#[derive(Clone, Debug)]
struct RawTopology {
    namespace_labels: Vec<Option<&'static str>>,
    ns3_exists: bool,
    duplicate_namespace: Option<(usize, Option<&'static str>)>,
    duplicate_node: Option<(usize, Option<&'static str>)>,
    /// A `metadata.namespace` written on some cluster-scoped objects of one kind.
    stray_namespace: Option<usize>,
    node_labels: Vec<Option<&'static str>>,
    n3_exists: bool,
    ws_b_declared: bool,
    ng_a_declared: bool,
    other_cluster_declared: bool,
}

fn raw_topology() -> impl Strategy<Value = RawTopology> {
    let ws_label = || {
        select(vec![
            None,
            Some("ws-a"),
            Some("ws-a"),
            Some("ws-a"),
            Some("ws-b"),
            Some("ws-x"),
            Some(""),
        ])
    };
    let ng_label = || {
        select(vec![
            None,
            Some("ng-a"),
            Some("ng-a"),
            Some("ng-x"),
            Some(""),
        ])
    };
    (
        prop::collection::vec(ws_label(), 3),
        prop::bool::weighted(0.7),
        prop::option::weighted(0.1, (0..3usize, ws_label())),
        prop::option::weighted(0.1, (0..3usize, ng_label())),
        prop::option::weighted(0.15, 0..7usize),
        prop::collection::vec(ng_label(), 3),
        prop::bool::weighted(0.7),
        any::<bool>(),
        prop::bool::weighted(0.8),
        any::<bool>(),
    )
        .prop_map(
            |(
                namespace_labels,
                ns3_exists,
                duplicate_namespace,
                duplicate_node,
                stray_namespace,
                node_labels,
                n3_exists,
                ws_b_declared,
                ng_a_declared,
                other_cluster_declared,
            )| RawTopology {
                namespace_labels,
                ns3_exists,
                duplicate_namespace,
                duplicate_node,
                stray_namespace,
                node_labels,
                n3_exists,
                ws_b_declared,
                ng_a_declared,
                other_cluster_declared,
            },
        )
}

fn resource_action() -> impl Strategy<Value = ResourceAttributes> {
    let attrs = |verb: &str, group: &str, resource: &str, sub: &str, name: &str, ns: &str| {
        ResourceAttributes {
            verb: verb.into(),
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: ns.into(),
        }
    };
    let namespaced = (
        select(REQUEST_VERBS),
        select(vec![
            ("", "pods"),
            ("apps", "deployments"),
            ("", "pods"),
            ("apps", "pods"),
        ]),
        select(vec!["", "", "log", "status"]),
        select(vec!["", "p1", "p2"]),
        select(vec!["ns-1", "ns-2", "ns-3", "ns-9"]),
    )
        .prop_map(move |(v, (g, r), s, n, ns)| attrs(v, g, r, s, n, ns));
    // The objects Resource scopes name, so that Resource-scope bindings get exercised.
    let targeted = (
        select(REQUEST_VERBS),
        select(RESOURCE_TARGETS),
        select(vec!["", "", "log", "status"]),
        prop::bool::weighted(0.85),
    )
        .prop_map(move |(v, (ns, g, r, n), s, named)| {
            attrs(v, g, r, s, if named { n } else { "" }, ns)
        });
    let node = (
        select(REQUEST_VERBS),
        select(vec!["", "", "status", "log"]),
        select(vec!["", "n1", "n2", "n3", "n9"]),
    )
        .prop_map(move |(v, s, n)| attrs(v, "", "nodes", s, n, ""));
    let scope_object = (
        select(REQUEST_VERBS),
        select(vec!["workspaces", "nodegroups", "clusters"]),
        select(vec!["", "", "status"]),
        select(vec![
            "", "ws-a", "ws-b", "ws-x", "ng-a", "ng-x", "default", "other", "far",
        ]),
    )
        .prop_map(move |(v, r, s, n)| attrs(v, SCOPE_API_GROUP, r, s, n, ""));
    let anything = (
        select(REQUEST_VERBS),
        select(vec!["", "apps", SCOPE_API_GROUP]),
        select(vec![
            "pods",
            "deployments",
            "nodes",
            "workspaces",
            "nodegroups",
            "clusters",
            "namespaces",
        ]),
        select(vec!["", "log", "status"]),
        select(vec!["", "p1", "n1", "ws-a", "ng-a", "default", "ns-1"]),
        select(vec!["", "", "ns-1", "ns-2"]),
    )
        .prop_map(move |(v, g, r, s, n, ns)| attrs(v, g, r, s, n, ns));
    prop_oneof![
        3 => namespaced,
        3 => targeted,
        2 => node,
        2 => scope_object,
        1 => anything,
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let non_resource = (
        select(vec!["get", "post"]),
        select(vec![
            "/metrics",
            "/healthz",
            "/apis",
            "/apis/",
            "/apis/apps",
            "/api",
            "/metrics/extra",
        ]),
    )
        .prop_map(|(verb, path)| {
            Action::NonResource(NonResourceAttributes {
                verb: verb.into(),
                path: path.into(),
            })
        });
    prop_oneof![6 => resource_action().prop_map(Action::Resource), 1 => non_resource]
}

fn subject_info() -> impl Strategy<Value = SubjectInfo> {
    (select(USERS), some_of(GROUPS, 0..=3)).prop_map(|(user, groups)| SubjectInfo {
        user: user.into(),
        groups,
    })
}

fn request() -> impl Strategy<Value = Request> {
    (subject_info(), action()).prop_map(|(who, action)| Request {
        user: who.user,
        groups: who.groups,
        action,
        ..Default::default()
    })
}

/// Raw choices for a request aimed at one of the policy's bindings: which binding, subject
/// and rule, and how to make a request the binding probably allows. Aiming keeps allows
/// frequent (purely random requests are almost never allowed); `tweak` then often changes
/// one detail, to probe the edges. `fallback` is used for whatever cannot be aimed.
#[derive(Clone, Debug)]
struct AimedRequest {
    picks: [usize; 6],
    tweak: Option<(usize, usize)>,
    fallback: Request,
}

fn aimed_request() -> impl Strategy<Value = AimedRequest> {
    (
        prop::array::uniform6(0..1000usize),
        prop::option::weighted(0.35, (0..6usize, 0..1000usize)),
        request(),
    )
        .prop_map(|(picks, tweak, fallback)| AimedRequest {
            picks,
            tweak,
            fallback,
        })
}

fn nth<T>(items: &[T], i: usize) -> Option<&T> {
    (!items.is_empty()).then(|| &items[i % items.len()])
}

fn natural_group(resource: &str) -> String {
    match resource {
        "deployments" => "apps",
        "workspaces" | "nodegroups" | "clusters" => SCOPE_API_GROUP,
        _ => "",
    }
    .to_string()
}

/// Names of the Namespace (or Node) objects labelled `key: value`.
fn members<'a>(metas: impl Iterator<Item = &'a ObjectMeta>, key: &str, value: &str) -> Vec<String> {
    metas
        .filter(|m| label(m, key) == Some(value))
        .map(|m| name(m).to_string())
        .collect()
}

/// A request aimed at a binding (see [`AimedRequest`]). Only a generator: whether the
/// request is allowed is for the reference to say.
fn aim(objects: &PolicyObjects, grants: &[RefGrant], aimed: &AimedRequest) -> Request {
    let [g_i, s_i, r_i, v_i, x_i, m_i] = aimed.picks;
    let mut request = aimed.fallback.clone();
    let Some(grant) = nth(grants, g_i) else {
        return request;
    };
    // Who: the subject's user, or a member of the subject's group.
    if let Some(s) = nth(&grant.subjects, s_i) {
        match s.kind.as_str() {
            "Group" if !request.groups.contains(&s.name) => request.groups.push(s.name.clone()),
            "Group" => {}
            "ServiceAccount" => {
                let ns = s
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .or(grant.default_sa_namespace.clone())
                    .unwrap_or_else(|| "ns-1".into());
                request.user = format!("system:serviceaccount:{ns}:{}", s.name);
            }
            _ => request.user = s.name.clone(),
        }
    }
    // What: something one of the role's rules covers.
    let Some(rule) = nth(&grant.rules, r_i) else {
        return tweak(request, aimed.tweak);
    };
    let verb = match nth(&rule.verbs, v_i).map(String::as_str) {
        None | Some("*") => "get".to_string(),
        Some(v) => v.to_string(),
    };
    let resources = rule.resources.clone().unwrap_or_default();
    let urls = rule.non_resource_urls.clone().unwrap_or_default();
    if !urls.is_empty() && (resources.is_empty() || x_i % 2 == 0) {
        let url = nth(&urls, x_i).unwrap();
        let path = match url.strip_suffix('*') {
            Some("") => "/metrics".to_string(),
            Some(prefix) => format!("{prefix}apps"),
            None => url.clone(),
        };
        request.action = Action::NonResource(NonResourceAttributes { verb, path });
        return tweak(request, aimed.tweak);
    }
    let (resource, subresource) = match nth(&resources, x_i).map(String::as_str) {
        None | Some("*") => ("pods".to_string(), String::new()),
        Some(r) => match r.split_once('/') {
            Some(("*", sub)) => ("pods".to_string(), sub.to_string()),
            Some((res, sub)) => (res.to_string(), sub.to_string()),
            None => (r.to_string(), String::new()),
        },
    };
    let group = match nth(rule.api_groups.as_deref().unwrap_or_default(), m_i).map(String::as_str) {
        None | Some("*") => natural_group(&resource),
        Some(g) => g.to_string(),
    };
    let object_name = match rule.resource_names.as_deref().and_then(|n| nth(n, m_i)) {
        Some(n) => n.clone(),
        None => ["", "p1"][m_i % 2].to_string(),
    };
    let mut a = ResourceAttributes {
        verb,
        group,
        version: "v1".into(),
        resource,
        subresource,
        name: object_name,
        namespace: String::new(),
    };
    let scope_object = |a: &mut ResourceAttributes, resource: &str, object: &str| {
        a.group = SCOPE_API_GROUP.into();
        a.resource = resource.into();
        a.name = object.into();
    };
    // Where: somewhere the binding's scope is on the chain.
    match &grant.scope {
        Scope::Platform => a.namespace = ["", "ns-1", "ns-2"][m_i % 3].into(),
        Scope::Cluster { name: c } if c == SERVED_CLUSTER => {
            a.namespace = ["", "ns-1", "ns-2"][m_i % 3].into();
        }
        Scope::Cluster { name: c } => scope_object(&mut a, "clusters", c),
        Scope::Namespace { name: ns } => a.namespace = ns.clone(),
        Scope::Workspace { name: ws } => {
            let inside = members(
                objects.namespaces.iter().map(|n| &n.metadata),
                WORKSPACE_LABEL,
                ws,
            );
            match nth(&inside, m_i) {
                Some(ns) if a.resource != "workspaces" => a.namespace = ns.clone(),
                _ => scope_object(&mut a, "workspaces", ws),
            }
        }
        Scope::NodeGroup { name: g } => {
            let inside = members(
                objects.nodes.iter().map(|n| &n.metadata),
                NODEGROUP_LABEL,
                g,
            );
            match nth(&inside, m_i) {
                Some(node) if a.resource != "nodegroups" => {
                    a.group = String::new();
                    a.resource = "nodes".into();
                    a.name = node.clone();
                }
                _ => scope_object(&mut a, "nodegroups", g),
            }
        }
        Scope::Node { name: node } => {
            a.group = String::new();
            a.resource = "nodes".into();
            a.name = node.clone();
        }
        Scope::Resource {
            namespace,
            api_group,
            resource,
            name: object,
        } => {
            a.namespace = namespace.clone();
            a.group = api_group.clone();
            a.resource = resource.clone();
            a.name = object.clone();
        }
    }
    request.action = Action::Resource(a);
    tweak(request, aimed.tweak)
}

/// Changes one detail of a request.
fn tweak(mut request: Request, how: Option<(usize, usize)>) -> Request {
    let Some((what, i)) = how else {
        return request;
    };
    let choose = |options: &[&str]| options[i % options.len()].to_string();
    match (what, &mut request.action) {
        (0, _) => request.user = choose(USERS),
        (1, _) => request.groups.clear(),
        (2, Action::Resource(a)) => a.verb = choose(REQUEST_VERBS),
        (3, Action::Resource(a)) => a.subresource = choose(&["", "log", "status"]),
        (4, Action::Resource(a)) => a.name = choose(&["", "p1", "p2", "n1", "ws-a"]),
        (5, Action::Resource(a)) => a.namespace = choose(&["", "ns-1", "ns-2", "ns-3"]),
        (_, Action::NonResource(n)) => n.path = choose(&["/metrics", "/healthz", "/apis", "/api"]),
        _ => {}
    }
    request
}

/// One generated universe and what is asked of it.
#[derive(Clone)]
struct Case {
    objects: PolicyObjects,
    requests: Vec<Request>,
    ui_queries: Vec<(SubjectInfo, Scope)>,
}

impl fmt::Debug for Case {
    /// The objects as the YAML a user would write, so a failure reads like a policy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn yaml<T: serde::Serialize>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            for item in items {
                let text = serde_yaml::to_string(item).map_err(|_| fmt::Error)?;
                writeln!(f, "---\n{}", text.trim_end())?;
            }
            Ok(())
        }
        let o = &self.objects;
        yaml(f, &o.namespaces)?;
        yaml(f, &o.nodes)?;
        yaml(f, &o.workspaces)?;
        yaml(f, &o.node_groups)?;
        yaml(f, &o.clusters)?;
        yaml(f, &o.role_templates)?;
        yaml(f, &o.iam_roles)?;
        yaml(f, &o.iam_role_bindings)?;
        yaml(f, &o.roles)?;
        yaml(f, &o.cluster_roles)?;
        yaml(f, &o.role_bindings)?;
        yaml(f, &o.cluster_role_bindings)?;
        writeln!(f, "# requests")?;
        for r in &self.requests {
            writeln!(f, "{}", serde_json::to_string(r).map_err(|_| fmt::Error)?)?;
        }
        writeln!(f, "# ui queries")?;
        for (s, scope) in &self.ui_queries {
            writeln!(f, "{s:?} at {scope}")?;
        }
        Ok(())
    }
}

/// Adds the topology and the IAMRoleBindings (fitted to their roles) to the roles and
/// native bindings already drawn.
fn complete_objects(
    objects: &mut PolicyObjects,
    topology: RawTopology,
    raw_bindings: Vec<RawIamBinding>,
) {
    let namespace = |name: &str, ws: Option<&str>| Namespace {
        metadata: match ws {
            Some(ws) => meta(name, &[(WORKSPACE_LABEL, ws), ("team", "x")]),
            None => meta(name, &[]),
        },
        ..Default::default()
    };
    let node = |name: &str, group: Option<&str>| Node {
        metadata: match group {
            Some(g) => meta(name, &[(NODEGROUP_LABEL, g)]),
            None => meta(name, &[]),
        },
        ..Default::default()
    };
    let mut namespaces = Vec::new();
    for (i, ns) in ["ns-1", "ns-2", "ns-3"].iter().enumerate() {
        if i < 2 || topology.ns3_exists {
            namespaces.push(namespace(ns, topology.namespace_labels[i]));
        }
    }
    if let Some((i, label)) = topology.duplicate_namespace {
        namespaces.push(namespace(["ns-1", "ns-2", "ns-3"][i], label));
    }
    let mut nodes = Vec::new();
    for (i, n) in ["n1", "n2", "n3"].iter().enumerate() {
        if i < 2 || topology.n3_exists {
            nodes.push(node(n, topology.node_labels[i]));
        }
    }
    if let Some((i, label)) = topology.duplicate_node {
        nodes.push(node(["n1", "n2", "n3"][i], label));
    }
    let mut workspaces = vec![Workspace::new(
        "ws-a",
        WorkspaceSpec {
            namespaces: strings(&["ns-1"]),
            ..Default::default()
        },
    )];
    if topology.ws_b_declared {
        workspaces.push(Workspace::new("ws-b", WorkspaceSpec::default()));
    }
    let mut node_groups = Vec::new();
    if topology.ng_a_declared {
        node_groups.push(NodeGroup::new(
            "ng-a",
            NodeGroupSpec {
                node_selector: match_labels(&[(NODEGROUP_LABEL, "ng-a")]),
                ..Default::default()
            },
        ));
    }
    let mut clusters = Vec::new();
    if topology.other_cluster_declared {
        clusters.push(Cluster::new("other", ClusterSpec::default()));
    }
    // Fit each binding's scope to its role's kind (the first role of that name), mostly.
    let iam_role_bindings = raw_bindings
        .into_iter()
        .map(|raw| {
            let role_kind = objects
                .iam_roles
                .iter()
                .find(|r| name(&r.metadata) == raw.role)
                .map(|r| r.spec.scope);
            let kind = match role_kind {
                Some(kind) if raw.fit_role_kind => kind,
                _ => raw.scope.kind,
            };
            IamRoleBinding::new(
                raw.name,
                IamRoleBindingSpec {
                    subjects: raw.subjects,
                    role_ref: IamRoleRef {
                        kind: "IAMRole".into(),
                        name: raw.role.into(),
                        api_group: raw.fit_role_kind.then(|| IAM_API_GROUP.to_string()),
                    },
                    scope: raw.scope.spec(kind),
                },
            )
        })
        .collect();
    objects.iam_role_bindings = iam_role_bindings;
    objects.clusters = clusters;
    objects.workspaces = workspaces;
    objects.node_groups = node_groups;
    objects.namespaces = namespaces;
    objects.nodes = nodes;
    if let Some(kind) = topology.stray_namespace {
        let o = objects;
        let metas: Vec<&mut ObjectMeta> = match kind {
            0 => o
                .role_templates
                .iter_mut()
                .map(|x| &mut x.metadata)
                .collect(),
            1 => o.iam_roles.iter_mut().map(|x| &mut x.metadata).collect(),
            2 => o
                .iam_role_bindings
                .iter_mut()
                .map(|x| &mut x.metadata)
                .collect(),
            3 => o
                .cluster_roles
                .iter_mut()
                .map(|x| &mut x.metadata)
                .collect(),
            4 => o
                .cluster_role_bindings
                .iter_mut()
                .map(|x| &mut x.metadata)
                .collect(),
            5 => o.workspaces.iter_mut().map(|x| &mut x.metadata).collect(),
            _ => o.node_groups.iter_mut().map(|x| &mut x.metadata).collect(),
        };
        for (i, m) in metas.into_iter().enumerate() {
            if (i + kind) % 2 == 1 {
                m.namespace = Some("ns-1".into());
            }
        }
    }
}

fn objects() -> impl Strategy<Value = PolicyObjects> {
    (
        raw_topology(),
        templates(),
        iam_roles(),
        prop::collection::vec(raw_iam_binding(), 1..=6),
        native_roles(),
        cluster_roles(),
        prop::collection::vec(role_binding(), 0..=3),
        prop::collection::vec(cluster_role_binding(), 0..=2),
    )
        .prop_map(|(topology, tpl, iam, bindings, roles, cr, rb, crb)| {
            let mut objects = PolicyObjects {
                role_templates: tpl,
                iam_roles: iam,
                roles,
                cluster_roles: cr,
                role_bindings: rb,
                cluster_role_bindings: crb,
                ..Default::default()
            };
            complete_objects(&mut objects, topology, bindings);
            objects
        })
}

fn case() -> impl Strategy<Value = Case> {
    let ui_query = (subject_info(), scope_pick())
        .prop_map(|(who, pick)| (who, scope_of(&pick.spec(pick.kind)).expect("valid scope")));
    (
        objects(),
        prop::collection::vec(aimed_request(), 6),
        prop::collection::vec(request(), 3),
        prop::collection::vec(ui_query, 3),
        prop::array::uniform2(0..1000usize),
    )
        .prop_map(|(objects, aimed, random, mut ui_queries, [g_i, s_i])| {
            let grants = reference_grants(&objects);
            let mut requests: Vec<Request> =
                aimed.iter().map(|a| aim(&objects, &grants, a)).collect();
            requests.extend(random);
            // One UI query aimed at a binding's own scope, for one of its subjects.
            if let Some(g) = nth(&grants, g_i) {
                let probe = aim(
                    &objects,
                    &grants,
                    &AimedRequest {
                        picks: [g_i, s_i, 0, 0, 0, 0],
                        tweak: None,
                        fallback: Request::default(),
                    },
                );
                ui_queries.push((
                    SubjectInfo {
                        user: probe.user,
                        groups: probe.groups,
                    },
                    g.scope.clone(),
                ));
            }
            Case {
                objects,
                requests,
                ui_queries,
            }
        })
}

// ---------------------------------------------------------------------------------------
// The comparison.
// ---------------------------------------------------------------------------------------

/// What one case showed, for the coverage check.
#[derive(Default)]
struct Seen {
    allowed_at: BTreeMap<ScopeKind, usize>,
    allowed_by: BTreeMap<ObjectKind, usize>,
    no_opinion: usize,
    ui_non_empty: usize,
}

fn check_case(case: &Case, seen: &mut Seen) -> Result<(), TestCaseError> {
    let objects = &case.objects;
    let policy = Policy::compile(objects, &PolicyOptions::default());
    let grants = reference_grants(objects);
    for request in &case.requests {
        let chain = request_chain(&request.action, objects);
        let expected = reference_decide(&grants, &chain, request);
        let decision = policy.decide(request);
        let request_json = serde_json::to_string(request).unwrap();
        match (&expected, &decision) {
            (None, Decision::NoOpinion) => seen.no_opinion += 1,
            (Some(e), Decision::Allowed(a)) => {
                let got = RefAllow {
                    scope: a.grant.scope.clone(),
                    binding: a.grant.binding.clone(),
                    role: a.grant.role.role.clone(),
                    rule_index: e.rule_index.map(|_| a.rule_index),
                };
                prop_assert_eq!(&got, e, "request {}", request_json);
                *seen.allowed_at.entry(scope_kind(&e.scope)).or_default() += 1;
                *seen.allowed_by.entry(e.binding.kind).or_default() += 1;
            }
            _ => prop_assert!(
                false,
                "request {}: reference says {:?}, engine says {}",
                request_json,
                expected,
                decision
            ),
        }

        let explanation = policy.explain(request);
        prop_assert_eq!(explanation.allowed, decision.is_allowed());
        prop_assert_eq!(&explanation.reason, &decision.reason());
        let scopes: Vec<Scope> = explanation.chain.iter().map(|v| v.scope.clone()).collect();
        prop_assert_eq!(&scopes, &chain, "chain of request {}", request_json);
        let decided_at = expected.as_ref().map(|e| &e.scope);
        let mut before_decision = true;
        for visit in &explanation.chain {
            prop_assert_eq!(visit.visited, before_decision, "at {}", visit.scope);
            prop_assert_eq!(visit.decided_here, decided_at == Some(&visit.scope));
            if visit.decided_here {
                before_decision = false;
            }
            let considered: Vec<ObjectRef> =
                visit.bindings.iter().map(|b| b.binding.clone()).collect();
            let want = reference_considered(&grants, &visit.scope, &request.user, &request.groups);
            prop_assert_eq!(
                &considered,
                &want,
                "bindings considered at {} for {}",
                visit.scope,
                request_json
            );
            let deciders: Vec<&ObjectRef> = visit
                .bindings
                .iter()
                .filter(|b| b.decided)
                .map(|b| &b.binding)
                .collect();
            let want_decider: Vec<&ObjectRef> = expected
                .iter()
                .filter(|e| e.scope == visit.scope)
                .map(|e| &e.binding)
                .collect();
            prop_assert_eq!(deciders, want_decider);
        }
    }
    for (subject, scope) in &case.ui_queries {
        let got = policy.ui_permissions(subject, scope);
        let want = reference_ui(&grants, objects, subject, scope);
        prop_assert_eq!(&got, &want, "ui permissions of {:?} at {}", subject, scope);
        if !want.is_empty() {
            seen.ui_non_empty += 1;
        }
    }
    Ok(())
}

proptest! {
    // XorShift: in the debug profile ChaCha makes generating a case cost several times more
    // than checking it.
    #![proptest_config(ProptestConfig {
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(10_000)
    })]

    /// decide, explain and ui_permissions agree with the naive reference on every request.
    #[test]
    fn engine_agrees_with_the_reference_model(case in case()) {
        check_case(&case, &mut Seen::default())?;
    }
}

/// The generator is not vacuous: over a fixed sample, requests are decided at every kind of
/// scope and by every kind of binding, many get no opinion, and UI permissions show up.
#[test]
fn generator_reaches_every_scope_and_binding_kind() {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 1_000,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::XorShift),
    );
    let strategy = case();
    let mut seen = Seen::default();
    let mut requests = 0;
    for _ in 0..1_000 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        requests += case.requests.len();
        check_case(&case, &mut seen).unwrap();
    }
    let allowed: usize = seen.allowed_at.values().sum();
    println!(
        "{requests} requests: {allowed} allowed, {} no opinion; allowed at {:?}; by {:?}; {} non-empty UI answers",
        seen.no_opinion, seen.allowed_at, seen.allowed_by, seen.ui_non_empty
    );
    for kind in ScopeKind::ALL {
        assert!(
            seen.allowed_at.get(&kind).copied().unwrap_or(0) >= 5,
            "too few decisions at {kind} scopes: {:?}",
            seen.allowed_at
        );
    }
    for kind in [
        ObjectKind::IamRoleBinding,
        ObjectKind::RoleBinding,
        ObjectKind::ClusterRoleBinding,
    ] {
        assert!(
            seen.allowed_by.get(&kind).copied().unwrap_or(0) >= 5,
            "too few decisions by {kind}: {:?}",
            seen.allowed_by
        );
    }
    assert!(allowed * 10 > requests, "too few allows");
    assert!(seen.no_opinion * 10 > requests, "too few no-opinions");
    assert!(seen.ui_non_empty >= 50, "too few UI permissions");
}

// ---------------------------------------------------------------------------------------
// Engine bugs the property found, pinned as plain examples.
// ---------------------------------------------------------------------------------------

fn get_pods(user: &str, namespace: &str) -> Request {
    Request::resource(
        user,
        ResourceAttributes {
            verb: "get".into(),
            resource: "pods".into(),
            namespace: namespace.into(),
            ..Default::default()
        },
    )
}

/// Decides with the engine (leniently, as a watch does) and checks the reference agrees.
fn decide_both(manifests: &str, request: &Request) -> Decision {
    let objects = scopegate_core::load::parse_str(manifests, "example.yaml").unwrap();
    let policy = Policy::compile(&objects, &PolicyOptions::default());
    let decision = policy.decide(request);
    let chain = request_chain(&request.action, &objects);
    let expected = reference_decide(&reference_grants(&objects), &chain, request);
    assert_eq!(
        decision.is_allowed(),
        expected.is_some(),
        "engine: {decision}; reference: {expected:?}"
    );
    decision
}

const WORKSPACE_ADMIN: &str = r#"
apiVersion: scope.theriseunion.io/v1alpha1
kind: Workspace
metadata: {name: ws-a}
spec: {}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata: {name: ws-reader}
spec:
  scope: Workspace
  rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: alice-ws-a}
spec:
  subjects: [{kind: User, name: alice}]
  roleRef: {kind: IAMRole, name: ws-reader}
  scope: {kind: Workspace, name: ws-a}
"#;

/// Two Namespace objects of one name are an error, and the first counts, as for every other
/// kind: a later duplicate's workspace label must not put the namespace into a workspace
/// (the engine used to take the last labelled one).
#[test]
fn a_duplicate_namespace_does_not_change_its_workspace() {
    let manifests = format!(
        "{WORKSPACE_ADMIN}---
apiVersion: v1
kind: Namespace
metadata: {{name: ns-1}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: ns-1, labels: {{scope.theriseunion.io/workspace: ws-a}}}}
"
    );
    assert!(!decide_both(&manifests, &get_pods("alice", "ns-1")).is_allowed());
}

/// Kubernetes ignores `metadata.namespace` on cluster-scoped objects. A second
/// ClusterRoleBinding of the same name is a duplicate whatever namespace it claims, and
/// grants nothing (the engine used to compile both).
#[test]
fn a_stray_namespace_does_not_let_a_duplicate_cluster_role_binding_grant() {
    let manifests = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{kind: User, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: readers, namespace: ns-1}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{kind: User, name: alice}]
"#;
    assert!(decide_both(manifests, &get_pods("bob", "ns-1")).is_allowed());
    assert!(!decide_both(manifests, &get_pods("alice", "ns-1")).is_allowed());
}

/// ... and a RoleTemplate (or ClusterRole) with a stray namespace is still found by name.
#[test]
fn a_stray_namespace_does_not_hide_a_role_template() {
    let manifests = format!(
        "{WORKSPACE_ADMIN}---
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {{name: list-pods, namespace: ns-1}}
spec:
  rules: [{{apiGroups: [\"\"], resources: [pods], verbs: [list]}}]
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata: {{name: lister}}
spec:
  scope: Namespace
  roleTemplates: [list-pods]
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {{name: alice-lists}}
spec:
  subjects: [{{kind: User, name: alice}}]
  roleRef: {{kind: IAMRole, name: lister}}
  scope: {{kind: Namespace, name: ns-2}}
"
    );
    let objects = scopegate_core::load::parse_str(&manifests, "example.yaml").unwrap();
    let policy = Policy::compile(&objects, &PolicyOptions::default());
    assert!(
        policy
            .diagnostics()
            .iter()
            .all(|d| !d.message.contains("does not exist")),
        "{:?}",
        policy.diagnostics()
    );
    let mut list = get_pods("alice", "ns-2");
    if let Action::Resource(a) = &mut list.action {
        a.verb = "list".into();
    }
    assert!(decide_both(&manifests, &list).is_allowed());
}
