//! The index that makes a decision cost a few hash lookups however large the policy is:
//! grants filed by scope, then by subject (user name or group name). One lookup per chain
//! step and subject key yields every grant that can apply (the seed's "visitor": one query
//! returns all related bindings).
//!
//! Persistent, so that a policy store can file or unfile one grant in a snapshot's copy of
//! the index by copying only what that grant is in: the scope maps (one per scope kind,
//! keyed by name alone, as before) are [`PersistentMap`]s; a scope's subjects are one plain
//! table stored inline in its entry (copied whole when that scope changes); lists are
//! [`Filed`] grants (one inline, more in an `Arc<[Filed]>`), each beside its role's rules.
//! The lists hold the grants themselves, sorted by binding ([`Grant::binding`], the
//! canonical order): no ordinal into a global array, which would have to be renumbered on
//! every insertion, and "first allow" and explanation order stay those of a one-shot
//! compile.

use super::grant::{Filed, Grant, SubjectKind};
use super::name::Name;
use super::persistent::PersistentMap;
use crate::chain::ScopeStep;
use crate::model::Scope;
use crate::objects::ObjectRef;
use std::sync::Arc;

/// Grants in canonical order (by binding), each at most once.
pub(crate) type GrantList = Arc<[Arc<Grant>]>;

/// `list` with `grant` filed in canonical order (replacing a grant of the same binding).
fn with_grant(list: &[Arc<Grant>], grant: &Arc<Grant>) -> GrantList {
    let mut out = Vec::with_capacity(list.len() + 1);
    match list.binary_search_by(|g| g.binding.cmp(&grant.binding)) {
        Ok(at) => {
            out.extend_from_slice(&list[..at]);
            out.push(grant.clone());
            out.extend_from_slice(&list[at + 1..]);
        }
        Err(at) => {
            out.extend_from_slice(&list[..at]);
            out.push(grant.clone());
            out.extend_from_slice(&list[at..]);
        }
    }
    out.into()
}

/// `list` without the grant of `binding`; `None` when that leaves it empty.
fn without_binding(list: &[Arc<Grant>], binding: &ObjectRef) -> Option<GrantList> {
    let out: Vec<Arc<Grant>> = list
        .iter()
        .filter(|g| g.binding != *binding)
        .cloned()
        .collect();
    (!out.is_empty()).then(|| out.into())
}

/// A grant filed by its binding: hashes and compares as [`Grant::binding`], so that a map of
/// them can be searched with an [`ObjectRef`] and a shard copied without copying a string.
#[derive(Clone, Debug)]
pub(crate) struct ByBinding(pub(crate) Arc<Grant>);

impl std::hash::Hash for ByBinding {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.binding.hash(state);
    }
}

impl PartialEq for ByBinding {
    fn eq(&self, other: &Self) -> bool {
        self.0.binding == other.0.binding
    }
}

impl Eq for ByBinding {}

impl hashbrown::Equivalent<ByBinding> for ObjectRef {
    fn equivalent(&self, key: &ByBinding) -> bool {
        *self == key.0.binding
    }
}

/// Grants by subject across all scopes: users (and ServiceAccounts, as users) and groups,
/// sharded (tens of thousands of subjects) since every change writes to it.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllSubjects {
    by_user: PersistentMap<Arc<str>, GrantList>,
    by_group: PersistentMap<Arc<str>, GrantList>,
}

impl AllSubjects {
    fn map_mut(&mut self, kind: SubjectKind) -> &mut PersistentMap<Arc<str>, GrantList> {
        match kind {
            SubjectKind::User | SubjectKind::ServiceAccount => &mut self.by_user,
            SubjectKind::Group => &mut self.by_group,
        }
    }

    fn insert(&mut self, grant: &Arc<Grant>) {
        for subject in &grant.subjects {
            let map = self.map_mut(subject.kind);
            let key: &str = &subject.matches;
            match map.get_mut(key) {
                Some(list) => *list = with_grant(list, grant),
                None => {
                    map.insert(key.into(), Arc::from([grant.clone()]));
                }
            }
        }
    }

    fn remove(&mut self, grant: &Grant) {
        for subject in &grant.subjects {
            let map = self.map_mut(subject.kind);
            let key: &str = &subject.matches;
            let Some(list) = map.get_mut(key) else {
                continue; // a subject named twice was unfiled at its first mention
            };
            match without_binding(list, &grant.binding) {
                Some(rest) => *list = rest,
                None => {
                    map.remove(key);
                }
            }
        }
    }

