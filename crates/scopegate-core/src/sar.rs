//! SubjectAccessReview, the webhook's wire format (`authorization.k8s.io/v1` and `v1beta1`):
//! decoding a review into a [`Request`], and filling in its `status` from a
//! [`Decision`](crate::Decision). Shared by `scopegate check` and the webhook so both answer
//! byte for byte alike.
//!
//! A body is read once: one pass over the top-level object keeps `apiVersion`, `kind` and
//! every other member (`metadata`, `spec`, anything unknown) as raw JSON text, without
//! building a tree; the spec's text is then decoded into the typed wire structs. The answer
//! writes the kept members back verbatim, so it carries the request exactly as it came,
//! without a `serde_json::Value` being built, cloned or walked on the way.

use crate::decision::DecisionRef;
use crate::request::{Action, NonResourceAttributes, Request, ResourceAttributes};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

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
    /// Every top-level member but `status`, in the order received, as raw JSON text.
    members: Vec<(String, Box<RawValue>)>,
}

/// The top level of a review, read in one pass: every member as raw JSON text, `status`
/// skipped (an answer replaces it), a repeated member remembered so that it can be refused.
struct Envelope<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
    repeated: Option<String>,
}

impl<'a> Envelope<'a> {
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| *value)
    }
}

/// A member name: borrowed from the body unless it has escapes.
struct MemberName<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnvelopeVisitor;
        impl<'de> Visitor<'de> for EnvelopeVisitor {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (a SubjectAccessReview)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut envelope = Envelope {
                    members: Vec::with_capacity(4),
                    repeated: None,
                };
                while let Some(MemberName(name)) = map.next_key()? {
                    if name == "status" {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    let value: &'de RawValue = map.next_value()?;
                    if envelope.repeated.is_none() && envelope.get(&name).is_some() {
                        envelope.repeated = Some(name.into_owned());
                        continue;
                    }
                    envelope.members.push((name, value));
                }
                Ok(envelope)
            }
        }
        deserializer.deserialize_map(EnvelopeVisitor)
    }
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
    let envelope: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        // Well-formed JSON of the wrong type (an array, a string, a number, null).
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return Err(invalid(
                ".",
                "expected a JSON object (a SubjectAccessReview)",
            ));
        }
        Err(e) => return Err(ReviewError::InvalidJson(e.to_string())),
    };
    if let Some(name) = &envelope.repeated {
        return Err(invalid(name, "is given more than once"));
    }
    let text = |key: &str| {
        envelope
            .get(key)
            .and_then(|raw| serde_json::from_str::<Cow<'_, str>>(raw.get()).ok())
    };
    let version = match text("apiVersion").as_deref() {
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
    match text("kind").as_deref() {
        Some("SubjectAccessReview") => {}
        Some(other) => {
            return Err(invalid(
                "kind",
                format!("expected SubjectAccessReview, not {other:?}"),
            ));
        }
        None => return Err(invalid("kind", "is required")),
    }
    let spec = envelope
        .get("spec")
        .filter(|raw| raw.get() != "null")
        .ok_or_else(|| invalid("spec", "is required"))?;
    let mut spec_reader = serde_json::Deserializer::from_str(spec.get());
    let spec: WireSpec = serde_path_to_error::deserialize(&mut spec_reader).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "spec".to_string()
        } else {
            format!("spec.{path}")
        };
        invalid(&field, e.into_inner().to_string())
    })?;
    let request = request_from(version, spec)?;
    // Every member is echoed in the answer: each must read back as the JSON it claims to be.
    for (name, raw) in &envelope.members {
        if name != "apiVersion" && name != "kind" {
            check_numbers(name, raw)?;
        }
    }
    let members = envelope
        .members
        .into_iter()
        .map(|(name, raw)| (name.into_owned(), raw.to_owned()))
        .collect();
    Ok(Review {
        version,
        request,
        members,
    })
}

/// Refuses a member holding a number no JSON reader can hold (`1e999`, beyond f64's range),
/// naming where: the member is echoed in the answer, and an answer that a client cannot read
/// back is worse than a clear 400. Unknown fields are checked too, for the same reason.
fn check_numbers(name: &str, raw: &RawValue) -> Result<(), ReviewError> {
    let mut reader = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize::<_, ReadableJson>(&mut reader)
        .map(|_| ())
        .map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                name.to_string()
            } else {
                format!("{name}.{path}")
            };
            invalid(&field, e.into_inner().to_string())
        })
}

/// Any JSON value, read only to check that every number in it fits an f64 (serde_json's
/// `IgnoredAny` skips numbers without converting them).
struct ReadableJson;

impl<'de> Deserialize<'de> for ReadableJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyVisitor;
        impl<'de> Visitor<'de> for AnyVisitor {
            type Value = ReadableJson;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ReadableJson)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ReadableJson)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ReadableJson)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ReadableJson)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(ReadableJson)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ReadableJson)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<ReadableJson>()?.is_some() {}
                Ok(ReadableJson)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_key::<IgnoredAny>()?.is_some() {
                    map.next_value::<ReadableJson>()?;
                }
                Ok(ReadableJson)
            }
        }
        deserializer.deserialize_any(AnyVisitor)
    }
}

/// Decodes a SubjectAccessReview already parsed as JSON (serializes it and decodes the
/// text: the webhook decodes bytes with [`decode`], which builds no tree).
pub fn decode_value(original: Value) -> Result<Review, ReviewError> {
    let body =
        serde_json::to_vec(&original).map_err(|e| ReviewError::InvalidJson(e.to_string()))?;
    decode(&body)
}

/// The request a decoded spec asks about, refused if it names no subject or not exactly one
/// kind of attributes.
fn request_from(version: ReviewVersion, spec: WireSpec) -> Result<Request, ReviewError> {
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
    Ok(Request {
        user,
        groups,
        uid: spec.uid.unwrap_or_default(),
        extra,
        action,
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
    /// The status for a decision, owned (`&Decision`) or borrowed ([`DecisionRef`]).
    pub fn from_decision<'a>(decision: impl Into<DecisionRef<'a>>) -> Self {
        let decision = decision.into();
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
    /// The review as it came in, with `status` set: what the webhook returns, ready to
    /// serialize (the members of the request are written back as they were received).
    pub fn reply<'r>(&'r self, status: &'r ReviewStatus) -> Reply<'r> {
        Reply {
            review: self,
            status,
        }
    }

    /// The same answer as [`Review::reply`], as a JSON value (for callers that look into it;
    /// the webhook serializes the reply directly).
    pub fn answer(&self, status: &ReviewStatus) -> Value {
        serde_json::to_value(self.reply(status))
            .unwrap_or_else(|_| serde_json::json!({"status": {"allowed": false}}))
    }
}

/// An answered review: every member of the request but `status` verbatim, then the status.
#[derive(Clone, Copy, Debug)]
pub struct Reply<'r> {
    review: &'r Review,
    status: &'r ReviewStatus,
}

impl Serialize for Reply<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.review.members.len() + 1))?;
        for (name, raw) in &self.review.members {
            map.serialize_entry(name, raw)?;
        }
        map.serialize_entry("status", self.status)?;
        map.end()
    }
}

#[cfg(test)]
mod tests;
