//! Where things sit: which workspace a namespace belongs to, which node group a node belongs
//! to, and which cluster this engine serves. Read from the cluster's own objects' labels.

use crate::model::{NODEGROUP_LABEL, WORKSPACE_LABEL};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
/// foldhash instead of std's SipHash: every namespaced and node request looks a name up here.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The cluster name used when none is configured.
pub const DEFAULT_CLUSTER_NAME: &str = "default";

/// Membership of namespaces in workspaces and of nodes in node groups, for one cluster.
#[derive(Clone, Debug)]
pub struct Topology {
    cluster_name: String,
    namespace_workspace: HashMap<String, String>,
    node_group: HashMap<String, String>,
}

impl Topology {
    /// The topology of `cluster_name` from its Namespace and Node objects' labels.
    pub fn new<'a>(
        cluster_name: impl Into<String>,
        namespaces: impl IntoIterator<Item = &'a Namespace>,
        nodes: impl IntoIterator<Item = &'a Node>,
    ) -> Self {
        let namespace_workspace = first_label_by_name(
            namespaces.into_iter().map(|ns| &ns.metadata),
            WORKSPACE_LABEL,
        );
        let node_group = first_label_by_name(
            nodes.into_iter().map(|node| &node.metadata),
            NODEGROUP_LABEL,
        );
        Topology {
            cluster_name: cluster_name.into(),
            namespace_workspace,
            node_group,
        }
    }

    /// The cluster this engine serves.
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// The workspace a namespace belongs to, if any.
    pub fn workspace_of(&self, namespace: &str) -> Option<&str> {
        self.namespace_workspace.get(namespace).map(String::as_str)
    }

    /// The node group a node belongs to, if any.
    pub fn node_group_of(&self, node: &str) -> Option<&str> {
        self.node_group.get(node).map(String::as_str)
    }
}

/// Each object's non-empty `key` label, by name. Two objects of one name are an error the
/// compiler reports, and as everywhere else the first one counts, labelled or not.
fn first_label_by_name<'a>(
    objects: impl IntoIterator<Item = &'a ObjectMeta>,
    key: &str,
) -> HashMap<String, String> {
    let mut first: HashMap<&str, Option<&str>> = HashMap::default();
    for meta in objects {
        if let Some(name) = meta.name.as_deref() {
            let label = meta.labels.as_ref().and_then(|l| l.get(key));
            first
                .entry(name)
                .or_insert(label.map(String::as_str).filter(|v| !v.is_empty()));
        }
    }
    first
        .into_iter()
        .filter_map(|(name, label)| Some((name.to_string(), label?.to_string())))
        .collect()
}
