//! Desired state of IAMRoleBindings: every scope kind, every way a binding grants nothing,
//! namespaces joining and leaving workspaces, nodes joining and leaving node groups, and
//! revocation through the plan.

use super::*;
use crate::materialize::diff::plan;
use crate::materialize::{IAMROLEBINDING_LABEL, MANAGED_BY_LABEL, RbacKind};
use scopegate_core::load::parse_str;

const WORLD: &str = r#"
apiVersion: scope.theriseunion.io/v1alpha1
kind: Cluster
metadata: {name: edge}
spec: {}
---
apiVersion: scope.theriseunion.io/v1alpha1
kind: Workspace
metadata: {name: team-a}
spec: {}
---
apiVersion: scope.theriseunion.io/v1alpha1
kind: Workspace
metadata: {name: team-b}
spec: {}
---
apiVersion: scope.theriseunion.io/v1alpha1
kind: NodeGroup
metadata: {name: gpu}
spec: {nodeSelector: {matchLabels: {type: gpu}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: a-dev, labels: {scope.theriseunion.io/workspace: team-a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: a-prod, labels: {scope.theriseunion.io/workspace: team-a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b-dev, labels: {scope.theriseunion.io/workspace: team-b}}
---
apiVersion: v1
kind: Namespace
metadata: {name: loose}
---
apiVersion: v1
kind: Node
metadata: {name: g1, labels: {type: gpu, scope.theriseunion.io/nodegroup: gpu}}
---
apiVersion: v1
kind: Node
metadata: {name: g2, labels: {type: gpu, scope.theriseunion.io/nodegroup: gpu}}
---
apiVersion: v1
kind: Node
metadata: {name: c1, labels: {type: cpu}}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {name: everything}
spec:
  rules:
    - {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
    - {nonResourceURLs: ["*"], verbs: ["*"]}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {name: pods}
spec:
  rules:
    - {apiGroups: [""], resources: ["pods", "pods/log"], verbs: ["get"]}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {name: node-ops, labels: {nodes: "true"}}
spec:
  rules:
    - {apiGroups: [""], resources: ["nodes", "nodes/status"], verbs: ["get", "patch"]}
    - {apiGroups: ["scope.theriseunion.io"], resources: ["nodegroups"], verbs: ["get"]}
    - {apiGroups: [""], resources: ["pods"], verbs: ["list"]}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {name: ws-object, labels: {ws: "true"}}
spec:
  rules:
    - {apiGroups: ["scope.theriseunion.io"], resources: ["workspaces"], verbs: ["get", "patch"]}
    - {apiGroups: [""], resources: ["configmaps"], verbs: ["*"]}
"#;

fn role_yaml(name: &str, kind: &str, spec: &str) -> String {
    format!(
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRole\nmetadata: {{name: {name}, uid: uid-{name}}}\nspec: {{scope: {kind}, {spec}}}\n"
    )
}

fn roles() -> String {
    [
        role_yaml("admin", "Platform", "roleTemplates: [everything]"),
        role_yaml("cluster-admin", "Cluster", "roleTemplates: [everything]"),
        role_yaml("ns-dev", "Namespace", "roleTemplates: [pods]"),
        role_yaml(
            "ws-admin",
            "Workspace",
            "roleTemplates: [pods], templateSelector: {matchLabels: {ws: 'true'}}",
        ),
        role_yaml("ws-pods", "Workspace", "roleTemplates: [pods]"),
        role_yaml(
            "ng-op",
            "NodeGroup",
            "templateSelector: {matchLabels: {nodes: 'true'}}",
        ),
        role_yaml("node-op", "Node", "roleTemplates: [node-ops]"),
        role_yaml("res", "Resource", "roleTemplates: [pods, everything]"),
        role_yaml("res-pods", "Resource", "roleTemplates: [pods]"),
        role_yaml("broken", "Namespace", "roleTemplates: [pods, missing]"),
    ]
    .join("---\n")
}

fn binding(name: &str, role: &str, scope: &str, subjects: &str) -> IamRoleBinding {
    let yaml = format!(
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRoleBinding\nmetadata: {{name: {name}, uid: uid-{name}}}\nspec:\n  subjects: {subjects}\n  roleRef: {{apiGroup: iam.theriseunion.io, kind: IAMRole, name: {role}}}\n  scope: {scope}\n"
    );
    parse_str(&yaml, "binding.yaml")
        .unwrap()
        .iam_role_bindings
        .remove(0)
}

fn alice() -> &'static str {
    "[{kind: User, name: alice}]"
}

struct Fixture {
    world: ObservedWorld,
    roles: Vec<IamRole>,
}

impl Fixture {
    fn new() -> Self {
        Self::with(WORLD)
    }

    fn with(world: &str) -> Self {
        let objects = parse_str(&format!("{world}\n---\n{}", roles()), "world.yaml").unwrap();
        Fixture {
            world: ObservedWorld::from_objects(&objects, "default"),
            roles: objects.iam_roles,
        }
    }

    fn role(&self, name: &str) -> Option<&IamRole> {
        self.roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
    }

    fn desired(&self, b: &IamRoleBinding) -> Result<DesiredRbac, MaterializeError> {
        desired_objects(b, self.role(&b.spec.role_ref.name), &self.world)
    }
}

fn names<T>(objects: &[T], meta: impl Fn(&T) -> &ObjectMeta) -> Vec<(Option<String>, String)> {
    objects
        .iter()
        .map(|o| {
            let m = meta(o);
            (m.namespace.clone(), m.name.clone().unwrap())
        })
        .collect()
}

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
    let list = |l: &[&str]| (!l.is_empty()).then(|| l.iter().map(|s| s.to_string()).collect());
    PolicyRule {
        api_groups: list(groups),
        resources: list(resources),
        resource_names: list(names),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        non_resource_urls: None,
    }
}

fn assert_owned_and_labelled(d: &DesiredRbac, binding: &str) {
    for object in d.clone().into_objects() {
        let meta = object.metadata();
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels[MANAGED_BY_LABEL], "scopegate");
        assert_eq!(labels[IAMROLEBINDING_LABEL], binding);
        let owners = meta.owner_references.as_ref().unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "IAMRoleBinding");
        assert_eq!(owners[0].api_version, "iam.theriseunion.io/v1alpha1");
        assert_eq!(owners[0].name, binding);
        assert_eq!(owners[0].uid, format!("uid-{binding}"));
        assert_eq!(owners[0].controller, Some(true));
        assert_eq!(owners[0].block_owner_deletion, Some(true));
    }
}

