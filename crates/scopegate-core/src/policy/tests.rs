//! The compiled policy: subject matching, role resolution (templates, aggregation), every
//! diagnostic and that the object at fault grants nothing, the short-circuit walk along the
//! scope chain, explanations and UI permissions.

use super::*;
use crate::load::parse_str;
use crate::request::ResourceAttributes;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// Namespaces team-a (in ws-a), team-b (in ws-b), loose (in no workspace); nodes n1 (in
/// node group gpu) and n2 (in none); the workspaces and the node group declared.
const TOPOLOGY: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {scope.theriseunion.io/workspace: ws-a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b, labels: {scope.theriseunion.io/workspace: ws-b}}
---
apiVersion: v1
kind: Namespace
metadata: {name: loose}
---
apiVersion: scope.theriseunion.io/v1alpha1
kind: Workspace
metadata: {name: ws-a}
spec: {namespaces: [team-a]}
---
apiVersion: scope.theriseunion.io/v1alpha1
kind: Workspace
metadata: {name: ws-b}
spec: {namespaces: [team-b]}
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {scope.theriseunion.io/nodegroup: gpu}}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: scope.theriseunion.io/v1alpha1
kind: NodeGroup
metadata: {name: gpu}
spec: {nodeSelector: {matchLabels: {pool: gpu}}}
"#;

fn join(documents: &[&str]) -> String {
    documents.join("\n---\n")
}

fn objects(yaml: &str) -> PolicyObjects {
    parse_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("test policy does not parse: {e}"))
}

/// A policy built whatever its problems (objects with errors grant nothing).
fn policy(documents: &[&str]) -> Policy {
    Policy::compile(&objects(&join(documents)), &PolicyOptions::default())
}

fn role(namespace: &str, name: &str, rules: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: {name}, namespace: {namespace}}}\nrules: {rules}\n"
    )
}

fn cluster_role(name: &str, rules: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}}}\nrules: {rules}\n"
    )
}

fn role_binding(namespace: &str, name: &str, kind: &str, role: &str, subjects: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {name}, namespace: {namespace}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: {role}}}\nsubjects: {subjects}\n"
    )
}

fn cluster_role_binding(name: &str, kind: &str, role: &str, subjects: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {name}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: {role}}}\nsubjects: {subjects}\n"
    )
}

/// An IAMRole; `spec` holds the spec's other fields, in flow style, without braces.
fn iam_role(name: &str, scope: &str, spec: &str) -> String {
    format!(
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRole\nmetadata: {{name: {name}}}\nspec: {{scope: {scope}, {spec}}}\n"
    )
}

fn role_template(name: &str, labels: &str, spec: &str) -> String {
    format!(
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: RoleTemplate\nmetadata: {{name: {name}, labels: {{{labels}}}}}\nspec: {{{spec}}}\n"
    )
}

/// An IAMRoleBinding; `scope` is a flow mapping such as `{kind: Workspace, name: ws-a}`.
fn iam_binding(name: &str, role: &str, scope: &str, subjects: &str) -> String {
    format!(
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRoleBinding\nmetadata: {{name: {name}}}\nspec:\n  subjects: {subjects}\n  roleRef: {{kind: IAMRole, name: {role}}}\n  scope: {scope}\n"
    )
}

const GET_PODS: &str = r#"[{apiGroups: [""], resources: [pods], verbs: [get, list]}]"#;
const EVERYTHING: &str = r#"[{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}, {nonResourceURLs: ["*"], verbs: ["*"]}]"#;
const ALICE: &str = "[{kind: User, name: alice}]";

fn attrs(
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> ResourceAttributes {
    ResourceAttributes {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        namespace: namespace.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// `verb` on `resource` (core group) named `name` in `namespace`, by `user` with no groups.
fn rq(user: &str, verb: &str, resource: &str, namespace: &str, name: &str) -> Request {
    Request::resource(user, attrs(verb, "", resource, namespace, name))
}

fn rq_group(
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Request {
    Request::resource(user, attrs(verb, group, resource, namespace, name))
}

fn rq_sub(
    user: &str,
    verb: &str,
    resource: &str,
    sub: &str,
    namespace: &str,
    name: &str,
) -> Request {
    let mut a = attrs(verb, "", resource, namespace, name);
    a.subresource = sub.into();
    Request::resource(user, a)
}

/// The binding that allowed `request`, as `Kind namespace/name`, or None for no opinion.
fn allowed_by(policy: &Policy, request: &Request) -> Option<String> {
    match policy.decide(request) {
        Decision::Allowed(a) => Some(a.grant.binding.to_string()),
        Decision::NoOpinion => None,
    }
}

fn allows(policy: &Policy, request: &Request) -> bool {
    policy.decide(request).is_allowed()
}

/// `(severity, object, field)` of every diagnostic.
fn diagnostics(policy: &Policy) -> Vec<(Severity, String, String)> {
    policy
        .diagnostics()
        .iter()
        .map(|d| (d.severity, d.object.to_string(), d.field.clone()))
        .collect()
}

fn has_error(policy: &Policy, object: &str, field: &str) -> bool {
    diagnostics(policy).contains(&(Severity::Error, object.to_string(), field.to_string()))
}

fn has_warning(policy: &Policy, object: &str, field: &str) -> bool {
    diagnostics(policy).contains(&(Severity::Warning, object.to_string(), field.to_string()))
}

fn errors(policy: &Policy) -> Vec<(String, String)> {
    diagnostics(policy)
        .into_iter()
        .filter(|(s, _, _)| *s == Severity::Error)
        .map(|(_, o, f)| (o, f))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------------------

#[test]
fn user_subject_matches_only_that_exact_user_name() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding("team-a", "rb", "Role", "reader", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "web")));
    for other in [
        "bob",
        "Alice",
        "alice ",
        "ali",
        "system:serviceaccount:team-a:alice",
    ] {
        assert!(
            !allows(&p, &rq(other, "get", "pods", "team-a", "web")),
            "{other}"
        );
    }
}

#[test]
fn group_subject_does_not_match_a_user_of_the_same_name() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "rb",
            "Role",
            "reader",
            "[{kind: Group, name: admins}]",
        ),
    ]);
    assert!(!allows(&p, &rq("admins", "get", "pods", "team-a", "web")));
    let member = rq("carol", "get", "pods", "team-a", "web").with_groups(["admins"]);
    assert!(allows(&p, &member));
}

#[test]
fn user_subject_does_not_match_a_group_of_the_same_name() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "rb",
            "Role",
            "reader",
            "[{kind: User, name: devs}]",
        ),
    ]);
    let member = rq("carol", "get", "pods", "team-a", "web").with_groups(["devs"]);
    assert!(!allows(&p, &member));
}

#[test]
fn group_match_is_exact_and_any_of_the_users_groups_suffices() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "rb",
            "Role",
            "reader",
            "[{kind: Group, name: devs}]",
        ),
    ]);
    let in_second = rq("carol", "get", "pods", "team-a", "x").with_groups(["ops", "devs"]);
    assert!(allows(&p, &in_second));
    let similar = rq("carol", "get", "pods", "team-a", "x").with_groups(["dev", "devs-x", "Devs"]);
    assert!(!allows(&p, &similar));
}

