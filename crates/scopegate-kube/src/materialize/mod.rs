//! Materialisation: the scope model written out as native Kubernetes RBAC, as pure functions
//! from the objects users write (and the cluster objects observed) to the objects that should
//! exist. The controllers around them only read, call these, and apply the [`Plan`].
//!
//! What is made, by source object:
//!
//! | source | native objects |
//! |---|---|
//! | IAMRole `r` | ClusterRole `scopegate:iamrole:r` holding the role's effective rules ([`iam_role`]) |
//! | IAMRoleBinding `b` at Platform, or at the served Cluster | ClusterRoleBinding `scopegate:iamrolebinding:b` → ClusterRole `scopegate:iamrole:r` |
//! | ... at Namespace `n` | RoleBinding `n/scopegate:iamrolebinding:b` → ClusterRole `scopegate:iamrole:r` |
//! | ... at Workspace `w` | RoleBinding `scopegate:iamrolebinding:b` in every namespace labelled for `w` → ClusterRole `scopegate:iamrole:r`; plus, when the role has rules on `workspaces`, ClusterRole and ClusterRoleBinding `scopegate:iamrolebinding:b` for the `workspaces/w` object |
//! | ... at NodeGroup `g` | ClusterRole and ClusterRoleBinding `scopegate:iamrolebinding:b`: the role's rules on `nodes` limited to the group's nodes, and on `nodegroups` limited to `g` |
//! | ... at Node `n` | the same, for the one node `n` |
//! | ... at Resource, namespaced | Role and RoleBinding `scopegate:iamrolebinding:b` in its namespace, the rules limited to the one object |
//! | ... at Resource, cluster-scoped | ClusterRole and ClusterRoleBinding `scopegate:iamrolebinding:b`, limited likewise |
//! | ... at another declared Cluster `c` | ClusterRole and ClusterRoleBinding `scopegate:iamrolebinding:b` for the `clusters/c` object only |
//! | NodeGroup `g` | the label `scope.theriseunion.io/nodegroup: g` on exactly the nodes it selects ([`node_group`]) |
//!
//! The rule throughout: a native object grants exactly what the scope model grants for the
//! requests Kubernetes can make, and where native RBAC cannot say the same thing it grants
//! less, never more. Where a scope is narrower than a whole namespace or the whole cluster
//! (NodeGroup, Node, Resource, the Workspace and Cluster objects themselves), the role's rules
//! are narrowed by `resourceNames`, keeping only the rules that can apply to a request whose
//! scope chain contains that scope; rules that cannot be narrowed faithfully are dropped. What
//! is given up, exactly:
//!
//! - a rule with `resources: ["*"]` narrowed to one resource covers that resource and the
//!   subresources Kubernetes serves for it ([`known_subresources`]), not subresources no one
//!   has heard of;
//! - a Resource scope on a cluster-scoped object is made only for resources known to be
//!   cluster-scoped ([`KNOWN_CLUSTER_SCOPED`] and [`ObservedWorld::cluster_scoped_resources`]):
//!   a ClusterRoleBinding reaches every namespace, so for a namespaced resource it would grant
//!   the name in every namespace. Anything else is [`MaterializeError::NotExpressible`];
//! - a ClusterRoleBinding cannot tell a namespaced request from a cluster-scoped one: a
//!   NodeGroup binding's `get nodes/n1` also answers a SubjectAccessReview that puts `nodes/n1`
//!   in a namespace. Kubernetes serves no namespaced `nodes`, so no request ever reaches an
//!   object that way; the same holds for the Workspace, Cluster and cluster-scoped Resource
//!   objects.
//!
//! Errors grant nothing, as in the engine: an IAMRole with an error, or an IAMRoleBinding the
//! engine refuses, has no desired objects at all, and planning against what exists deletes
//! what was made before (revocation is never append-only).
//!
//! Every object made is labelled `app.kubernetes.io/managed-by: scopegate` and with its
//! source (`scopegate.theriseunion.io/iamrole` or `scopegate.theriseunion.io/iamrolebinding`),
//! and carries a controller owner reference to its source, so that deleting the source lets
//! the garbage collector remove what it made.

pub mod diff;
pub mod iam_role;
pub mod iam_role_binding;
pub mod node_group;

pub use diff::{ObjectKey, Plan, RbacKind, RbacObject, plan};
pub use iam_role::desired_cluster_role;
pub use iam_role_binding::{ObservedWorld, desired_objects};
pub use node_group::{NodeConflict, NodeGroupLabels, NodeLabelChange, desired_node_labels};

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use scopegate_core::policy::RoleProblem;
use std::collections::BTreeMap;