fn user(name: &str) -> Subject {
    Subject {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "User".into(),
        name: name.into(),
        namespace: None,
    }
}

// --- Every scope kind ---------------------------------------------------------------------

#[test]
fn platform_is_a_cluster_role_binding_to_the_roles_cluster_role() {
    let f = Fixture::new();
    let d = f
        .desired(&binding("p", "admin", "{kind: Platform}", alice()))
        .unwrap();
    assert_eq!(d.len(), 1);
    let crb = &d.cluster_role_bindings[0];
    assert_eq!(
        crb.metadata.name.as_deref(),
        Some("scopegate:iamrolebinding:p")
    );
    assert_eq!(crb.role_ref.kind, "ClusterRole");
    assert_eq!(crb.role_ref.name, "scopegate:iamrole:admin");
    assert_eq!(crb.role_ref.api_group, "rbac.authorization.k8s.io");
    assert_eq!(crb.subjects, Some(vec![user("alice")]));
    assert_owned_and_labelled(&d, "p");
}

#[test]
fn the_served_cluster_is_a_cluster_role_binding() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "c",
            "cluster-admin",
            "{kind: Cluster, name: default}",
            alice(),
        ))
        .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(
        d.cluster_role_bindings[0].role_ref.name,
        "scopegate:iamrole:cluster-admin"
    );
}

#[test]
fn another_cluster_reaches_only_its_cluster_object_here() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "e",
            "cluster-admin",
            "{kind: Cluster, name: edge}",
            alice(),
        ))
        .unwrap();
    assert_eq!(d.cluster_roles.len(), 1);
    assert_eq!(d.cluster_role_bindings.len(), 1);
    let rules = d.cluster_roles[0].rules.clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].api_groups,
        Some(vec!["scope.theriseunion.io".into()])
    );
    assert_eq!(rules[0].resource_names, Some(vec!["edge".into()]));
    assert_eq!(rules[0].resources.as_ref().unwrap()[0], "clusters");
    assert_eq!(
        d.cluster_role_bindings[0].role_ref.name,
        "scopegate:iamrolebinding:e"
    );
    assert_owned_and_labelled(&d, "e");
}