    /// Every list of grants that can apply to this user and these groups.
    pub(crate) fn candidates<'s, 'g>(
        &'s self,
        user: &str,
        groups: &'g [String],
    ) -> impl Iterator<Item = &'s [Arc<Grant>]> + use<'s, 'g> {
        let by_user = self.by_user.get(user).map(|l| &l[..]);
        let by_group = groups
            .iter()
            .filter_map(|g| self.by_group.get(g.as_str()).map(|l| &l[..]));
        by_user.into_iter().chain(by_group)
    }
}

/// Grants of one subject at one scope, in canonical order (by binding), each at most once.
/// Most subjects have one grant at a scope: that one is stored in the entry itself, so that
/// reaching it costs no load beyond the table's own entry.
#[derive(Clone, Debug)]
enum FiledList {
    /// One grant.
    One(Filed),
    /// Two or more.
    Many(Arc<[Filed]>),
}

impl FiledList {
    /// The list of `filed`; `None` when it is empty.
    fn from_vec(mut filed: Vec<Filed>) -> Option<Self> {
        match filed.len() {
            0 => None,
            1 => filed.pop().map(FiledList::One),
            _ => Some(FiledList::Many(filed.into())),
        }
    }

    /// The grants, in canonical order.
    #[inline]
    fn as_slice(&self) -> &[Filed] {
        match self {
            FiledList::One(filed) => std::slice::from_ref(filed),
            FiledList::Many(list) => list,
        }
    }
}

/// `list` with `grant` filed in canonical order (replacing a grant of the same binding).
fn with_filed(list: &[Filed], grant: &Arc<Grant>) -> FiledList {
    let mut out = Vec::with_capacity(list.len() + 1);
    match list.binary_search_by(|f| f.grant.binding.cmp(&grant.binding)) {
        Ok(at) => {
            out.extend_from_slice(&list[..at]);
            out.push(Filed::new(grant));
            out.extend_from_slice(&list[at + 1..]);
        }
        Err(at) => {
            out.extend_from_slice(&list[..at]);
            out.push(Filed::new(grant));
            out.extend_from_slice(&list[at..]);
        }
    }
    FiledList::from_vec(out).unwrap_or_else(|| FiledList::One(Filed::new(grant)))
}

/// `list` without the grant of `binding`; `None` when that leaves it empty.
fn without_filed(list: &[Filed], binding: &ObjectRef) -> Option<FiledList> {
    FiledList::from_vec(
        list.iter()
            .filter(|f| f.grant.binding != *binding)
            .cloned()
            .collect(),
    )
}

/// One subject at one scope: a user (ServiceAccounts are users) or a group, and its grants.
/// The name is inline when short ([`Name`]), so a probe compares it in the entry itself.
#[derive(Clone, Debug)]
struct SubjectEntry {
    group: bool,
    name: Name,
    grants: FiledList,
}

