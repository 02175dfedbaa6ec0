//! The objects users write: the iam and scope custom resources, and the scope they bind at.
//! Native Kubernetes objects (RBAC, Namespace, Node) come from `k8s-openapi` unchanged.

mod iam;
pub mod schema;
mod scope;
mod selector;
mod tenancy;

pub use iam::{
    IAM_GROUP, IamRole, IamRoleBinding, IamRoleBindingSpec, IamRoleRef, IamRoleSpec, RoleTemplate,
    RoleTemplateSpec,
};
pub use scope::{Scope, ScopeKind, ScopeSpec};
pub use selector::{SelectorError, selector_matches};
pub use tenancy::{
    Cluster, ClusterSpec, NODEGROUP_LABEL, NodeGroup, NodeGroupSpec, SCOPE_GROUP, WORKSPACE_LABEL,
    Workspace, WorkspaceSpec,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The status every Scopegate object carries: whether it took effect, and why not.
///
/// Controllers keep a condition of type `Ready` (status `True`, `False` or `Unknown`, with a
/// `reason` in CamelCase and a human-readable `message`) and set `observedGeneration` to the
/// `metadata.generation` they acted on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions, one per type, `Ready` among them.
    #[serde(default)]
    #[schemars(transform = schema::condition_list)]
    pub conditions: Vec<Condition>,
    /// How many native RBAC objects (ClusterRoles, Roles and their bindings) the controllers
    /// keep for this object: `kubectl get` shows it, so what an IAMRole or IAMRoleBinding
    /// costs the cluster can be read without counting owner references. Absent while the
    /// object cannot be materialised, and on kinds that make no native RBAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_objects: Option<u32>,
}
