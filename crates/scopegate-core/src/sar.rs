//! SubjectAccessReview, the webhook's wire format (`authorization.k8s.io/v1` and `v1beta1`):
//! decoding a review into a [`Request`], and filling in its `status` from a [`Decision`].
//! Shared by `scopegate check` and the webhook so both answer byte for byte alike.

use crate::decision::Decision;
use crate::request::{Action, NonResourceAttributes, Request, ResourceAttributes};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The `authorization.k8s.io` versions understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ReviewVersion {
    /// `authorization.k8s.io/v1`: groups are in `spec.groups`.
    V1,
    /// `authorization.k8s.io/v1beta1`: groups are in `spec.group`.
    V1Beta1,
}

/// Why a body is not a SubjectAccessReview Scopegate can decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The JSON is not a SubjectAccessReview.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault, e.g. `apiVersion` or `spec.resourceAttributes.verb`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(field: &str, message: impl Into<String>) -> ReviewError {
    ReviewError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A decoded review: the request to decide, and the original object to answer with.
#[derive(Clone, Debug)]
pub struct Review {
    /// The version it came in, which the answer keeps.
    pub version: ReviewVersion,
    /// The request it asks about.
    pub request: Request,
    original: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReview {
    #[serde(default)]
    spec: Option<WireSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireSpec {
    #[serde(default)]
    resource_attributes: Option<WireResourceAttributes>,
    #[serde(default)]
    non_resource_attributes: Option<WireNonResourceAttributes>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default)]
    group: Option<Vec<String>>,
    #[serde(default)]
    extra: Option<BTreeMap<String, Option<Vec<String>>>>,
    #[serde(default)]
    uid: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireResourceAttributes {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    verb: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    subresource: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// Accepted and not used: selectors only narrow a request, so deciding without them can
    /// only allow what the request without them would be allowed.
    #[serde(default)]
    #[allow(dead_code)]
    field_selector: Option<WireSelector>,
    #[serde(default)]
    #[allow(dead_code)]
    label_selector: Option<WireSelector>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct WireSelector {
    #[serde(default)]
    raw_selector: Option<String>,
    #[serde(default)]
    requirements: Option<Vec<WireRequirement>>,
}

#[derive(Deserialize, Default)]
#[allow(dead_code)]
struct WireRequirement {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    values: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireNonResourceAttributes {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    verb: Option<String>,
}

/// Decodes a SubjectAccessReview from JSON bytes.
pub fn decode(body: &[u8]) -> Result<Review, ReviewError> {
    let original: Value =
        serde_json::from_slice(body).map_err(|e| ReviewError::InvalidJson(e.to_string()))?;
    decode_value(original)
}

/// Decodes a SubjectAccessReview already parsed as JSON.
pub fn decode_value(original: Value) -> Result<Review, ReviewError> {
    let Some(object) = original.as_object() else {
        return Err(invalid(
            ".",
            "expected a JSON object (a SubjectAccessReview)",
        ));
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let version = match text("apiVersion") {
        Some("authorization.k8s.io/v1") => ReviewVersion::V1,
        Some("authorization.k8s.io/v1beta1") => ReviewVersion::V1Beta1,
        Some(other) => {
            return Err(invalid(
                "apiVersion",
                format!(
                    "{other:?} is not supported, expected authorization.k8s.io/v1 or authorization.k8s.io/v1beta1"
                ),
            ));
        }
        None => return Err(invalid("apiVersion", "is required")),
    };
    match text("kind") {
        Some("SubjectAccessReview") => {}
        Some(other) => {
            return Err(invalid(
                "kind",
                format!("expected SubjectAccessReview, not {other:?}"),
            ));
        }
        None => return Err(invalid("kind", "is required")),
    }
    let wire: WireReview = serde_path_to_error::deserialize(&original).map_err(|e| {
        let path = e.path().to_string();
        invalid(&path, e.into_inner().to_string())
    })?;
    let spec = wire.spec.ok_or_else(|| invalid("spec", "is required"))?;
    let user = spec.user.unwrap_or_default();
    let groups = match version {
        ReviewVersion::V1 => spec.groups,
        ReviewVersion::V1Beta1 => spec.group,
    }
    .unwrap_or_default();
    if user.is_empty() && groups.is_empty() {
        return Err(invalid(
            "spec",
            "at least one of user or groups must be set",
        ));
    }
    let action = match (spec.resource_attributes, spec.non_resource_attributes) {
        (Some(r), None) => Action::Resource(ResourceAttributes {
            verb: r.verb.unwrap_or_default(),
            group: r.group.unwrap_or_default(),
            version: r.version.unwrap_or_default(),
            resource: r.resource.unwrap_or_default(),
            subresource: r.subresource.unwrap_or_default(),
            name: r.name.unwrap_or_default(),
            namespace: r.namespace.unwrap_or_default(),
        }),
        (None, Some(n)) => Action::NonResource(NonResourceAttributes {
            verb: n.verb.unwrap_or_default(),
            path: n.path.unwrap_or_default(),
        }),
        (Some(_), Some(_)) => {
            return Err(invalid(
                "spec",
                "exactly one of resourceAttributes or nonResourceAttributes may be set, not both",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "spec",
                "one of resourceAttributes or nonResourceAttributes is required",
            ));
        }
    };
    let extra = spec
        .extra
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let request = Request {
        user,
        groups,
        uid: spec.uid.unwrap_or_default(),
        extra,
        action,
    };
    Ok(Review {
        version,
        request,
        original,
    })
}

/// The `status` of an answered review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewStatus {
    /// Whether the request is allowed. `false` means no opinion: `denied` is never set.
    pub allowed: bool,
    /// Why, in one line.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Set when the decision could not be made; the answer is then never an allow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_error: Option<String>,
}

impl ReviewStatus {
    /// The status for a decision.
    pub fn from_decision(decision: &Decision) -> Self {
        ReviewStatus {
            allowed: decision.is_allowed(),
            reason: decision.reason(),
            evaluation_error: None,
        }
    }

    /// The status when deciding failed: no opinion, with the error.
    pub fn from_error(error: impl Into<String>) -> Self {
        ReviewStatus {
            allowed: false,
            reason: "Scopegate could not decide this request".to_string(),
            evaluation_error: Some(error.into()),
        }
    }
}

impl Review {
    /// The review as it came in, with `status` set: what the webhook returns.
    pub fn answer(&self, status: &ReviewStatus) -> Value {
        let mut answer = self.original.clone();
        if let Some(object) = answer.as_object_mut() {
            let status = serde_json::to_value(status)
                .unwrap_or_else(|_| serde_json::json!({"allowed": false}));
            object.insert("status".to_string(), status);
        }
        answer
    }
}

#[cfg(test)]
mod tests;