/// The hash of a subject: its name's, told apart by kind.
fn subject_hash(group: bool, name: &str) -> u64 {
    super::persistent::hash_of(name) ^ u64::from(group).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The grants at one scope, by subject: one plain table for users and groups together,
/// stored inline in the scope's entry. A decision reads it exactly as it read the maps of
/// a one-shot compile (no shard, no extra pointer), and a change copies it whole: one
/// scope's subjects are few (a handful per namespace, some thousands at a busy cluster).
#[derive(Clone, Debug, Default)]
pub(crate) struct ScopeSubjects {
    table: hashbrown::HashTable<SubjectEntry>,
}

impl ScopeSubjects {
    #[inline]
    fn list(&self, group: bool, name: &str) -> Option<&[Filed]> {
        self.table
            .find(subject_hash(group, name), |e| {
                e.group == group && e.name.as_bytes() == name.as_bytes()
            })
            .map(|e| e.grants.as_slice())
    }

    fn insert(&mut self, grant: &Arc<Grant>) {
        for subject in &grant.subjects {
            let group = subject.kind == SubjectKind::Group;
            let name: &str = &subject.matches;
            let hash = subject_hash(group, name);
            match self.table.find_mut(hash, |e| {
                e.group == group && e.name.as_bytes() == name.as_bytes()
            }) {
                Some(entry) => entry.grants = with_filed(entry.grants.as_slice(), grant),
                None => {
                    self.table.insert_unique(
                        hash,
                        SubjectEntry {
                            group,
                            name: name.into(),
                            grants: FiledList::One(Filed::new(grant)),
                        },
                        |e| subject_hash(e.group, e.name.as_str()),
                    );
                }
            }
        }
    }

    fn remove(&mut self, grant: &Grant) {
        for subject in &grant.subjects {
            let group = subject.kind == SubjectKind::Group;
            let name: &str = &subject.matches;
            let hash = subject_hash(group, name);
            let Ok(entry) = self.table.find_entry(hash, |e| {
                e.group == group && e.name.as_bytes() == name.as_bytes()
            }) else {
                continue; // a subject named twice was unfiled at its first mention
            };
            match without_filed(entry.get().grants.as_slice(), &grant.binding) {
                Some(rest) => entry.into_mut().grants = rest,
                None => {
                    entry.remove();
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every list of grants that can apply to this user and these groups.
    #[inline]
    pub(crate) fn candidates<'s, 'g>(
        &'s self,
        user: &str,
        groups: &'g [String],
    ) -> impl Iterator<Item = &'s [Filed]> + use<'s, 'g> {
        let by_user = self.list(false, user);
        let by_group = groups.iter().filter_map(|g| self.list(true, g));
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

/// Grants at named scopes of one kind, by the scope's name. Keys are [`Name`]s: compared
/// in the entry when short, and copying a shard copies no string.
type Named = PersistentMap<Name, ScopeSubjects>;

/// Every grant, filed by the scope it acts at (and, for compiling subjects, by subject alone).
///
/// One map per scope kind, keyed by name alone, so that a chain step costs one hash of a
/// name, as before the index became persistent.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScopeIndex {
    /// Every grant by subject, whatever its scope: what a subject's "login" compiles from.
    pub(crate) all_scopes: AllSubjects,
    platform: ScopeSubjects,
    clusters: Named,
    workspaces: Named,
    node_groups: Named,
    namespaces: Named,
    nodes: Named,
    /// Resource scopes by object name, then by (namespace, group, resource).
    resources: PersistentMap<Name, Arc<[(ResourceTarget, ScopeSubjects)]>>,
}

/// What changes the grants at one scope.
type Change<'a> = &'a dyn Fn(&mut ScopeSubjects);

/// Changes the index of scope `name` with `change`, dropping it when that leaves it empty.
fn change_named(map: &mut Named, name: &str, change: Change<'_>) {
    match map.get_mut(name) {
        Some(index) => {
            change(index);
            if index.is_empty() {
                map.remove(name);
            }
        }
        None => {
            let mut index = ScopeSubjects::default();
            change(&mut index);
            if !index.is_empty() {
                map.insert(name.into(), index);
            }
        }
    }
}

impl ScopeIndex {
    fn named_mut<'s>(&mut self, scope: &'s Scope) -> Option<(&mut Named, &'s str)> {
        Some(match scope {
            Scope::Cluster { name } => (&mut self.clusters, name),
            Scope::Workspace { name } => (&mut self.workspaces, name),
            Scope::NodeGroup { name } => (&mut self.node_groups, name),
            Scope::Namespace { name } => (&mut self.namespaces, name),
            Scope::Node { name } => (&mut self.nodes, name),
            Scope::Platform | Scope::Resource { .. } => return None,
        })
    }

    /// Applies `change` to the subject index of `scope`.
    fn change_at(&mut self, scope: &Scope, change: Change<'_>) {
        if let Some((map, name)) = self.named_mut(scope) {
            change_named(map, name, change);
            return;
        }
        match scope {
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
                let mut entries: Vec<(ResourceTarget, ScopeSubjects)> = self
                    .resources
                    .get(name.as_str())
                    .map(|e| e.to_vec())
                    .unwrap_or_default();
                match entries.iter_mut().find(|(t, _)| *t == target) {
                    Some((_, index)) => change(index),
                    None => {
                        let mut index = ScopeSubjects::default();
                        change(&mut index);
                        entries.push((target, index));
                    }
                }
                entries.retain(|(_, index)| !index.is_empty());
                if entries.is_empty() {
                    self.resources.remove(name.as_str());
                } else {
                    self.resources.insert(name.as_str().into(), entries.into());
                }
            }
            _ => change(&mut self.platform),
        }
    }

    /// Files `grant` under its scope and subjects.
    pub(crate) fn insert(&mut self, grant: &Arc<Grant>) {
        if grant.subjects.is_empty() {
            return;
        }
        self.all_scopes.insert(grant);
        self.change_at(&grant.scope, &|index| index.insert(grant));
    }

    /// Unfiles `grant` (filed before with [`ScopeIndex::insert`]).
    pub(crate) fn remove(&mut self, grant: &Grant) {
        if grant.subjects.is_empty() {
            return;
        }
        self.all_scopes.remove(grant);
        self.change_at(&grant.scope, &|index| index.remove(grant));
    }

    /// The grants filed at one chain step, if any.
    #[inline]
    pub(crate) fn at(&self, step: &ScopeStep<'_>) -> Option<&ScopeSubjects> {
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
