//! The scope chain of a request: the scopes it is looked up at, most specific first (model
//! section 3). Built without allocating, from borrowed names, because every decision builds
//! one.

use crate::model::{SCOPE_GROUP, Scope};
use crate::request::{Action, ResourceAttributes};
use crate::topology::Topology;

/// One step of a scope chain, borrowing its names from the request and the topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeStep<'a> {
    /// The platform.
    Platform,
    /// A cluster.
    Cluster(&'a str),
    /// A workspace.
    Workspace(&'a str),
    /// A node group.
    NodeGroup(&'a str),
    /// A namespace.
    Namespace(&'a str),
    /// A node.
    Node(&'a str),
    /// One object.
    Resource {
        /// Its namespace, empty when cluster-scoped.
        namespace: &'a str,
        /// Its API group.
        api_group: &'a str,
        /// Its plural resource.
        resource: &'a str,
        /// Its name.
        name: &'a str,
    },
}

impl ScopeStep<'_> {
    /// The owned scope this step stands for.
    pub fn to_scope(&self) -> Scope {
        match *self {
            ScopeStep::Platform => Scope::Platform,
            ScopeStep::Cluster(n) => Scope::Cluster {
                name: n.to_string(),
            },
            ScopeStep::Workspace(n) => Scope::Workspace {
                name: n.to_string(),
            },
            ScopeStep::NodeGroup(n) => Scope::NodeGroup {
                name: n.to_string(),
            },
            ScopeStep::Namespace(n) => Scope::Namespace {
                name: n.to_string(),
            },
            ScopeStep::Node(n) => Scope::Node {
                name: n.to_string(),
            },
            ScopeStep::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => Scope::Resource {
                namespace: namespace.to_string(),
                api_group: api_group.to_string(),
                resource: resource.to_string(),
                name: name.to_string(),
            },
        }
    }

    /// The step for an owned scope.
    pub fn of(scope: &Scope) -> ScopeStep<'_> {
        match scope {
            Scope::Platform => ScopeStep::Platform,
            Scope::Cluster { name } => ScopeStep::Cluster(name),
            Scope::Workspace { name } => ScopeStep::Workspace(name),
            Scope::NodeGroup { name } => ScopeStep::NodeGroup(name),
            Scope::Namespace { name } => ScopeStep::Namespace(name),
            Scope::Node { name } => ScopeStep::Node(name),
            Scope::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => ScopeStep::Resource {
                namespace,
                api_group,
                resource,
                name,
            },
        }
    }
}

impl hashbrown::Equivalent<Scope> for ScopeStep<'_> {
    fn equivalent(&self, key: &Scope) -> bool {
        *self == ScopeStep::of(key)
    }
}

/// The longest chain has five steps (Resource → Namespace → Workspace → Cluster → Platform).
const MAX_STEPS: usize = 5;

/// A request's scope chain, most specific scope first, ending at Platform.
#[derive(Clone, Copy, Debug)]
pub struct ScopeChain<'a> {
    steps: [ScopeStep<'a>; MAX_STEPS],
    len: usize,
}

impl<'a> ScopeChain<'a> {
    fn new() -> Self {
        ScopeChain {
            steps: [ScopeStep::Platform; MAX_STEPS],
            len: 0,
        }
    }

    fn push(&mut self, step: ScopeStep<'a>) {
        // Every chain built below has at most MAX_STEPS steps; a longer one would be a bug
        // in this module, and dropping a step can only lose allows, never add them.
        if self.len < MAX_STEPS && !self.steps[..self.len].contains(&step) {
            self.steps[self.len] = step;
            self.len += 1;
        }
    }

    /// The steps, most specific first.
    pub fn steps(&self) -> &[ScopeStep<'a>] {
        &self.steps[..self.len]
    }

    /// The chain of a request, as the model's table says.
    pub fn for_action(action: &'a Action, topology: &'a Topology) -> Self {
        let mut chain = ScopeChain::new();
        match action {
            Action::NonResource(_) => {}
            Action::Resource(attrs) => chain.push_resource_steps(attrs, topology),
        }
        chain.push(ScopeStep::Cluster(topology.cluster_name()));
        chain.push(ScopeStep::Platform);
        chain
    }

    fn push_resource_steps(&mut self, attrs: &'a ResourceAttributes, topology: &'a Topology) {
        let named = !attrs.name.is_empty();
        let resource_step = ScopeStep::Resource {
            namespace: &attrs.namespace,
            api_group: &attrs.group,
            resource: &attrs.resource,
            name: &attrs.name,
        };
        if !attrs.namespace.is_empty() {
            if named {
                self.push(resource_step);
            }
            self.push_namespace_steps(&attrs.namespace, topology);
        } else if named && attrs.group.is_empty() && attrs.resource == "nodes" {
            self.push(resource_step);
            self.push_node_steps(&attrs.name, topology);
        } else if named && attrs.group == SCOPE_GROUP && attrs.resource == "workspaces" {
            self.push(ScopeStep::Workspace(&attrs.name));
        } else if named && attrs.group == SCOPE_GROUP && attrs.resource == "nodegroups" {
            self.push(ScopeStep::NodeGroup(&attrs.name));
        } else if named && attrs.group == SCOPE_GROUP && attrs.resource == "clusters" {
            self.push(ScopeStep::Cluster(&attrs.name));
        } else if named {
            self.push(resource_step);
        }
    }

    fn push_namespace_steps(&mut self, namespace: &'a str, topology: &'a Topology) {
        self.push(ScopeStep::Namespace(namespace));
        if let Some(workspace) = topology.workspace_of(namespace) {
            self.push(ScopeStep::Workspace(workspace));
        }
    }

    fn push_node_steps(&mut self, node: &'a str, topology: &'a Topology) {
        self.push(ScopeStep::Node(node));
        if let Some(group) = topology.node_group_of(node) {
            self.push(ScopeStep::NodeGroup(group));
        }
    }

    /// The chain of a scope itself: the scope, then the scopes above it. Used for UI
    /// permissions ("what may this user see on this workspace's page"). Above a Cluster there
    /// is only Platform, and above Platform nothing: the served cluster is added only under
    /// the scopes that live inside it.
    pub fn for_scope(scope: &'a Scope, topology: &'a Topology) -> Self {
        let mut chain = ScopeChain::new();
        match scope {
            Scope::Platform => {
                chain.push(ScopeStep::Platform);
                return chain;
            }
            Scope::Cluster { name } => {
                chain.push(ScopeStep::Cluster(name));
                chain.push(ScopeStep::Platform);
                return chain;
            }
            Scope::Workspace { name } => chain.push(ScopeStep::Workspace(name)),
            Scope::NodeGroup { name } => chain.push(ScopeStep::NodeGroup(name)),
            Scope::Namespace { name } => chain.push_namespace_steps(name, topology),
            Scope::Node { name } => chain.push_node_steps(name, topology),
            Scope::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => {
                chain.push(ScopeStep::of(scope));
                if !namespace.is_empty() {
                    chain.push_namespace_steps(namespace, topology);
                } else if api_group.is_empty() && resource == "nodes" {
                    chain.push_node_steps(name, topology);
                }
            }
        }
        chain.push(ScopeStep::Cluster(topology.cluster_name()));
        chain.push(ScopeStep::Platform);
        chain
    }
}

#[cfg(test)]
mod tests {
    //! One test per row of the model's chain table (section 3), plus the edges around them.

    use super::*;
    use crate::request::NonResourceAttributes;
    use k8s_openapi::api::core::v1::{Namespace, Node};

    fn labelled<T: serde::de::DeserializeOwned>(name: &str, label: Option<(&str, &str)>) -> T {
        let mut labels = serde_json::Map::new();
        if let Some((k, v)) = label {
            labels.insert(k.into(), v.into());
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels}
        }))
        .unwrap()
    }

    /// Cluster `prod`; namespace `team-a` in workspace `ws-a`, namespace `loose` in none;
    /// node `n1` in node group `gpu`, node `n2` in none.
    fn topology() -> Topology {
        let namespaces: Vec<Namespace> = vec![
            labelled("team-a", Some((crate::model::WORKSPACE_LABEL, "ws-a"))),
            labelled("loose", None),
        ];
        let nodes: Vec<Node> = vec![
            labelled("n1", Some((crate::model::NODEGROUP_LABEL, "gpu"))),
            labelled("n2", None),
        ];
        Topology::new("prod", &namespaces, &nodes)
    }

    fn resource(group: &str, resource: &str, name: &str, namespace: &str) -> Action {
        Action::Resource(ResourceAttributes {
            verb: "get".into(),
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
            namespace: namespace.into(),
            ..Default::default()
        })
    }

    fn steps_of(action: &Action, topology: &Topology) -> Vec<Scope> {
        ScopeChain::for_action(action, topology)
            .steps()
            .iter()
            .map(ScopeStep::to_scope)
            .collect()
    }

    fn res(namespace: &str, group: &str, resource: &str, name: &str) -> Scope {
        Scope::Resource {
            namespace: namespace.into(),
            api_group: group.into(),
            resource: resource.into(),
            name: name.into(),
        }
    }
    fn cluster(name: &str) -> Scope {
        Scope::Cluster { name: name.into() }
    }
    fn workspace(name: &str) -> Scope {
        Scope::Workspace { name: name.into() }
    }
    fn node_group(name: &str) -> Scope {
        Scope::NodeGroup { name: name.into() }
    }
    fn namespace(name: &str) -> Scope {
        Scope::Namespace { name: name.into() }
    }
    fn node(name: &str) -> Scope {
        Scope::Node { name: name.into() }
    }

    #[test]
    fn named_namespaced_request_walks_resource_namespace_workspace_cluster_platform() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("", "pods", "web", "team-a"), &t),
            vec![
                res("team-a", "", "pods", "web"),
                namespace("team-a"),
                workspace("ws-a"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn namespaced_request_without_a_name_has_no_resource_step() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("apps", "deployments", "", "team-a"), &t),
            vec![
                namespace("team-a"),
                workspace("ws-a"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn namespace_without_a_workspace_label_has_no_workspace_step() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("", "pods", "web", "loose"), &t),
            vec![
                res("loose", "", "pods", "web"),
                namespace("loose"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn namespace_unknown_to_the_topology_has_no_workspace_step() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("", "pods", "", "elsewhere"), &t),
            vec![namespace("elsewhere"), cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn workspace_label_with_an_empty_value_puts_the_namespace_in_no_workspace() {
        let namespaces: Vec<Namespace> =
            vec![labelled("blank", Some((crate::model::WORKSPACE_LABEL, "")))];
        let t = Topology::new("prod", &namespaces, &[]);
        assert_eq!(
            steps_of(&resource("", "pods", "", "blank"), &t),
            vec![namespace("blank"), cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn subresource_request_keeps_the_parent_objects_resource_step() {
        let t = topology();
        let action = Action::Resource(ResourceAttributes {
            verb: "get".into(),
            resource: "pods".into(),
            subresource: "log".into(),
            name: "web".into(),
            namespace: "team-a".into(),
            ..Default::default()
        });
        assert_eq!(
            steps_of(&action, &t)[0],
            res("team-a", "", "pods", "web"),
            "a Resource scope covers the object and its subresources"
        );
    }

    #[test]
    fn named_node_walks_resource_node_node_group_cluster_platform() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("", "nodes", "n1", ""), &t),
            vec![
                res("", "", "nodes", "n1"),
                node("n1"),
                node_group("gpu"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn node_without_a_node_group_label_has_no_node_group_step() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("", "nodes", "n2", ""), &t),
            vec![
                res("", "", "nodes", "n2"),
                node("n2"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn nodes_without_a_name_walk_only_cluster_and_platform() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("", "nodes", "", ""), &t),
            vec![cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn nodes_in_a_non_core_group_are_not_nodes() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("metrics.k8s.io", "nodes", "n1", ""), &t),
            vec![
                res("", "metrics.k8s.io", "nodes", "n1"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn named_workspace_walks_that_workspace_cluster_platform() {
        let t = topology();
        assert_eq!(
            steps_of(&resource(SCOPE_GROUP, "workspaces", "ws-b", ""), &t),
            vec![workspace("ws-b"), cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn named_node_group_walks_that_node_group_cluster_platform() {
        let t = topology();
        assert_eq!(
            steps_of(&resource(SCOPE_GROUP, "nodegroups", "gpu", ""), &t),
            vec![node_group("gpu"), cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn named_other_cluster_walks_that_cluster_then_the_served_cluster_then_platform() {
        let t = topology();
        assert_eq!(
            steps_of(&resource(SCOPE_GROUP, "clusters", "staging", ""), &t),
            vec![cluster("staging"), cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn named_served_cluster_appears_once() {
        let t = topology();
        assert_eq!(
            steps_of(&resource(SCOPE_GROUP, "clusters", "prod", ""), &t),
            vec![cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn scope_kinds_in_another_group_are_ordinary_cluster_scoped_resources() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("example.com", "workspaces", "ws-a", ""), &t),
            vec![
                res("", "example.com", "workspaces", "ws-a"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn unnamed_scope_kinds_walk_only_cluster_and_platform() {
        let t = topology();
        for kind in ["workspaces", "nodegroups", "clusters"] {
            assert_eq!(
                steps_of(&resource(SCOPE_GROUP, kind, "", ""), &t),
                vec![cluster("prod"), Scope::Platform],
                "{kind}"
            );
        }
    }

    #[test]
    fn named_cluster_scoped_resource_walks_resource_cluster_platform() {
        let t = topology();
        assert_eq!(
            steps_of(
                &resource("rbac.authorization.k8s.io", "clusterroles", "admin", ""),
                &t
            ),
            vec![
                res("", "rbac.authorization.k8s.io", "clusterroles", "admin"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn unnamed_cluster_scoped_or_all_namespaces_request_walks_cluster_platform() {
        let t = topology();
        assert_eq!(
            steps_of(&resource("", "persistentvolumes", "", ""), &t),
            vec![cluster("prod"), Scope::Platform]
        );
        // list pods across all namespaces: no namespace, so no Namespace or Workspace step.
        assert_eq!(
            steps_of(&resource("", "pods", "", ""), &t),
            vec![cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn non_resource_url_walks_cluster_platform() {
        let t = topology();
        let action = Action::NonResource(NonResourceAttributes {
            verb: "get".into(),
            path: "/metrics".into(),
        });
        assert_eq!(
            steps_of(&action, &t),
            vec![cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn scope_chain_of_a_namespace_includes_its_workspace() {
        let t = topology();
        let scope = namespace("team-a");
        let chain: Vec<Scope> = ScopeChain::for_scope(&scope, &t)
            .steps()
            .iter()
            .map(ScopeStep::to_scope)
            .collect();
        assert_eq!(
            chain,
            vec![
                namespace("team-a"),
                workspace("ws-a"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn scope_chain_of_a_workspace_does_not_descend_to_its_namespaces() {
        let t = topology();
        let scope = workspace("ws-a");
        let chain: Vec<Scope> = ScopeChain::for_scope(&scope, &t)
            .steps()
            .iter()
            .map(ScopeStep::to_scope)
            .collect();
        assert_eq!(
            chain,
            vec![workspace("ws-a"), cluster("prod"), Scope::Platform]
        );
    }

    #[test]
    fn scope_chain_of_a_node_resource_includes_node_and_node_group() {
        let t = topology();
        let scope = res("", "", "nodes", "n1");
        let chain: Vec<Scope> = ScopeChain::for_scope(&scope, &t)
            .steps()
            .iter()
            .map(ScopeStep::to_scope)
            .collect();
        assert_eq!(
            chain,
            vec![
                res("", "", "nodes", "n1"),
                node("n1"),
                node_group("gpu"),
                cluster("prod"),
                Scope::Platform
            ]
        );
    }

    #[test]
    fn step_and_scope_convert_both_ways() {
        for scope in [
            Scope::Platform,
            cluster("c"),
            workspace("w"),
            node_group("g"),
            namespace("n"),
            node("x"),
            res("ns", "apps", "deployments", "d"),
        ] {
            assert_eq!(ScopeStep::of(&scope).to_scope(), scope);
        }
    }
}
