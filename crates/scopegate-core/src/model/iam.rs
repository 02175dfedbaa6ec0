//! The `iam.theriseunion.io` objects: RoleTemplate, IAMRole and IAMRoleBinding.
//!
//! These Rust types are the one definition of each object: the loader reads manifests into
//! them and the CRDs are generated from them.

use super::schema::{self, DNS1123_SUBDOMAIN};
use super::{ObjectStatus, ScopeKind, ScopeSpec};
use k8s_openapi::api::rbac::v1::{PolicyRule, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of the permission objects.
pub const IAM_GROUP: &str = "iam.theriseunion.io";

/// A reusable piece of permission: Kubernetes rules for the API and strings for the console.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "iam.theriseunion.io",
    version = "v1alpha1",
    kind = "RoleTemplate",
    doc = "A reusable piece of permission: Kubernetes PolicyRules for the API and UI permission strings for a console, included in IAMRoles by name or by label.",
    shortname = "rtpl",
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
pub struct RoleTemplateSpec {
    /// A human-friendly name for consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// What this template is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Kubernetes PolicyRules this template grants.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// Console permissions (e.g. `workspace.members.manage`) this template grants.
    #[serde(default)]
    #[schemars(transform = schema::string_set)]
    pub ui_permissions: Vec<String>,
}

/// A role meant for one scope kind: the union of its own rules and UI permissions and those
/// of the RoleTemplates it names or selects.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "iam.theriseunion.io",
    version = "v1alpha1",
    kind = "IAMRole",
    root = "IamRole",
    doc = "A role meant for one scope kind: the union of its own rules and UI permissions and those of the RoleTemplates it names or selects. Granted by IAMRoleBindings at scopes of that kind.",
    shortname = "iamrole",
    category = "scopegate",
    status = "ObjectStatus",
    printcolumn = r#"{"name":"Scope","type":"string","jsonPath":".spec.scope"}"#,
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.displayName","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Native","type":"integer","jsonPath":".status.nativeObjects"}"#,
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
pub struct IamRoleSpec {
    /// The scope kind this role is meant to be bound at.
    pub scope: ScopeKind,
    /// A human-friendly name for consoles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// What this role is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Kubernetes PolicyRules granted directly by this role.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// Console permissions granted directly by this role.
    #[serde(default)]
    #[schemars(transform = schema::string_set)]
    pub ui_permissions: Vec<String>,
    /// RoleTemplates, by name, whose rules and UI permissions this role includes.
    #[serde(default)]
    #[schemars(
        inner(pattern(DNS1123_SUBDOMAIN), length(max = 253)),
        transform = schema::string_set
    )]
    pub role_templates: Vec<String>,
    /// RoleTemplates, by label, whose rules and UI permissions this role includes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = schema::label_selector)]
    pub template_selector: Option<LabelSelector>,
}

/// Which role an IAMRoleBinding grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamRoleRef {
    /// Always `IAMRole`.
    #[schemars(extend("enum" = ["IAMRole"]))]
    pub kind: String,
    /// The IAMRole's name.
    #[schemars(pattern(DNS1123_SUBDOMAIN), length(max = 253))]
    pub name: String,
    /// `iam.theriseunion.io` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["", "iam.theriseunion.io"]))]
    pub api_group: Option<String>,
}

/// Grants an IAMRole to subjects at one scope.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "iam.theriseunion.io",
    version = "v1alpha1",
    kind = "IAMRoleBinding",
    root = "IamRoleBinding",
    doc = "Grants an IAMRole to subjects (Users, Groups, ServiceAccounts) at one scope: Platform, a Cluster, Workspace, NodeGroup, Namespace or Node, or one object.",
    shortname = "iamrb",
    category = "scopegate",
    status = "ObjectStatus",
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".spec.roleRef.name"}"#,
    printcolumn = r#"{"name":"Scope","type":"string","jsonPath":".spec.scope.kind"}"#,
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.scope.name"}"#,
    printcolumn = r#"{"name":"Namespace","type":"string","jsonPath":".spec.scope.namespace","priority":1}"#,
    printcolumn = r#"{"name":"Resource","type":"string","jsonPath":".spec.scope.resource","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Native","type":"integer","jsonPath":".status.nativeObjects"}"#,
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
pub struct IamRoleBindingSpec {
    /// Who is granted the role: Users, Groups and ServiceAccounts, as in Kubernetes RBAC.
    #[schemars(transform = schema::subject_list)]
    pub subjects: Vec<Subject>,
    /// The IAMRole granted.
    pub role_ref: IamRoleRef,
    /// Where the role is granted.
    pub scope: ScopeSpec,
}
