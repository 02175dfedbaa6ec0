//! Scopes: where a binding acts. The five layers of the model (Platform → Cluster →
//! Workspace/NodeGroup → Namespace/Node → Resource) and the way a user writes one.

use super::schema::{API_GROUP, DNS1123_LABEL_OR_EMPTY, RESOURCE_NAME};
use kube_derive::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a scope: one of the five layers, with the two parallel middle views.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum ScopeKind {
    /// Everything the platform manages, across clusters.
    Platform,
    /// One cluster; a webhook process serves exactly one.
    Cluster,
    /// A tenant: the namespaces labelled `scope.theriseunion.io/workspace: <name>`.
    Workspace,
    /// An infrastructure group: the nodes labelled `scope.theriseunion.io/nodegroup: <name>`.
    NodeGroup,
    /// One namespace.
    Namespace,
    /// One node.
    Node,
    /// One object (and its subresources).
    Resource,
}

impl ScopeKind {
    /// Every kind, most general first.
    pub const ALL: [ScopeKind; 7] = [
        ScopeKind::Platform,
        ScopeKind::Cluster,
        ScopeKind::Workspace,
        ScopeKind::NodeGroup,
        ScopeKind::Namespace,
        ScopeKind::Node,
        ScopeKind::Resource,
    ];

    /// The name users write in manifests (`Workspace`, `NodeGroup`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Platform => "Platform",
            ScopeKind::Cluster => "Cluster",
            ScopeKind::Workspace => "Workspace",
            ScopeKind::NodeGroup => "NodeGroup",
            ScopeKind::Namespace => "Namespace",
            ScopeKind::Node => "Node",
            ScopeKind::Resource => "Resource",
        }
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope as written in an `IAMRoleBinding`: a kind and, for every kind but Platform, a name.
/// Resource scopes also say which object: its namespace (empty for a cluster-scoped object),
/// API group and plural resource.
///
/// The CRD schema carries what [`Scope::from_spec`] checks as CEL rules
/// (`x-kubernetes-validations`, enforced by API servers from v1.25): the API server then
/// refuses what the engine would refuse. [`ScopeSpec::CEL_RULES`] lists them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[x_kube(
    crates(kube_core = "::kube_core"),
    validation = Rule::new(ScopeSpec::CEL_RULES[0].0).message(ScopeSpec::CEL_RULES[0].1),
    validation = Rule::new(ScopeSpec::CEL_RULES[1].0).message(ScopeSpec::CEL_RULES[1].1),
    validation = Rule::new(ScopeSpec::CEL_RULES[2].0).message(ScopeSpec::CEL_RULES[2].1),
    validation = Rule::new(ScopeSpec::CEL_RULES[3].0).message(ScopeSpec::CEL_RULES[3].1),
)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSpec {
    /// The layer this scope lives on.
    pub kind: ScopeKind,
    /// The name of the cluster, workspace, node group, namespace, node or object; required
    /// for every kind but Platform, which has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::schema::not_nullable)]
    pub name: Option<String>,
    /// Resource only: the object's namespace; empty or absent for a cluster-scoped object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        pattern(DNS1123_LABEL_OR_EMPTY),
        length(max = 63),
        transform = super::schema::not_nullable
    )]
    pub namespace: Option<String>,
    /// Resource only: the object's API group; `""` is the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        pattern(API_GROUP),
        length(max = 253),
        transform = super::schema::not_nullable
    )]
    pub api_group: Option<String>,
    /// Resource only, and required there: the object's plural resource name, e.g. `pods`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        pattern(RESOURCE_NAME),
        length(max = 253),
        transform = super::schema::not_nullable
    )]
    pub resource: Option<String>,
}

impl ScopeSpec {
    /// The CEL rules (expression, message) the CRD schema puts on every `scope`: what
    /// [`Scope::from_spec`] checks, for the API server to refuse before the engine has to.
    /// Absent and empty fields are alike, as they are to the engine. `namespace` is a CEL
    /// reserved word, which Kubernetes CEL spells `__namespace__`.
    pub const CEL_RULES: [(&'static str, &'static str); 4] = [
        (
            "self.kind == 'Platform' || (has(self.name) && self.name != '')",
            "name is required unless kind is Platform",
        ),
        (
            "self.kind != 'Platform' || !has(self.name) || self.name == ''",
            "name must be empty for a Platform scope",
        ),
        (
            "self.kind == 'Resource' || ((!has(self.__namespace__) || self.__namespace__ == '') && (!has(self.apiGroup) || self.apiGroup == '') && (!has(self.resource) || self.resource == ''))",
            "namespace, apiGroup and resource are only allowed for a Resource scope",
        ),
        (
            "self.kind != 'Resource' || (has(self.resource) && self.resource != '')",
            "resource is required for a Resource scope",
        ),
    ];
}