#[test]
fn service_account_subject_matches_its_token_user_name_only() {
    let p = policy(&[
        &cluster_role("reader", GET_PODS),
        &cluster_role_binding(
            "crb",
            "ClusterRole",
            "reader",
            "[{kind: ServiceAccount, name: deployer, namespace: ci}]",
        ),
    ]);
    assert!(allows(
        &p,
        &rq(
            "system:serviceaccount:ci:deployer",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
    assert!(!allows(&p, &rq("deployer", "get", "pods", "team-a", "x")));
    assert!(!allows(
        &p,
        &rq(
            "system:serviceaccount:other:deployer",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
    assert!(!allows(
        &p,
        &rq(
            "system:serviceaccount:ci:deployer2",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
    // A ServiceAccount subject is not a group either.
    let grouped =
        rq("x", "get", "pods", "team-a", "y").with_groups(["system:serviceaccount:ci:deployer"]);
    assert!(!allows(&p, &grouped));
}

#[test]
fn service_account_without_namespace_in_a_role_binding_defaults_to_the_binding_namespace() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "rb",
            "Role",
            "reader",
            "[{kind: ServiceAccount, name: builder}]",
        ),
    ]);
    assert!(allows(
        &p,
        &rq(
            "system:serviceaccount:team-a:builder",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
    assert!(!allows(
        &p,
        &rq(
            "system:serviceaccount:default:builder",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
    assert!(!allows(
        &p,
        &rq(
            "system:serviceaccount::builder",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
    assert!(errors(&p).is_empty(), "{:?}", errors(&p));
}

#[test]
fn service_account_with_namespace_in_a_role_binding_keeps_its_own_namespace() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "rb",
            "Role",
            "reader",
            "[{kind: ServiceAccount, name: builder, namespace: ci}]",
        ),
    ]);
    assert!(allows(
        &p,
        &rq(
            "system:serviceaccount:ci:builder",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
    assert!(!allows(
        &p,
        &rq(
            "system:serviceaccount:team-a:builder",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
}

#[test]
fn service_account_without_namespace_in_a_cluster_role_binding_is_an_error_and_matches_nobody() {
    let p = policy(&[
        &cluster_role("reader", GET_PODS),
        &cluster_role_binding(
            "crb",
            "ClusterRole",
            "reader",
            "[{kind: ServiceAccount, name: deployer}, {kind: User, name: alice}]",
        ),
    ]);
    assert!(has_error(
        &p,
        "ClusterRoleBinding crb",
        "subjects[0].namespace"
    ));
    for user in [
        "system:serviceaccount::deployer",
        "system:serviceaccount:default:deployer",
        "system:serviceaccount:team-a:deployer",
        "deployer",
    ] {
        assert!(
            !allows(&p, &rq(user, "get", "pods", "team-a", "x")),
            "{user}"
        );
    }
    // The binding has an error, so it grants nothing at all (Kubernetes refuses it whole).
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn unknown_subject_kind_is_an_error_and_the_binding_grants_nothing() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "rb",
            "Role",
            "reader",
            "[{kind: user, name: alice}, {kind: User, name: bob}]",
        ),
    ]);
    assert!(has_error(&p, "RoleBinding team-a/rb", "subjects[0].kind"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(&p, &rq("bob", "get", "pods", "team-a", "x")));
}

#[test]
fn subject_without_a_name_is_an_error_and_the_binding_grants_nothing() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "rb",
            "Role",
            "reader",
            "[{kind: Group, name: \"\"}, {kind: User, name: bob}]",
        ),
    ]);
    assert!(has_error(&p, "RoleBinding team-a/rb", "subjects[0].name"));
    assert!(!allows(&p, &rq("bob", "get", "pods", "team-a", "x")));
    assert!(!allows(
        &p,
        &rq("bob", "get", "pods", "team-a", "x").with_groups([""])
    ));
}

#[test]
fn binding_without_subjects_warns_and_grants_nothing() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding("team-a", "rb", "Role", "reader", "[]"),
    ]);
    assert!(has_warning(&p, "RoleBinding team-a/rb", "subjects"));
    assert!(!allows(
        &p,
        &rq("", "get", "pods", "team-a", "x").with_groups(["system:authenticated"])
    ));
}

// ---------------------------------------------------------------------------------------
// Native RBAC: where bindings act, which roles they may reference
// ---------------------------------------------------------------------------------------

#[test]
fn role_binding_grants_only_in_its_own_namespace() {
    let p = policy(&[
        TOPOLOGY,
        &role("team-a", "reader", GET_PODS),
        &role_binding("team-a", "rb", "Role", "reader", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "web")));
    assert!(allows(&p, &rq("alice", "list", "pods", "team-a", "")));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-b", "web")));
    // Listing across all namespaces carries no namespace: a RoleBinding cannot grant it.
    assert!(!allows(&p, &rq("alice", "list", "pods", "", "")));
}

#[test]
fn role_binding_never_grants_cluster_scoped_resources_or_non_resource_urls() {
    let p = policy(&[
        TOPOLOGY,
        &cluster_role("god", EVERYTHING),
        &role_binding("team-a", "rb", "ClusterRole", "god", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "delete", "secrets", "team-a", "s")));
    assert!(!allows(&p, &rq("alice", "get", "nodes", "", "n1")));
    assert!(!allows(&p, &rq("alice", "list", "nodes", "", "")));
    assert!(!allows(&p, &rq("alice", "list", "namespaces", "", "")));
    assert!(!allows(
        &p,
        &rq_group(
            "alice",
            "get",
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            "admin"
        )
    ));
    assert!(!allows(
        &p,
        &rq_group(
            "alice",
            "get",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "ws-a"
        )
    ));
    assert!(!allows(
        &p,
        &Request::non_resource("alice", "get", "/healthz")
    ));
}

#[test]
fn role_binding_to_a_cluster_role_grants_its_rules_in_the_binding_namespace_only() {
    let p = policy(&[
        &cluster_role("reader", GET_PODS),
        &role_binding("team-a", "rb", "ClusterRole", "reader", ALICE),
    ]);
    assert_eq!(
        allowed_by(&p, &rq("alice", "get", "pods", "team-a", "x")).as_deref(),
        Some("RoleBinding team-a/rb")
    );
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-b", "x")));
    assert!(!allows(&p, &rq("alice", "delete", "pods", "team-a", "x")));
}

#[test]
fn role_binding_referencing_a_role_in_another_namespace_grants_nothing() {
    let p = policy(&[
        &role("team-b", "reader", GET_PODS),
        &role_binding("team-a", "rb", "Role", "reader", ALICE),
    ]);
    assert!(has_warning(&p, "RoleBinding team-a/rb", "roleRef.name"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-b", "x")));
}

#[test]
fn role_binding_to_a_missing_role_warns_and_grants_nothing() {
    let p = policy(&[&role_binding("team-a", "rb", "ClusterRole", "nope", ALICE)]);
    assert!(has_warning(&p, "RoleBinding team-a/rb", "roleRef.name"));
    assert!(errors(&p).is_empty());
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn role_binding_with_a_foreign_role_ref_api_group_is_an_error_and_grants_nothing() {
    let text = role("team-a", "reader", GET_PODS)
        + "---\n"
        + &role_binding("team-a", "rb", "Role", "reader", ALICE).replace(
            "apiGroup: rbac.authorization.k8s.io",
            "apiGroup: iam.theriseunion.io",
        );
    let p = Policy::compile(&objects(&text), &PolicyOptions::default());
    assert!(has_error(&p, "RoleBinding team-a/rb", "roleRef.apiGroup"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn cluster_role_binding_grants_in_every_namespace_cluster_scoped_and_non_resource() {
    let p = policy(&[
        TOPOLOGY,
        &cluster_role("god", EVERYTHING),
        &cluster_role_binding("crb", "ClusterRole", "god", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(allows(&p, &rq("alice", "get", "pods", "loose", "x")));
    assert!(allows(&p, &rq("alice", "list", "pods", "", "")));
    assert!(allows(&p, &rq("alice", "get", "nodes", "", "n2")));
    assert!(allows(
        &p,
        &Request::non_resource("alice", "get", "/metrics")
    ));
    assert_eq!(
        allowed_by(&p, &rq("alice", "get", "nodes", "", "n1")).as_deref(),
        Some("ClusterRoleBinding crb")
    );
}

#[test]
fn cluster_role_binding_acts_at_the_served_clusters_scope() {
    let objects = objects(&join(&[
        &cluster_role("reader", GET_PODS),
        &cluster_role_binding("crb", "ClusterRole", "reader", ALICE),
    ]));
    let options = PolicyOptions {
        cluster_name: "prod".into(),
    };
    let p = Policy::compile(&objects, &options);
    let Decision::Allowed(a) = p.decide(&rq("alice", "get", "pods", "team-a", "x")) else {
        panic!("not allowed")
    };
    assert_eq!(
        a.grant.scope,
        Scope::Cluster {
            name: "prod".into()
        }
    );
}

#[test]
fn cluster_role_binding_to_a_role_is_an_error_and_grants_nothing() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &cluster_role("reader", GET_PODS),
        &cluster_role_binding("crb", "Role", "reader", ALICE),
    ]);
    assert!(has_error(&p, "ClusterRoleBinding crb", "roleRef.kind"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn a_namespaced_role_with_non_resource_urls_is_an_error_and_grants_nothing() {
    // kube-apiserver refuses such a Role, so no cluster holds it.
    let p = policy(&[
        &role(
            "team-a",
            "urls",
            r#"[{nonResourceURLs: ["*"], verbs: [get]}, {apiGroups: [""], resources: [pods], verbs: [get]}]"#,
        ),
        &role_binding("team-a", "rb", "Role", "urls", ALICE),
    ]);
    assert!(has_error(
        &p,
        "Role team-a/urls",
        "rules[0].nonResourceURLs"
    ));
    assert!(!allows(
        &p,
        &Request::non_resource("alice", "get", "/healthz")
    ));
    assert!(
        !allows(&p, &rq("alice", "get", "pods", "team-a", "x")),
        "not even its valid rule"
    );
}

#[test]
fn a_native_role_kubernetes_would_refuse_grants_nothing_not_even_its_valid_rules() {
    // Each rule is one that kube-apiserver's validation refuses (ValidatePolicyRule).
    let refused = [
        (
            r#"{apiGroups: [""], resources: [pods], verbs: []}"#,
            "rules[0].verbs",
        ),
        (r#"{resources: [pods], verbs: [get]}"#, "rules[0].apiGroups"),
        (r#"{apiGroups: [""], verbs: [get]}"#, "rules[0].resources"),
        (
            r#"{apiGroups: [""], resources: [pods], nonResourceURLs: ["/x"], verbs: [get]}"#,
            "rules[0].nonResourceURLs",
        ),
    ];
    for (rule, field) in refused {
        let rules = format!(r#"[{rule}, {{apiGroups: [""], resources: [pods], verbs: [get]}}]"#);
        let p = policy(&[
            &cluster_role("bad", &rules),
            &cluster_role_binding("crb", "ClusterRole", "bad", ALICE),
            &role("team-a", "bad", &rules),
            &role_binding("team-a", "rb", "Role", "bad", "[{kind: User, name: bob}]"),
        ]);
        assert!(
            has_error(&p, "ClusterRole bad", field),
            "{rule}: {:?}",
            errors(&p)
        );
        assert!(
            has_error(&p, "Role team-a/bad", field),
            "{rule}: {:?}",
            errors(&p)
        );
        assert!(
            !allows(&p, &rq("alice", "get", "pods", "team-a", "x")),
            "{rule}"
        );
        assert!(
            !allows(&p, &rq("bob", "get", "pods", "team-a", "x")),
            "{rule}"
        );
    }
}

#[test]
fn a_native_binding_with_a_subject_kubernetes_refuses_grants_nothing() {
    let cases = [
        (
            "[{kind: User, apiGroup: example.io, name: alice}]",
            "subjects[0].apiGroup",
        ),
        (
            "[{kind: ServiceAccount, apiGroup: rbac.authorization.k8s.io, name: alice, namespace: team-a}]",
            "subjects[0].apiGroup",
        ),
        (
            "[{kind: ServiceAccount, name: Alice_Bot, namespace: team-a}]",
            "subjects[0].name",
        ),
    ];
    for (subjects, field) in cases {
        let p = policy(&[
            &role("team-a", "reader", GET_PODS),
            &role_binding("team-a", "rb", "Role", "reader", subjects),
            &cluster_role("reader", GET_PODS),
            &cluster_role_binding("crb", "ClusterRole", "reader", subjects),
        ]);
        assert!(has_error(&p, "RoleBinding team-a/rb", field), "{subjects}");
        assert!(has_error(&p, "ClusterRoleBinding crb", field), "{subjects}");
        for user in [
            "alice",
            "system:serviceaccount:team-a:alice",
            "system:serviceaccount:team-a:Alice_Bot",
        ] {
            assert!(
                !allows(&p, &rq(user, "get", "pods", "team-a", "x")),
                "{subjects}"
            );
        }
    }
    // Written out as Kubernetes defaults them, they are fine.
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "rb",
            "Role",
            "reader",
            "[{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}, {kind: ServiceAccount, apiGroup: \"\", name: ci}]",
        ),
    ]);
    assert!(errors(&p).is_empty(), "{:?}", errors(&p));
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(allows(
        &p,
        &rq(
            "system:serviceaccount:team-a:ci",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
}

#[test]
fn a_cluster_role_kubernetes_would_refuse_is_aggregated_into_nothing() {
    let aggregated = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: all}\naggregationRule: {clusterRoleSelectors: [{matchLabels: {part: all}}]}\n";
    let part = |name: &str, rules: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}, labels: {{part: all}}}}\nrules: {rules}\n"
        )
    };
    let p = policy(&[
        aggregated,
        &part("good", GET_PODS),
        &part(
            "bad",
            r#"[{apiGroups: [""], resources: [secrets], verbs: [get]}, {resources: [nodes], verbs: [get]}]"#,
        ),
        &cluster_role_binding("crb", "ClusterRole", "all", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(&p, &rq("alice", "get", "secrets", "team-a", "x")));
}

#[test]
fn get_of_the_namespace_object_itself_is_granted_by_a_role_binding_in_it() {
    // kube-apiserver sets namespace = name for requests on a namespace object.
    let p = policy(&[
        &role(
            "team-a",
            "ns-reader",
            r#"[{apiGroups: [""], resources: [namespaces], verbs: [get]}]"#,
        ),
        &role_binding("team-a", "rb", "Role", "ns-reader", ALICE),
    ]);
    assert!(allows(
        &p,
        &rq("alice", "get", "namespaces", "team-a", "team-a")
    ));
    assert!(!allows(
        &p,
        &rq("alice", "get", "namespaces", "team-b", "team-b")
    ));
}

// ---------------------------------------------------------------------------------------
// ClusterRole aggregation
// ---------------------------------------------------------------------------------------

fn labelled_cluster_role(name: &str, labels: &str, rules: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}, labels: {{{labels}}}}}\nrules: {rules}\n"
    )
}

fn aggregated_cluster_role(name: &str, labels: &str, selectors: &str, own_rules: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}, labels: {{{labels}}}}}\naggregationRule: {{clusterRoleSelectors: {selectors}}}\nrules: {own_rules}\n"
    )
}

const GET_SECRETS: &str = r#"[{apiGroups: [""], resources: [secrets], verbs: [get]}]"#;
const LIST_SERVICES: &str = r#"[{apiGroups: [""], resources: [services], verbs: [list]}]"#;
const GET_CONFIGMAPS: &str = r#"[{apiGroups: [""], resources: [configmaps], verbs: [get]}]"#;

#[test]
fn aggregated_cluster_role_rules_are_the_union_of_selected_roles_its_own_rules_replaced() {
    let p = policy(&[
        &aggregated_cluster_role("agg", "", "[{matchLabels: {agg: \"yes\"}}]", GET_SECRETS),
        &labelled_cluster_role("part-1", "agg: \"yes\"", GET_PODS),
        &labelled_cluster_role("part-2", "agg: \"yes\", extra: x", LIST_SERVICES),
        &labelled_cluster_role("unselected", "agg: \"no\"", GET_CONFIGMAPS),
        &cluster_role_binding("crb", "ClusterRole", "agg", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(allows(&p, &rq("alice", "list", "services", "team-a", "")));
    assert!(
        !allows(&p, &rq("alice", "get", "secrets", "team-a", "s")),
        "own rules are replaced"
    );
    assert!(
        !allows(&p, &rq("alice", "get", "configmaps", "team-a", "c")),
        "not selected"
    );
}

#[test]
fn aggregation_rule_with_several_selectors_selects_roles_matching_any_of_them() {
    let p = policy(&[
        &aggregated_cluster_role(
            "agg",
            "",
            "[{matchLabels: {a: \"1\"}}, {matchExpressions: [{key: b, operator: Exists}]}]",
            "[]",
        ),
        &labelled_cluster_role("by-a", "a: \"1\"", GET_PODS),
        &labelled_cluster_role("by-b", "b: anything", LIST_SERVICES),
        &labelled_cluster_role("neither", "a: \"2\"", GET_CONFIGMAPS),
        &cluster_role_binding("crb", "ClusterRole", "agg", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(allows(&p, &rq("alice", "list", "services", "team-a", "")));
    assert!(!allows(
        &p,
        &rq("alice", "get", "configmaps", "team-a", "c")
    ));
}

#[test]
fn aggregated_cluster_role_does_not_select_itself() {
    let p = policy(&[
        &aggregated_cluster_role(
            "agg",
            "agg: \"yes\"",
            "[{matchLabels: {agg: \"yes\"}}]",
            GET_PODS,
        ),
        &cluster_role_binding("crb", "ClusterRole", "agg", ALICE),
    ]);
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn nested_aggregation_is_transitive_and_ignores_the_inner_roles_own_rules() {
    let p = policy(&[
        &aggregated_cluster_role("outer", "", "[{matchLabels: {level: inner}}]", "[]"),
        &aggregated_cluster_role(
            "inner",
            "level: inner",
            "[{matchLabels: {level: leaf}}]",
            GET_SECRETS,
        ),
        &labelled_cluster_role("leaf", "level: leaf", GET_PODS),
        &cluster_role_binding("crb", "ClusterRole", "outer", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(&p, &rq("alice", "get", "secrets", "team-a", "s")));
}

#[test]
fn aggregation_cycle_terminates_and_each_role_gets_the_plain_roles_rules() {
    let p = policy(&[
        &aggregated_cluster_role(
            "a",
            "ring: a",
            "[{matchLabels: {ring: b}}, {matchLabels: {leaf: a}}]",
            GET_SECRETS,
        ),
        &aggregated_cluster_role(
            "b",
            "ring: b",
            "[{matchLabels: {ring: a}}, {matchLabels: {leaf: b}}]",
            GET_SECRETS,
        ),
        &labelled_cluster_role("leaf-a", "leaf: a", GET_PODS),
        &labelled_cluster_role("leaf-b", "leaf: b", LIST_SERVICES),
        &cluster_role_binding("crb-a", "ClusterRole", "a", ALICE),
        &cluster_role_binding("crb-b", "ClusterRole", "b", "[{kind: User, name: bob}]"),
    ]);
    for user in ["alice", "bob"] {
        assert!(
            allows(&p, &rq(user, "get", "pods", "team-a", "x")),
            "{user}"
        );
        assert!(
            allows(&p, &rq(user, "list", "services", "team-a", "")),
            "{user}"
        );
        assert!(
            !allows(&p, &rq(user, "get", "secrets", "team-a", "s")),
            "{user}"
        );
    }
}

#[test]
fn aggregated_role_bound_by_a_role_binding_acts_in_that_namespace_only() {
    let p = policy(&[
        &aggregated_cluster_role("agg", "", "[{matchLabels: {agg: \"yes\"}}]", "[]"),
        &labelled_cluster_role("part", "agg: \"yes\"", GET_PODS),
        &role_binding("team-a", "rb", "ClusterRole", "agg", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-b", "x")));
}

#[test]
fn aggregated_role_with_an_invalid_selector_is_an_error_and_grants_nothing() {
    let p = policy(&[
        &aggregated_cluster_role(
            "agg",
            "",
            "[{matchLabels: {agg: \"yes\"}}, {matchExpressions: [{key: x, operator: Near}]}]",
            "[]",
        ),
        &labelled_cluster_role("part", "agg: \"yes\"", GET_PODS),
        &labelled_cluster_role("other", "agg: \"no\"", GET_SECRETS),
        &cluster_role_binding("crb", "ClusterRole", "agg", ALICE),
    ]);
    assert_eq!(
        errors(&p),
        vec![(
            "ClusterRole agg".to_string(),
            "aggregationRule.clusterRoleSelectors[1]".to_string()
        )],
        "reported once, not once per candidate role"
    );
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

// ---------------------------------------------------------------------------------------
// IAMRoles and RoleTemplates
// ---------------------------------------------------------------------------------------

#[test]
fn iam_role_includes_rules_of_templates_named_in_role_templates() {
    let p = policy(&[
        TOPOLOGY,
        &role_template("pods-read", "", &format!("rules: {GET_PODS}")),
        &role_template("secrets-read", "", &format!("rules: {GET_SECRETS}")),
        &iam_role("dev", "Workspace", "roleTemplates: [pods-read]"),
        &iam_binding("b", "dev", "{kind: Workspace, name: ws-a}", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(
        !allows(&p, &rq("alice", "get", "secrets", "team-a", "x")),
        "not named"
    );
}

#[test]
fn iam_role_includes_rules_of_templates_matched_by_template_selector() {
    let p = policy(&[
        TOPOLOGY,
        &role_template("pods-read", "tier: dev", &format!("rules: {GET_PODS}")),
        &role_template(
            "svc-read",
            "tier: dev, extra: y",
            &format!("rules: {LIST_SERVICES}"),
        ),
        &role_template(
            "secrets-read",
            "tier: admin",
            &format!("rules: {GET_SECRETS}"),
        ),
        &iam_role(
            "dev",
            "Workspace",
            "templateSelector: {matchLabels: {tier: dev}}",
        ),
        &iam_binding("b", "dev", "{kind: Workspace, name: ws-a}", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(allows(&p, &rq("alice", "list", "services", "team-a", "")));
    assert!(!allows(&p, &rq("alice", "get", "secrets", "team-a", "x")));
}

#[test]
fn iam_role_grants_the_union_of_own_rules_named_and_selected_templates() {
    let p = policy(&[
        TOPOLOGY,
        &role_template("named", "", &format!("rules: {GET_PODS}")),
        &role_template("selected", "pick: me", &format!("rules: {LIST_SERVICES}")),
        &iam_role(
            "dev",
            "Workspace",
            &format!(
                "rules: {GET_CONFIGMAPS}, roleTemplates: [named], templateSelector: {{matchLabels: {{pick: me}}}}"
            ),
        ),
        &iam_binding("b", "dev", "{kind: Workspace, name: ws-a}", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "configmaps", "team-a", "c")));
    assert!(allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(allows(&p, &rq("alice", "list", "services", "team-a", "")));
    assert!(errors(&p).is_empty(), "{:?}", errors(&p));
}

#[test]
fn missing_role_template_is_an_error_and_bindings_to_the_role_grant_nothing() {
    let p = policy(&[
        TOPOLOGY,
        &role_template("pods-read", "", &format!("rules: {GET_PODS}")),
        &iam_role(
            "dev",
            "Workspace",
            &format!("rules: {GET_CONFIGMAPS}, roleTemplates: [pods-read, no-such-template]"),
        ),
        &iam_binding("b", "dev", "{kind: Workspace, name: ws-a}", ALICE),
    ]);
    assert!(has_error(&p, "IAMRole dev", "spec.roleTemplates[1]"));
    assert!(
        has_warning(&p, "IAMRoleBinding b", "spec.roleRef.name"),
        "the binding says why"
    );
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(
        &p,
        &rq("alice", "get", "configmaps", "team-a", "c")
    ));
}

#[test]
fn invalid_template_selector_is_an_error_and_bindings_to_the_role_grant_nothing() {
    let p = policy(&[
        TOPOLOGY,
        &role_template("pods-read", "tier: dev", &format!("rules: {GET_PODS}")),
        &iam_role(
            "dev",
            "Workspace",
            &format!(
                "rules: {GET_CONFIGMAPS}, templateSelector: {{matchExpressions: [{{key: tier, operator: In}}]}}"
            ),
        ),
        &iam_binding("b", "dev", "{kind: Workspace, name: ws-a}", ALICE),
    ]);
    assert!(has_error(&p, "IAMRole dev", "spec.templateSelector"));
    assert!(!allows(
        &p,
        &rq("alice", "get", "configmaps", "team-a", "c")
    ));
}

#[test]
fn binding_to_a_missing_iam_role_is_an_error_and_grants_nothing() {
    let p = policy(&[
        TOPOLOGY,
        &iam_binding("b", "ghost", "{kind: Platform}", ALICE),
    ]);
    assert!(has_error(&p, "IAMRoleBinding b", "spec.roleRef.name"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn iam_role_bound_at_a_scope_of_another_kind_is_an_error_and_grants_nothing() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("ws-dev", "Workspace", &format!("rules: {EVERYTHING}")),
        &iam_binding("at-ns", "ws-dev", "{kind: Namespace, name: team-a}", ALICE),
        &iam_binding(
            "at-platform",
            "ws-dev",
            "{kind: Platform}",
            "[{kind: User, name: bob}]",
        ),
    ]);
    assert!(has_error(&p, "IAMRoleBinding at-ns", "spec.scope.kind"));
    assert!(has_error(
        &p,
        "IAMRoleBinding at-platform",
        "spec.scope.kind"
    ));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(&p, &rq("bob", "get", "pods", "team-a", "x")));
    assert!(!allows(
        &p,
        &Request::non_resource("bob", "get", "/healthz")
    ));
}

#[test]
fn iam_role_ref_of_another_kind_is_an_error_and_grants_nothing() {
    let text = join(&[
        TOPOLOGY,
        &iam_role("dev", "Platform", &format!("rules: {GET_PODS}")),
        &iam_binding("b", "dev", "{kind: Platform}", ALICE)
            .replace("roleRef: {kind: IAMRole", "roleRef: {kind: ClusterRole"),
    ]);
    let p = Policy::compile(&objects(&text), &PolicyOptions::default());
    assert!(has_error(&p, "IAMRoleBinding b", "spec.roleRef.kind"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn malformed_scope_is_an_error_and_grants_nothing() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("dev", "Platform", &format!("rules: {GET_PODS}")),
        &iam_role("wdev", "Workspace", &format!("rules: {GET_PODS}")),
        &iam_binding(
            "named-platform",
            "dev",
            "{kind: Platform, name: everything}",
            ALICE,
        ),
        &iam_binding("nameless-ws", "wdev", "{kind: Workspace}", ALICE),
        &iam_binding(
            "ns-on-ws",
            "wdev",
            "{kind: Workspace, name: ws-a, namespace: team-a}",
            ALICE,
        ),
    ]);
    assert!(has_error(&p, "IAMRoleBinding named-platform", "spec.scope"));
    assert!(has_error(&p, "IAMRoleBinding nameless-ws", "spec.scope"));
    assert!(has_error(&p, "IAMRoleBinding ns-on-ws", "spec.scope"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn binding_to_an_undeclared_workspace_is_an_error_and_grants_nothing_even_to_labelled_namespaces() {
    let p = policy(&[
        TOPOLOGY,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: orphan, labels: {scope.theriseunion.io/workspace: ghost}}\n",
        &iam_role("ws-dev", "Workspace", &format!("rules: {GET_PODS}")),
        &iam_binding("b", "ws-dev", "{kind: Workspace, name: ghost}", ALICE),
    ]);
    assert!(has_error(&p, "IAMRoleBinding b", "spec.scope.name"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "orphan", "x")));
    assert!(!allows(
        &p,
        &rq_group(
            "alice",
            "get",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "ghost"
        )
    ));
}

#[test]
fn binding_to_an_undeclared_node_group_is_an_error_and_grants_nothing() {
    let p = policy(&[
        TOPOLOGY,
        "apiVersion: v1\nkind: Node\nmetadata: {name: n3, labels: {scope.theriseunion.io/nodegroup: ghost}}\n",
        &iam_role(
            "ops",
            "NodeGroup",
            r#"rules: [{apiGroups: [""], resources: [nodes], verbs: [get]}]"#,
        ),
        &iam_binding("b", "ops", "{kind: NodeGroup, name: ghost}", ALICE),
    ]);
    assert!(has_error(&p, "IAMRoleBinding b", "spec.scope.name"));
    assert!(!allows(&p, &rq("alice", "get", "nodes", "", "n3")));
}

#[test]
fn binding_to_an_undeclared_other_cluster_is_an_error_but_the_served_cluster_needs_no_declaration()
{
    let p = policy(&[
        TOPOLOGY,
        &iam_role("cl", "Cluster", &format!("rules: {EVERYTHING}")),
        &iam_binding("other", "cl", "{kind: Cluster, name: staging}", ALICE),
        &iam_binding(
            "served",
            "cl",
            "{kind: Cluster, name: default}",
            "[{kind: User, name: bob}]",
        ),
    ]);
    assert!(has_error(&p, "IAMRoleBinding other", "spec.scope.name"));
    assert!(!has_error(&p, "IAMRoleBinding served", "spec.scope.name"));
    assert!(!allows(
        &p,
        &rq_group(
            "alice",
            "get",
            "scope.theriseunion.io",
            "clusters",
            "",
            "staging"
        )
    ));
    assert!(allows(&p, &rq("bob", "get", "pods", "team-a", "x")));
}

#[test]
fn duplicate_names_are_an_error_and_the_second_object_grants_nothing() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("dev", "Platform", &format!("rules: {GET_PODS}")),
        &iam_binding("dup", "dev", "{kind: Platform}", ALICE),
        &iam_binding(
            "dup",
            "dev",
            "{kind: Platform}",
            "[{kind: User, name: bob}]",
        ),
    ]);
    assert!(has_error(&p, "IAMRoleBinding dup", "metadata.name"));
    assert!(!allows(&p, &rq("bob", "get", "pods", "team-a", "x")));
}

#[test]
fn duplicate_role_names_in_one_namespace_are_an_error_but_not_across_namespaces() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role("team-a", "reader", GET_SECRETS),
        &role("team-b", "reader", GET_SECRETS),
        &role_binding("team-a", "rb", "Role", "reader", ALICE),
    ]);
    assert_eq!(
        errors(&p),
        vec![(
            "Role team-a/reader".to_string(),
            "metadata.name".to_string()
        )]
    );
    assert!(
        !allows(&p, &rq("alice", "get", "secrets", "team-a", "s")),
        "the duplicate grants nothing"
    );
}

#[test]
fn object_without_a_name_is_an_error_and_grants_nothing() {
    let text = join(&[
        &iam_role("dev", "Platform", &format!("rules: {GET_PODS}")),
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRoleBinding\nmetadata: {}\nspec:\n  subjects: [{kind: User, name: alice}]\n  roleRef: {kind: IAMRole, name: dev}\n  scope: {kind: Platform}\n",
    ]);
    let p = Policy::compile(&objects(&text), &PolicyOptions::default());
    assert!(has_error(&p, "IAMRoleBinding ", "metadata.name"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn iam_binding_with_an_unknown_subject_kind_is_an_error_and_grants_nothing() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("dev", "Workspace", &format!("rules: {GET_PODS}")),
        &iam_binding(
            "b",
            "dev",
            "{kind: Workspace, name: ws-a}",
            "[{kind: Team, name: alice}, {kind: User, name: bob}]",
        ),
    ]);
    assert!(
        has_error(&p, "IAMRoleBinding b", "spec.subjects[0].kind"),
        "{:?}",
        diagnostics(&p)
    );
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(&p, &rq("bob", "get", "pods", "team-a", "x")));
}

#[test]
fn service_account_without_namespace_at_a_non_namespaced_scope_is_an_error_and_grants_nothing() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("dev", "Workspace", &format!("rules: {GET_PODS}")),
        &iam_binding(
            "b",
            "dev",
            "{kind: Workspace, name: ws-a}",
            "[{kind: ServiceAccount, name: ci}]",
        ),
    ]);
    assert!(
        has_error(&p, "IAMRoleBinding b", "spec.subjects[0].namespace"),
        "{:?}",
        diagnostics(&p)
    );
    for user in [
        "system:serviceaccount:team-a:ci",
        "system:serviceaccount:ws-a:ci",
        "system:serviceaccount::ci",
        "system:serviceaccount:default:ci",
    ] {
        assert!(
            !allows(&p, &rq(user, "get", "pods", "team-a", "x")),
            "{user}"
        );
    }
}

#[test]
fn service_account_without_namespace_at_a_namespace_scope_defaults_to_that_namespace() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("dev", "Namespace", &format!("rules: {GET_PODS}")),
        &iam_binding(
            "b",
            "dev",
            "{kind: Namespace, name: team-a}",
            "[{kind: ServiceAccount, name: ci}]",
        ),
    ]);
    assert!(errors(&p).is_empty(), "{:?}", errors(&p));
    assert!(allows(
        &p,
        &rq(
            "system:serviceaccount:team-a:ci",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
    assert!(!allows(
        &p,
        &rq(
            "system:serviceaccount:team-b:ci",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
}

#[test]
fn diagnostics_point_at_the_file_and_document_of_the_object() {
    let text = join(&[
        &iam_role("dev", "Platform", &format!("rules: {GET_PODS}")),
        &iam_binding("b", "ghost", "{kind: Platform}", ALICE),
    ]);
    let p = Policy::compile(&objects(&text), &PolicyOptions::default());
    let d = p
        .diagnostics()
        .iter()
        .find(|d| d.field == "spec.roleRef.name")
        .expect("a diagnostic for the missing role");
    let source = d.source.as_ref().expect("a source");
    assert_eq!(source.file, std::path::PathBuf::from("test.yaml"));
    assert_eq!(source.document, 2);
    assert!(d.to_string().contains("test.yaml"), "{d}");
    assert!(d.to_string().contains("ghost"), "{d}");
}

#[test]
fn from_objects_refuses_errors_and_accepts_warnings() {
    let bad = objects(&join(&[&iam_binding(
        "b",
        "ghost",
        "{kind: Platform}",
        ALICE,
    )]));
    let err = Policy::from_objects(&bad, &PolicyOptions::default()).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].field, "spec.roleRef.name");
    let warned = objects(&role_binding("team-a", "rb", "Role", "missing", ALICE));
    let p = Policy::from_objects(&warned, &PolicyOptions::default()).unwrap();
    assert!(has_warning(&p, "RoleBinding team-a/rb", "roleRef.name"));
}

#[test]
fn role_binding_and_role_without_namespace_are_errors() {
    let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\nrules: []\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: god}\nsubjects: [{kind: User, name: alice}]\n---\n".to_string()
        + &cluster_role("god", EVERYTHING);
    let p = Policy::compile(&objects(&text), &PolicyOptions::default());
    assert!(has_error(&p, "Role /reader", "metadata.namespace"));
    assert!(has_error(&p, "RoleBinding /rb", "metadata.namespace"));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(&p, &rq("alice", "list", "pods", "", "")));
}

// ---------------------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------------------

#[test]
fn workspace_binding_applies_to_namespaces_labelled_into_it_only() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("ws-dev", "Workspace", &format!("rules: {EVERYTHING}")),
        &iam_binding("b", "ws-dev", "{kind: Workspace, name: ws-a}", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "delete", "pods", "team-a", "x")));
    assert!(allows(&p, &rq("alice", "list", "pods", "team-a", "")));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-b", "x")));
    assert!(!allows(&p, &rq("alice", "get", "pods", "loose", "x")));
    assert!(!allows(&p, &rq("alice", "list", "pods", "", "")));
    assert!(!allows(&p, &rq("alice", "get", "nodes", "", "n1")));
    assert!(!allows(
        &p,
        &Request::non_resource("alice", "get", "/healthz")
    ));
}

#[test]
fn workspace_binding_applies_to_the_workspace_object_itself_but_not_to_other_workspaces() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role(
            "ws-admin",
            "Workspace",
            r#"rules: [{apiGroups: [scope.theriseunion.io], resources: [workspaces], verbs: [get, update]}]"#,
        ),
        &iam_binding("b", "ws-admin", "{kind: Workspace, name: ws-a}", ALICE),
    ]);
    assert!(allows(
        &p,
        &rq_group(
            "alice",
            "update",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "ws-a"
        )
    ));
    assert!(!allows(
        &p,
        &rq_group(
            "alice",
            "get",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "ws-b"
        )
    ));
    assert!(!allows(
        &p,
        &rq_group(
            "alice",
            "list",
            "scope.theriseunion.io",
            "workspaces",
            "",
            ""
        )
    ));
}

#[test]
fn node_group_binding_applies_to_nodes_labelled_into_it_only() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role(
            "ops",
            "NodeGroup",
            r#"rules: [{apiGroups: [""], resources: [nodes, nodes/proxy], verbs: [get]}]"#,
        ),
        &iam_binding("b", "ops", "{kind: NodeGroup, name: gpu}", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "nodes", "", "n1")));
    assert!(allows(
        &p,
        &rq_sub("alice", "get", "nodes", "proxy", "", "n1")
    ));
    assert!(!allows(&p, &rq("alice", "get", "nodes", "", "n2")));
    assert!(!allows(&p, &rq("alice", "get", "nodes", "", "")));
    assert!(allows(&p, &rq_group("alice", "get", "", "nodes", "", "n1")));
}

#[test]
fn node_binding_applies_to_that_node_and_its_subresources_only() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role(
            "node-op",
            "Node",
            r#"rules: [{apiGroups: [""], resources: [nodes, nodes/proxy], verbs: [get]}]"#,
        ),
        &iam_binding("b", "node-op", "{kind: Node, name: n2}", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "nodes", "", "n2")));
    assert!(allows(
        &p,
        &rq_sub("alice", "get", "nodes", "proxy", "", "n2")
    ));
    assert!(!allows(&p, &rq("alice", "get", "nodes", "", "n1")));
    assert!(!allows(&p, &rq("alice", "list", "nodes", "", "")));
}

#[test]
fn resource_binding_covers_that_object_and_its_subresources_only() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("owner", "Resource", &format!("rules: {EVERYTHING}")),
        &iam_binding(
            "b",
            "owner",
            "{kind: Resource, namespace: team-a, apiGroup: \"\", resource: pods, name: web}",
            ALICE,
        ),
    ]);
    assert!(allows(&p, &rq("alice", "delete", "pods", "team-a", "web")));
    assert!(allows(
        &p,
        &rq_sub("alice", "get", "pods", "log", "team-a", "web")
    ));
    assert!(allows(
        &p,
        &rq_sub("alice", "create", "pods", "exec", "team-a", "web")
    ));
    assert!(
        !allows(&p, &rq("alice", "get", "pods", "team-a", "db")),
        "another pod"
    );
    assert!(
        !allows(&p, &rq("alice", "list", "pods", "team-a", "")),
        "the collection"
    );
    assert!(
        !allows(&p, &rq("alice", "get", "pods", "team-b", "web")),
        "same name elsewhere"
    );
    assert!(
        !allows(&p, &rq("alice", "get", "services", "team-a", "web")),
        "another resource"
    );
    assert!(
        !allows(
            &p,
            &rq_group("alice", "get", "metrics.k8s.io", "pods", "team-a", "web")
        ),
        "another group"
    );
}

