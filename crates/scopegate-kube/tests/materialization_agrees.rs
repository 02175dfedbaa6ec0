//! Materialised native RBAC grants what the scope model grants: no more, and less only where
//! documented.
//!
//! For every IAMRoleBinding of a policy (the demo in `examples/policies`, and a few hundred
//! random small policies), the binding is materialised with its IAMRole's ClusterRole and
//! the observed Namespaces and Nodes, and two engines are built:
//!
//! - the scope model restricted to that one binding: the binding, every RoleTemplate,
//!   IAMRole, Workspace, NodeGroup, Cluster, Namespace and Node, and no native RBAC;
//! - native only: the materialised Roles, ClusterRoles, RoleBindings and
//!   ClusterRoleBindings, with the Namespace and Node objects and nothing else.
//!
//! Both decide every request of a universe drawn around the binding: its subjects and an
//! outsider; verbs; namespaced and cluster-scoped resources with and without subresources;
//! the names of the scope's objects, of the nodes, workspaces, node groups and clusters, and
//! others; member and non-member namespaces and one that does not exist; non-resource URLs.
//! The universe holds the requests Kubernetes makes: a namespaced resource is asked about in
//! a namespace (or, unnamed, across all of them), a cluster-scoped one without a namespace,
//! and `namespaces/<ns>` with the namespace `<ns>` (kube-apiserver sets it).
//!
//! What is asserted, for every request:
//! - never an over-grant: whatever native RBAC allows, the scope model allows;
//! - never an undocumented under-grant: whatever the scope model allows, native RBAC allows,
//!   except (1) for bindings the materialiser reports as `NotExpressible` (they make nothing),
//!   and (2) for a rule with `resources: ["*"]` narrowed to one object kind, on a subresource
//!   Kubernetes does not serve for it (RBAC cannot say "every subresource of this resource";
//!   the narrowed rule lists the known ones). Both are counted and reported.
//! - the materialiser and the engine agree on which bindings grant nothing;
//! - every object made is one the API server accepts, and one the engine compiles without
//!   errors.
//!
//! One difference is outside the universe on purpose and asserted separately
//! (`phantom_namespaced_requests_on_cluster_scoped_objects`): a ClusterRoleBinding answers
//! for every namespace, so a NodeGroup binding's `get nodes/n1` is also allowed for a
//! SubjectAccessReview that puts `nodes/n1` in a namespace, which the scope model does not
//! allow. Kubernetes serves no namespaced `nodes`, so no request reaches an object that way.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{PolicyRule, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use scopegate_core::model::{
    Cluster, ClusterSpec, IamRole, IamRoleBinding, IamRoleBindingSpec, IamRoleRef, IamRoleSpec,
    NodeGroup, NodeGroupSpec, RoleTemplate, RoleTemplateSpec, SCOPE_GROUP, ScopeKind, ScopeSpec,
    Workspace, WorkspaceSpec,
};
use scopegate_core::rbac::rule_allows;
use scopegate_core::{
    Action, Policy, PolicyObjects, PolicyOptions, Request, ResourceAttributes, Severity,
};
use scopegate_kube::materialize::{
    DesiredRbac, KNOWN_CLUSTER_SCOPED, MaterializeError, ObservedWorld, desired_cluster_role,
    desired_objects, known_subresources,
};
use std::collections::{BTreeMap, BTreeSet};

const CLUSTER: &str = "default";

// ---------------------------------------------------------------------------------------
// Building the two policies.
// ---------------------------------------------------------------------------------------

/// What one binding's check found.
#[derive(Debug, Default)]
struct Tally {
    requests: usize,
    allowed_by_scope_model: usize,
    allowed_natively: usize,
    /// Allowed by the scope model, not natively, because the binding is `NotExpressible`.
    under_not_expressible: usize,
    /// Allowed by the scope model, not natively, because of a `*` resource narrowed to the
    /// known subresources.
    under_unknown_subresource: usize,
    /// Which outcome the materialiser had.
    outcome: String,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.requests += o.requests;
        self.allowed_by_scope_model += o.allowed_by_scope_model;
        self.allowed_natively += o.allowed_natively;
        self.under_not_expressible += o.under_not_expressible;
        self.under_unknown_subresource += o.under_unknown_subresource;
    }
}

fn first_named<'a, T>(
    items: &'a [T],
    name: &str,
    meta: impl Fn(&T) -> &ObjectMeta,
) -> Option<&'a T> {
    items.iter().find(|i| meta(i).name.as_deref() == Some(name))
}

/// The scope model, with `binding` as its only binding.
fn scope_model(objects: &PolicyObjects, binding: &IamRoleBinding) -> Policy {
    let only = PolicyObjects {
        role_templates: objects.role_templates.clone(),
        iam_roles: objects.iam_roles.clone(),
        iam_role_bindings: vec![binding.clone()],
        clusters: objects.clusters.clone(),
        workspaces: objects.workspaces.clone(),
        node_groups: objects.node_groups.clone(),
        namespaces: objects.namespaces.clone(),
        nodes: objects.nodes.clone(),
        ..Default::default()
    };
    Policy::compile(&only, &options())
}

fn options() -> PolicyOptions {
    PolicyOptions {
        cluster_name: CLUSTER.to_string(),
    }
}

/// Native RBAC only: what was materialised, and the Namespaces and Nodes.
fn native(objects: &PolicyObjects, made: &DesiredRbac) -> Policy {
    let only = PolicyObjects {
        roles: made.roles.clone(),
        cluster_roles: made.cluster_roles.clone(),
        role_bindings: made.role_bindings.clone(),
        cluster_role_bindings: made.cluster_role_bindings.clone(),
        namespaces: objects.namespaces.clone(),
        nodes: objects.nodes.clone(),
        ..Default::default()
    };
    let policy = Policy::compile(&only, &options());
    let errors: Vec<_> = policy
        .diagnostics()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(
        errors.is_empty(),
        "materialised objects have errors: {errors:?}"
    );
    policy
}

