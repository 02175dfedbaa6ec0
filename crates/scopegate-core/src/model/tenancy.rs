//! The `scope.theriseunion.io` objects: Cluster, Workspace and NodeGroup, the named scopes
//! that bindings point at.

use super::ObjectStatus;
use super::schema::{self, DNS1123_LABEL};
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
    doc = "A cluster known to the platform: the target of Cluster-scope bindings. Each webhook serves one cluster, named by its --cluster-name.",
    shortname = "sgcluster",
    category = "scopegate",
    status = "ObjectStatus",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
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
    doc = "A tenant: the namespaces it owns (labelled scope.theriseunion.io/workspace), their quotas, limits and network isolation, and its admins.",
    shortname = "ws",
    category = "scopegate",
    status = "ObjectStatus",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Namespaces","type":"string","jsonPath":".spec.namespaces"}"#,
    printcolumn = r#"{"name":"Isolated","type":"boolean","jsonPath":".spec.networkIsolation","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
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
    #[schemars(
        inner(pattern(DNS1123_LABEL), length(max = 63)),
        transform = schema::string_set
    )]
    pub namespaces: Vec<String>,
    /// Tenant-wide hard limits (cpu, memory, nvidia.com/gpu, pods, ...).
    #[serde(default)]
    #[schemars(transform = schema::quantity_map)]
    pub quota: BTreeMap<String, Quantity>,
    /// The ResourceQuota given to each of the workspace's namespaces.
    #[serde(default)]
    #[schemars(transform = schema::quantity_map)]
    pub namespace_quota: BTreeMap<String, Quantity>,
    /// The LimitRange given to each of the workspace's namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_range: Option<LimitRangeSpec>,
    /// Whether the namespaces are isolated from other tenants' traffic (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub network_isolation: Option<bool>,
    /// Subjects made admins of the workspace.
    #[serde(default)]
    #[schemars(transform = schema::subject_list)]
    pub owners: Vec<Subject>,
}

/// An infrastructure group: the nodes its selector matches.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scope.theriseunion.io",
    version = "v1alpha1",
    kind = "NodeGroup",
    doc = "An infrastructure group: the nodes its selector matches (labelled scope.theriseunion.io/nodegroup by its controller), their taints, and its operators.",
    shortname = "ng",
    category = "scopegate",
    status = "ObjectStatus",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
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
    #[schemars(transform = schema::label_selector)]
    pub node_selector: LabelSelector,
    /// Taints the controller keeps on the group's nodes.
    #[serde(default)]
    #[schemars(transform = schema::taint_list)]
    pub taints: Vec<Taint>,
    /// Subjects made operators of the group.
    #[serde(default)]
    #[schemars(transform = schema::subject_list)]
    pub owners: Vec<Subject>,
}
