//! A request to decide: who asks, and what for. Carries exactly what a SubjectAccessReview
//! carries, independent of its wire version.

use serde::Serialize;
use std::collections::BTreeMap;

/// Who is asking and what they want to do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Request {
    /// The authenticated user name, e.g. `alice` or `system:serviceaccount:ns:name`.
    pub user: String,
    /// The user's groups, e.g. `system:authenticated`.
    pub groups: Vec<String>,
    /// The user's uid; carried for logs, not used in decisions.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Extra authenticator attributes; carried, not used in decisions, never logged.
    #[serde(skip)]
    pub extra: BTreeMap<String, Vec<String>>,
    /// What the user wants to do.
    pub action: Action,
}

/// The two kinds of thing a Kubernetes request can be about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// An API object (or a collection of them).
    Resource(ResourceAttributes),
    /// A URL that is not an API object, e.g. `/metrics` or `/healthz`.
    NonResource(NonResourceAttributes),
}

impl Default for Action {
    fn default() -> Self {
        Action::NonResource(NonResourceAttributes::default())
    }
}

impl Action {
    /// The verb, for either kind of action.
    pub fn verb(&self) -> &str {
        match self {
            Action::Resource(r) => &r.verb,
            Action::NonResource(n) => &n.verb,
        }
    }
}

/// A request about API objects, as in `SubjectAccessReview.spec.resourceAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    /// `get`, `list`, `create`, `impersonate`, ...
    pub verb: String,
    /// The API group; empty for the core group.
    pub group: String,
    /// The API version; not used in decisions (RBAC ignores it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The plural resource, e.g. `pods`.
    pub resource: String,
    /// The subresource, e.g. `log`; empty when none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    /// The object's name; empty for collections.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The namespace; empty for cluster-scoped resources and all-namespace requests.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// A request about a non-resource URL, as in `SubjectAccessReview.spec.nonResourceAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct NonResourceAttributes {
    /// The HTTP verb in lower case, e.g. `get`.
    pub verb: String,
    /// The URL path, e.g. `/metrics`.
    pub path: String,
}

/// Who a question is about, without the action: used for UI permissions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct SubjectInfo {
    /// The user name.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
}

impl Request {
    /// A request about API objects, with no groups yet.
    pub fn resource(user: impl Into<String>, attributes: ResourceAttributes) -> Self {
        Request {
            user: user.into(),
            action: Action::Resource(attributes),
            ..Default::default()
        }
    }

    /// A request about a non-resource URL, with no groups yet.
    pub fn non_resource(
        user: impl Into<String>,
        verb: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        Request {
            user: user.into(),
            action: Action::NonResource(NonResourceAttributes {
                verb: verb.into(),
                path: path.into(),
            }),
            ..Default::default()
        }
    }

    /// The same request with these groups.
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }
}
