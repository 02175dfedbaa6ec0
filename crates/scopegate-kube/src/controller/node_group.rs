//! The NodeGroup controller: keeps the label `scope.theriseunion.io/nodegroup: <group>` on
//! exactly the nodes the group's `spec.nodeSelector` matches ([`desired_node_labels`]),
//! adding and removing it. Triggered by the group, by any other group (conflicts are settled
//! across groups), and by nodes whose labels change.
//!
//! This is the one controller with a finalizer (`scopegate.theriseunion.io/nodegroup-labels`):
//! the labels it puts on Nodes are not owned objects the garbage collector could remove, so a
//! deleted group takes its labels off its nodes before it goes.

use super::apply::{self, Readiness};
use super::world::from_meta;
use super::{Context, Error, FIELD_MANAGER};
use crate::materialize::{NodeGroupLabels, desired_node_labels};
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use scopegate_core::model::{NODEGROUP_LABEL, NodeGroup};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// The controller's name in metrics and logs.
pub(crate) const NAME: &str = "nodegroup";

/// The finalizer that removes a deleted group's labels from its nodes.
pub const FINALIZER: &str = "scopegate.theriseunion.io/nodegroup-labels";

/// One reconcile of one NodeGroup.
pub(crate) async fn reconcile(group: Arc<NodeGroup>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.world.ready().await?;
    let api: Api<NodeGroup> = Api::all(ctx.client.clone());
    if group.metadata.deletion_timestamp.is_none() && group.finalizers().is_empty() {
        // kube's helper adds a first finalizer with a JSON patch testing that the list is
        // null, which API servers before v1.22 or so refuse; test the resourceVersion
        // instead (a concurrent change makes this fail and the change brings us back).
        let patch = serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": group.resource_version()},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ]);
        let patch = serde_json::from_value(patch).map_err(|e| Error::Api {
            action: "add the finalizer to",
            object: format!("NodeGroup {}", group.name_any()),
            source: kube::Error::SerdeError(e),
        })?;
        api.patch(
            &group.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
        .map_err(|source| Error::Api {
            action: "add the finalizer to",
            object: format!("NodeGroup {}", group.name_any()),
            source,
        })?;
        // The patch brings the group back here, with its finalizer.
        return Ok(Action::await_change());
    }
    finalizer(&api, FINALIZER, group, |event| async {
        match event {
            Finalizer::Apply(group) => label_nodes(&group, &ctx).await,
            Finalizer::Cleanup(group) => {
                // Being deleted, the group matches no node: every label it has is removed.
                label_nodes(&group, &ctx).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn label_nodes(group: &NodeGroup, ctx: &Context) -> Result<Action, Error> {
    let name = group.name_any();
    let groups = super::world::owned(&ctx.world.node_groups);
    let nodes: Vec<Node> = ctx
        .world
        .nodes
        .state()
        .iter()
        .map(|m| from_meta(m))
        .collect();
    let outcome = desired_node_labels(group, &groups, &nodes);
    let api: Api<Node> = Api::all(ctx.client.clone());
    for change in &outcome.changes {
        let result = match &change.set {
            Some(value) => {
                let patch = serde_json::json!({
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": change.node, "labels": {NODEGROUP_LABEL: value}},
                });
                api.patch(
                    &change.node,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&patch),
                )
                .await
            }
            // A merge patch, not an apply: the label may have been set by someone else, and
            // an apply only ever removes fields its own manager set.
            None => {
                let patch = serde_json::json!({"metadata": {"labels": {NODEGROUP_LABEL: null}}});
                let params = PatchParams {
                    field_manager: Some(FIELD_MANAGER.to_string()),
                    ..PatchParams::default()
                };
                api.patch(&change.node, &params, &Patch::Merge(&patch))
                    .await
            }
        };
        match result {
            Ok(_) => {
                tracing::info!(node = %change.node, group = %name, set = ?change.set, "node group label")
            }
            // A node deleted meanwhile has no label to fix.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => {
                let error = Error::Api {
                    action: "label",
                    object: format!("Node {}", change.node),
                    source,
                };
                ctx.report_failure(group, group.status.as_ref(), &error)
                    .await;
                return Err(error);
            }
        }
    }
    if group.metadata.deletion_timestamp.is_none() {
        let readiness = readiness(&name, &nodes, &outcome);
        apply::write_status(
            &ctx.client,
            &ctx.recorder,
            group,
            group.status.as_ref(),
            &readiness,
        )
        .await?;
    }
    Ok(Action::requeue(ctx.options.resync))
}

/// What the group's status says once `outcome` is applied to `nodes`.
pub(crate) fn readiness(group: &str, nodes: &[Node], outcome: &NodeGroupLabels) -> Readiness {
    if let Some(error) = &outcome.error {
        return Readiness::failed(error.reason(), error.to_string());
    }
    let mut members: BTreeMap<&str, bool> = nodes
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.as_deref()?;
            let labelled = n
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(NODEGROUP_LABEL))
                .is_some_and(|v| v == group);
            Some((name, labelled))
        })
        .collect();
    for change in &outcome.changes {
        members.insert(&change.node, change.set.is_some());
    }
    let count = members.values().filter(|m| **m).count();
    let mut message = match count {
        1 => "1 node".to_string(),
        n => format!("{n} nodes"),
    };
    for conflict in &outcome.conflicts {
        message.push_str(&format!(
            "; node {:?} is matched by {} and stays in {:?}",
            conflict.node,
            conflict.groups.join(", "),
            conflict.chosen
        ));
    }
    if outcome.conflicts.is_empty() {
        Readiness::ok("NodesLabelled", message)
    } else {
        // Ready: the group works; the conflict is for a person to settle.
        Readiness::ok("NodeConflict", message)
    }
}

/// Another group changed → every group (conflicts are settled across groups by name and
/// incumbency, so one group's change can move a node into another).
pub(crate) fn map_group(
    groups: Store<NodeGroup>,
) -> impl Fn(NodeGroup) -> Vec<ObjectRef<NodeGroup>> + Send + Sync + 'static {
    move |changed| {
        groups
            .state()
            .iter()
            .filter(|g| g.name_any() != changed.name_any())
            .map(|g| ObjectRef::from_obj(&**g))
            .collect()
    }
}