#[test]
fn resource_binding_on_a_cluster_scoped_object_covers_only_it() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("pv-owner", "Resource", &format!("rules: {EVERYTHING}")),
        &iam_binding(
            "b",
            "pv-owner",
            "{kind: Resource, apiGroup: \"\", resource: persistentvolumes, name: pv-1}",
            ALICE,
        ),
    ]);
    assert!(allows(
        &p,
        &rq("alice", "delete", "persistentvolumes", "", "pv-1")
    ));
    assert!(!allows(
        &p,
        &rq("alice", "delete", "persistentvolumes", "", "pv-2")
    ));
    assert!(!allows(
        &p,
        &rq("alice", "get", "persistentvolumes", "team-a", "pv-1")
    ));
}

#[test]
fn namespace_scope_iam_binding_does_not_grant_cluster_scoped_requests() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("ns-admin", "Namespace", &format!("rules: {EVERYTHING}")),
        &iam_binding("b", "ns-admin", "{kind: Namespace, name: team-a}", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "secrets", "team-a", "s")));
    assert!(!allows(&p, &rq("alice", "get", "nodes", "", "n1")));
    assert!(!allows(&p, &rq("alice", "list", "secrets", "", "")));
    assert!(!allows(
        &p,
        &Request::non_resource("alice", "get", "/metrics")
    ));
}

