//! The SubjectAccessReview codec: both wire versions, the answer's shape, and one test per
//! kind of malformed review, each naming the field at fault.

use super::*;
use crate::decision::{Allowed, Decision};
use crate::model::Scope;
use crate::objects::{ObjectKind, ObjectRef};
use crate::policy::{Grant, ResolvedRole};
use serde_json::json;
use std::sync::Arc;

fn v1(spec: Value) -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": spec
    })
}

fn decode_json(value: &Value) -> Result<Review, ReviewError> {
    decode(serde_json::to_vec(value).unwrap().as_slice())
}

fn field_of(result: Result<Review, ReviewError>) -> String {
    match result {
        Err(ReviewError::Invalid { field, .. }) => field,
        Err(other) => panic!("expected an Invalid error, got {other:?}"),
        Ok(review) => panic!("expected an error, decoded {:?}", review.request),
    }
}

fn an_allow() -> Decision {
    let role = Arc::new(ResolvedRole::new(
        ObjectRef::cluster_scoped(ObjectKind::ClusterRole, "view"),
        Vec::new(),
        Default::default(),
    ));
    Decision::Allowed(Allowed {
        grant: Arc::new(Grant {
            binding: ObjectRef::cluster_scoped(ObjectKind::ClusterRoleBinding, "alice-view"),
            scope: Scope::Cluster {
                name: "default".into(),
            },
            subjects: Vec::new(),
            role,
        }),
        rule_index: 0,
    })
}

// ---- decoding ----

#[test]
fn v1_resource_review_decodes_every_attribute() {
    let review = decode_json(&v1(json!({
        "user": "alice",
        "groups": ["dev", "system:authenticated"],
        "uid": "u-1",
        "extra": {"scopes": ["a", "b"]},
        "resourceAttributes": {
            "namespace": "team-a", "verb": "get", "group": "apps", "version": "v1",
            "resource": "deployments", "subresource": "scale", "name": "web"
        }
    })))
    .unwrap();
    assert_eq!(review.version, ReviewVersion::V1);
    let r = &review.request;
    assert_eq!(r.user, "alice");
    assert_eq!(r.groups, vec!["dev", "system:authenticated"]);
    assert_eq!(r.uid, "u-1");
    assert_eq!(r.extra["scopes"], vec!["a", "b"]);
    assert_eq!(
        r.action,
        Action::Resource(ResourceAttributes {
            verb: "get".into(),
            group: "apps".into(),
            version: "v1".into(),
            resource: "deployments".into(),
            subresource: "scale".into(),
            name: "web".into(),
            namespace: "team-a".into(),
        })
    );
}

#[test]
fn v1_non_resource_review_decodes_path_and_verb() {
    let review = decode_json(&v1(json!({
        "user": "alice",
        "nonResourceAttributes": {"path": "/metrics", "verb": "get"}
    })))
    .unwrap();
    assert_eq!(
        review.request.action,
        Action::NonResource(NonResourceAttributes {
            verb: "get".into(),
            path: "/metrics".into()
        })
    );
}

#[test]
fn v1beta1_groups_are_read_from_spec_group() {
    let review = decode_json(&json!({
        "apiVersion": "authorization.k8s.io/v1beta1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "alice",
            "group": ["dev"],
            "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "team-a"}
        }
    }))
    .unwrap();
    assert_eq!(review.version, ReviewVersion::V1Beta1);
    assert_eq!(review.request.groups, vec!["dev"]);
}

#[test]
fn v1beta1_ignores_v1_spelling_of_groups() {
    let review = decode_json(&json!({
        "apiVersion": "authorization.k8s.io/v1beta1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "alice",
            "groups": ["admins"],
            "resourceAttributes": {"verb": "get", "resource": "pods"}
        }
    }))
    .unwrap();
    assert!(review.request.groups.is_empty());
}

#[test]
fn v1_ignores_v1beta1_spelling_of_groups() {
    let review = decode_json(&v1(json!({
        "user": "alice",
        "group": ["admins"],
        "resourceAttributes": {"verb": "get", "resource": "pods"}
    })))
    .unwrap();
    assert!(review.request.groups.is_empty());
}

#[test]
fn groups_without_a_user_are_enough() {
    let review = decode_json(&v1(json!({
        "groups": ["system:authenticated"],
        "nonResourceAttributes": {"path": "/healthz", "verb": "get"}
    })))
    .unwrap();
    assert_eq!(review.request.user, "");
    assert_eq!(review.request.groups, vec!["system:authenticated"]);
}