/// A resolved, validated scope: what the engine indexes bindings by and what a request's
/// scope chain is made of. Hashes exactly as its borrowed form, [`crate::chain::ScopeStep`],
/// so maps keyed by scopes can be searched with a request's chain without allocating.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "PascalCase")]
pub enum Scope {
    /// The whole platform.
    Platform,
    /// A cluster, by name.
    Cluster {
        /// The cluster's name.
        name: String,
    },
    /// A workspace, by name.
    Workspace {
        /// The workspace's name.
        name: String,
    },
    /// A node group, by name.
    NodeGroup {
        /// The node group's name.
        name: String,
    },
    /// A namespace, by name.
    Namespace {
        /// The namespace's name.
        name: String,
    },
    /// A node, by name.
    Node {
        /// The node's name.
        name: String,
    },
    /// One object: `namespace` is empty for a cluster-scoped object.
    Resource {
        /// The object's namespace, empty when cluster-scoped.
        namespace: String,
        /// The object's API group, empty for the core group.
        #[serde(rename = "apiGroup")]
        api_group: String,
        /// The plural resource, e.g. `pods`.
        resource: String,
        /// The object's name.
        name: String,
    },
}

impl Scope {
    /// The layer this scope lives on.
    pub fn kind(&self) -> ScopeKind {
        match self {
            Scope::Platform => ScopeKind::Platform,
            Scope::Cluster { .. } => ScopeKind::Cluster,
            Scope::Workspace { .. } => ScopeKind::Workspace,
            Scope::NodeGroup { .. } => ScopeKind::NodeGroup,
            Scope::Namespace { .. } => ScopeKind::Namespace,
            Scope::Node { .. } => ScopeKind::Node,
            Scope::Resource { .. } => ScopeKind::Resource,
        }
    }

    /// Turns what a user wrote into a scope, or says which field is missing or misplaced.
    pub fn from_spec(spec: &ScopeSpec) -> Result<Scope, String> {
        let name = || -> Result<String, String> {
            match spec.name.as_deref() {
                Some(n) if !n.is_empty() => Ok(n.to_string()),
                _ => Err(format!("scope.name is required for a {} scope", spec.kind)),
            }
        };
        let only_for_resource = |field: &str, value: &Option<String>| -> Result<(), String> {
            match value {
                Some(v) if !v.is_empty() => Err(format!(
                    "scope.{field} is only allowed for a Resource scope, not a {} scope",
                    spec.kind
                )),
                _ => Ok(()),
            }
        };
        if spec.kind != ScopeKind::Resource {
            only_for_resource("namespace", &spec.namespace)?;
            only_for_resource("apiGroup", &spec.api_group)?;
            only_for_resource("resource", &spec.resource)?;
        }
        Ok(match spec.kind {
            ScopeKind::Platform => {
                if spec.name.as_deref().is_some_and(|n| !n.is_empty()) {
                    return Err("scope.name must be empty for a Platform scope".to_string());
                }
                Scope::Platform
            }
            ScopeKind::Cluster => Scope::Cluster { name: name()? },
            ScopeKind::Workspace => Scope::Workspace { name: name()? },
            ScopeKind::NodeGroup => Scope::NodeGroup { name: name()? },
            ScopeKind::Namespace => Scope::Namespace { name: name()? },
            ScopeKind::Node => Scope::Node { name: name()? },
            ScopeKind::Resource => {
                let resource = match spec.resource.as_deref() {
                    Some(r) if !r.is_empty() => r.to_string(),
                    _ => return Err("scope.resource is required for a Resource scope".to_string()),
                };
                if resource.contains('/') || resource == "*" {
                    return Err(format!(
                        "scope.resource must be one plural resource name (e.g. pods), not {resource:?}"
                    ));
                }
                Scope::Resource {
                    namespace: spec.namespace.clone().unwrap_or_default(),
                    api_group: spec.api_group.clone().unwrap_or_default(),
                    resource,
                    name: name()?,
                }
            }
        })
    }

    /// The name of the scope's target, if it has one (every kind but Platform).
    pub fn name(&self) -> Option<&str> {
        match self {
            Scope::Platform => None,
            Scope::Cluster { name }
            | Scope::Workspace { name }
            | Scope::NodeGroup { name }
            | Scope::Namespace { name }
            | Scope::Node { name }
            | Scope::Resource { name, .. } => Some(name),
        }
    }

    /// The namespace a scope pins a binding to, used to default ServiceAccount subjects
    /// that omit theirs (as a RoleBinding does with its own namespace).
    pub fn subject_namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace { name } => Some(name),
            Scope::Resource { namespace, .. } if !namespace.is_empty() => Some(namespace),
            _ => None,
        }
    }
}

impl std::hash::Hash for Scope {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        crate::chain::ScopeStep::of(self).hash(state);
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Platform => f.write_str("Platform"),
            Scope::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => {
                let group = if api_group.is_empty() {
                    "core"
                } else {
                    api_group
                };
                if namespace.is_empty() {
                    write!(f, "Resource {resource}.{group}/{name}")
                } else {
                    write!(f, "Resource {resource}.{group} {namespace}/{name}")
                }
            }
            other => write!(f, "{} {:?}", other.kind(), other.name().unwrap_or_default()),
        }
    }
}