/// The label every object Scopegate makes carries, with the value [`MANAGED_BY_VALUE`].
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`] on objects Scopegate makes.
pub const MANAGED_BY_VALUE: &str = "scopegate";
/// The label naming the IAMRole an object was made from (see [`source_label_value`]).
pub const IAMROLE_LABEL: &str = "scopegate.theriseunion.io/iamrole";
/// The label naming the IAMRoleBinding an object was made from (see [`source_label_value`]).
pub const IAMROLEBINDING_LABEL: &str = "scopegate.theriseunion.io/iamrolebinding";
/// The apiVersion of the IAM objects, for owner references.
pub const IAM_API_VERSION: &str = "iam.theriseunion.io/v1alpha1";
/// The API group of native RBAC.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The prefix of the ClusterRole made for an IAMRole.
pub const IAMROLE_PREFIX: &str = "scopegate:iamrole:";
/// The prefix of the objects made for an IAMRoleBinding.
pub const IAMROLEBINDING_PREFIX: &str = "scopegate:iamrolebinding:";

/// Resources (API group, plural) that are cluster-scoped in every Kubernetes cluster, or are
/// Scopegate's own cluster-scoped kinds. A Resource-scope binding on an object without a
/// namespace is materialised only for these and for
/// [`ObservedWorld::cluster_scoped_resources`]. `namespaces` is not here on purpose: a
/// request on `namespaces/<ns>` carries that namespace, so it is decided in the namespace.
pub const KNOWN_CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "nodes"),
    ("", "persistentvolumes"),
    ("", "componentstatuses"),
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("apiregistration.k8s.io", "apiservices"),
    ("certificates.k8s.io", "certificatesigningrequests"),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"),
    (
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
    ),
    ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "ipaddresses"),
    ("networking.k8s.io", "servicecidrs"),
    ("node.k8s.io", "runtimeclasses"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("resource.k8s.io", "deviceclasses"),
    ("resource.k8s.io", "resourceslices"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "volumeattachments"),
    ("iam.theriseunion.io", "roletemplates"),
    ("iam.theriseunion.io", "iamroles"),
    ("iam.theriseunion.io", "iamrolebindings"),
];

/// The subresources Kubernetes serves for a resource, used when a rule with
/// `resources: ["*"]` is narrowed to one resource (`*` covers the resource and every
/// subresource, and RBAC has no way to write "every subresource of this resource"). For
/// `nodes` this includes the kubelet's own subresources, which the kubelet asks about in its
/// SubjectAccessReviews.
pub fn known_subresources(group: &str, resource: &str) -> &'static [&'static str] {
    match (group, resource) {
        ("", "nodes") => &[
            "status",
            "proxy",
            "log",
            "metrics",
            "stats",
            "spec",
            "configz",
            "healthz",
            "pods",
            "checkpoint",
        ],
        ("", "pods") => &[
            "status",
            "log",
            "exec",
            "attach",
            "portforward",
            "proxy",
            "eviction",
            "binding",
            "ephemeralcontainers",
            "resize",
        ],
        ("", "services") => &["status", "proxy"],
        ("", "namespaces") => &["status", "finalize"],
        ("", "serviceaccounts") => &["token"],
        ("", "replicationcontrollers")
        | ("apps", "deployments" | "replicasets" | "statefulsets") => &["status", "scale"],
        _ => &["status", "scale"],
    }
}

/// Why a source object has no native counterpart. Every variant means the same thing for
/// the cluster: nothing is desired for the source, so whatever was made for it before is
/// deleted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MaterializeError {
    /// The IAMRole names a RoleTemplate that does not exist or has an invalid
    /// `templateSelector`: it grants nothing, and neither do its bindings.
    #[error("IAMRole {role:?} has errors: {}", join(.problems))]
    RoleHasErrors {
        /// The role.
        role: String,
        /// Every problem, with its field.
        problems: Vec<RoleProblem>,
    },
    /// The IAMRoleBinding's role does not exist.
    #[error("IAMRole {0:?} does not exist")]
    RoleNotFound(String),
    /// The IAMRoleBinding is refused by the model (wrong roleRef, malformed scope, a scope of
    /// another kind than the role's, an undeclared Workspace, NodeGroup or Cluster, an invalid
    /// subject): it grants nothing.
    #[error("{field}: {message}")]
    InvalidBinding {
        /// The binding's field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A label selector is invalid (a NodeGroup's `spec.nodeSelector`): it selects nothing.
    #[error("{field}: {message}")]
    InvalidSelector {
        /// The field holding the selector.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The object has no name (only possible for objects not read from the API server).
    #[error("{0} has no metadata.name")]
    Unnamed(&'static str),
    /// The binding is valid, but native RBAC cannot grant what it grants without granting
    /// more; nothing is made (an under-grant the status reports).
    #[error("not expressible as native RBAC without granting more: {0}")]
    NotExpressible(String),
}

impl MaterializeError {
    /// A CamelCase reason for a status condition or an Event.
    pub fn reason(&self) -> &'static str {
        match self {
            MaterializeError::RoleHasErrors { .. } => "RoleHasErrors",
            MaterializeError::RoleNotFound(_) => "RoleNotFound",
            MaterializeError::InvalidBinding { .. } => "InvalidBinding",
            MaterializeError::InvalidSelector { .. } => "InvalidSelector",
            MaterializeError::Unnamed(_) => "Unnamed",
            MaterializeError::NotExpressible(_) => "NotExpressible",
        }
    }

    /// Whether the engine itself grants nothing for the source (as opposed to
    /// [`MaterializeError::NotExpressible`], where the engine grants and native RBAC cannot).
    pub fn engine_grants_nothing(&self) -> bool {
        !matches!(self, MaterializeError::NotExpressible(_))
    }
}

fn join(problems: &[RoleProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A set of native RBAC objects: what should exist for one source, or what exists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredRbac {
    /// ClusterRoles.
    pub cluster_roles: Vec<ClusterRole>,
    /// Roles.
    pub roles: Vec<Role>,
    /// RoleBindings.
    pub role_bindings: Vec<RoleBinding>,
    /// ClusterRoleBindings.
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}

impl DesiredRbac {
    /// Whether there is no object at all.
    pub fn is_empty(&self) -> bool {
        self.cluster_roles.is_empty()
            && self.roles.is_empty()
            && self.role_bindings.is_empty()
            && self.cluster_role_bindings.is_empty()
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.cluster_roles.len()
            + self.roles.len()
            + self.role_bindings.len()
            + self.cluster_role_bindings.len()
    }

    /// Adds every object of `other`.
    pub fn extend(&mut self, other: DesiredRbac) {
        self.cluster_roles.extend(other.cluster_roles);
        self.roles.extend(other.roles);
        self.role_bindings.extend(other.role_bindings);
        self.cluster_role_bindings
            .extend(other.cluster_role_bindings);
    }
}

/// The name of the ClusterRole made for IAMRole `role`.
pub fn iam_role_object_name(role: &str) -> String {
    format!("{IAMROLE_PREFIX}{role}")
}

/// The name of the objects made for IAMRoleBinding `binding` (bindings, and the narrowed
/// ClusterRole or Role of NodeGroup, Node, Resource, Workspace-object and other-Cluster
/// scopes). Unique: IAMRoleBindings are cluster-scoped, so their names are, and neither
/// prefix is a prefix of the other once the `:` after it is counted.
pub fn iam_role_binding_object_name(binding: &str) -> String {
    format!("{IAMROLEBINDING_PREFIX}{binding}")
}

/// The value of a source label ([`IAMROLE_LABEL`], [`IAMROLEBINDING_LABEL`]) for a source
/// name. Label values are at most 63 characters of `[A-Za-z0-9._-]`, starting and ending
/// alphanumeric; object names can be longer (up to 253), so a name that is not a valid label
/// value is replaced by its first 46 characters (trimmed to end alphanumeric) and a 16-digit
/// hash of the whole name. Owner references carry the exact name in any case.
pub fn source_label_value(name: &str) -> String {
    if is_label_value(name) {
        return name.to_string();
    }
    let prefix: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(46)
        .collect();
    let prefix = prefix.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let hash = format!("{:016x}", fnv1a(name.as_bytes()));
    if prefix.is_empty() {
        format!("h{hash}")
    } else {
        format!("{prefix}-{hash}")
    }
}

fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value
            .chars()
            .next()
            .is_none_or(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_none_or(|c| c.is_ascii_alphanumeric())
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike `std`'s hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The labels of an object made from a source: managed-by, and the source label.
pub(crate) fn labels(source_label: &str, source_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (source_label.to_string(), source_label_value(source_name)),
    ])
}

/// A controller owner reference to an IAM object. The uid comes from the source's metadata;
/// objects read from the API server always have one (objects built in memory may not, and the
/// API server then refuses what is made from them, which grants nothing).
pub(crate) fn owner_reference(kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: IAM_API_VERSION.to_string(),
        kind: kind.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The metadata of an object made from a source.
pub(crate) fn object_meta(
    name: String,
    namespace: Option<String>,
    source_label: &str,
    owner_kind: &str,
    owner: &ObjectMeta,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace,
        labels: Some(labels(
            source_label,
            owner.name.as_deref().unwrap_or_default(),
        )),
        owner_references: Some(vec![owner_reference(owner_kind, owner)]),
        ..ObjectMeta::default()
    }
}

fn non_empty(list: &Option<Vec<String>>) -> Option<&Vec<String>> {
    list.as_ref().filter(|l| !l.is_empty())
}

/// Rewrites rules into rules the Kubernetes API server accepts, matching exactly the same
/// requests under the engine's (and Kubernetes') matching. The engine matches rules "as
/// written", including rules the API server would refuse; writing such a rule into a
/// ClusterRole would make the whole object be refused, leaving the old one, with its old
/// rules, in place. So:
///
/// - a rule without verbs matches nothing: dropped;
/// - a rule with both resources and non-resource URLs is split in two (resources and
///   resourceNames apply to resource requests, URLs to the others);
/// - a resource part without apiGroups or without resources matches nothing: dropped;
/// - with `namespaced`, URL parts are dropped (a Role may not hold them, and a namespace is
///   never in a non-resource request's chain);
/// - empty lists are written as absent, and exact duplicates are dropped.
pub fn normalize_rules(rules: &[PolicyRule], namespaced: bool) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    let mut push = |rule: PolicyRule| {
        if !out.contains(&rule) {
            out.push(rule);
        }
    };
    for rule in rules {
        if rule.verbs.is_empty() {
            continue;
        }
        if let (Some(groups), Some(resources)) =
            (non_empty(&rule.api_groups), non_empty(&rule.resources))
        {
            push(PolicyRule {
                api_groups: Some(groups.clone()),
                resources: Some(resources.clone()),
                resource_names: non_empty(&rule.resource_names).cloned(),
                verbs: rule.verbs.clone(),
                non_resource_urls: None,
            });
        }
        if let Some(urls) = non_empty(&rule.non_resource_urls)
            && !namespaced
        {
            push(PolicyRule {
                api_groups: None,
                resources: None,
                resource_names: None,
                verbs: rule.verbs.clone(),
                non_resource_urls: Some(urls.clone()),
            });
        }
    }
    out
}

/// One object kind a scope narrows rules to: an API group, a plural resource, and the names
/// of the objects.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub(crate) group: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) names: &'a [String],
}

/// The rules of `rules` (already [normalised](normalize_rules)) that can match a request on
/// one of `target`'s objects (or their subresources), narrowed to exactly those requests:
/// `apiGroups` becomes the target's group, `resources` the entries that can match the
/// target's resource (`*/x` becomes `resource/x`; `*` the resource and its
/// [known subresources](known_subresources)), `resourceNames` the target's names that the rule
/// allows. Rules left with no resource or no name are dropped (an empty `resourceNames` would
/// mean every name). `target.group` must not be `*`.
pub(crate) fn narrow(rules: &[PolicyRule], target: Target<'_>) -> Vec<PolicyRule> {
    debug_assert!(target.group != "*");
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let (Some(groups), Some(resources)) =
            (non_empty(&rule.api_groups), non_empty(&rule.resources))
        else {
            continue;
        };
        if !groups.iter().any(|g| g == "*" || g == target.group) {
            continue;
        }
        let mut narrowed: Vec<String> = Vec::new();
        let mut add = |r: String| {
            if !narrowed.contains(&r) {
                narrowed.push(r);
            }
        };
        for entry in resources {
            if entry == "*" {
                add(target.resource.to_string());
                for sub in known_subresources(target.group, target.resource) {
                    add(format!("{}/{sub}", target.resource));
                }
            } else if entry == target.resource {
                add(entry.clone());
            } else if let Some(sub) = entry.strip_prefix(target.resource)
                && let Some(sub) = sub.strip_prefix('/')
                && !sub.is_empty()
            {
                add(entry.clone());
            } else if let Some(sub) = entry.strip_prefix("*/")
                && !sub.is_empty()
            {
                add(format!("{}/{sub}", target.resource));
            }
        }
        let names: Vec<String> = match non_empty(&rule.resource_names) {
            None => target.names.to_vec(),
            Some(allowed) => target
                .names
                .iter()
                .filter(|n| allowed.contains(n))
                .cloned()
                .collect(),
        };
        if narrowed.is_empty() || names.is_empty() {
            continue;
        }
        let rule = PolicyRule {
            api_groups: Some(vec![target.group.to_string()]),
            resources: Some(narrowed),
            resource_names: Some(names),
            verbs: rule.verbs.clone(),
            non_resource_urls: None,
        };
        if !out.contains(&rule) {
            out.push(rule);
        }
    }
    out
}

#[cfg(test)]
mod tests;
