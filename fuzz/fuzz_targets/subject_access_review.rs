//! Arbitrary bytes as the body of a SubjectAccessReview POST: decode, decide against a small
//! fixed policy, answer.
//!
//! Properties: nothing panics; the answer's `status.allowed` is a boolean and `denied` is never
//! set (Scopegate has no opinion rather than denying); the answer decodes back to the same
//! request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate_core::sar::{self, ReviewStatus};
use scopegate_core::{Policy, PolicyOptions, load};
use std::sync::LazyLock;

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

static FIXED: LazyLock<Policy> = LazyLock::new(|| {
    let objects = load::parse_str(POLICY, "fixed.yaml").expect("the fixed policy parses");
    Policy::from_objects(&objects, &PolicyOptions::default()).expect("the fixed policy is valid")
});

fuzz_target!(|data: &[u8]| {
    let Ok(review) = sar::decode(data) else {
        return;
    };
    let decision = FIXED.decide(&review.request);
    let answer = review.answer(&ReviewStatus::from_decision(&decision));
    let status = answer
        .get("status")
        .and_then(|s| s.as_object())
        .expect("the answer has a status object");
    assert_eq!(
        status.get("allowed").and_then(|a| a.as_bool()),
        Some(decision.is_allowed())
    );
    assert!(status.get("denied").is_none(), "denied set: {answer}");
    let again = sar::decode(&serde_json::to_vec(&answer).expect("the answer serializes"))
        .expect("the answer decodes again");
    assert_eq!(again.request, review.request);
    assert_eq!(again.version, review.version);
});
