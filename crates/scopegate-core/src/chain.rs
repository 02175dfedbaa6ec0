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
    /// permissions ("what may this user see on this workspace's page").
    pub fn for_scope(scope: &'a Scope, topology: &'a Topology) -> Self {
        let mut chain = ScopeChain::new();
        match scope {
            Scope::Platform => {}
            Scope::Cluster { name } => chain.push(ScopeStep::Cluster(name)),
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