#[test]
fn namespace_is_a_role_binding_in_it() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "n",
            "ns-dev",
            "{kind: Namespace, name: a-dev}",
            "[{kind: ServiceAccount, name: ci}, {kind: Group, name: devs}]",
        ))
        .unwrap();
    assert_eq!(d.len(), 1);
    let rb = &d.role_bindings[0];
    assert_eq!(rb.metadata.namespace.as_deref(), Some("a-dev"));
    assert_eq!(rb.role_ref.name, "scopegate:iamrole:ns-dev");
    let subjects = rb.subjects.clone().unwrap();
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(subjects[0].namespace.as_deref(), Some("a-dev"));
    assert_eq!(
        subjects[1].api_group.as_deref(),
        Some("rbac.authorization.k8s.io")
    );
    assert_owned_and_labelled(&d, "n");
}

#[test]
fn workspace_is_a_role_binding_in_every_member_namespace() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "w",
            "ws-pods",
            "{kind: Workspace, name: team-a}",
            alice(),
        ))
        .unwrap();
    assert_eq!(
        names(&d.role_bindings, |o| &o.metadata),
        vec![
            (Some("a-dev".into()), "scopegate:iamrolebinding:w".into()),
            (Some("a-prod".into()), "scopegate:iamrolebinding:w".into()),
        ]
    );
    assert!(
        d.role_bindings
            .iter()
            .all(|rb| rb.role_ref.name == "scopegate:iamrole:ws-pods")
    );
    // No rule on workspaces: nothing cluster-wide.
    assert!(d.cluster_roles.is_empty() && d.cluster_role_bindings.is_empty());
}

#[test]
fn workspace_rules_on_the_workspace_object_are_narrowed_to_it() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "w",
            "ws-admin",
            "{kind: Workspace, name: team-a}",
            alice(),
        ))
        .unwrap();
    assert_eq!(d.role_bindings.len(), 2);
    assert_eq!(
        d.cluster_roles[0].rules.clone().unwrap(),
        vec![
            rule(
                &["scope.theriseunion.io"],
                &["workspaces"],
                &["team-a"],
                &["get", "patch"]
            ),
            // configmaps: ["*"] verbs on core "" does not reach workspaces: dropped.
        ]
    );
    assert_eq!(
        d.cluster_role_bindings[0].role_ref.name,
        "scopegate:iamrolebinding:w"
    );
    assert_owned_and_labelled(&d, "w");
}

#[test]
fn node_group_is_a_cluster_role_narrowed_to_its_nodes() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "g",
            "ng-op",
            "{kind: NodeGroup, name: gpu}",
            alice(),
        ))
        .unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        d.cluster_roles[0].rules.clone().unwrap(),
        vec![
            rule(
                &[""],
                &["nodes", "nodes/status"],
                &["g1", "g2"],
                &["get", "patch"]
            ),
            rule(
                &["scope.theriseunion.io"],
                &["nodegroups"],
                &["gpu"],
                &["get"]
            ),
        ]
    );
    let crb = &d.cluster_role_bindings[0];
    assert_eq!(crb.role_ref.name, "scopegate:iamrolebinding:g");
    assert_eq!(crb.role_ref.kind, "ClusterRole");
    assert_owned_and_labelled(&d, "g");
}

#[test]
fn node_is_a_cluster_role_narrowed_to_the_node() {
    let f = Fixture::new();
    let d = f
        .desired(&binding("n", "node-op", "{kind: Node, name: c1}", alice()))
        .unwrap();
    assert_eq!(
        d.cluster_roles[0].rules.clone().unwrap(),
        vec![rule(
            &[""],
            &["nodes", "nodes/status"],
            &["c1"],
            &["get", "patch"]
        )]
    );
    assert_eq!(d.cluster_role_bindings.len(), 1);
}

