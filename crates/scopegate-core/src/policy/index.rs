//! The index that makes a decision cost a few hash lookups however large the policy is:
//! grants filed by scope, then by subject (user name or group name). One lookup per chain
//! step and subject key yields every grant that can apply (the seed's "visitor": one query
//! returns all related bindings).

use super::grant::{Grant, SubjectKind};
use crate::chain::ScopeStep;
use crate::model::Scope;
/// Maps keyed by names from requests. foldhash instead of std's SipHash: the lookups are
/// most of a decision's work, and its per-process random seed keeps keys unpredictable.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Grants at one scope, by subject. Values are grant ordinals, ascending.
#[derive(Clone, Debug, Default)]
pub(crate) struct SubjectIndex {
    by_user: HashMap<Box<str>, Vec<u32>>,
    by_group: HashMap<Box<str>, Vec<u32>>,
}

impl SubjectIndex {
    fn insert(&mut self, grant: &Grant, ordinal: u32) {
        for subject in &grant.subjects {
            let map = match subject.kind {
                SubjectKind::User | SubjectKind::ServiceAccount => &mut self.by_user,
                SubjectKind::Group => &mut self.by_group,
            };
            let list = map.entry(subject.matches.as_str().into()).or_default();
            // A binding may name the same subject twice; file it once.
            if list.last() != Some(&ordinal) {
                list.push(ordinal);
            }
        }
    }

    /// Every list of grant ordinals that can apply to this user and these groups.
    pub(crate) fn candidates<'s>(
        &'s self,
        user: &str,
        groups: &'s [String],
    ) -> impl Iterator<Item = &'s [u32]> + 's {
        let by_user = self.by_user.get(user).map(Vec::as_slice);
        let by_group = groups
            .iter()
            .filter_map(|g| self.by_group.get(g.as_str()).map(Vec::as_slice));
        by_user.into_iter().chain(by_group)
    }
}

/// Which object a Resource scope names, under its name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ResourceTarget {
    namespace: Box<str>,
    api_group: Box<str>,
    resource: Box<str>,
}

/// Every grant, filed by the scope it acts at (and, for compiling subjects, by subject alone).
#[derive(Clone, Debug, Default)]
pub(crate) struct ScopeIndex {
    /// Every grant by subject, whatever its scope: what a subject's "login" compiles from.
    pub(crate) all_scopes: SubjectIndex,
    platform: SubjectIndex,
    clusters: HashMap<Box<str>, SubjectIndex>,
    workspaces: HashMap<Box<str>, SubjectIndex>,
    node_groups: HashMap<Box<str>, SubjectIndex>,
    namespaces: HashMap<Box<str>, SubjectIndex>,
    nodes: HashMap<Box<str>, SubjectIndex>,
    resources: HashMap<Box<str>, Vec<(ResourceTarget, SubjectIndex)>>,
}

impl ScopeIndex {
    /// Files `grant` under its scope and subjects. Grants must be inserted in ordinal order.
    pub(crate) fn insert(&mut self, grant: &Grant, ordinal: u32) {
        self.all_scopes.insert(grant, ordinal);
        let named = |map: &mut HashMap<Box<str>, SubjectIndex>, name: &str| {
            map.entry(name.into()).or_default().insert(grant, ordinal)
        };
        match &grant.scope {
            Scope::Platform => self.platform.insert(grant, ordinal),
            Scope::Cluster { name } => named(&mut self.clusters, name),
            Scope::Workspace { name } => named(&mut self.workspaces, name),
            Scope::NodeGroup { name } => named(&mut self.node_groups, name),
            Scope::Namespace { name } => named(&mut self.namespaces, name),
            Scope::Node { name } => named(&mut self.nodes, name),
            Scope::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => {
                let target = ResourceTarget {
                    namespace: namespace.as_str().into(),
                    api_group: api_group.as_str().into(),
                    resource: resource.as_str().into(),
                };
                let entries = self.resources.entry(name.as_str().into()).or_default();
                match entries.iter_mut().find(|(t, _)| *t == target) {
                    Some((_, index)) => index.insert(grant, ordinal),
                    None => {
                        let mut index = SubjectIndex::default();
                        index.insert(grant, ordinal);
                        entries.push((target, index));
                    }
                }
            }
        }
    }

    /// The grants filed at one chain step, if any.
    pub(crate) fn at(&self, step: &ScopeStep<'_>) -> Option<&SubjectIndex> {
        match *step {
            ScopeStep::Platform => Some(&self.platform),
            ScopeStep::Cluster(name) => self.clusters.get(name),
            ScopeStep::Workspace(name) => self.workspaces.get(name),
            ScopeStep::NodeGroup(name) => self.node_groups.get(name),
            ScopeStep::Namespace(name) => self.namespaces.get(name),
            ScopeStep::Node(name) => self.nodes.get(name),
            ScopeStep::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => self
                .resources
                .get(name)?
                .iter()
                .find(|(t, _)| {
                    &*t.namespace == namespace
                        && &*t.api_group == api_group
                        && &*t.resource == resource
                })
                .map(|(_, index)| index),
        }
    }
}