#[test]
fn cluster_binding_at_another_cluster_does_not_apply_to_this_clusters_requests() {
    let p = policy(&[
        TOPOLOGY,
        "apiVersion: scope.theriseunion.io/v1alpha1\nkind: Cluster\nmetadata: {name: staging}\nspec: {}\n",
        &iam_role("cl", "Cluster", &format!("rules: {EVERYTHING}")),
        &iam_binding("b", "cl", "{kind: Cluster, name: staging}", ALICE),
    ]);
    assert!(errors(&p).is_empty(), "{:?}", errors(&p));
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
    assert!(!allows(
        &p,
        &Request::non_resource("alice", "get", "/healthz")
    ));
    assert!(allows(
        &p,
        &rq_group(
            "alice",
            "get",
            "scope.theriseunion.io",
            "clusters",
            "",
            "staging"
        )
    ));
    assert!(!allows(
        &p,
        &rq_group(
            "alice",
            "get",
            "scope.theriseunion.io",
            "clusters",
            "",
            "default"
        )
    ));
}

#[test]
fn platform_binding_applies_to_every_request_including_non_resource_urls() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("root", "Platform", &format!("rules: {EVERYTHING}")),
        &iam_binding("b", "root", "{kind: Platform}", ALICE),
    ]);
    assert!(allows(&p, &rq("alice", "get", "pods", "loose", "x")));
    assert!(allows(&p, &rq("alice", "get", "nodes", "", "n2")));
    assert!(allows(
        &p,
        &rq_group(
            "alice",
            "get",
            "scope.theriseunion.io",
            "clusters",
            "",
            "elsewhere"
        )
    ));
    assert!(allows(
        &p,
        &Request::non_resource("alice", "get", "/metrics")
    ));
}