/// A node's labels changed (or it appeared or went) → every group. Other changes (status,
/// heartbeats, annotations) trigger nothing.
pub(crate) fn map_node(
    nodes: Store<PartialObjectMeta<Node>>,
    groups: Store<NodeGroup>,
) -> impl Fn(PartialObjectMeta<Node>) -> Vec<ObjectRef<NodeGroup>> + Send + Sync + 'static {
    let seen: Mutex<HashMap<String, BTreeMap<String, String>>> = Mutex::default();
    move |node| {
        let name = node.name_any();
        let exists = nodes.get(&ObjectRef::from_obj(&node)).is_some();
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let changed = {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            if exists {
                seen.insert(name, labels.clone()).as_ref() != Some(&labels)
            } else {
                seen.remove(&name).is_some()
            }
        };
        if !changed {
            return Vec::new();
        }
        groups
            .state()
            .iter()
            .map(|g| ObjectRef::from_obj(&**g))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(name: &str) -> NodeGroup {
        serde_json::from_value(json!({
            "apiVersion": "scope.theriseunion.io/v1alpha1", "kind": "NodeGroup",
            "metadata": {"name": name},
            "spec": {"nodeSelector": {"matchLabels": {"type": "gpu"}}}
        }))
        .unwrap()
    }

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    #[test]
    fn the_status_counts_the_nodes_after_the_changes() {
        let nodes = vec![
            node("g1", json!({"type": "gpu"})),
            node("g2", json!({"type": "gpu", NODEGROUP_LABEL: "gpu"})),
            node("old", json!({"type": "cpu", NODEGROUP_LABEL: "gpu"})),
        ];
        let outcome = desired_node_labels(&group("gpu"), &[group("gpu")], &nodes);
        assert_eq!(outcome.changes.len(), 2);
        let ready = readiness("gpu", &nodes, &outcome);
        assert!(ready.ready);
        assert_eq!(ready.message, "2 nodes");
    }

    #[test]
    fn conflicts_are_reported_in_the_status() {
        let nodes = vec![node("g1", json!({"type": "gpu"}))];
        let all = [group("gpu"), group("a-gpu")];
        let outcome = desired_node_labels(&group("gpu"), &all, &nodes);
        let ready = readiness("gpu", &nodes, &outcome);
        assert_eq!(ready.reason, "NodeConflict");
        assert!(
            ready.message.starts_with("0 nodes; node \"g1\""),
            "{}",
            ready.message
        );
        assert!(
            ready.message.contains("stays in \"a-gpu\""),
            "{}",
            ready.message
        );
    }

    #[test]
    fn an_invalid_selector_is_not_ready() {
        let broken: NodeGroup = serde_json::from_value(json!({
            "apiVersion": "scope.theriseunion.io/v1alpha1", "kind": "NodeGroup",
            "metadata": {"name": "gpu"},
            "spec": {"nodeSelector": {"matchExpressions": [{"key": "t", "operator": "Equals", "values": ["x"]}]}}
        }))
        .unwrap();
        let outcome = desired_node_labels(&broken, &[], &[]);
        let ready = readiness("gpu", &[], &outcome);
        assert!(!ready.ready);
        assert_eq!(ready.reason, "InvalidSelector");
    }
}
