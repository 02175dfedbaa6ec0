//! Where things sit: which workspace a namespace belongs to, which node group a node belongs
//! to, and which cluster this engine serves. Read from the cluster's own objects' labels.

use crate::model::{NODEGROUP_LABEL, WORKSPACE_LABEL};
use k8s_openapi::api::core::v1::{Namespace, Node};
use std::collections::HashMap;

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
        let label_of = |labels: &Option<std::collections::BTreeMap<String, String>>, key: &str| {
            labels
                .as_ref()
                .and_then(|l| l.get(key))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let namespace_workspace = namespaces
            .into_iter()
            .filter_map(|ns| {
                let name = ns.metadata.name.clone()?;
                Some((name, label_of(&ns.metadata.labels, WORKSPACE_LABEL)?))
            })
            .collect();
        let node_group = nodes
            .into_iter()
            .filter_map(|node| {
                let name = node.metadata.name.clone()?;
                Some((name, label_of(&node.metadata.labels, NODEGROUP_LABEL)?))
            })
            .collect();
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
