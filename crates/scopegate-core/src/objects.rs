//! The set of objects a policy is built from, wherever they came from (files today, watches
//! later), with where each was read so that problems can point at it.

use crate::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
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

    /// Adds one object (without a source) to this set, after the others of its kind.
    pub fn push(&mut self, object: PolicyObject) {
        match object {
            PolicyObject::RoleTemplate(o) => self.role_templates.push(o),
            PolicyObject::IamRole(o) => self.iam_roles.push(o),
            PolicyObject::IamRoleBinding(o) => self.iam_role_bindings.push(o),
            PolicyObject::Cluster(o) => self.clusters.push(o),
            PolicyObject::Workspace(o) => self.workspaces.push(o),
            PolicyObject::NodeGroup(o) => self.node_groups.push(o),
            PolicyObject::Role(o) => self.roles.push(o),
            PolicyObject::ClusterRole(o) => self.cluster_roles.push(o),
            PolicyObject::RoleBinding(o) => self.role_bindings.push(o),
            PolicyObject::ClusterRoleBinding(o) => self.cluster_role_bindings.push(o),
            PolicyObject::Namespace(o) => self.namespaces.push(o),
            PolicyObject::Node(o) => self.nodes.push(o),
        }
    }

    /// Every object, kind by kind in [`ObjectKind::ALL`] order and in order within a kind
    /// (the order [`crate::Policy::compile`] resolves duplicates by). Sources are dropped.
    pub fn into_objects(self) -> impl Iterator<Item = PolicyObject> {
        let PolicyObjects {
            role_templates,
            iam_roles,
            iam_role_bindings,
            clusters,
            workspaces,
            node_groups,
            roles,
            cluster_roles,
            role_bindings,
            cluster_role_bindings,
            namespaces,
            nodes,
            sources: _,
        } = self;
        let iter = role_templates.into_iter().map(PolicyObject::RoleTemplate);
        let iter = iter.chain(iam_roles.into_iter().map(PolicyObject::IamRole));
        let iter = iter.chain(
            iam_role_bindings
                .into_iter()
                .map(PolicyObject::IamRoleBinding),
        );
        let iter = iter.chain(clusters.into_iter().map(PolicyObject::Cluster));
        let iter = iter.chain(workspaces.into_iter().map(PolicyObject::Workspace));
        let iter = iter.chain(node_groups.into_iter().map(PolicyObject::NodeGroup));
        let iter = iter.chain(roles.into_iter().map(PolicyObject::Role));
        let iter = iter.chain(cluster_roles.into_iter().map(PolicyObject::ClusterRole));
        let iter = iter.chain(role_bindings.into_iter().map(PolicyObject::RoleBinding));
        let iter = iter.chain(
            cluster_role_bindings
                .into_iter()
                .map(PolicyObject::ClusterRoleBinding),
        );
        let iter = iter.chain(namespaces.into_iter().map(PolicyObject::Namespace));
        iter.chain(nodes.into_iter().map(PolicyObject::Node))
    }

    /// The ref of every object, in [`PolicyObjects::into_objects`] order (a duplicate's ref
    /// as often as it is there), without copying any object.
    pub fn object_refs(&self) -> impl Iterator<Item = ObjectRef> + '_ {
        macro_rules! refs {
            ($($field:ident: $kind:ident),*) => {
                std::iter::empty()
                    $(.chain(self.$field.iter().map(|o| ObjectRef::of(ObjectKind::$kind, &o.metadata))))*
            };
        }
        refs!(
            role_templates: RoleTemplate,
            iam_roles: IamRole,
            iam_role_bindings: IamRoleBinding,
            clusters: Cluster,
            workspaces: Workspace,
            node_groups: NodeGroup,
            roles: Role,
            cluster_roles: ClusterRole,
            role_bindings: RoleBinding,
            cluster_role_bindings: ClusterRoleBinding,
            namespaces: Namespace,
            nodes: Node
        )
    }
}

/// One Kubernetes-shaped object of any kind the policy is built from: what a watch event or
/// a re-list carries into a [`crate::store::PolicyStore`].
///
/// Variants hold their object by value, as a watch event delivers it (the Kubernetes types
/// differ a lot in size); the store keeps each object behind an `Arc`.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum PolicyObject {
    /// A RoleTemplate.
    RoleTemplate(RoleTemplate),
    /// An IAMRole.
    IamRole(IamRole),
    /// An IAMRoleBinding.
    IamRoleBinding(IamRoleBinding),
    /// A Cluster.
    Cluster(Cluster),
    /// A Workspace.
    Workspace(Workspace),
    /// A NodeGroup.
    NodeGroup(NodeGroup),
    /// A native Role.
    Role(Role),
    /// A native ClusterRole.
    ClusterRole(ClusterRole),
    /// A native RoleBinding.
    RoleBinding(RoleBinding),
    /// A native ClusterRoleBinding.
    ClusterRoleBinding(ClusterRoleBinding),
    /// A Namespace (read for its workspace label).
    Namespace(Namespace),
    /// A Node (read for its node group label).
    Node(Node),
}