/// What the API server's validation (`ValidatePolicyRule`, subjects, names) would refuse.
fn assert_accepted_by_api_server(made: &DesiredRbac) {
    let check_rules = |rules: &[PolicyRule], namespaced: bool, narrowed: bool| {
        for r in rules {
            assert!(!r.verbs.is_empty(), "{r:?}");
            let urls = r.non_resource_urls.as_deref().unwrap_or_default();
            if !urls.is_empty() {
                assert!(!namespaced, "{r:?}");
                assert!(
                    r.api_groups.as_deref().unwrap_or_default().is_empty(),
                    "{r:?}"
                );
                assert!(
                    r.resources.as_deref().unwrap_or_default().is_empty(),
                    "{r:?}"
                );
                assert!(
                    r.resource_names.as_deref().unwrap_or_default().is_empty(),
                    "{r:?}"
                );
            } else {
                assert!(
                    !r.api_groups.as_deref().unwrap_or_default().is_empty(),
                    "{r:?}"
                );
                assert!(
                    !r.resources.as_deref().unwrap_or_default().is_empty(),
                    "{r:?}"
                );
            }
            if narrowed {
                // Narrowed rules always name their objects: an empty list means every name.
                assert!(
                    !r.resource_names.as_deref().unwrap_or_default().is_empty(),
                    "{r:?}"
                );
                assert!(
                    !r.api_groups.iter().flatten().any(|g| g == "*"),
                    "a narrowed rule with a wildcard group: {r:?}"
                );
            }
        }
    };
    let check_meta = |m: &ObjectMeta, namespaced: bool| {
        assert!(m.name.as_deref().is_some_and(|n| !n.is_empty()));
        assert_eq!(m.namespace.is_some(), namespaced, "{m:?}");
        assert_eq!(m.owner_references.as_ref().map(Vec::len), Some(1));
        for value in m.labels.iter().flatten().map(|(_, v)| v) {
            assert!(value.len() <= 63, "{value}");
        }
    };
    let check_subjects = |subjects: &[Subject]| {
        for s in subjects {
            assert!(!s.name.is_empty());
            match s.kind.as_str() {
                "User" | "Group" => {
                    assert_eq!(s.api_group.as_deref(), Some("rbac.authorization.k8s.io"))
                }
                "ServiceAccount" => {
                    assert!(s.namespace.as_deref().is_some_and(|n| !n.is_empty()))
                }
                other => panic!("subject kind {other}"),
            }
        }
    };
    for cr in &made.cluster_roles {
        check_meta(&cr.metadata, false);
        let narrowed = cr
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("scopegate:iamrolebinding:"));
        check_rules(cr.rules.as_deref().unwrap_or_default(), false, narrowed);
    }
    for role in &made.roles {
        check_meta(&role.metadata, true);
        check_rules(role.rules.as_deref().unwrap_or_default(), true, true);
    }
    for rb in &made.role_bindings {
        check_meta(&rb.metadata, true);
        check_subjects(rb.subjects.as_deref().unwrap_or_default());
    }
    for crb in &made.cluster_role_bindings {
        check_meta(&crb.metadata, false);
        check_subjects(crb.subjects.as_deref().unwrap_or_default());
    }
}

// ---------------------------------------------------------------------------------------
// The universe of requests around one binding.
// ---------------------------------------------------------------------------------------

/// How Kubernetes addresses a resource.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Placement {
    /// Asked about in a namespace, or unnamed across all of them.
    Namespaced,
    /// Asked about without a namespace.
    ClusterScoped,
    /// `namespaces`: named requests carry the namespace, as kube-apiserver sets it.
    NamespaceObject,
}

fn placement(group: &str, resource: &str) -> Placement {
    if group.is_empty() && resource == "namespaces" {
        Placement::NamespaceObject
    } else if KNOWN_CLUSTER_SCOPED.contains(&(group, resource))
        || (group == SCOPE_GROUP && matches!(resource, "workspaces" | "nodegroups" | "clusters"))
    {
        Placement::ClusterScoped
    } else {
        Placement::Namespaced
    }
}

/// Who asks: each subject of the binding, a ServiceAccount of the same name in another
/// namespace, and an outsider.
fn requesters(binding: &IamRoleBinding, namespaces: &[String]) -> Vec<(String, Vec<String>)> {
    let mut out = vec![("outsider".to_string(), vec!["outsiders".to_string()])];
    for s in &binding.spec.subjects {
        match s.kind.as_str() {
            "User" => out.push((s.name.clone(), vec![])),
            "Group" => out.push(("member".to_string(), vec![s.name.clone()])),
            "ServiceAccount" => {
                for ns in namespaces {
                    out.push((format!("system:serviceaccount:{ns}:{}", s.name), vec![]));
                }
            }
            _ => out.push((s.name.clone(), vec![s.name.clone()])),
        }
    }
    out.sort();
    out.dedup();
    out
}

struct Universe {
    verbs: Vec<&'static str>,
    subresources: Vec<&'static str>,
    resources: Vec<(String, String)>,
    namespaces: Vec<String>,
    object_names: Vec<String>,
    paths: Vec<&'static str>,
}

fn names_of<T>(items: &[T], meta: impl Fn(&T) -> &ObjectMeta) -> Vec<String> {
    items.iter().filter_map(|i| meta(i).name.clone()).collect()
}