// ---------------------------------------------------------------------------------------
// Short-circuit: the most specific scope decides
// ---------------------------------------------------------------------------------------

/// alice: a Platform binding that allows everything, a RoleBinding in team-a that allows
/// get/list pods, and a Resource binding on pod team-a/web that allows get on it.
fn layered() -> Policy {
    policy(&[
        TOPOLOGY,
        &iam_role("root", "Platform", &format!("rules: {EVERYTHING}")),
        &iam_binding("platform-b", "root", "{kind: Platform}", ALICE),
        &role("team-a", "reader", GET_PODS),
        &role_binding("team-a", "ns-b", "Role", "reader", ALICE),
        &iam_role(
            "pod-reader",
            "Resource",
            r#"rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]"#,
        ),
        &iam_binding(
            "res-b",
            "pod-reader",
            "{kind: Resource, namespace: team-a, apiGroup: \"\", resource: pods, name: web}",
            ALICE,
        ),
    ])
}

#[test]
fn namespace_binding_decides_even_when_a_platform_binding_also_allows() {
    let p = layered();
    let d = p.decide(&rq("alice", "list", "pods", "team-a", ""));
    let reason = d.reason();
    assert!(reason.contains("RoleBinding team-a/ns-b"), "{reason}");
    assert!(reason.contains("Namespace \"team-a\""), "{reason}");
    assert!(!reason.contains("platform-b"), "{reason}");
}

