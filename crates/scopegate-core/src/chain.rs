//! The scope chain of a request: the scopes it is looked up at, most specific first (model
//! section 3). Built without allocating, from borrowed names, because every decision builds
//! one.

use crate::model::{SCOPE_GROUP, Scope};
use crate::request::{Action, ResourceAttributes};
use crate::topology::Topology;
use std::convert::Infallible;
use std::ops::ControlFlow;

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

/// Which steps of a chain that come from the topology a walk looks up: a namespace's
/// workspace, a node's node group. A caller that knows it has nothing at one of those kinds
/// (a compiled subject with no grant at any workspace, say) skips the lookup: a probe of a
/// map as large as the cluster, likely a cache miss on a large one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lookups {
    /// Look up a namespace's workspace.
    pub(crate) workspace: bool,
    /// Look up a node's node group.
    pub(crate) node_group: bool,
}

impl Lookups {
    /// Every lookup: the whole chain.
    pub(crate) const ALL: Lookups = Lookups {
        workspace: true,
        node_group: true,
    };
}

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

    /// Adds `step` unless it is already on the chain; whether it was added.
    fn push(&mut self, step: ScopeStep<'a>) -> bool {
        // Every chain built below has at most MAX_STEPS steps; a longer one would be a bug
        // in this module, and dropping a step can only lose allows, never add them.
        if self.len < MAX_STEPS && !self.steps[..self.len].contains(&step) {
            self.steps[self.len] = step;
            self.len += 1;
            true
        } else {
            false
        }
    }

    /// The steps, most specific first.
    pub fn steps(&self) -> &[ScopeStep<'a>] {
        &self.steps[..self.len]
    }

    /// The chain of a request, as the model's table says.
    pub fn for_action(action: &'a Action, topology: &'a Topology) -> Self {
        let mut walk = Walk::new(topology, Lookups::ALL, |_: &ScopeStep<'a>| {
            ControlFlow::<Infallible>::Continue(())
        });
        let ControlFlow::Continue(()) = walk.action(action);
        walk.chain
    }

    /// Visits the chain of a request step by step, most specific first, until `visit`
    /// breaks, and returns what it broke with. Each topology lookup is made only when the
    /// walk gets to the step it yields (a request allowed at its namespace never looks up
    /// the workspace), and only if `lookups` asks for it. With [`Lookups::ALL`] the steps
    /// visited are those of [`ScopeChain::for_action`], in its order.
    #[inline]
    pub(crate) fn walk_action<T>(
        action: &'a Action,
        topology: &'a Topology,
        lookups: Lookups,
        visit: impl FnMut(&ScopeStep<'a>) -> ControlFlow<T>,
    ) -> Option<T> {
        match Walk::new(topology, lookups, visit).action(action) {
            ControlFlow::Break(found) => Some(found),
            ControlFlow::Continue(()) => None,
        }
    }

    /// The chain of a scope itself: the scope, then the scopes above it. Used for UI
    /// permissions ("what may this user see on this workspace's page"). Above a Cluster there
    /// is only Platform, and above Platform nothing: the served cluster is added only under
    /// the scopes that live inside it.
    pub fn for_scope(scope: &'a Scope, topology: &'a Topology) -> Self {
        let mut walk = Walk::new(topology, Lookups::ALL, |_: &ScopeStep<'a>| {
            ControlFlow::<Infallible>::Continue(())
        });
        let ControlFlow::Continue(()) = walk.scope(scope);
        walk.chain
    }
}

/// Builds a chain step by step, handing each new step to `visit` as soon as it is known.
/// The one place where the shape of a chain is written down: [`ScopeChain::for_action`] and
/// [`ScopeChain::for_scope`] are walks that never stop.
struct Walk<'a, F> {
    chain: ScopeChain<'a>,
    topology: &'a Topology,
    lookups: Lookups,
    visit: F,
}