impl Universe {
    fn around(objects: &PolicyObjects, binding: &IamRoleBinding, dense: bool) -> Universe {
        let mut resources: BTreeSet<(String, String)> = [
            ("", "pods"),
            ("", "configmaps"),
            ("apps", "deployments"),
            ("example.com", "widgets"),
            ("", "nodes"),
            ("", "namespaces"),
            ("storage.k8s.io", "storageclasses"),
            (SCOPE_GROUP, "workspaces"),
            (SCOPE_GROUP, "nodegroups"),
            (SCOPE_GROUP, "clusters"),
        ]
        .iter()
        .map(|(g, r)| (g.to_string(), r.to_string()))
        .collect();
        let mut namespaces: BTreeSet<String> = names_of(&objects.namespaces, |n| &n.metadata)
            .into_iter()
            .collect();
        namespaces.insert("ghost".to_string());
        let mut object_names: BTreeSet<String> = ["obj", "other"].map(String::from).into();
        let scope = &binding.spec.scope;
        if let Some(n) = &scope.name {
            object_names.insert(n.clone());
        }
        if let Some(ns) = scope.namespace.as_ref().filter(|n| !n.is_empty()) {
            namespaces.insert(ns.clone());
        }
        if let Some(r) = &scope.resource
            && !r.is_empty()
            && !r.contains('/')
        {
            resources.insert((scope.api_group.clone().unwrap_or_default(), r.clone()));
        }
        object_names.extend(names_of(&objects.nodes, |n| &n.metadata));
        object_names.extend(names_of(&objects.workspaces, |n| &n.metadata));
        object_names.extend(names_of(&objects.node_groups, |n| &n.metadata));
        object_names.extend(names_of(&objects.clusters, |n| &n.metadata));
        object_names.insert(CLUSTER.to_string());
        Universe {
            verbs: if dense {
                vec!["get", "list", "patch", "delete", "create"]
            } else {
                vec!["get", "patch"]
            },
            subresources: if dense {
                vec!["", "status", "log", "exec", "proxy", "scale", "frobnicate"]
            } else {
                vec!["", "status", "log", "frobnicate"]
            },
            resources: resources.into_iter().collect(),
            namespaces: namespaces.into_iter().collect(),
            object_names: object_names.into_iter().collect(),
            paths: vec!["/metrics", "/healthz", "/debug/pprof/profile"],
        }
    }