#[test]
fn namespaced_resource_is_a_role_and_role_binding_for_the_one_object() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "r",
            "res-pods",
            "{kind: Resource, namespace: a-dev, apiGroup: '', resource: pods, name: ide}",
            "[{kind: ServiceAccount, name: me}]",
        ))
        .unwrap();
    assert_eq!(d.roles.len(), 1);
    assert_eq!(d.role_bindings.len(), 1);
    assert_eq!(d.roles[0].metadata.namespace.as_deref(), Some("a-dev"));
    assert_eq!(
        d.roles[0].rules.clone().unwrap(),
        vec![rule(&[""], &["pods", "pods/log"], &["ide"], &["get"])]
    );
    let rb = &d.role_bindings[0];
    assert_eq!(rb.role_ref.kind, "Role");
    assert_eq!(rb.role_ref.name, "scopegate:iamrolebinding:r");
    assert_eq!(
        rb.subjects.as_ref().unwrap()[0].namespace.as_deref(),
        Some("a-dev")
    );
    assert_owned_and_labelled(&d, "r");
}

#[test]
fn a_wildcard_role_at_a_resource_keeps_only_that_object_and_no_urls() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "r",
            "res",
            "{kind: Resource, namespace: a-dev, apiGroup: '', resource: pods, name: ide}",
            alice(),
        ))
        .unwrap();
    for r in d.roles[0].rules.as_ref().unwrap() {
        assert_eq!(r.api_groups, Some(vec!["".to_string()]));
        assert_eq!(r.resource_names, Some(vec!["ide".to_string()]));
        assert!(r.non_resource_urls.is_none());
        assert!(
            r.resources
                .iter()
                .flatten()
                .all(|x| x == "pods" || x.starts_with("pods/"))
        );
    }
}

#[test]
fn cluster_scoped_resource_is_a_narrowed_cluster_role() {
    let f = Fixture::new();
    let d = f
        .desired(&binding(
            "r",
            "res",
            "{kind: Resource, apiGroup: storage.k8s.io, resource: storageclasses, name: fast}",
            alice(),
        ))
        .unwrap();
    assert_eq!(d.cluster_roles.len(), 1);
    assert_eq!(d.cluster_role_bindings.len(), 1);
    let rules = d.cluster_roles[0].rules.clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].api_groups, Some(vec!["storage.k8s.io".into()]));
    assert_eq!(rules[0].resource_names, Some(vec!["fast".into()]));
}

#[test]
fn resource_scopes_native_rbac_cannot_express_are_reported_not_made() {
    let f = Fixture::new();
    for scope in [
        // Not known to be cluster-scoped: a ClusterRoleBinding would reach every namespace.
        "{kind: Resource, apiGroup: example.com, resource: widgets, name: w}",
        "{kind: Resource, apiGroup: '', resource: pods, name: p}",
        // Requests on a namespace carry it.
        "{kind: Resource, apiGroup: '', resource: namespaces, name: a-dev}",
        // A wildcard in RBAC.
        "{kind: Resource, namespace: a-dev, apiGroup: '*', resource: pods, name: p}",
    ] {
        let err = f.desired(&binding("r", "res", scope, alice())).unwrap_err();
        assert_eq!(err.reason(), "NotExpressible", "{scope}: {err}");
    }
    // Unless the controller knows better (API discovery).
    let mut f = Fixture::new();
    f.world
        .cluster_scoped_resources
        .insert(("example.com".into(), "widgets".into()));
    let d = f
        .desired(&binding(
            "r",
            "res",
            "{kind: Resource, apiGroup: example.com, resource: widgets, name: w}",
            alice(),
        ))
        .unwrap();
    assert_eq!(d.cluster_roles.len(), 1);
}

#[test]
fn resource_scopes_on_scope_objects_reach_nothing_and_make_nothing() {
    let f = Fixture::new();
    for resource in ["workspaces", "nodegroups", "clusters"] {
        let scope = format!(
            "{{kind: Resource, apiGroup: scope.theriseunion.io, resource: {resource}, name: team-a}}"
        );
        let d = f.desired(&binding("r", "res", &scope, alice())).unwrap();
        assert!(d.is_empty(), "{resource}");
    }
}

// --- Errors grant nothing ---------------------------------------------------------------

