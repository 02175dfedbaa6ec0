//! The set of objects a policy is built from, wherever they came from (files today, watches
//! later), with where each was read so that problems can point at it.

use crate::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Every kind of object a policy is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ObjectKind {
    /// `iam.theriseunion.io/v1alpha1` RoleTemplate.
    RoleTemplate,
    /// `iam.theriseunion.io/v1alpha1` IAMRole.
    #[serde(rename = "IAMRole")]
    IamRole,
    /// `iam.theriseunion.io/v1alpha1` IAMRoleBinding.
    #[serde(rename = "IAMRoleBinding")]
    IamRoleBinding,
    /// `scope.theriseunion.io/v1alpha1` Cluster.
    Cluster,
    /// `scope.theriseunion.io/v1alpha1` Workspace.
    Workspace,
    /// `scope.theriseunion.io/v1alpha1` NodeGroup.
    NodeGroup,
    /// `rbac.authorization.k8s.io/v1` Role.
    Role,
    /// `rbac.authorization.k8s.io/v1` ClusterRole.
    ClusterRole,
    /// `rbac.authorization.k8s.io/v1` RoleBinding.
    RoleBinding,
    /// `rbac.authorization.k8s.io/v1` ClusterRoleBinding.
    ClusterRoleBinding,
    /// `v1` Namespace, read for its workspace label.
    Namespace,
    /// `v1` Node, read for its node group label.
    Node,
}

impl ObjectKind {
    /// Every kind, in the order summaries list them.
    pub const ALL: [ObjectKind; 12] = [
        ObjectKind::RoleTemplate,
        ObjectKind::IamRole,
        ObjectKind::IamRoleBinding,
        ObjectKind::Cluster,
        ObjectKind::Workspace,
        ObjectKind::NodeGroup,
        ObjectKind::Role,
        ObjectKind::ClusterRole,
        ObjectKind::RoleBinding,
        ObjectKind::ClusterRoleBinding,
        ObjectKind::Namespace,
        ObjectKind::Node,
    ];

    /// The kind as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::RoleTemplate => "RoleTemplate",
            ObjectKind::IamRole => "IAMRole",
            ObjectKind::IamRoleBinding => "IAMRoleBinding",
            ObjectKind::Cluster => "Cluster",
            ObjectKind::Workspace => "Workspace",
            ObjectKind::NodeGroup => "NodeGroup",
            ObjectKind::Role => "Role",
            ObjectKind::ClusterRole => "ClusterRole",
            ObjectKind::RoleBinding => "RoleBinding",
            ObjectKind::ClusterRoleBinding => "ClusterRoleBinding",
            ObjectKind::Namespace => "Namespace",
            ObjectKind::Node => "Node",
        }
    }

    /// The apiVersion this kind is read at.
    pub fn api_version(self) -> &'static str {
        match self {
            ObjectKind::RoleTemplate | ObjectKind::IamRole | ObjectKind::IamRoleBinding => {
                "iam.theriseunion.io/v1alpha1"
            }
            ObjectKind::Cluster | ObjectKind::Workspace | ObjectKind::NodeGroup => {
                "scope.theriseunion.io/v1alpha1"
            }
            ObjectKind::Role
            | ObjectKind::ClusterRole
            | ObjectKind::RoleBinding
            | ObjectKind::ClusterRoleBinding => "rbac.authorization.k8s.io/v1",
            ObjectKind::Namespace | ObjectKind::Node => "v1",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(self, ObjectKind::Role | ObjectKind::RoleBinding)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object by kind, namespace (for Role and RoleBinding) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// The object's kind.
    pub kind: ObjectKind,
    /// The namespace, for namespaced kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

impl ObjectRef {
    /// A reference to a cluster-scoped object.
    pub fn cluster_scoped(kind: ObjectKind, name: impl Into<String>) -> Self {
        ObjectRef {
            kind,
            namespace: None,
            name: name.into(),
        }
    }

    /// A reference to a namespaced object.
    pub fn namespaced(
        kind: ObjectKind,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ObjectRef {
            kind,
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Where an object was read: a file, the document's index in it (from 1), and the line the
/// document starts on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The file.
    pub file: PathBuf,
    /// The document's position in the file, counting from 1.
    pub document: usize,
    /// The line the document starts on, counting from 1, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}:{line}: document {}",
                self.file.display(),
                self.document
            ),
            None => write!(f, "{}: document {}", self.file.display(), self.document),
        }
    }
}