#[test]
fn absent_resource_attributes_are_empty_strings() {
    let review = decode_json(&v1(json!({
        "user": "alice",
        "resourceAttributes": {"verb": "list", "resource": "nodes"}
    })))
    .unwrap();
    let Action::Resource(attrs) = &review.request.action else {
        panic!("not a resource request")
    };
    assert_eq!(attrs.group, "");
    assert_eq!(attrs.namespace, "");
    assert_eq!(attrs.name, "");
    assert_eq!(attrs.subresource, "");
}

#[test]
fn field_and_label_selectors_are_accepted() {
    let review = decode_json(&v1(json!({
        "user": "alice",
        "resourceAttributes": {
            "verb": "list", "resource": "pods", "namespace": "team-a",
            "fieldSelector": {"rawSelector": "spec.nodeName=n1",
                "requirements": [{"key": "spec.nodeName", "operator": "In", "values": ["n1"]}]},
            "labelSelector": {"rawSelector": "app=web",
                "requirements": [{"key": "app", "operator": "Exists"}]}
        }
    })))
    .unwrap();
    let Action::Resource(attrs) = &review.request.action else {
        panic!("not a resource request")
    };
    assert_eq!(attrs.verb, "list");
    assert_eq!(attrs.namespace, "team-a");
}

#[test]
fn unknown_fields_are_ignored() {
    let review = decode_json(&v1(json!({
        "user": "alice",
        "futureField": {"x": 1},
        "resourceAttributes": {"verb": "get", "resource": "pods", "somethingNew": true}
    })));
    assert!(review.is_ok());
}

// ---- malformed reviews ----

#[test]
fn invalid_json_is_an_invalid_json_error() {
    assert!(matches!(
        decode(b"{\"apiVersion\": "),
        Err(ReviewError::InvalidJson(_))
    ));
    assert!(matches!(decode(b""), Err(ReviewError::InvalidJson(_))));
}

#[test]
fn json_that_is_not_an_object_is_refused() {
    for body in ["[]", "\"SubjectAccessReview\"", "42", "null"] {
        assert_eq!(
            field_of(decode(body.as_bytes())),
            ".",
            "{body} must be refused as not an object"
        );
    }
}

#[test]
fn missing_api_version_names_api_version() {
    let mut review =
        v1(json!({"user": "a", "nonResourceAttributes": {"path": "/", "verb": "get"}}));
    review.as_object_mut().unwrap().remove("apiVersion");
    assert_eq!(field_of(decode_json(&review)), "apiVersion");
}

#[test]
fn unsupported_api_version_names_api_version() {
    for version in [
        "authorization.k8s.io/v2",
        "v1",
        "authentication.k8s.io/v1",
        "authorization.k8s.io/V1",
    ] {
        let mut review =
            v1(json!({"user": "a", "nonResourceAttributes": {"path": "/", "verb": "get"}}));
        review["apiVersion"] = json!(version);
        assert_eq!(field_of(decode_json(&review)), "apiVersion", "{version}");
    }
}

#[test]
fn api_version_of_the_wrong_type_names_api_version() {
    let mut review =
        v1(json!({"user": "a", "nonResourceAttributes": {"path": "/", "verb": "get"}}));
    review["apiVersion"] = json!(1);
    assert_eq!(field_of(decode_json(&review)), "apiVersion");
}

#[test]
fn wrong_kind_names_kind() {
    for kind in [
        json!("LocalSubjectAccessReview"),
        json!("SelfSubjectAccessReview"),
        json!("TokenReview"),
    ] {
        let mut review =
            v1(json!({"user": "a", "nonResourceAttributes": {"path": "/", "verb": "get"}}));
        review["kind"] = kind.clone();
        assert_eq!(field_of(decode_json(&review)), "kind", "{kind}");
    }
}

#[test]
fn missing_kind_names_kind() {
    let mut review =
        v1(json!({"user": "a", "nonResourceAttributes": {"path": "/", "verb": "get"}}));
    review.as_object_mut().unwrap().remove("kind");
    assert_eq!(field_of(decode_json(&review)), "kind");
}

#[test]
fn missing_or_null_spec_names_spec() {
    let mut review = v1(json!({}));
    review.as_object_mut().unwrap().remove("spec");
    assert_eq!(field_of(decode_json(&review)), "spec");
    review["spec"] = Value::Null;
    assert_eq!(field_of(decode_json(&review)), "spec");
}

#[test]
fn spec_that_is_not_an_object_names_spec() {
    let review = v1(json!("everything"));
    assert_eq!(field_of(decode_json(&review)), "spec");
}

#[test]
fn both_resource_and_non_resource_attributes_are_refused() {
    let review = v1(json!({
        "user": "alice",
        "resourceAttributes": {"verb": "get", "resource": "pods"},
        "nonResourceAttributes": {"path": "/healthz", "verb": "get"}
    }));
    assert_eq!(field_of(decode_json(&review)), "spec");
}