#[test]
fn every_binding_the_engine_refuses_is_an_error() {
    let f = Fixture::new();
    let cases: Vec<(IamRoleBinding, &str)> = vec![
        (
            binding("x", "ns-dev", "{kind: Workspace, name: team-a}", alice()),
            "InvalidBinding",
        ),
        (
            binding("x", "nope", "{kind: Namespace, name: a-dev}", alice()),
            "RoleNotFound",
        ),
        (
            binding("x", "ws-pods", "{kind: Workspace, name: team-z}", alice()),
            "InvalidBinding",
        ),
        (
            binding("x", "ng-op", "{kind: NodeGroup, name: cpu}", alice()),
            "InvalidBinding",
        ),
        (
            binding("x", "cluster-admin", "{kind: Cluster, name: mars}", alice()),
            "InvalidBinding",
        ),
        (
            binding("x", "admin", "{kind: Platform, name: p}", alice()),
            "InvalidBinding",
        ),
        (
            binding("x", "ns-dev", "{kind: Namespace}", alice()),
            "InvalidBinding",
        ),
        (
            binding(
                "x",
                "ns-dev",
                "{kind: Namespace, name: a-dev}",
                "[{kind: User, name: ''}]",
            ),
            "InvalidBinding",
        ),
        (
            binding(
                "x",
                "ns-dev",
                "{kind: Namespace, name: a-dev}",
                "[{kind: Robot, name: r2}]",
            ),
            "InvalidBinding",
        ),
        (
            binding(
                "x",
                "ws-pods",
                "{kind: Workspace, name: team-a}",
                "[{kind: User, name: ok}, {kind: ServiceAccount, name: ci}]",
            ),
            "InvalidBinding",
        ),
        (
            binding("x", "broken", "{kind: Namespace, name: a-dev}", alice()),
            "RoleHasErrors",
        ),
    ];
    for (b, reason) in cases {
        let err = f.desired(&b).unwrap_err();
        assert_eq!(err.reason(), reason, "{:?}: {err}", b.spec);
        assert!(err.engine_grants_nothing());
    }
    let mut wrong_kind = binding("x", "ns-dev", "{kind: Namespace, name: a-dev}", alice());
    wrong_kind.spec.role_ref.kind = "ClusterRole".into();
    assert!(f.desired(&wrong_kind).is_err());
    let mut wrong_group = binding("x", "ns-dev", "{kind: Namespace, name: a-dev}", alice());
    wrong_group.spec.role_ref.api_group = Some("rbac.authorization.k8s.io".into());
    assert!(f.desired(&wrong_group).is_err());
    // The role passed must be the one the binding names.
    let b = binding("x", "ns-dev", "{kind: Namespace, name: a-dev}", alice());
    assert_eq!(
        desired_objects(&b, f.role("admin"), &f.world).unwrap_err(),
        MaterializeError::RoleNotFound("ns-dev".into())
    );
}

#[test]
fn an_error_revokes_what_was_made_before() {
    let mut f = Fixture::new();
    let b = binding("w", "ws-admin", "{kind: Workspace, name: team-a}", alice());
    let before = f.desired(&b).unwrap();
    assert!(!before.is_empty());
    // A named template disappears: the role is broken, the binding grants nothing.
    f.world
        .role_templates
        .retain(|t| t.metadata.name.as_deref() != Some("pods"));
    assert_eq!(f.desired(&b).unwrap_err().reason(), "RoleHasErrors");
    let p = plan(DesiredRbac::default(), before.clone());
    assert!(p.apply.is_empty());
    assert_eq!(p.delete.len(), before.len());
}

// --- Membership changes and revocation --------------------------------------------------

#[test]
fn namespaces_joining_and_leaving_a_workspace() {
    let f = Fixture::new();
    let b = binding("w", "ws-pods", "{kind: Workspace, name: team-a}", alice());
    let before = f.desired(&b).unwrap();
    // a-prod leaves team-a, loose joins it.
    let moved = WORLD
        .replace(
            "{name: a-prod, labels: {scope.theriseunion.io/workspace: team-a}}",
            "{name: a-prod, labels: {scope.theriseunion.io/workspace: team-b}}",
        )
        .replace(
            "metadata: {name: loose}",
            "metadata: {name: loose, labels: {scope.theriseunion.io/workspace: team-a}}",
        );
    let g = Fixture::with(&moved);
    let after = g.desired(&b).unwrap();
    assert_eq!(
        names(&after.role_bindings, |o| &o.metadata),
        vec![
            (Some("a-dev".into()), "scopegate:iamrolebinding:w".into()),
            (Some("loose".into()), "scopegate:iamrolebinding:w".into()),
        ]
    );
    let p = plan(after, before);
    assert_eq!(p.delete.len(), 1);
    assert_eq!(p.delete[0].namespace.as_deref(), Some("a-prod"));
    assert_eq!(p.apply.len(), 1);
    assert_eq!(p.apply[0].metadata().namespace.as_deref(), Some("loose"));
}