/// All the objects a policy is built from. Objects are plain Kubernetes-shaped values; a
/// policy built from them is a snapshot, and rebuilding from a changed set is how changes
/// take effect.
#[derive(Clone, Debug, Default)]
pub struct PolicyObjects {
    /// RoleTemplates.
    pub role_templates: Vec<RoleTemplate>,
    /// IAMRoles.
    pub iam_roles: Vec<IamRole>,
    /// IAMRoleBindings.
    pub iam_role_bindings: Vec<IamRoleBinding>,
    /// Clusters known to the platform.
    pub clusters: Vec<Cluster>,
    /// Workspaces.
    pub workspaces: Vec<Workspace>,
    /// NodeGroups.
    pub node_groups: Vec<NodeGroup>,
    /// Native Roles.
    pub roles: Vec<Role>,
    /// Native ClusterRoles, aggregated ones included.
    pub cluster_roles: Vec<ClusterRole>,
    /// Native RoleBindings.
    pub role_bindings: Vec<RoleBinding>,
    /// Native ClusterRoleBindings.
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    /// Namespaces, for their workspace label.
    pub namespaces: Vec<Namespace>,
    /// Nodes, for their node group label.
    pub nodes: Vec<Node>,
    /// Where each object was read, when it came from a file.
    pub sources: BTreeMap<ObjectRef, Source>,
}

impl PolicyObjects {
    /// How many objects of each kind there are.
    pub fn counts(&self) -> BTreeMap<ObjectKind, usize> {
        [
            (ObjectKind::RoleTemplate, self.role_templates.len()),
            (ObjectKind::IamRole, self.iam_roles.len()),
            (ObjectKind::IamRoleBinding, self.iam_role_bindings.len()),
            (ObjectKind::Cluster, self.clusters.len()),
            (ObjectKind::Workspace, self.workspaces.len()),
            (ObjectKind::NodeGroup, self.node_groups.len()),
            (ObjectKind::Role, self.roles.len()),
            (ObjectKind::ClusterRole, self.cluster_roles.len()),
            (ObjectKind::RoleBinding, self.role_bindings.len()),
            (
                ObjectKind::ClusterRoleBinding,
                self.cluster_role_bindings.len(),
            ),
            (ObjectKind::Namespace, self.namespaces.len()),
            (ObjectKind::Node, self.nodes.len()),
        ]
        .into_iter()
        .collect()
    }

    /// The total number of objects.
    pub fn len(&self) -> usize {
        self.counts().values().sum()
    }

    /// Whether there are no objects at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds every object of `other` (and where they were read) to this set.
    pub fn extend(&mut self, other: PolicyObjects) {
        self.role_templates.extend(other.role_templates);
        self.iam_roles.extend(other.iam_roles);
        self.iam_role_bindings.extend(other.iam_role_bindings);
        self.clusters.extend(other.clusters);
        self.workspaces.extend(other.workspaces);
        self.node_groups.extend(other.node_groups);
        self.roles.extend(other.roles);
        self.cluster_roles.extend(other.cluster_roles);
        self.role_bindings.extend(other.role_bindings);
        self.cluster_role_bindings
            .extend(other.cluster_role_bindings);
        self.namespaces.extend(other.namespaces);
        self.nodes.extend(other.nodes);
        self.sources.extend(other.sources);
    }

    /// Every object as one `kind: List` document (what [`crate::load`] reads back), for
    /// keeping a last-known-good copy of a policy on disk.
    pub fn to_list(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut items = Vec::with_capacity(self.len());
        let mut push = |value: serde_json::Value| items.push(value);
        self.role_templates
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.iam_roles
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.iam_role_bindings
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.clusters
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.workspaces
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.node_groups
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.roles
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.cluster_roles
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.role_bindings
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.cluster_role_bindings
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.namespaces
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        self.nodes
            .iter()
            .try_for_each(|o| serde_json::to_value(o).map(&mut push))?;
        Ok(serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items }))
    }
}