#[test]
fn neither_resource_nor_non_resource_attributes_is_refused() {
    let review = v1(json!({"user": "alice"}));
    assert_eq!(field_of(decode_json(&review)), "spec");
}

#[test]
fn no_user_and_no_groups_is_refused() {
    for spec in [
        json!({"nonResourceAttributes": {"path": "/", "verb": "get"}}),
        json!({"user": "", "groups": [], "nonResourceAttributes": {"path": "/", "verb": "get"}}),
    ] {
        assert_eq!(field_of(decode_json(&v1(spec.clone()))), "spec", "{spec}");
    }
}

#[test]
fn groups_given_as_a_string_name_spec_groups() {
    let review = v1(json!({
        "user": "alice", "groups": "dev",
        "nonResourceAttributes": {"path": "/", "verb": "get"}
    }));
    assert_eq!(field_of(decode_json(&review)), "spec.groups");
}

#[test]
fn user_of_the_wrong_type_names_spec_user() {
    let review = v1(json!({
        "user": ["alice"],
        "nonResourceAttributes": {"path": "/", "verb": "get"}
    }));
    assert_eq!(field_of(decode_json(&review)), "spec.user");
}

#[test]
fn resource_attribute_of_the_wrong_type_names_its_path() {
    let review = v1(json!({
        "user": "alice",
        "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": 7}
    }));
    assert_eq!(
        field_of(decode_json(&review)),
        "spec.resourceAttributes.namespace"
    );
}

#[test]
fn non_resource_attributes_of_the_wrong_type_name_their_path() {
    let review = v1(json!({
        "user": "alice",
        "nonResourceAttributes": "/healthz"
    }));
    assert_eq!(field_of(decode_json(&review)), "spec.nonResourceAttributes");
}

#[test]
fn error_message_names_the_field() {
    let review = v1(json!({
        "user": "alice", "groups": "dev",
        "nonResourceAttributes": {"path": "/", "verb": "get"}
    }));
    let message = decode_json(&review).unwrap_err().to_string();
    assert!(message.starts_with("spec.groups: "), "{message}");
}

// ---- answering ----

#[test]
fn answer_keeps_api_version_kind_metadata_and_the_whole_spec() {
    let body = json!({
        "apiVersion": "authorization.k8s.io/v1beta1",
        "kind": "SubjectAccessReview",
        "metadata": {"creationTimestamp": null},
        "spec": {
            "user": "alice", "group": ["dev"], "extra": {"x": ["y"]},
            "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "team-a",
                "labelSelector": {"rawSelector": "app=web"}}
        }
    });
    let review = decode_json(&body).unwrap();
    let answer = review.answer(&ReviewStatus::from_decision(&Decision::NoOpinion));
    let mut without_status = answer.clone();
    without_status.as_object_mut().unwrap().remove("status");
    assert_eq!(without_status, body);
    assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1beta1");
}

#[test]
fn allow_sets_allowed_and_a_reason_naming_the_binding_and_never_denied() {
    let review = decode_json(&v1(json!({
        "user": "alice", "resourceAttributes": {"verb": "get", "resource": "pods"}
    })))
    .unwrap();
    let answer = review.answer(&ReviewStatus::from_decision(&an_allow()));
    let status = answer["status"].as_object().unwrap();
    assert_eq!(status["allowed"], json!(true));
    let reason = status["reason"].as_str().unwrap();
    assert!(reason.contains("alice-view"), "{reason}");
    assert!(reason.contains("view"), "{reason}");
    assert!(!status.contains_key("denied"));
    assert!(!status.contains_key("evaluationError"));
}

#[test]
fn no_opinion_is_allowed_false_with_a_reason_and_never_denied() {
    let review = decode_json(&v1(json!({
        "user": "alice", "resourceAttributes": {"verb": "get", "resource": "pods"}
    })))
    .unwrap();
    let answer = review.answer(&ReviewStatus::from_decision(&Decision::NoOpinion));
    let status = answer["status"].as_object().unwrap();
    assert_eq!(status["allowed"], json!(false));
    assert_eq!(status["reason"], json!(crate::decision::NO_OPINION_REASON));
    assert!(!status.contains_key("denied"));
}

#[test]
fn evaluation_error_is_no_opinion_with_the_error_and_never_denied() {
    let review = decode_json(&v1(json!({
        "user": "alice", "resourceAttributes": {"verb": "get", "resource": "pods"}
    })))
    .unwrap();
    let answer = review.answer(&ReviewStatus::from_error("policy not loaded"));
    let status = answer["status"].as_object().unwrap();
    assert_eq!(status["allowed"], json!(false));
    assert_eq!(status["evaluationError"], json!("policy not loaded"));
    assert!(!status.contains_key("denied"));
}