#[test]
fn resource_binding_decides_before_namespace_and_platform_bindings() {
    let p = layered();
    let d = p.decide(&rq("alice", "get", "pods", "team-a", "web"));
    let Decision::Allowed(a) = &d else {
        panic!("not allowed")
    };
    assert_eq!(a.grant.binding.to_string(), "IAMRoleBinding res-b");
    assert_eq!(a.grant.scope.kind(), crate::model::ScopeKind::Resource);
    assert!(d.reason().contains("res-b"), "{}", d.reason());
}

#[test]
fn a_less_specific_scope_decides_when_the_more_specific_bindings_do_not_allow() {
    let p = layered();
    assert_eq!(
        allowed_by(&p, &rq("alice", "delete", "pods", "team-a", "web")).as_deref(),
        Some("IAMRoleBinding platform-b")
    );
    assert_eq!(
        allowed_by(&p, &rq("alice", "get", "pods", "team-b", "web")).as_deref(),
        Some("IAMRoleBinding platform-b")
    );
}

#[test]
fn allowed_reason_names_binding_role_rule_and_scope() {
    let p = layered();
    let reason = p
        .decide(&rq("alice", "get", "pods", "team-a", "other"))
        .reason();
    assert_eq!(
        reason,
        "allowed by RoleBinding team-a/ns-b (role Role team-a/reader, rule 0) at Namespace \"team-a\""
    );
}