impl<'a, T, F: FnMut(&ScopeStep<'a>) -> ControlFlow<T>> Walk<'a, F> {
    fn new(topology: &'a Topology, lookups: Lookups, visit: F) -> Self {
        Walk {
            chain: ScopeChain::new(),
            topology,
            lookups,
            visit,
        }
    }

    /// Adds `step` (unless already on the chain) and visits it.
    #[inline]
    fn push(&mut self, step: ScopeStep<'a>) -> ControlFlow<T> {
        if self.chain.push(step) {
            (self.visit)(&step)
        } else {
            ControlFlow::Continue(())
        }
    }

    /// The chain of a request, as the model's table says.
    #[inline]
    fn action(&mut self, action: &'a Action) -> ControlFlow<T> {
        match action {
            Action::NonResource(_) => {}
            Action::Resource(attrs) => self.resource_steps(attrs)?,
        }
        self.push(ScopeStep::Cluster(self.topology.cluster_name()))?;
        self.push(ScopeStep::Platform)
    }

    #[inline]
    fn resource_steps(&mut self, attrs: &'a ResourceAttributes) -> ControlFlow<T> {
        let named = !attrs.name.is_empty();
        let resource_step = ScopeStep::Resource {
            namespace: &attrs.namespace,
            api_group: &attrs.group,
            resource: &attrs.resource,
            name: &attrs.name,
        };
        if !attrs.namespace.is_empty() {
            if named {
                self.push(resource_step)?;
            }
            self.namespace_steps(&attrs.namespace)
        } else if named && attrs.group.is_empty() && attrs.resource == "nodes" {
            self.push(resource_step)?;
            self.node_steps(&attrs.name)
        } else if named && attrs.group == SCOPE_GROUP && attrs.resource == "workspaces" {
            self.push(ScopeStep::Workspace(&attrs.name))
        } else if named && attrs.group == SCOPE_GROUP && attrs.resource == "nodegroups" {
            self.push(ScopeStep::NodeGroup(&attrs.name))
        } else if named && attrs.group == SCOPE_GROUP && attrs.resource == "clusters" {
            self.push(ScopeStep::Cluster(&attrs.name))
        } else if named {
            self.push(resource_step)
        } else {
            ControlFlow::Continue(())
        }
    }

    #[inline]
    fn namespace_steps(&mut self, namespace: &'a str) -> ControlFlow<T> {
        self.push(ScopeStep::Namespace(namespace))?;
        if self.lookups.workspace
            && let Some(workspace) = self.topology.workspace_of(namespace)
        {
            self.push(ScopeStep::Workspace(workspace))?;
        }
        ControlFlow::Continue(())
    }

    #[inline]
    fn node_steps(&mut self, node: &'a str) -> ControlFlow<T> {
        self.push(ScopeStep::Node(node))?;
        if self.lookups.node_group
            && let Some(group) = self.topology.node_group_of(node)
        {
            self.push(ScopeStep::NodeGroup(group))?;
        }
        ControlFlow::Continue(())
    }

    /// The chain of a scope itself (see [`ScopeChain::for_scope`]).
    fn scope(&mut self, scope: &'a Scope) -> ControlFlow<T> {
        match scope {
            Scope::Platform => return self.push(ScopeStep::Platform),
            Scope::Cluster { name } => {
                self.push(ScopeStep::Cluster(name))?;
                return self.push(ScopeStep::Platform);
            }
            Scope::Workspace { name } => self.push(ScopeStep::Workspace(name))?,
            Scope::NodeGroup { name } => self.push(ScopeStep::NodeGroup(name))?,
            Scope::Namespace { name } => self.namespace_steps(name)?,
            Scope::Node { name } => self.node_steps(name)?,
            Scope::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => {
                self.push(ScopeStep::of(scope))?;
                if !namespace.is_empty() {
                    self.namespace_steps(namespace)?;
                } else if api_group.is_empty() && resource == "nodes" {
                    self.node_steps(name)?;
                }
            }
        }
        self.push(ScopeStep::Cluster(self.topology.cluster_name()))?;
        self.push(ScopeStep::Platform)
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

    /// Resource requests over every branch of the chain table: namespaced or not, nodes in
    /// and out of node groups, the scope kinds (named and in other groups), the served
    /// cluster and another one.
    fn any_action() -> impl proptest::strategy::Strategy<Value = Action> {
        use proptest::prelude::*;
        let group = prop::sample::select(vec!["", "apps", SCOPE_GROUP]);
        let resources = prop::sample::select(vec![
            "pods",
            "nodes",
            "workspaces",
            "nodegroups",
            "clusters",
        ]);
        let name = prop::sample::select(vec!["", "n1", "n2", "ws-a", "gpu", "prod", "other"]);
        let namespace = prop::sample::select(vec!["", "team-a", "loose", "unknown"]);
        (group, resources, name, namespace, any::<bool>()).prop_map(
            |(group, resource_name, name, namespace, non_resource)| {
                if non_resource {
                    Action::NonResource(NonResourceAttributes {
                        verb: "get".into(),
                        path: "/healthz".into(),
                    })
                } else {
                    resource(group, resource_name, name, namespace)
                }
            },
        )
    }

    /// The steps a walk visits, until `stop_at` (a step index) if given, and what it
    /// returned.
    fn walked(
        action: &Action,
        topology: &Topology,
        lookups: Lookups,
        stop_at: Option<usize>,
    ) -> (Vec<Scope>, Option<Scope>) {
        let mut visited = Vec::new();
        let found = ScopeChain::walk_action(action, topology, lookups, |step| {
            visited.push(step.to_scope());
            if Some(visited.len() - 1) == stop_at {
                ControlFlow::Break(step.to_scope())
            } else {
                ControlFlow::Continue(())
            }
        });
        (visited, found)
    }

    proptest::proptest! {
        /// A walk that never stops visits exactly the chain `for_action` builds; one that
        /// stops at step k has visited the first k + 1 steps and returns the k-th.
        #[test]
        fn walk_visits_the_chain_in_order_and_stops_where_told(
            action in any_action(),
            stop_at in 0usize..6,
        ) {
            let t = topology();
            let chain = steps_of(&action, &t);
            let (visited, found) = walked(&action, &t, Lookups::ALL, None);
            proptest::prop_assert_eq!(&visited, &chain);
            proptest::prop_assert_eq!(found, None);

            let (visited, found) = walked(&action, &t, Lookups::ALL, Some(stop_at));
            let expected: Vec<Scope> = chain.iter().take(stop_at + 1).cloned().collect();
            proptest::prop_assert_eq!(&visited, &expected);
            proptest::prop_assert_eq!(found, chain.get(stop_at).cloned());
        }

        /// Without a lookup, a walk is the chain of a topology that has no such membership:
        /// only the steps found through the topology are left out.
        #[test]
        fn walk_without_a_lookup_leaves_out_only_the_step_it_would_find(
            action in any_action(),
            workspace in proptest::prelude::any::<bool>(),
            node_group in proptest::prelude::any::<bool>(),
        ) {
            let full = topology();
            let mut reduced = topology();
            if !workspace {
                reduced.set_workspace_of("team-a", None);
            }
            if !node_group {
                reduced.set_node_group_of("n1", None);
            }
            let (visited, _) = walked(&action, &full, Lookups { workspace, node_group }, None);
            proptest::prop_assert_eq!(visited, steps_of(&action, &reduced));
        }
    }
}
