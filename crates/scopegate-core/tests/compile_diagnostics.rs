//! What compiling reports about objects that parse but do not make sense, and that objects
//! with errors grant nothing, even in a policy built with `Policy::compile` (which keeps
//! deciding whatever users write, as a watch-fed webhook must).

use scopegate_core::{Policy, PolicyOptions, Request, ResourceAttributes, Severity, load};

fn compile(text: &str) -> Policy {
    let objects = load::parse_str(text, "policy.yaml").expect("parses");
    Policy::compile(&objects, &PolicyOptions::default())
}

fn delete_pod(user: &str) -> Request {
    Request::resource(
        user,
        ResourceAttributes {
            verb: "delete".into(),
            resource: "pods".into(),
            namespace: "team-a".into(),
            name: "api-0".into(),
            ..Default::default()
        },
    )
}

const ADMIN_ROLE: &str = "apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata: {name: admin}
spec:
  scope: Platform
  rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]
";

#[test]
fn a_binding_without_a_name_is_an_error_and_grants_nothing() {
    let policy = compile(&format!(
        "{ADMIN_ROLE}---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {{}}
spec:
  subjects: [{{kind: User, name: eve}}]
  roleRef: {{kind: IAMRole, name: admin}}
  scope: {{kind: Platform}}
"
    ));
    assert!(
        policy
            .diagnostics()
            .iter()
            .any(|d| d.severity == Severity::Error && d.field == "metadata.name"),
        "{:?}",
        policy.diagnostics()
    );
    assert!(!policy.decide(&delete_pod("eve")).is_allowed());
}

#[test]
fn an_empty_role_ref_does_not_resolve_to_a_role_without_a_name() {
    let policy = compile(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {}
rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: eve}
subjects: [{kind: User, name: eve}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ''}
",
    );
    assert!(!policy.decide(&delete_pod("eve")).is_allowed());
}

#[test]
fn a_template_rule_without_api_groups_is_reported_like_an_inline_one() {
    let policy = compile(
        "apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {name: pods}
spec:
  rules: [{resources: [pods], verbs: [get]}]
",
    );
    assert!(
        policy
            .diagnostics()
            .iter()
            .any(|d| d.severity == Severity::Warning
                && d.object.name == "pods"
                && d.field == "spec.rules[0].apiGroups"),
        "{:?}",
        policy.diagnostics()
    );
}