#[test]
fn a_workspace_with_no_namespaces_left_has_no_bindings() {
    let emptied = WORLD.replace("scope.theriseunion.io/workspace: team-b", "x: y");
    let f = Fixture::with(&emptied);
    let d = f
        .desired(&binding(
            "w",
            "ws-pods",
            "{kind: Workspace, name: team-b}",
            alice(),
        ))
        .unwrap();
    assert!(d.is_empty());
}

#[test]
fn nodes_joining_and_leaving_a_node_group() {
    let f = Fixture::new();
    let b = binding("g", "ng-op", "{kind: NodeGroup, name: gpu}", alice());
    let before = f.desired(&b).unwrap();
    let moved = WORLD
        .replace(
            "{name: g2, labels: {type: gpu, scope.theriseunion.io/nodegroup: gpu}}",
            "{name: g2, labels: {type: cpu}}",
        )
        .replace(
            "{name: c1, labels: {type: cpu}}",
            "{name: c1, labels: {type: gpu, scope.theriseunion.io/nodegroup: gpu}}",
        );
    let after = Fixture::with(&moved).desired(&b).unwrap();
    let node_rule = &after.cluster_roles[0].rules.as_ref().unwrap()[0];
    assert_eq!(
        node_rule.resource_names,
        Some(vec!["c1".into(), "g1".into()])
    );
    let p = plan(after.clone(), before);
    assert!(p.delete.is_empty());
    assert_eq!(p.apply.len(), 1);
    assert_eq!(p.apply[0].kind(), RbacKind::ClusterRole);

    // Every node leaves: the role keeps only the group's own object, never an empty
    // resourceNames (which would mean every node).
    let gone = WORLD.replace("scope.theriseunion.io/nodegroup: gpu", "x: y");
    let empty = Fixture::with(&gone).desired(&b).unwrap();
    assert_eq!(
        empty.cluster_roles[0].rules.clone().unwrap(),
        vec![rule(
            &["scope.theriseunion.io"],
            &["nodegroups"],
            &["gpu"],
            &["get"]
        )]
    );
}

#[test]
fn a_template_that_stops_matching_is_revoked_from_narrowed_roles() {
    let mut f = Fixture::new();
    let b = binding("g", "ng-op", "{kind: NodeGroup, name: gpu}", alice());
    let before = f.desired(&b).unwrap();
    for t in &mut f.world.role_templates {
        if t.metadata.name.as_deref() == Some("node-ops") {
            t.metadata.labels = None;
        }
    }
    let after = f.desired(&b).unwrap();
    assert_eq!(after.cluster_roles[0].rules, Some(vec![]));
    let p = plan(after, before);
    assert_eq!(p.apply.len(), 1);
    assert!(p.delete.is_empty());
}

#[test]
fn a_scope_change_moves_the_objects() {
    let f = Fixture::new();
    let ns = binding("b", "ns-dev", "{kind: Namespace, name: a-dev}", alice());
    let before = f.desired(&ns).unwrap();
    let moved = binding("b", "ns-dev", "{kind: Namespace, name: b-dev}", alice());
    let after = f.desired(&moved).unwrap();
    let p = plan(after, before);
    assert_eq!(p.delete[0].namespace.as_deref(), Some("a-dev"));
    assert_eq!(p.apply[0].metadata().namespace.as_deref(), Some("b-dev"));
}

#[test]
fn idempotent() {
    let f = Fixture::new();
    for b in [
        binding("p", "admin", "{kind: Platform}", alice()),
        binding("w", "ws-admin", "{kind: Workspace, name: team-a}", alice()),
        binding("g", "ng-op", "{kind: NodeGroup, name: gpu}", alice()),
        binding(
            "r",
            "res",
            "{kind: Resource, namespace: a-dev, apiGroup: '', resource: pods, name: ide}",
            alice(),
        ),
    ] {
        let a = f.desired(&b).unwrap();
        assert_eq!(a, f.desired(&b).unwrap());
        assert!(plan(a.clone(), a).is_empty());
    }
}