#[test]
fn rule_index_in_the_reason_counts_the_roles_effective_rules() {
    let p = policy(&[
        &role(
            "team-a",
            "multi",
            r#"[{apiGroups: [""], resources: [secrets], verbs: [get]}, {apiGroups: [""], resources: [pods], verbs: [get]}]"#,
        ),
        &role_binding("team-a", "rb", "Role", "multi", ALICE),
    ]);
    let Decision::Allowed(a) = p.decide(&rq("alice", "get", "pods", "team-a", "x")) else {
        panic!("not allowed")
    };
    assert_eq!(a.rule_index, 1);
}

#[test]
fn decision_does_not_depend_on_the_order_objects_were_written_in() {
    let docs = [
        TOPOLOGY.to_string(),
        iam_role("root", "Namespace", &format!("rules: {EVERYTHING}")),
        iam_binding("zeta", "root", "{kind: Namespace, name: team-a}", ALICE),
        iam_binding("alpha", "root", "{kind: Namespace, name: team-a}", ALICE),
        role("team-a", "reader", GET_PODS),
        role_binding("team-a", "rb", "Role", "reader", ALICE),
    ];
    let forward: Vec<&str> = docs.iter().map(String::as_str).collect();
    let mut backward = forward.clone();
    backward.reverse();
    let request = rq("alice", "get", "pods", "team-a", "x");
    let a = policy(&forward).decide(&request).reason();
    let b = policy(&backward).decide(&request).reason();
    assert_eq!(a, b);
}

// ---------------------------------------------------------------------------------------
// explain()
// ---------------------------------------------------------------------------------------

#[test]
fn explain_lists_every_chain_step_and_marks_where_it_was_decided() {
    let p = layered();
    let e = p.explain(&rq("alice", "list", "pods", "team-a", ""));
    let scopes: Vec<String> = e.chain.iter().map(|v| v.scope.to_string()).collect();
    assert_eq!(
        scopes,
        vec![
            "Namespace \"team-a\"",
            "Workspace \"ws-a\"",
            "Cluster \"default\"",
            "Platform"
        ]
    );
    let visited: Vec<bool> = e.chain.iter().map(|v| v.visited).collect();
    let decided: Vec<bool> = e.chain.iter().map(|v| v.decided_here).collect();
    assert_eq!(visited, vec![true, false, false, false]);
    assert_eq!(decided, vec![true, false, false, false]);
    assert!(e.allowed);
}

#[test]
fn explain_shows_bindings_at_unvisited_steps_without_deciding_there() {
    let p = layered();
    let e = p.explain(&rq("alice", "list", "pods", "team-a", ""));
    let platform = e.chain.last().unwrap();
    assert!(!platform.visited);
    assert_eq!(platform.bindings.len(), 1);
    assert!(!platform.bindings[0].decided);
    assert!(
        platform.bindings[0].allowing_rule.is_some(),
        "it would allow, but was not reached"
    );
}

#[test]
fn explain_gives_each_rejected_rule_and_why() {
    let p = layered();
    let e = p.explain(&rq("alice", "delete", "pods", "team-a", "web"));
    let resource = &e.chain[0];
    assert!(resource.visited && !resource.decided_here);
    assert_eq!(resource.bindings.len(), 1);
    let b = &resource.bindings[0];
    assert_eq!(b.binding.to_string(), "IAMRoleBinding res-b");
    assert!(b.allowing_rule.is_none());
    assert_eq!(b.rejected_rules.len(), 1);
    assert_eq!(b.rejected_rules[0].index, 0);
    assert_eq!(
        b.rejected_rules[0].mismatch,
        crate::rbac::RuleMismatch::Verb
    );
    let decided: Vec<usize> = e
        .chain
        .iter()
        .enumerate()
        .filter(|(_, v)| v.decided_here)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(decided, vec![e.chain.len() - 1], "decided at Platform");
}

#[test]
fn explain_within_the_deciding_step_only_the_first_allowing_binding_decides() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("ns", "Namespace", &format!("rules: {GET_PODS}")),
        &iam_binding("b-second", "ns", "{kind: Namespace, name: team-a}", ALICE),
        &iam_binding("a-first", "ns", "{kind: Namespace, name: team-a}", ALICE),
    ]);
    let e = p.explain(&rq("alice", "get", "pods", "team-a", "x"));
    let step = &e.chain[1];
    assert_eq!(
        step.scope,
        Scope::Namespace {
            name: "team-a".into()
        }
    );
    let flags: Vec<(String, bool, bool)> = step
        .bindings
        .iter()
        .map(|b| (b.binding.name.clone(), b.decided, b.allowing_rule.is_some()))
        .collect();
    assert_eq!(
        flags,
        vec![
            ("a-first".to_string(), true, true),
            ("b-second".to_string(), false, true)
        ]
    );
    assert!(e.reason.contains("a-first"));
}

#[test]
fn explain_lists_only_bindings_for_the_user_and_only_their_matching_subjects() {
    let p = policy(&[
        &role("team-a", "reader", GET_PODS),
        &role_binding(
            "team-a",
            "mixed",
            "Role",
            "reader",
            "[{kind: User, name: bob}, {kind: Group, name: devs}, {kind: User, name: alice}]",
        ),
        &role_binding(
            "team-a",
            "bobs",
            "Role",
            "reader",
            "[{kind: User, name: bob}]",
        ),
    ]);
    let e = p.explain(&rq("alice", "get", "pods", "team-a", "x").with_groups(["devs"]));
    let ns = e
        .chain
        .iter()
        .find(|v| {
            v.scope
                == Scope::Namespace {
                    name: "team-a".into(),
                }
        })
        .unwrap();
    assert_eq!(ns.bindings.len(), 1);
    let matched: Vec<(SubjectKind, String)> = ns.bindings[0]
        .matched_subjects
        .iter()
        .map(|s| (s.kind, s.matches.clone()))
        .collect();
    assert_eq!(
        matched,
        vec![
            (SubjectKind::Group, "devs".to_string()),
            (SubjectKind::User, "alice".to_string())
        ]
    );
}

#[test]
fn explain_of_a_request_nothing_allows_visits_every_step_and_decides_nowhere() {
    let p = layered();
    let e = p.explain(&rq("bob", "get", "pods", "team-a", "web"));
    assert!(!e.allowed);
    assert_eq!(e.reason, crate::decision::NO_OPINION_REASON);
    assert!(
        e.chain
            .iter()
            .all(|v| v.visited && !v.decided_here && v.bindings.is_empty())
    );
    assert_eq!(e.chain.len(), 5);
}

#[test]
fn explain_agrees_with_decide() {
    let p = layered();
    let requests = [
        rq("alice", "get", "pods", "team-a", "web"),
        rq("alice", "delete", "pods", "team-a", "web"),
        rq("alice", "list", "pods", "team-a", ""),
        rq("alice", "get", "pods", "team-b", "x"),
        rq("alice", "get", "nodes", "", "n1"),
        Request::non_resource("alice", "get", "/healthz"),
        rq("bob", "get", "pods", "team-a", "web"),
    ];
    for request in &requests {
        let decision = p.decide(request);
        let explanation = p.explain(request);
        assert_eq!(explanation.allowed, decision.is_allowed(), "{request:?}");
        assert_eq!(explanation.reason, decision.reason(), "{request:?}");
        let deciding_steps = explanation.chain.iter().filter(|v| v.decided_here).count();
        assert_eq!(
            deciding_steps,
            usize::from(decision.is_allowed()),
            "{request:?}"
        );
    }
}

#[test]
fn explanation_text_marks_the_deciding_step_and_unvisited_steps() {
    let p = layered();
    let text = p
        .explain(&rq("alice", "list", "pods", "team-a", ""))
        .to_string();
    assert!(text.starts_with("allowed\n"), "{text}");
    assert!(
        text.contains("Namespace \"team-a\"  <- decided here"),
        "{text}"
    );
    assert!(text.contains("Platform  (not visited"), "{text}");
}

// ---------------------------------------------------------------------------------------
// UI permissions
// ---------------------------------------------------------------------------------------

fn ui_policy() -> Policy {
    policy(&[
        TOPOLOGY,
        &role_template("quota-view", "", "uiPermissions: [workspace.quota.view]"),
        &iam_role(
            "platform-viewer",
            "Platform",
            "uiPermissions: [platform.view]",
        ),
        &iam_role("ops-viewer", "Platform", "uiPermissions: [ops.view]"),
        &iam_role("bob-only", "Platform", "uiPermissions: [bob.only]"),
        &iam_role(
            "ws-admin",
            "Workspace",
            "uiPermissions: [workspace.members.manage], roleTemplates: [quota-view]",
        ),
        &iam_role("ws-viewer", "Workspace", "uiPermissions: [workspace.view]"),
        &iam_role(
            "ns-dev",
            "Namespace",
            "uiPermissions: [namespace.pods.view]",
        ),
        &iam_binding(
            "alice-platform",
            "platform-viewer",
            "{kind: Platform}",
            ALICE,
        ),
        &iam_binding(
            "ops-platform",
            "ops-viewer",
            "{kind: Platform}",
            "[{kind: Group, name: ops}]",
        ),
        &iam_binding(
            "bob-platform",
            "bob-only",
            "{kind: Platform}",
            "[{kind: User, name: bob}]",
        ),
        &iam_binding(
            "alice-ws-a",
            "ws-admin",
            "{kind: Workspace, name: ws-a}",
            ALICE,
        ),
        &iam_binding(
            "alice-ws-b",
            "ws-viewer",
            "{kind: Workspace, name: ws-b}",
            ALICE,
        ),
        &iam_binding(
            "alice-team-a",
            "ns-dev",
            "{kind: Namespace, name: team-a}",
            ALICE,
        ),
    ])
}