    /// Every action, as Kubernetes would send it.
    fn actions(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for verb in &self.verbs {
            for path in &self.paths {
                out.push(Action::NonResource(scopegate_core::NonResourceAttributes {
                    verb: verb.to_string(),
                    path: path.to_string(),
                }));
            }
            for (group, resource) in &self.resources {
                for sub in &self.subresources {
                    let attrs = |namespace: &str, name: &str| {
                        Action::Resource(ResourceAttributes {
                            verb: verb.to_string(),
                            group: group.clone(),
                            resource: resource.clone(),
                            subresource: sub.to_string(),
                            name: name.to_string(),
                            namespace: namespace.to_string(),
                            ..Default::default()
                        })
                    };
                    match placement(group, resource) {
                        Placement::Namespaced => {
                            out.push(attrs("", ""));
                            for ns in &self.namespaces {
                                out.push(attrs(ns, ""));
                                for name in &self.object_names {
                                    out.push(attrs(ns, name));
                                }
                            }
                        }
                        Placement::ClusterScoped => {
                            out.push(attrs("", ""));
                            for name in &self.object_names {
                                out.push(attrs("", name));
                            }
                        }
                        Placement::NamespaceObject => {
                            out.push(attrs("", ""));
                            for ns in &self.namespaces {
                                out.push(attrs(ns, ns));
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The check.
// ---------------------------------------------------------------------------------------

/// Whether the scope model allows `action` only through `*` resources, on a subresource not
/// among the known ones: the documented under-grant of narrowing.
fn only_through_wildcard_on_unknown_subresource(rules: &[PolicyRule], action: &Action) -> bool {
    let Action::Resource(attrs) = action else {
        return false;
    };
    if attrs.subresource.is_empty()
        || known_subresources(&attrs.group, &attrs.resource).contains(&attrs.subresource.as_str())
    {
        return false;
    }
    let without_wildcards: Vec<PolicyRule> = rules
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(resources) = &mut r.resources {
                resources.retain(|x| x != "*");
            }
            r
        })
        .collect();
    !without_wildcards.iter().any(|r| rule_allows(r, action))
}

/// Materialises `binding`, builds both policies, and compares them over the universe.
fn check_binding(objects: &PolicyObjects, binding: &IamRoleBinding, dense: bool) -> Tally {
    let name = binding.metadata.name.clone().unwrap_or_default();
    let world = ObservedWorld::from_objects(objects, CLUSTER);
    let role = first_named(&objects.iam_roles, &binding.spec.role_ref.name, |r| {
        &r.metadata
    });
    let scope = scope_model(objects, binding);
    let engine_grants = !scope.grants().is_empty();

    let mut made = DesiredRbac::default();
    let outcome = desired_objects(binding, role, &world);
    let mut tally = Tally {
        outcome: match &outcome {
            Ok(d) if d.is_empty() => "Ok(nothing)".to_string(),
            Ok(_) => "Ok".to_string(),
            Err(e) => e.reason().to_string(),
        },
        ..Default::default()
    };
    match &outcome {
        Ok(d) => {
            assert!(
                engine_grants,
                "{name}: materialised, but the engine grants nothing"
            );
            made.extend(d.clone());
            let role = role.expect("a materialised binding has its role");
            made.cluster_roles.push(
                desired_cluster_role(role, &objects.role_templates)
                    .expect("a materialised binding's role has no error"),
            );
        }
        Err(e) if e.engine_grants_nothing() => {
            assert!(
                !engine_grants,
                "{name}: the engine grants, but materialising says {e}"
            );
            // The role's own ClusterRole may still exist: bindings must not reach it.
            if let Some(role) = role
                && let Ok(cr) = desired_cluster_role(role, &objects.role_templates)
            {
                made.cluster_roles.push(cr);
            }
        }
        Err(e) => {
            assert!(matches!(e, MaterializeError::NotExpressible(_)));
            assert!(
                engine_grants,
                "{name}: NotExpressible, but the engine grants nothing"
            );
        }
    }
    assert_accepted_by_api_server(&made);
    let native = native(objects, &made);

    let role_rules: Vec<PolicyRule> = scope
        .grants()
        .first()
        .map(|g| g.role.rules.clone())
        .unwrap_or_default();
    let universe = Universe::around(objects, binding, dense);
    let namespaces: Vec<String> = universe.namespaces.clone();
    for (user, groups) in requesters(binding, &namespaces) {
        for action in universe.actions() {
            let request = Request {
                user: user.clone(),
                groups: groups.clone(),
                action,
                ..Default::default()
            };
            let by_scope = scope.decide(&request).is_allowed();
            let natively = native.decide(&request).is_allowed();
            tally.requests += 1;
            tally.allowed_by_scope_model += usize::from(by_scope);
            tally.allowed_natively += usize::from(natively);
            assert!(
                !natively || by_scope,
                "OVER-GRANT: binding {name} ({:?}): native RBAC allows what the scope model does not: {request:?}\n{}",
                binding.spec,
                native.explain(&request).reason
            );
            if by_scope && !natively {
                if matches!(outcome, Err(MaterializeError::NotExpressible(_))) {
                    tally.under_not_expressible += 1;
                } else if only_through_wildcard_on_unknown_subresource(&role_rules, &request.action)
                {
                    tally.under_unknown_subresource += 1;
                } else {
                    panic!(
                        "UNDER-GRANT: binding {name} ({:?}) materialised as {outcome:?}: the scope model allows what native RBAC does not: {request:?}\n{}",
                        binding.spec,
                        scope.explain(&request).reason
                    );
                }
            }
        }
    }
    tally
}

// ---------------------------------------------------------------------------------------
// The demo policy.
// ---------------------------------------------------------------------------------------

fn demo() -> PolicyObjects {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies");
    scopegate_core::load::load_paths(&[dir]).unwrap().objects
}

fn demo_binding(objects: &PolicyObjects, name: &str) -> IamRoleBinding {
    first_named(&objects.iam_role_bindings, name, |b| &b.metadata)
        .unwrap()
        .clone()
}

#[test]
fn the_demo_policy_materialises_exactly() {
    let objects = demo();
    assert!(objects.iam_role_bindings.len() >= 10);
    let mut total = Tally::default();
    let mut outcomes = BTreeMap::new();
    for binding in &objects.iam_role_bindings {
        let name = binding.metadata.name.clone().unwrap();
        let tally = check_binding(&objects, binding, true);
        // Every demo binding allows something, here and natively: the check is not vacuous.
        assert!(tally.allowed_by_scope_model > 0, "{name}: {tally:?}");
        assert_eq!(
            tally.allowed_natively + tally.under_unknown_subresource,
            tally.allowed_by_scope_model,
            "{name}: {tally:?}"
        );
        outcomes.insert(name, tally.outcome.clone());
        total += tally;
    }
    // Every demo binding is expressible, and exactly so but for one documented case: frank's
    // `cluster-administrator` role has `resources: ["*"]`, narrowed to the `clusters/edge-1`
    // object; the universe asks about subresources a Cluster object does not have
    // (`clusters/edge-1/log`, `/exec`, `/proxy`, `/frobnicate`), which `*` reaches in the scope
    // model and the narrowed rule (`clusters`, `clusters/status`, `clusters/scale`) does not.
    assert!(outcomes.values().all(|o| o == "Ok"), "{outcomes:?}");
    assert_eq!(total.under_not_expressible, 0);
    let frank = check_binding(
        &objects,
        &demo_binding(&objects, "frank-edge-1-admin"),
        true,
    );
    assert_eq!(
        total.under_unknown_subresource,
        frank.under_unknown_subresource
    );
    assert!(frank.under_unknown_subresource > 0);
    println!("demo: {total:?}");
}

fn native_for(objects: &PolicyObjects, binding: &str) -> Policy {
    let binding = demo_binding(objects, binding);
    let world = ObservedWorld::from_objects(objects, CLUSTER);
    let role = first_named(&objects.iam_roles, &binding.spec.role_ref.name, |r| {
        &r.metadata
    })
    .unwrap();
    let mut made = desired_objects(&binding, Some(role), &world).unwrap();
    made.cluster_roles
        .push(desired_cluster_role(role, &objects.role_templates).unwrap());
    native(objects, &made)
}

fn ask(user: &str, groups: &[&str], attrs: ResourceAttributes) -> Request {
    Request::resource(user, attrs).with_groups(groups.iter().copied())
}

fn res(
    verb: &str,
    group: &str,
    resource: &str,
    sub: &str,
    ns: &str,
    name: &str,
) -> ResourceAttributes {
    ResourceAttributes {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: sub.into(),
        namespace: ns.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// Every demo binding materialised together, with every IAMRole's ClusterRole: no two
/// objects share a name, and the union grants what the whole scope model grants.
#[test]
fn the_whole_demo_at_once() {
    let objects = demo();
    let world = ObservedWorld::from_objects(&objects, CLUSTER);
    let mut made = DesiredRbac::default();
    for role in &objects.iam_roles {
        made.cluster_roles
            .push(desired_cluster_role(role, &objects.role_templates).unwrap());
    }
    for binding in &objects.iam_role_bindings {
        let role = first_named(&objects.iam_roles, &binding.spec.role_ref.name, |r| {
            &r.metadata
        });
        made.extend(desired_objects(binding, role, &world).unwrap());
    }
    let keys: Vec<_> = made
        .clone()
        .into_objects()
        .iter()
        .map(|o| o.key())
        .collect();
    let unique: BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(
        keys.len(),
        unique.len(),
        "two objects share a name: {keys:?}"
    );
    assert_accepted_by_api_server(&made);

    let all_native = native(&objects, &made);
    let scope_only = PolicyObjects {
        roles: vec![],
        cluster_roles: vec![],
        role_bindings: vec![],
        cluster_role_bindings: vec![],
        ..objects.clone()
    };
    let all_scope = Policy::compile(&scope_only, &options());
    let mut allowed = 0;
    for binding in &objects.iam_role_bindings {
        let universe = Universe::around(&objects, binding, false);
        for (user, groups) in requesters(binding, &universe.namespaces) {
            for action in universe.actions() {
                let request = Request {
                    user: user.clone(),
                    groups: groups.clone(),
                    action,
                    ..Default::default()
                };
                let by_scope = all_scope.decide(&request);
                let natively = all_native.decide(&request).is_allowed();
                assert!(
                    !natively || by_scope.is_allowed(),
                    "OVER-GRANT: {request:?}"
                );
                if let scopegate_core::Decision::Allowed(a) = &by_scope {
                    allowed += 1;
                    assert!(
                        natively
                            || only_through_wildcard_on_unknown_subresource(
                                &a.grant.role.rules,
                                &request.action
                            ),
                        "UNDER-GRANT: {request:?}"
                    );
                }
            }
        }
    }
    assert!(allowed > 1000);
}

/// The README's table of who may do what, asked of native RBAC alone.
#[test]
fn the_demo_people_natively() {
    let objects = demo();
    // Platform: everything, URLs included, and other clusters' objects.
    let p = native_for(&objects, "platform-admins");
    let admins = ["platform-admins"];
    assert!(
        p.decide(&Request::non_resource("x", "post", "/debug/pprof/profile").with_groups(admins))
            .is_allowed()
    );
    assert!(
        p.decide(&ask(
            "x",
            &admins,
            res("patch", SCOPE_GROUP, "clusters", "", "", "edge-1")
        ))
        .is_allowed()
    );
    // carl: the served cluster, URLs included.
    let c = native_for(&objects, "carl-cluster-admin");
    assert!(
        c.decide(&Request::non_resource("carl", "get", "/metrics"))
            .is_allowed()
    );
    assert!(
        c.decide(&ask(
            "carl",
            &[],
            res("delete", "", "pods", "", "team-b-dev", "web-0")
        ))
        .is_allowed()
    );
    // frank: only the clusters/edge-1 object here.
    let f = native_for(&objects, "frank-edge-1-admin");
    assert!(
        f.decide(&ask(
            "frank",
            &[],
            res("patch", SCOPE_GROUP, "clusters", "", "", "edge-1")
        ))
        .is_allowed()
    );
    assert!(
        !f.decide(&ask(
            "frank",
            &[],
            res("get", SCOPE_GROUP, "clusters", "", "", "default")
        ))
        .is_allowed()
    );
    assert!(
        !f.decide(&Request::non_resource("frank", "get", "/metrics"))
            .is_allowed()
    );
    assert!(
        !f.decide(&ask(
            "frank",
            &[],
            res("get", "", "pods", "", "team-a-dev", "x")
        ))
        .is_allowed()
    );
    // carol: team-a's namespaces and the Workspace object, not team-b.
    let w = native_for(&objects, "team-a-admins");
    assert!(
        w.decide(&ask(
            "carol",
            &[],
            res("delete", "", "pods", "", "team-a-prod", "x")
        ))
        .is_allowed()
    );
    assert!(
        w.decide(&ask(
            "carol",
            &[],
            res("patch", SCOPE_GROUP, "workspaces", "", "", "team-a")
        ))
        .is_allowed()
    );
    assert!(
        !w.decide(&ask(
            "carol",
            &[],
            res("patch", SCOPE_GROUP, "workspaces", "", "", "team-b")
        ))
        .is_allowed()
    );
    assert!(
        !w.decide(&ask(
            "carol",
            &[],
            res("get", "", "pods", "", "team-b-dev", "x")
        ))
        .is_allowed()
    );
    // olga: the gpu nodes, not cpu-node-1, not a plain list.
    let g = native_for(&objects, "gpu-operators");
    assert!(
        g.decide(&ask(
            "olga",
            &[],
            res("patch", "", "nodes", "status", "", "gpu-node-1")
        ))
        .is_allowed()
    );
    assert!(
        !g.decide(&ask(
            "olga",
            &[],
            res("patch", "", "nodes", "status", "", "cpu-node-1")
        ))
        .is_allowed()
    );
    assert!(
        !g.decide(&ask("olga", &[], res("list", "", "nodes", "", "", "")))
            .is_allowed()
    );
    // erin: her pod and its subresources, nothing else.
    let e = native_for(&objects, "erin-ide");
    assert!(
        e.decide(&ask(
            "erin",
            &[],
            res("create", "", "pods", "exec", "team-a-dev", "ide-erin")
        ))
        .is_allowed()
    );
    assert!(
        !e.decide(&ask(
            "erin",
            &[],
            res("get", "", "pods", "", "team-a-dev", "api-0")
        ))
        .is_allowed()
    );
    assert!(
        !e.decide(&ask(
            "erin",
            &[],
            res("list", "", "pods", "", "team-a-dev", "")
        ))
        .is_allowed()
    );
}

/// A namespace leaving a workspace and another joining it: the materialised bindings follow,
/// and the equivalence holds before and after.
#[test]
fn the_demo_with_namespaces_and_nodes_moved() {
    let mut objects = demo();
    let relabel = |ns: &mut Namespace, ws: Option<&str>| {
        let labels = ns.metadata.labels.get_or_insert_with(Default::default);
        match ws {
            Some(ws) => labels.insert(scopegate_core::model::WORKSPACE_LABEL.into(), ws.into()),
            None => labels.remove(scopegate_core::model::WORKSPACE_LABEL),
        };
    };
    for ns in &mut objects.namespaces {
        match ns.metadata.name.as_deref() {
            Some("team-a-prod") => relabel(ns, None),
            Some("monitoring") => relabel(ns, Some("team-a")),
            _ => {}
        }
    }
    for node in &mut objects.nodes {
        let labels = node.metadata.labels.get_or_insert_with(Default::default);
        match node.metadata.name.as_deref() {
            Some("gpu-node-2") => {
                labels.remove(scopegate_core::model::NODEGROUP_LABEL);
            }
            Some("cpu-node-1") => {
                labels.insert(scopegate_core::model::NODEGROUP_LABEL.into(), "gpu".into());
            }
            _ => {}
        }
    }
    for binding in &objects.iam_role_bindings {
        let tally = check_binding(&objects, binding, false);
        assert_eq!(
            tally.allowed_natively + tally.under_unknown_subresource,
            tally.allowed_by_scope_model
        );
    }
    let w = native_for(&objects, "team-a-admins");
    assert!(
        !w.decide(&ask(
            "carol",
            &[],
            res("get", "", "pods", "", "team-a-prod", "x")
        ))
        .is_allowed()
    );
    assert!(
        w.decide(&ask(
            "carol",
            &[],
            res("get", "", "pods", "", "monitoring", "x")
        ))
        .is_allowed()
    );
    let g = native_for(&objects, "gpu-operators");
    assert!(
        !g.decide(&ask(
            "olga",
            &[],
            res("get", "", "nodes", "", "", "gpu-node-2")
        ))
        .is_allowed()
    );
    assert!(
        g.decide(&ask(
            "olga",
            &[],
            res("get", "", "nodes", "", "", "cpu-node-1")
        ))
        .is_allowed()
    );
}

/// Outside the universe: SubjectAccessReviews about a cluster-scoped resource that carry a
/// namespace. A ClusterRoleBinding answers for every namespace, so native RBAC allows them
/// where the scope model (whose chain for them has no Node, NodeGroup, Workspace or cluster
/// Resource step) does not. No such URL exists in Kubernetes, so no object is reachable this
/// way; this test pins the difference down so that it stays exactly this.
#[test]
fn phantom_namespaced_requests_on_cluster_scoped_objects() {
    let objects = demo();
    let olga = |ns: &str| ask("olga", &[], res("get", "", "nodes", "", ns, "gpu-node-1"));
    let g = native_for(&objects, "gpu-operators");
    let binding = demo_binding(&objects, "gpu-operators");
    let scope = scope_model(&objects, &binding);
    assert!(scope.decide(&olga("")).is_allowed());
    assert!(g.decide(&olga("")).is_allowed());
    assert!(g.decide(&olga("team-a-dev")).is_allowed());
    assert!(!scope.decide(&olga("team-a-dev")).is_allowed());

    // And only there: over every demo binding, a native-only allow the scope model denies is
    // always a namespaced request on a cluster-scoped resource.
    for binding in &objects.iam_role_bindings {
        let name = binding.metadata.name.clone().unwrap();
        let scope = scope_model(&objects, binding);
        let native = native_for(&objects, &name);
        let universe = Universe::around(&objects, binding, false);
        let users: Vec<_> = requesters(binding, &universe.namespaces);
        for (group, resource) in &universe.resources {
            for ns in universe.namespaces.iter().chain([&String::new()]) {
                for obj in &universe.object_names {
                    for (user, groups) in &users {
                        let request = Request {
                            user: user.clone(),
                            groups: groups.clone(),
                            action: Action::Resource(res("get", group, resource, "", ns, obj)),
                            ..Default::default()
                        };
                        if native.decide(&request).is_allowed()
                            && !scope.decide(&request).is_allowed()
                        {
                            assert_eq!(
                                placement(group, resource),
                                Placement::ClusterScoped,
                                "{name}: {request:?}"
                            );
                            assert!(!ns.is_empty(), "{name}: {request:?}");
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Random small policies.
// ---------------------------------------------------------------------------------------

fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        uid: Some(format!("uid-{name}")),
        labels: (!labels.is_empty()).then(|| {
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
        ..Default::default()
    }
}

fn strings(items: Vec<&str>) -> Vec<String> {
    items.into_iter().map(String::from).collect()
}

fn arb_rule() -> impl Strategy<Value = PolicyRule> {
    const RESOURCES: [&str; 16] = [
        "pods",
        "pods/log",
        "*/status",
        "nodes",
        "nodes/status",
        "nodes/proxy",
        "workspaces",
        "nodegroups",
        "clusters",
        "namespaces",
        "storageclasses",
        "deployments",
        "*",
        "*/scale",
        "widgets",
        "configmaps",
    ];
    let verbs = prop_oneof![
        6 => subsequence(vec!["get", "list", "patch", "*"], 1..=2),
        1 => Just(vec![]),
    ];
    let groups = prop_oneof![
        3 => Just(vec![""]),
        2 => Just(vec!["*"]),
        3 => subsequence(vec!["", "apps", SCOPE_GROUP, "storage.k8s.io", "*"], 1..=2),
        1 => Just(vec![]),
    ];
    let resources = prop_oneof![
        2 => Just(vec!["*"]),
        3 => select(RESOURCES.to_vec()).prop_map(|r| vec![r]),
        4 => subsequence(RESOURCES.to_vec(), 1..=3),
        1 => Just(vec![]),
    ];
    let names = prop_oneof![
        5 => Just(None),
        2 => subsequence(
            vec!["n1", "n2", "ws1", "ng1", "edge", "ns1", "obj", "other"],
            1..=2,
        )
        .prop_map(Some),
    ];
    let urls = prop_oneof![
        4 => Just(None),
        1 => subsequence(vec!["/metrics", "/healthz*", "*"], 1..=2).prop_map(Some),
    ];
    (verbs, groups, resources, names, urls).prop_map(|(v, g, r, n, u)| PolicyRule {
        verbs: strings(v),
        api_groups: Some(strings(g)),
        resources: Some(strings(r)),
        resource_names: n.map(strings),
        non_resource_urls: u.map(strings),
    })
}

fn arb_scope() -> impl Strategy<Value = ScopeSpec> {
    let named = |kind: ScopeKind, names: Vec<&'static str>| {
        select(names).prop_map(move |n| ScopeSpec {
            kind,
            name: Some(n.to_string()),
            namespace: None,
            api_group: None,
            resource: None,
        })
    };
    let resource = (
        select(vec!["", "ns1", "ns2"]),
        select(vec![
            ("", "pods"),
            ("", "nodes"),
            ("storage.k8s.io", "storageclasses"),
            (SCOPE_GROUP, "workspaces"),
            ("", "namespaces"),
            ("example.com", "widgets"),
            ("*", "pods"),
            ("apps", "deployments"),
        ]),
        select(vec!["obj", "n1", "ws1", "ns1"]),
    )
        .prop_map(|(ns, (g, r), n)| ScopeSpec {
            kind: ScopeKind::Resource,
            name: Some(n.to_string()),
            namespace: (!ns.is_empty()).then(|| ns.to_string()),
            api_group: Some(g.to_string()),
            resource: Some(r.to_string()),
        });
    prop_oneof![
        Just(ScopeSpec {
            kind: ScopeKind::Platform,
            name: None,
            namespace: None,
            api_group: None,
            resource: None,
        }),
        named(ScopeKind::Cluster, vec!["default", "edge", "edge", "mars"]),
        named(ScopeKind::Workspace, vec!["ws1", "ws1", "ws2", "ws3"]),
        named(ScopeKind::NodeGroup, vec!["ng1", "ng1", "ng2", "ng3"]),
        named(ScopeKind::Namespace, vec!["ns1", "ns2", "ghost"]),
        named(ScopeKind::Node, vec!["n1", "n2", "ghost-node"]),
        resource,
    ]
}

fn arb_subject() -> impl Strategy<Value = Subject> {
    let subject = |kind: &str, name: &str, namespace: Option<&str>| Subject {
        api_group: None,
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.map(String::from),
    };
    prop_oneof![
        4 => Just(subject("User", "alice", None)),
        3 => Just(subject("Group", "devs", None)),
        2 => Just(subject("ServiceAccount", "ci", None)),
        2 => Just(subject("ServiceAccount", "ci", Some("ns2"))),
        1 => Just(subject("User", "", None)),
        1 => Just(subject("Robot", "r2", None)),
        // Kinds are matched exactly; names are what they are.
        1 => Just(subject("User", "system:serviceaccount:ns1:ci", None)),
    ]
}

#[derive(Debug, Clone)]
struct RandomPolicy {
    objects: PolicyObjects,
}

fn arb_policy() -> impl Strategy<Value = RandomPolicy> {
    let ns_labels =
        proptest::collection::vec(select(vec!["", "ws1", "ws1", "ws2", "ws3", "none"]), 3);
    let node_labels =
        proptest::collection::vec(select(vec!["", "ng1", "ng1", "ng2", "ng3", "none"]), 3);
    let declared = (
        prop_oneof![4 => Just(vec!["ws1"]), 2 => Just(vec!["ws1", "ws2"]), 1 => Just(vec![])],
        prop_oneof![4 => Just(vec!["ng1"]), 2 => Just(vec!["ng1", "ng2"]), 1 => Just(vec![])],
        prop_oneof![4 => Just(vec!["edge"]), 1 => Just(vec![])],
    );
    let templates = proptest::collection::vec(
        (
            proptest::collection::vec(arb_rule(), 0..=3),
            select(vec!["a", "b", ""]),
        ),
        3,
    );
    let role = (
        proptest::collection::vec(arb_rule(), 0..=2),
        prop_oneof![
            6 => subsequence(vec!["t1", "t2", "t3"], 0..=2),
            1 => Just(vec!["t9"]),
        ],
        prop_oneof![
            3 => Just(None),
            2 => Just(Some("a")),
            1 => Just(Some("")),
            1 => Just(Some("!invalid")),
        ],
    );
    let binding = (
        arb_scope(),
        prop::bool::weighted(0.9),
        select(ScopeKind::ALL.to_vec()),
        prop::bool::weighted(0.5),
        prop_oneof![
            8 => proptest::collection::vec(arb_subject(), 1..=2),
            1 => Just(vec![]),
        ],
    );
    (ns_labels, node_labels, declared, templates, role, binding).prop_map(
        |(ns_labels, node_labels, (wss, ngs, clusters), templates, role, binding)| {
            let mut o = PolicyObjects::default();
            for (i, label) in ns_labels.iter().enumerate() {
                let name = format!("ns{}", i + 1);
                let labels: &[(&str, &str)] = match *label {
                    "none" => &[],
                    l => &[(scopegate_core::model::WORKSPACE_LABEL, l)],
                };
                o.namespaces.push(Namespace {
                    metadata: meta(&name, labels),
                    ..Default::default()
                });
            }
            for (i, label) in node_labels.iter().enumerate() {
                let name = format!("n{}", i + 1);
                let labels: &[(&str, &str)] = match *label {
                    "none" => &[],
                    l => &[(scopegate_core::model::NODEGROUP_LABEL, l)],
                };
                o.nodes.push(k8s_openapi::api::core::v1::Node {
                    metadata: meta(&name, labels),
                    ..Default::default()
                });
            }
            for ws in wss {
                o.workspaces.push(Workspace {
                    metadata: meta(ws, &[]),
                    spec: WorkspaceSpec::default(),
                    status: None,
                });
            }
            for ng in ngs {
                o.node_groups.push(NodeGroup {
                    metadata: meta(ng, &[]),
                    spec: NodeGroupSpec::default(),
                    status: None,
                });
            }
            for c in clusters {
                o.clusters.push(Cluster {
                    metadata: meta(c, &[]),
                    spec: ClusterSpec::default(),
                    status: None,
                });
            }
            for (i, (rules, tier)) in templates.into_iter().enumerate() {
                let labels: &[(&str, &str)] = if tier.is_empty() {
                    &[]
                } else {
                    &[("tier", tier)]
                };
                o.role_templates.push(RoleTemplate {
                    metadata: meta(&format!("t{}", i + 1), labels),
                    spec: RoleTemplateSpec {
                        rules,
                        ..Default::default()
                    },
                    status: None,
                });
            }
            let (mut role_rules, named, selector) = role;
            let (scope, same_kind, other_kind, aimed, subjects) = binding;
            if aimed {
                // Half of the roles get one rule aimed at what their scope reaches, so that
                // every kind of binding allows something.
                let (group, resource) = match scope.kind {
                    ScopeKind::NodeGroup | ScopeKind::Node => ("", "*"),
                    ScopeKind::Workspace => (SCOPE_GROUP, "workspaces"),
                    ScopeKind::Cluster => (SCOPE_GROUP, "clusters"),
                    ScopeKind::Resource => (
                        scope.api_group.as_deref().unwrap_or_default(),
                        scope.resource.as_deref().unwrap_or_default(),
                    ),
                    _ => ("", "pods"),
                };
                role_rules.push(PolicyRule {
                    api_groups: Some(vec![group.to_string()]),
                    resources: Some(vec![resource.to_string(), format!("{resource}/status")]),
                    verbs: vec!["get".into(), "patch".into()],
                    ..Default::default()
                });
            }
            let selector = selector.map(|s| match s {
                "" => LabelSelector::default(),
                "!invalid" => LabelSelector {
                    match_expressions: Some(vec![
                        k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                            key: "tier".into(),
                            operator: "Equals".into(),
                            values: None,
                        },
                    ]),
                    match_labels: None,
                },
                tier => LabelSelector {
                    match_labels: Some([("tier".to_string(), tier.to_string())].into()),
                    match_expressions: None,
                },
            });
            o.iam_roles.push(IamRole {
                metadata: meta("r", &[]),
                spec: IamRoleSpec {
                    scope: if same_kind { scope.kind } else { other_kind },
                    display_name: None,
                    description: None,
                    rules: role_rules,
                    ui_permissions: vec![],
                    role_templates: strings(named),
                    template_selector: selector,
                },
                status: None,
            });
            o.iam_role_bindings.push(IamRoleBinding {
                metadata: meta("b", &[]),
                spec: IamRoleBindingSpec {
                    subjects,
                    role_ref: IamRoleRef {
                        kind: "IAMRole".into(),
                        name: "r".into(),
                        api_group: Some("iam.theriseunion.io".into()),
                    },
                    scope,
                },
                status: None,
            });
            RandomPolicy { objects: o }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(300)
    })]

    #[test]
    fn random_policies_materialise_without_over_granting(policy in arb_policy()) {
        let o = &policy.objects;
        // Both directions are asserted request by request inside.
        check_binding(o, &o.iam_role_bindings[0], false);
    }
}

/// The random universe is not vacuous: over a fixed sample of random policies, every
/// materialiser outcome occurs, native RBAC allows a fair share of requests, and the two
/// documented under-grants are what they are said to be.
#[test]
fn random_policies_cover_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = arb_policy();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut kinds: BTreeMap<(ScopeKind, String), usize> = BTreeMap::new();
    let mut total = Tally::default();
    let mut allowed_by_kind: BTreeMap<ScopeKind, usize> = BTreeMap::new();
    for _ in 0..300 {
        let policy = strategy.new_tree(&mut runner).unwrap().current();
        let o = &policy.objects;
        let tally = check_binding(o, &o.iam_role_bindings[0], true);
        *allowed_by_kind
            .entry(o.iam_role_bindings[0].spec.scope.kind)
            .or_default() += tally.allowed_natively;
        *outcomes.entry(tally.outcome.clone()).or_default() += 1;
        *kinds
            .entry((
                o.iam_role_bindings[0].spec.scope.kind,
                tally.outcome.clone(),
            ))
            .or_default() += 1;
        total += tally;
    }
    println!("outcomes: {outcomes:?}");
    println!("by scope kind: {kinds:?}");
    println!("requests: {total:?}");
    println!("allowed natively, by scope kind: {allowed_by_kind:?}");
    for outcome in [
        "Ok",
        "InvalidBinding",
        "RoleNotFound",
        "RoleHasErrors",
        "NotExpressible",
    ] {
        if outcome == "RoleNotFound" {
            continue; // the random binding always names the one role
        }
        assert!(
            outcomes.contains_key(outcome),
            "{outcome} never drawn: {outcomes:?}"
        );
    }
    for kind in ScopeKind::ALL {
        assert!(
            kinds.contains_key(&(kind, "Ok".to_string())),
            "{kind} never materialised: {kinds:?}"
        );
        assert!(
            allowed_by_kind.get(&kind).is_some_and(|n| *n > 0),
            "{kind} never allowed anything: {allowed_by_kind:?}"
        );
    }
    assert!(total.allowed_natively > 1000, "{total:?}");
}