/// Equality of two objects of one kind, whatever derives it: the custom resources' root
/// types do not derive `PartialEq`, so they are compared field by field.
pub(crate) trait SameObject {
    /// Whether `self` and `other` are the same object, field for field.
    fn same_object(&self, other: &Self) -> bool;
}

macro_rules! same_by_fields {
    ($($t:ty),*) => {$(
        impl SameObject for $t {
            fn same_object(&self, other: &Self) -> bool {
                self.metadata == other.metadata && self.spec == other.spec && self.status == other.status
            }
        }
    )*};
}

macro_rules! same_by_eq {
    ($($t:ty),*) => {$(
        impl SameObject for $t {
            fn same_object(&self, other: &Self) -> bool {
                self == other
            }
        }
    )*};
}

same_by_fields!(
    RoleTemplate,
    IamRole,
    IamRoleBinding,
    Cluster,
    Workspace,
    NodeGroup
);
same_by_eq!(
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
    Namespace,
    Node
);

impl PartialEq for PolicyObject {
    fn eq(&self, other: &Self) -> bool {
        use PolicyObject as P;
        match (self, other) {
            (P::RoleTemplate(a), P::RoleTemplate(b)) => a.same_object(b),
            (P::IamRole(a), P::IamRole(b)) => a.same_object(b),
            (P::IamRoleBinding(a), P::IamRoleBinding(b)) => a.same_object(b),
            (P::Cluster(a), P::Cluster(b)) => a.same_object(b),
            (P::Workspace(a), P::Workspace(b)) => a.same_object(b),
            (P::NodeGroup(a), P::NodeGroup(b)) => a.same_object(b),
            (P::Role(a), P::Role(b)) => a.same_object(b),
            (P::ClusterRole(a), P::ClusterRole(b)) => a.same_object(b),
            (P::RoleBinding(a), P::RoleBinding(b)) => a.same_object(b),
            (P::ClusterRoleBinding(a), P::ClusterRoleBinding(b)) => a.same_object(b),
            (P::Namespace(a), P::Namespace(b)) => a.same_object(b),
            (P::Node(a), P::Node(b)) => a.same_object(b),
            _ => false,
        }
    }
}

impl PolicyObject {
    /// The object's kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            PolicyObject::RoleTemplate(_) => ObjectKind::RoleTemplate,
            PolicyObject::IamRole(_) => ObjectKind::IamRole,
            PolicyObject::IamRoleBinding(_) => ObjectKind::IamRoleBinding,
            PolicyObject::Cluster(_) => ObjectKind::Cluster,
            PolicyObject::Workspace(_) => ObjectKind::Workspace,
            PolicyObject::NodeGroup(_) => ObjectKind::NodeGroup,
            PolicyObject::Role(_) => ObjectKind::Role,
            PolicyObject::ClusterRole(_) => ObjectKind::ClusterRole,
            PolicyObject::RoleBinding(_) => ObjectKind::RoleBinding,
            PolicyObject::ClusterRoleBinding(_) => ObjectKind::ClusterRoleBinding,
            PolicyObject::Namespace(_) => ObjectKind::Namespace,
            PolicyObject::Node(_) => ObjectKind::Node,
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            PolicyObject::RoleTemplate(o) => &o.metadata,
            PolicyObject::IamRole(o) => &o.metadata,
            PolicyObject::IamRoleBinding(o) => &o.metadata,
            PolicyObject::Cluster(o) => &o.metadata,
            PolicyObject::Workspace(o) => &o.metadata,
            PolicyObject::NodeGroup(o) => &o.metadata,
            PolicyObject::Role(o) => &o.metadata,
            PolicyObject::ClusterRole(o) => &o.metadata,
            PolicyObject::RoleBinding(o) => &o.metadata,
            PolicyObject::ClusterRoleBinding(o) => &o.metadata,
            PolicyObject::Namespace(o) => &o.metadata,
            PolicyObject::Node(o) => &o.metadata,
        }
    }

    /// Which object this is, exactly as the compiler names it in diagnostics: kind,
    /// namespace for namespaced kinds only (a `metadata.namespace` on a cluster-scoped object
    /// is ignored, as Kubernetes does), name (empty when missing).
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::of(self.kind(), self.metadata())
    }
}

impl ObjectRef {
    /// The reference of an object of `kind` with metadata `meta` (see
    /// [`PolicyObject::object_ref`]).
    pub fn of(kind: ObjectKind, meta: &ObjectMeta) -> ObjectRef {
        let name = meta.name.clone().unwrap_or_default();
        if kind.is_namespaced() {
            ObjectRef::namespaced(kind, meta.namespace.clone().unwrap_or_default(), name)
        } else {
            ObjectRef::cluster_scoped(kind, name)
        }
    }
}