fn ui(policy: &Policy, user: &str, groups: &[&str], scope: Scope) -> Vec<String> {
    let subject = SubjectInfo {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    };
    policy
        .ui_permissions(&subject, &scope)
        .into_iter()
        .collect()
}

#[test]
fn ui_permissions_are_the_union_along_the_scope_chain() {
    let p = ui_policy();
    assert_eq!(
        ui(
            &p,
            "alice",
            &[],
            Scope::Namespace {
                name: "team-a".into()
            }
        ),
        vec![
            "namespace.pods.view",
            "platform.view",
            "workspace.members.manage",
            "workspace.quota.view"
        ]
    );
}

#[test]
fn ui_permissions_include_nothing_from_scopes_below_or_beside_the_asked_scope() {
    let p = ui_policy();
    assert_eq!(
        ui(
            &p,
            "alice",
            &[],
            Scope::Workspace {
                name: "ws-a".into()
            }
        ),
        vec![
            "platform.view",
            "workspace.members.manage",
            "workspace.quota.view"
        ]
    );
    assert_eq!(
        ui(
            &p,
            "alice",
            &[],
            Scope::Workspace {
                name: "ws-b".into()
            }
        ),
        vec!["platform.view", "workspace.view"]
    );
    assert_eq!(
        ui(
            &p,
            "alice",
            &[],
            Scope::Namespace {
                name: "team-b".into()
            }
        ),
        vec!["platform.view", "workspace.view"]
    );
    assert_eq!(ui(&p, "alice", &[], Scope::Platform), vec!["platform.view"]);
    assert_eq!(
        ui(
            &p,
            "alice",
            &[],
            Scope::Namespace {
                name: "loose".into()
            }
        ),
        vec!["platform.view"]
    );
}

#[test]
fn ui_permissions_come_only_from_bindings_naming_the_user_or_their_groups() {
    let p = ui_policy();
    assert_eq!(
        ui(&p, "alice", &["ops"], Scope::Platform),
        vec!["ops.view", "platform.view"]
    );
    assert_eq!(ui(&p, "carol", &[], Scope::Platform), Vec::<String>::new());
    assert_eq!(ui(&p, "ops", &[], Scope::Platform), Vec::<String>::new());
}

#[test]
fn ui_permissions_of_a_binding_with_an_error_are_not_granted() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role(
            "ws-admin",
            "Workspace",
            "uiPermissions: [workspace.members.manage]",
        ),
        &iam_binding("wrong-kind", "ws-admin", "{kind: Platform}", ALICE),
        &iam_binding(
            "undeclared",
            "ws-admin",
            "{kind: Workspace, name: ghost}",
            ALICE,
        ),
    ]);
    assert!(ui(&p, "alice", &[], Scope::Platform).is_empty());
    assert!(
        ui(
            &p,
            "alice",
            &[],
            Scope::Workspace {
                name: "ghost".into()
            }
        )
        .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// More edges
// ---------------------------------------------------------------------------------------

#[test]
fn user_subject_with_a_service_account_user_name_matches_that_service_account() {
    // Kubernetes compares a User subject's name with the user name, whatever it looks like.
    let p = policy(&[
        &cluster_role("reader", GET_PODS),
        &cluster_role_binding(
            "crb",
            "ClusterRole",
            "reader",
            "[{kind: User, name: \"system:serviceaccount:ci:deployer\"}]",
        ),
    ]);
    assert!(allows(
        &p,
        &rq(
            "system:serviceaccount:ci:deployer",
            "get",
            "pods",
            "team-a",
            "x"
        )
    ));
}

#[test]
fn cluster_role_binding_to_a_missing_cluster_role_warns_and_grants_nothing() {
    let p = policy(&[&cluster_role_binding("crb", "ClusterRole", "nope", ALICE)]);
    assert!(has_warning(&p, "ClusterRoleBinding crb", "roleRef.name"));
    assert!(errors(&p).is_empty());
    assert!(!allows(&p, &rq("alice", "get", "pods", "team-a", "x")));
}

#[test]
fn iam_binding_without_subjects_warns_at_spec_subjects() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("root", "Platform", &format!("rules: {GET_PODS}")),
        &iam_binding("b", "root", "{kind: Platform}", "[]"),
    ]);
    assert!(
        has_warning(&p, "IAMRoleBinding b", "spec.subjects"),
        "{:?}",
        diagnostics(&p)
    );
}

#[test]
fn iam_binding_to_a_group_applies_to_members_only() {
    let p = policy(&[
        TOPOLOGY,
        &iam_role("ws-dev", "Workspace", &format!("rules: {GET_PODS}")),
        &iam_binding(
            "b",
            "ws-dev",
            "{kind: Workspace, name: ws-a}",
            "[{kind: Group, name: devs}]",
        ),
    ]);
    assert!(allows(
        &p,
        &rq("carol", "get", "pods", "team-a", "x").with_groups(["devs"])
    ));
    assert!(!allows(&p, &rq("devs", "get", "pods", "team-a", "x")));
}

#[test]
fn ui_permissions_at_a_resource_scope_include_its_namespace_and_workspace() {
    let p = ui_policy();
    let pod = Scope::Resource {
        namespace: "team-a".into(),
        api_group: "".into(),
        resource: "pods".into(),
        name: "web".into(),
    };
    assert_eq!(
        ui(&p, "alice", &[], pod),
        vec![
            "namespace.pods.view",
            "platform.view",
            "workspace.members.manage",
            "workspace.quota.view"
        ]
    );
}

#[test]
fn native_roles_grant_no_ui_permissions() {
    let p = policy(&[
        TOPOLOGY,
        &cluster_role("god", EVERYTHING),
        &cluster_role_binding("crb", "ClusterRole", "god", ALICE),
    ]);
    assert!(ui(&p, "alice", &[], Scope::Platform).is_empty());
    assert!(
        ui(
            &p,
            "alice",
            &[],
            Scope::Namespace {
                name: "team-a".into()
            }
        )
        .is_empty()
    );
}

#[test]
fn a_borrowed_decision_is_the_owned_one_without_a_share_of_the_grant() {
    let p = policy(&[
        TOPOLOGY,
        &role("team-a", "reader", GET_PODS),
        &role_binding("team-a", "alice-reads", "Role", "reader", ALICE),
        &cluster_role("admin", EVERYTHING),
        &cluster_role_binding(
            "ops-admin",
            "ClusterRole",
            "admin",
            "[{kind: Group, name: ops}]",
        ),
    ]);
    // The shares of the two grants that exist now (listing the grants keeps one of each,
    // taken at the first count).
    let shares = || {
        ["alice-reads", "ops-admin"].map(|binding| {
            let grant = p.grants().iter().find(|g| g.binding.name == binding);
            grant.map_or(0, Arc::strong_count)
        })
    };
    let requests = [
        (
            rq("alice", "get", "pods", "team-a", "web"),
            Some("alice-reads"),
        ),
        (
            rq("bob", "delete", "nodes", "", "n1").with_groups(["ops"]),
            Some("ops-admin"),
        ),
        (rq("alice", "delete", "pods", "team-a", "web"), None),
        (rq("carol", "get", "pods", "team-a", "web"), None),
    ];
    for (r, expected) in &requests {
        let subject = p.compile_subject(&r.user, &r.groups);
        let held = shares();
        for (path, borrowed) in [
            ("policy", p.decide_ref(r)),
            ("compiled subject", p.decide_compiled_ref(&subject, r)),
        ] {
            let allowed_by = match borrowed {
                DecisionRef::Allowed(a) => Some(a.grant.binding.name.as_str()),
                DecisionRef::NoOpinion => None,
            };
            assert_eq!(allowed_by, *expected, "{path}: {r:?}");
            assert_eq!(shares(), held, "{path}: deciding took a share: {r:?}");
            let owned = p.decide(r);
            assert_eq!(borrowed.to_decision(), owned, "{path}: {r:?}");
            assert_eq!(borrowed.reason(), owned.reason(), "{path}: {r:?}");
            assert_eq!(owned.as_ref(), borrowed, "{path}: {r:?}");
        }
    }
}
