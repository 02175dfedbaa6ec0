//! NodeGroup → the membership label `scope.theriseunion.io/nodegroup: <group>` on exactly the
//! nodes its `spec.nodeSelector` matches: set where it matches, removed where it no longer
//! does. The engine reads only the label, so this is what makes the selector take effect.
//!
//! A node can carry one group label, so a node matched by several groups' selectors is a
//! conflict. It is reported, and settled so that every group's controller, reading the same
//! objects, reaches the same answer:
//!
//! 1. if the node already carries the label of one of the groups that match it, that group
//!    keeps it (an incumbent is never displaced: creating or widening a group never moves
//!    nodes, and so permissions, away from another group);
//! 2. otherwise the matching group whose name sorts first gets it.
//!
//! A group with an invalid selector, or being deleted (`metadata.deletionTimestamp` set),
//! matches no node, so its labels are removed (errors grant nothing) and other groups may
//! take its nodes.

use super::MaterializeError;
use k8s_openapi::api::core::v1::Node;
use scopegate_core::model::{NODEGROUP_LABEL, NodeGroup, selector_matches};
use std::collections::{BTreeMap, BTreeSet};

/// One change to one node's `scope.theriseunion.io/nodegroup` label.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeLabelChange {
    /// The node.
    pub node: String,
    /// `Some(group)` to set the label to the group, `None` to remove it.
    pub set: Option<String>,
}

/// A node matched by more than one group's selector, and which group has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConflict {
    /// The node.
    pub node: String,
    /// Every group whose selector matches it, sorted.
    pub groups: Vec<String>,
    /// The group that has it (the incumbent, or the first by name).
    pub chosen: String,
}

/// What one NodeGroup's controller should do, and what it should report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeGroupLabels {
    /// Label changes, by node name.
    pub changes: Vec<NodeLabelChange>,
    /// Conflicts this group is part of, by node name.
    pub conflicts: Vec<NodeConflict>,
    /// Why the group matches no node, when its selector is invalid or its name cannot be a
    /// label value.
    pub error: Option<MaterializeError>,
}

/// Which group's label each node should carry, as far as `group` is concerned: label the
/// nodes it wins, unlabel the nodes carrying its label that it no longer wins (the group that
/// wins them instead labels them in its own reconcile). `all_groups` are every NodeGroup
/// (`group` may be among them; the `group` passed wins over a stale copy there); `nodes` are
/// every Node (the first of each name counts, as in the engine).
pub fn desired_node_labels(
    group: &NodeGroup,
    all_groups: &[NodeGroup],
    nodes: &[Node],
) -> NodeGroupLabels {
    let mut out = NodeGroupLabels::default();
    let Some(me) = group.metadata.name.as_deref().filter(|n| !n.is_empty()) else {
        out.error = Some(MaterializeError::Unnamed("NodeGroup"));
        return out;
    };
    if let Err(e) = active_selector(group) {
        out.error = Some(e);
    }
    let mut groups: BTreeMap<&str, &NodeGroup> = BTreeMap::new();
    for g in all_groups {
        if let Some(name) = g.metadata.name.as_deref().filter(|n| !n.is_empty()) {
            groups.entry(name).or_insert(g);
        }
    }
    groups.insert(me, group);

    let mut seen = BTreeSet::new();
    for node in nodes {
        let Some(name) = node.metadata.name.as_deref() else {
            continue;
        };
        if !seen.insert(name) {
            continue;
        }
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let current = labels
            .get(NODEGROUP_LABEL)
            .map(String::as_str)
            .filter(|v| !v.is_empty());
        let matching: Vec<&str> = groups
            .iter()
            .filter(|(_, g)| {
                active_selector(g).is_ok_and(|selector| {
                    selector.is_some_and(|s| selector_matches(s, &labels).unwrap_or(false))
                })
            })
            .map(|(name, _)| *name)
            .collect();
        let winner = match current {
            Some(c) if matching.contains(&c) => Some(c),
            _ => matching.first().copied(),
        };
        if matching.len() > 1
            && matching.contains(&me)
            && let Some(chosen) = winner
        {
            out.conflicts.push(NodeConflict {
                node: name.to_string(),
                groups: matching.iter().map(|g| g.to_string()).collect(),
                chosen: chosen.to_string(),
            });
        }
        if winner == Some(me) && current != Some(me) {
            out.changes.push(NodeLabelChange {
                node: name.to_string(),
                set: Some(me.to_string()),
            });
        } else if winner != Some(me) && current == Some(me) {
            out.changes.push(NodeLabelChange {
                node: name.to_string(),
                set: None,
            });
        }
    }
    out.changes.sort();
    out.conflicts.sort_by(|a, b| a.node.cmp(&b.node));
    out
}

