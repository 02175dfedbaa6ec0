//! Where things sit: which workspace a namespace belongs to, which node group a node belongs
//! to, and which cluster this engine serves. Read from the cluster's own objects' labels.

use crate::model::{NODEGROUP_LABEL, WORKSPACE_LABEL};
use crate::policy::name::Name;
use crate::policy::persistent::PersistentMap;
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
/// foldhash instead of std's SipHash: every namespaced and node request looks a name up here.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// Persistent, so that a policy store can relabel one namespace in a new snapshot without
/// copying the others (see [`PersistentMap`]); keys and values are [`Name`]s, so that a
/// lookup compares and returns a short name from the entry itself.
type NameMap = PersistentMap<Name, Name>;

/// The cluster name used when none is configured.
pub const DEFAULT_CLUSTER_NAME: &str = "default";

/// Membership of namespaces in workspaces and of nodes in node groups, for one cluster.
#[derive(Clone, Debug)]
pub struct Topology {
    cluster_name: String,
    namespace_workspace: NameMap,
    node_group: NameMap,
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

    /// The topology of `cluster_name` with no namespace and no node yet.
    pub(crate) fn empty(cluster_name: impl Into<String>) -> Self {
        Topology {
            cluster_name: cluster_name.into(),
            namespace_workspace: NameMap::default(),
            node_group: NameMap::default(),
        }
    }

    /// Sets the workspace of one namespace (`None`: in none).
    pub(crate) fn set_workspace_of(&mut self, namespace: &str, workspace: Option<&str>) {
        set(&mut self.namespace_workspace, namespace, workspace);
    }

    /// Sets the node group of one node (`None`: in none).
    pub(crate) fn set_node_group_of(&mut self, node: &str, group: Option<&str>) {
        set(&mut self.node_group, node, group);
    }

    /// The cluster this engine serves.
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// The workspace a namespace belongs to, if any.
    pub fn workspace_of(&self, namespace: &str) -> Option<&str> {
        self.namespace_workspace.get(namespace).map(Name::as_str)
    }

    /// The node group a node belongs to, if any.
    pub fn node_group_of(&self, node: &str) -> Option<&str> {
        self.node_group.get(node).map(Name::as_str)
    }
}

fn set(map: &mut NameMap, name: &str, value: Option<&str>) {
    match value {
        Some(value) if map.get(name).is_some_and(|v| v.as_str() == value) => {}
        Some(value) => {
            map.insert(name.into(), value.into());
        }
        None => {
            map.remove(name);
        }
    }
}

/// Each object's non-empty `key` label, by name. Two objects of one name are an error the
/// compiler reports, and as everywhere else the first one counts, labelled or not.
fn first_label_by_name<'a>(
    objects: impl IntoIterator<Item = &'a ObjectMeta>,
    key: &str,
) -> NameMap {
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
        .filter_map(|(name, label)| Some((name.into(), label?.into())))
        .collect()
}
