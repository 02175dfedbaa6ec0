//! The `scope.theriseunion.io` objects: Cluster, Workspace and NodeGroup, the named scopes
//! that bindings point at.

use super::ObjectStatus;
use k8s_openapi::api::core::v1::{LimitRangeSpec, Taint};
use k8s_openapi::api::rbac::v1::Subject;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The API group of the scope objects.
pub const SCOPE_GROUP: &str = "scope.theriseunion.io";
/// The Namespace label that puts a namespace into a Workspace.
pub const WORKSPACE_LABEL: &str = "scope.theriseunion.io/workspace";
/// The Node label that puts a node into a NodeGroup.
pub const NODEGROUP_LABEL: &str = "scope.theriseunion.io/nodegroup";

/// A cluster known to the platform.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scope.theriseunion.io",
    version = "v1alpha1",
    kind = "Cluster",
    shortname = "sgcluster",
    status = "ObjectStatus",
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// A human-friendly name for consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Where the cluster runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A tenant: the namespaces it owns, their quotas and isolation, and its admins.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scope.theriseunion.io",
    version = "v1alpha1",
    kind = "Workspace",
    shortname = "ws",
    status = "ObjectStatus",
    printcolumn = r#"{"name":"Namespaces","type":"string","jsonPath":".spec.namespaces"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSpec {
    /// A human-friendly name for consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Namespaces the workspace owns (the controller creates and labels them).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Tenant-wide hard limits (cpu, memory, nvidia.com/gpu, pods, ...).
    #[serde(default)]
    pub quota: BTreeMap<String, Quantity>,
    /// The ResourceQuota given to each of the workspace's namespaces.
    #[serde(default)]
    pub namespace_quota: BTreeMap<String, Quantity>,
    /// The LimitRange given to each of the workspace's namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_range: Option<LimitRangeSpec>,
    /// Whether the namespaces are isolated from other tenants' traffic (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_isolation: Option<bool>,
    /// Subjects made admins of the workspace.
    #[serde(default)]
    pub owners: Vec<Subject>,
}

/// An infrastructure group: the nodes its selector matches.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scope.theriseunion.io",
    version = "v1alpha1",
    kind = "NodeGroup",
    shortname = "ng",
    status = "ObjectStatus",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroupSpec {
    /// A human-friendly name for consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Which nodes belong to the group.
    #[serde(default)]
    pub node_selector: LabelSelector,
    /// Taints the controller keeps on the group's nodes.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Subjects made operators of the group.
    #[serde(default)]
    pub owners: Vec<Subject>,
}