#[test]
fn a_status_sent_in_the_request_is_replaced_not_merged() {
    let mut body = v1(json!({
        "user": "alice", "resourceAttributes": {"verb": "get", "resource": "pods"}
    }));
    body["status"] = json!({"allowed": true, "denied": true, "reason": "forged"});
    let review = decode_json(&body).unwrap();
    let answer = review.answer(&ReviewStatus::from_decision(&Decision::NoOpinion));
    let status = answer["status"].as_object().unwrap();
    assert_eq!(status["allowed"], json!(false));
    assert!(!status.contains_key("denied"));
    assert_ne!(status["reason"], json!("forged"));
}

// ---- one pass: the reply echoes the request verbatim ----

#[test]
fn the_reply_writes_the_request_members_back_verbatim() {
    let body = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","metadata":{"creationTimestamp":null},"spec":{"user":"alice","uid":"\u0041","resourceAttributes":{"verb":"get","resource":"pods","futureField":[1,2.50]}},"status":{"allowed":true}}"#;
    let review = decode(body).unwrap();
    let reply =
        serde_json::to_string(&review.reply(&ReviewStatus::from_decision(&Decision::NoOpinion)))
            .unwrap();
    let expected_prefix = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","metadata":{"creationTimestamp":null},"spec":{"user":"alice","uid":"\u0041","resourceAttributes":{"verb":"get","resource":"pods","futureField":[1,2.50]}},"status":{"allowed":false,"#;
    assert!(reply.starts_with(expected_prefix), "{reply}");
    assert_eq!(review.request.uid, "A");
}

#[test]
fn reply_and_answer_say_the_same() {
    let review = decode_json(&v1(json!({
        "user": "alice", "groups": ["dev"], "resourceAttributes": {"verb": "get", "resource": "pods"}
    })))
    .unwrap();
    let status = ReviewStatus::from_decision(&an_allow());
    let from_reply: Value =
        serde_json::from_slice(&serde_json::to_vec(&review.reply(&status)).unwrap()).unwrap();
    assert_eq!(from_reply, review.answer(&status));
}

#[test]
fn a_member_given_twice_is_refused_naming_it() {
    let body = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"alice","nonResourceAttributes":{"path":"/","verb":"get"}},"spec":{"user":"root","nonResourceAttributes":{"path":"/","verb":"get"}}}"#;
    assert_eq!(field_of(decode(body)), "spec");
    let body = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"alice","user":"root","nonResourceAttributes":{"path":"/","verb":"get"}}}"#;
    assert!(field_of(decode(body)).starts_with("spec"));
}

#[test]
fn escaped_member_names_are_understood() {
    let body = br#"{"api\u0056ersion":"authorization.k8s.io\/v1","kind":"SubjectAccessReview","spec":{"user":"alice","nonResourceAttributes":{"path":"/","verb":"get"}}}"#;
    let review = decode(body).unwrap();
    assert_eq!(review.version, ReviewVersion::V1);
}

#[test]
fn trailing_garbage_after_the_review_is_invalid_json() {
    let body = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"alice","nonResourceAttributes":{"path":"/","verb":"get"}}} x"#;
    assert!(matches!(decode(body), Err(ReviewError::InvalidJson(_))));
}

#[test]
fn decode_value_decodes_as_decode_does() {
    let value =
        v1(json!({"user": "alice", "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}));
    let review = decode_value(value.clone()).unwrap();
    assert_eq!(review.request, decode_json(&value).unwrap().request);
}

#[test]
fn a_number_beyond_f64_in_an_unknown_field_is_refused_naming_it() {
    // Found by the subject_access_review fuzz target: echoed verbatim, such an answer could not
    // be read back by a client that reads numbers.
    let body = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"bob","resourceAttributes":{"verb":"get","resource":"pods","namespace":"a","x":1e999}}}"#;
    assert_eq!(field_of(decode(body)), "spec.resourceAttributes.x");
    let elsewhere = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","metadata":{"a":[1,-1e400]},"spec":{"user":"bob","nonResourceAttributes":{"verb":"get","path":"/"}}}"#;
    assert_eq!(field_of(decode(elsewhere)), "metadata.a[1]");
}

#[test]
fn large_numbers_within_f64_are_echoed() {
    let body = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","metadata":{"n":1e300,"m":123456789012345678901234567890},"spec":{"user":"bob","nonResourceAttributes":{"verb":"get","path":"/"}}}"#;
    let review = decode(body).expect("numbers within f64 are fine");
    let answer =
        serde_json::to_vec(&review.reply(&ReviewStatus::from_decision(&Decision::NoOpinion)))
            .unwrap();
    decode(&answer).expect("the answer decodes again");
}
