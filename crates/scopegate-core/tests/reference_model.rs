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

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use scopegate_core::model::{RoleTemplate, Scope, ScopeKind, ScopeSpec};
use scopegate_core::{
    Action, Decision, NonResourceAttributes, ObjectKind, ObjectRef, Policy, PolicyObjects,
    PolicyOptions, Request, ResourceAttributes, SubjectInfo,
};
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::generators::*;
use std::fmt;

// ---------------------------------------------------------------------------------------
// The reference evaluator. Plain loops over plain objects; slow on purpose.
// ---------------------------------------------------------------------------------------

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

/// Kubernetes' `IsDNS1123Subdomain`: at most 253 characters of `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
/// parts joined by dots.
fn dns_subdomain(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.len() <= 253
        && name.split('.').all(|part| {
            part.starts_with(alnum)
                && part.ends_with(alnum)
                && part.chars().all(|c| alnum(c) || c == '-')
        })
}

/// Whether Kubernetes would accept a subject: it has a name, a kind it knows, and for a
/// ServiceAccount a namespace (its own, or the binding's). In a native binding
/// (`native_rbac`) its apiGroup, when written, must be `rbac.authorization.k8s.io` for a User
/// or Group and empty for a ServiceAccount, and a ServiceAccount's name a DNS subdomain;
/// IAMRoleBindings take any.
fn names_someone(s: &Subject, default_ns: Option<&str>, native_rbac: bool) -> bool {
    let group = s.api_group.as_deref().unwrap_or("");
    !s.name.is_empty()
        && match s.kind.as_str() {
            "User" | "Group" => !native_rbac || group.is_empty() || group == RBAC_API_GROUP,
            "ServiceAccount" => {
                (s.namespace.as_deref().is_some_and(|n| !n.is_empty()) || default_ns.is_some())
                    && (!native_rbac || (group.is_empty() && dns_subdomain(&s.name)))
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

/// Whether kube-apiserver accepts a native Role (`namespaced`) or ClusterRole with these
/// rules, as `ValidatePolicyRule` in Kubernetes' `pkg/apis/rbac/validation` says: every rule
/// has a verb; a non-resource rule names no group, resource or resource name, and is not in a
/// Role; a resource rule names a group and a resource. A role it refuses is not in a cluster,
/// so it grants nothing and is aggregated into nothing.
fn kubernetes_accepts(rules: &[PolicyRule], namespaced: bool) -> bool {
    let some = |list: &Option<Vec<String>>| list.iter().flatten().next().is_some();
    rules.iter().all(|rule| {
        !rule.verbs.is_empty()
            && if some(&rule.non_resource_urls) {
                !namespaced
                    && !some(&rule.api_groups)
                    && !some(&rule.resources)
                    && !some(&rule.resource_names)
            } else {
                some(&rule.api_groups) && some(&rule.resources)
            }
    })
}

/// Every ClusterRole's effective rules: its own, or for an aggregated one the union of the
/// rules of the roles its selectors match, iterated to a fixed point as the aggregation
/// controller converges. ClusterRoles kube-apiserver would refuse are left out.
fn cluster_role_rules(objects: &PolicyObjects) -> BTreeMap<String, (Vec<PolicyRule>, bool)> {
    let roles: Vec<&ClusterRole> = (0..objects.cluster_roles.len())
        .filter(|&i| is_first(&objects.cluster_roles, i, |r| &r.metadata))
        .map(|i| &objects.cluster_roles[i])
        .filter(|r| kubernetes_accepts(r.rules.as_deref().unwrap_or_default(), false))
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
                    if !kubernetes_accepts(role.rules.as_deref().unwrap_or_default(), true) {
                        continue;
                    }
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
        let native_rbac = g.binding.kind != ObjectKind::IamRoleBinding;
        g.subjects
            .iter()
            .all(|s| names_someone(s, g.default_sa_namespace.as_deref(), native_rbac))
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