/// The group's selector if it can select anything: `Ok(None)` for a group being deleted,
/// `Err` for an invalid selector or a name that cannot be a label value.
fn active_selector(
    group: &NodeGroup,
) -> Result<Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>, MaterializeError>
{
    let name = group.metadata.name.as_deref().unwrap_or_default();
    if super::source_label_value(name) != name {
        return Err(MaterializeError::NotExpressible(format!(
            "NodeGroup name {name:?} cannot be the value of the {NODEGROUP_LABEL} label \
             (at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends)"
        )));
    }
    let selector = &group.spec.node_selector;
    // Validate once against no labels: validity does not depend on the labels.
    selector_matches(selector, &BTreeMap::new()).map_err(|e| {
        MaterializeError::InvalidSelector {
            field: "spec.nodeSelector".to_string(),
            message: e.to_string(),
        }
    })?;
    if group.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    Ok(Some(selector))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(name: &str, selector: serde_json::Value) -> NodeGroup {
        serde_json::from_value(json!({
            "apiVersion": "scope.theriseunion.io/v1alpha1", "kind": "NodeGroup",
            "metadata": {"name": name},
            "spec": {"nodeSelector": selector}
        }))
        .unwrap()
    }

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn set(node: &str, group: &str) -> NodeLabelChange {
        NodeLabelChange {
            node: node.into(),
            set: Some(group.into()),
        }
    }

    fn unset(node: &str) -> NodeLabelChange {
        NodeLabelChange {
            node: node.into(),
            set: None,
        }
    }

    fn gpu() -> NodeGroup {
        group("gpu", json!({"matchLabels": {"type": "gpu"}}))
    }

    #[test]
    fn labels_exactly_the_matching_nodes() {
        let nodes = vec![
            node("g1", json!({"type": "gpu"})),
            node("g2", json!({"type": "gpu", NODEGROUP_LABEL: "gpu"})),
            node("c1", json!({"type": "cpu"})),
        ];
        let out = desired_node_labels(&gpu(), &[gpu()], &nodes);
        assert_eq!(out.changes, vec![set("g1", "gpu")]);
        assert!(out.conflicts.is_empty());
        assert!(out.error.is_none());
    }

    #[test]
    fn a_node_that_stops_matching_loses_the_label() {
        let nodes = vec![
            node("g1", json!({"type": "cpu", NODEGROUP_LABEL: "gpu"})),
            node("g2", json!({"type": "gpu", NODEGROUP_LABEL: "gpu"})),
        ];
        let out = desired_node_labels(&gpu(), &[gpu()], &nodes);
        assert_eq!(out.changes, vec![unset("g1")]);
    }

    #[test]
    fn a_changed_selector_moves_membership() {
        let nodes = vec![
            node("g1", json!({"type": "gpu", NODEGROUP_LABEL: "gpu"})),
            node("t1", json!({"type": "tpu"})),
        ];
        let changed = group("gpu", json!({"matchLabels": {"type": "tpu"}}));
        let out = desired_node_labels(&changed, &[gpu()], &nodes);
        assert_eq!(out.changes, vec![unset("g1"), set("t1", "gpu")]);
    }

    #[test]
    fn other_groups_labels_are_not_touched_unless_this_group_wins() {
        let nodes = vec![
            // Labelled for a group that no longer matches it: gpu takes it.
            node("g1", json!({"type": "gpu", NODEGROUP_LABEL: "old"})),
            // Labelled for another group; gpu does not match it: left alone.
            node("c1", json!({"type": "cpu", NODEGROUP_LABEL: "cpu"})),
        ];
        let cpu = group("cpu", json!({"matchLabels": {"type": "cpu"}}));
        let out = desired_node_labels(&gpu(), &[gpu(), cpu], &nodes);
        assert_eq!(out.changes, vec![set("g1", "gpu")]);
    }

    #[test]
    fn conflicts_keep_the_incumbent() {
        let nodes = vec![node(
            "n1",
            json!({"type": "gpu", "zone": "a", NODEGROUP_LABEL: "gpu"}),
        )];
        let zone = group("a-zone", json!({"matchLabels": {"zone": "a"}}));
        let all = [gpu(), zone.clone()];
        let for_gpu = desired_node_labels(&gpu(), &all, &nodes);
        let for_zone = desired_node_labels(&zone, &all, &nodes);
        assert!(for_gpu.changes.is_empty());
        assert!(for_zone.changes.is_empty());
        let conflict = NodeConflict {
            node: "n1".into(),
            groups: vec!["a-zone".into(), "gpu".into()],
            chosen: "gpu".into(),
        };
        assert_eq!(for_gpu.conflicts, vec![conflict.clone()]);
        assert_eq!(for_zone.conflicts, vec![conflict]);
    }

    #[test]
    fn conflicts_without_incumbent_go_to_the_first_name() {
        let nodes = vec![node("n1", json!({"type": "gpu", "zone": "a"}))];
        let zone = group("a-zone", json!({"matchLabels": {"zone": "a"}}));
        let all = [gpu(), zone.clone()];
        let for_gpu = desired_node_labels(&gpu(), &all, &nodes);
        let for_zone = desired_node_labels(&zone, &all, &nodes);
        assert!(for_gpu.changes.is_empty());
        assert_eq!(for_zone.changes, vec![set("n1", "a-zone")]);
        assert_eq!(for_gpu.conflicts[0].chosen, "a-zone");
    }

    #[test]
    fn a_loser_that_holds_the_label_gives_it_up_when_the_incumbent_stops_matching() {
        // n1 is labelled for "old", which no longer matches; "a-zone" and "gpu" both match.
        let nodes = vec![node(
            "n1",
            json!({"type": "gpu", "zone": "a", NODEGROUP_LABEL: "old"}),
        )];
        let zone = group("a-zone", json!({"matchLabels": {"zone": "a"}}));
        let old = group("old", json!({"matchLabels": {"type": "old"}}));
        let all = [gpu(), zone.clone(), old.clone()];
        assert_eq!(
            desired_node_labels(&old, &all, &nodes).changes,
            vec![unset("n1")]
        );
        assert_eq!(
            desired_node_labels(&zone, &all, &nodes).changes,
            vec![set("n1", "a-zone")]
        );
        assert!(desired_node_labels(&gpu(), &all, &nodes).changes.is_empty());
    }

    #[test]
    fn an_invalid_selector_matches_nothing_and_is_reported() {
        let broken = group(
            "gpu",
            json!({"matchExpressions": [{"key": "type", "operator": "Equals", "values": ["gpu"]}]}),
        );
        let nodes = vec![node("g1", json!({"type": "gpu", NODEGROUP_LABEL: "gpu"}))];
        let out = desired_node_labels(&broken, std::slice::from_ref(&broken), &nodes);
        assert_eq!(out.changes, vec![unset("g1")]);
        assert!(out.error.unwrap().to_string().contains("spec.nodeSelector"));
    }

    #[test]
    fn a_group_being_deleted_releases_its_nodes() {
        let mut deleting = gpu();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
        );
        let nodes = vec![node("g1", json!({"type": "gpu", NODEGROUP_LABEL: "gpu"}))];
        let out = desired_node_labels(&deleting, std::slice::from_ref(&deleting), &nodes);
        assert_eq!(out.changes, vec![unset("g1")]);
        assert!(out.error.is_none());
    }

    #[test]
    fn an_empty_selector_selects_every_node() {
        let all = group("all", json!({}));
        let nodes = vec![node("a", json!({})), node("b", json!({"x": "y"}))];
        let out = desired_node_labels(&all, &[], &nodes);
        assert_eq!(out.changes, vec![set("a", "all"), set("b", "all")]);
    }

    #[test]
    fn idempotent_once_applied() {
        let nodes = vec![
            node("g1", json!({"type": "gpu"})),
            node("c1", json!({"type": "cpu"})),
        ];
        let first = desired_node_labels(&gpu(), &[gpu()], &nodes);
        let applied: Vec<Node> = nodes
            .iter()
            .map(|n| {
                let mut n = n.clone();
                for change in &first.changes {
                    if n.metadata.name.as_deref() == Some(change.node.as_str()) {
                        let labels = n.metadata.labels.get_or_insert_with(Default::default);
                        match &change.set {
                            Some(g) => {
                                labels.insert(NODEGROUP_LABEL.into(), g.clone());
                            }
                            None => {
                                labels.remove(NODEGROUP_LABEL);
                            }
                        }
                    }
                }
                n
            })
            .collect();
        assert!(
            desired_node_labels(&gpu(), &[gpu()], &applied)
                .changes
                .is_empty()
        );
    }

    #[test]
    fn a_name_that_cannot_be_a_label_value_is_reported() {
        let long = group(&"g".repeat(70), json!({}));
        let out = desired_node_labels(&long, &[], &[node("a", json!({}))]);
        assert!(out.changes.is_empty());
        assert!(matches!(
            out.error,
            Some(MaterializeError::NotExpressible(_))
        ));
    }
}
