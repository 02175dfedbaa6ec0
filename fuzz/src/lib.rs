//! The properties the fuzz targets check, as plain functions: the targets in `fuzz_targets/`
//! call them on what libFuzzer generates, and `cargo test` replays every input kept under
//! `fuzz/regressions/` and `fuzz/seeds/` through them
//! (`crates/scopegate-core/tests/fuzz_regressions.rs` includes this file), so a crasher
//! found once stays fixed without a fuzzer.

use scopegate_core::model::Scope;
use scopegate_core::sar::{self, ReviewStatus};
use scopegate_core::{
    Decision, Policy, PolicyOptions, Request, ResourceAttributes, Severity, SubjectInfo, load,
};
use std::sync::LazyLock;

/// Requests that reach every layer of the chain: a named pod in a namespace (Resource →
/// Namespace → Workspace → Cluster → Platform), a named node (Resource → Node → NodeGroup →
/// ...), a workspace object, a collection, and a non-resource URL.
static REQUESTS: LazyLock<Vec<Request>> = LazyLock::new(|| {
    let groups = ["team-a-devs", "system:authenticated"];
    let resource = |verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str| {
        Request::resource(
            "alice",
            ResourceAttributes {
                verb: verb.into(),
                group: group.into(),
                resource: resource.into(),
                subresource: sub.into(),
                namespace: ns.into(),
                name: name.into(),
                ..Default::default()
            },
        )
        .with_groups(groups)
    };
    vec![
        resource("get", "", "pods", "log", "team-a", "api-0"),
        resource("patch", "", "nodes", "status", "", "gpu-1"),
        resource("get", "scope.theriseunion.io", "workspaces", "", "", "w"),
        resource("list", "apps", "deployments", "", "", ""),
        Request::non_resource("system:serviceaccount:team-a:ci", "get", "/metrics")
            .with_groups(["system:serviceaccounts"]),
    ]
});

/// Arbitrary text through the manifest loader, and whatever reads through compile, decide,
/// explain and UI permissions.
///
/// Properties: nothing panics, whatever users write (a webhook must keep deciding); `decide`
/// and `explain` agree; an allow names a grant of the policy, and a binding with an error never
/// allows.
pub fn manifest_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // What reads counts, as in `scopegate check`: a document that does not fit is left out.
    let (objects, _problems) = load::read_str(text, "fuzz.yaml");
    let policy = Policy::compile(&objects, &PolicyOptions::default());
    // Bindings with an error grant nothing, invalid subjects included. One error does not
    // drop a whole binding: a duplicate name is reported on the later object, which shares
    // its reference with the first one, which does grant.
    let broken: Vec<_> = policy
        .diagnostics()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| d.field != "metadata.name" || d.object.name.is_empty())
        .map(|d| d.object.clone())
        .collect();
    for request in REQUESTS.iter() {
        let decision = policy.decide(request);
        let explanation = policy.explain(request);
        assert_eq!(decision.is_allowed(), explanation.allowed);
        assert_eq!(decision.reason(), explanation.reason);
        if let Decision::Allowed(allowed) = &decision {
            assert!(policy.grants().contains(&allowed.grant));
            assert!(allowed.rule_index < allowed.grant.role.rules.len());
            assert!(
                !broken.contains(&allowed.grant.binding),
                "a binding with an error allowed: {decision}"
            );
        }
    }
    let subject = SubjectInfo {
        user: "alice".into(),
        groups: vec!["team-a-devs".into()],
    };
    let _ = policy.ui_permissions(
        &subject,
        &Scope::Namespace {
            name: "team-a".into(),
        },
    );
    let _ = policy.ui_permissions(&subject, &Scope::Platform);
}

const POLICY: &str = r#"
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata: {name: developer}
spec:
  scope: Namespace
  rules: [{apiGroups: ["", apps], resources: [pods, pods/log, deployments], verbs: [get, list, create]}]
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: devs}
spec:
  subjects: [{kind: Group, name: devs}]
  roleRef: {kind: IAMRole, name: developer}
  scope: {kind: Namespace, name: team-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics}
rules: [{nonResourceURLs: [/metrics, "/healthz/*"], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: metrics}
subjects: [{kind: User, name: alice}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics}
"#;

/// The policy reviews are decided against.
static FIXED: LazyLock<Policy> = LazyLock::new(|| {
    let objects = load::parse_str(POLICY, "fixed.yaml").expect("the fixed policy parses");
    Policy::from_objects(&objects, &PolicyOptions::default()).expect("the fixed policy is valid")
});

/// Arbitrary bytes as the body of a SubjectAccessReview POST: decode, decide against a small
/// fixed policy, answer as the webhook does.
///
/// Properties: nothing panics; the answer is JSON any reader can read back, its
/// `status.allowed` is a boolean equal to the decision and `denied` is never set (Scopegate
/// has no opinion rather than denying); the answer decodes back to the same request.
pub fn subject_access_review(data: &[u8]) {
    let Ok(review) = sar::decode(data) else {
        return;
    };
    let decision = FIXED.decide_ref(&review.request);
    let status = ReviewStatus::from_decision(decision);
    let sent = serde_json::to_vec(&review.reply(&status)).expect("the answer serializes");
    let answer: serde_json::Value =
        serde_json::from_slice(&sent).expect("the answer reads back as JSON");
    assert_eq!(answer, review.answer(&status), "reply and answer differ");
    let status_json = answer
        .get("status")
        .and_then(|s| s.as_object())
        .expect("the answer has a status object");
    assert_eq!(
        status_json.get("allowed").and_then(|a| a.as_bool()),
        Some(decision.is_allowed())
    );
    assert!(status_json.get("denied").is_none(), "denied set: {answer}");
    let again = sar::decode(&sent).expect("the answer decodes again");
    assert_eq!(again.request, review.request);
    assert_eq!(again.version, review.version);
}
