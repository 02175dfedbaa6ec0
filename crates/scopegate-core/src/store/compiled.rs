//! The store's compiled state and how one batch of changed objects flows through it.
//!
//! Everything a change can affect is found through reverse indexes kept here, and only that
//! is compiled again, with the per-object functions of [`crate::policy::compile`]:
//!
//! | changed object | compiled again |
//! |---|---|
//! | a binding | that binding |
//! | an IAMRole, Role or ClusterRole | that role; its bindings if what they grant changed |
//! | a RoleTemplate | the IAMRoles naming it, and those whose selector matches its old or new labels (or is invalid) → their bindings |
//! | a ClusterRole (any) | also every aggregated ClusterRole (they select among all) → their bindings |
//! | a Cluster, Workspace, NodeGroup | when the name appears or disappears: the IAMRoleBindings at that scope; for a Workspace, its and its Namespaces' membership warnings |
//! | a Namespace | its topology entry; the membership warnings of the Workspaces listing it (of all of them when the first or last Namespace comes or goes) |
//! | a Node | its topology entry |
//!
//! Every changed object's own diagnostics are computed again too (duplicates among them).

use super::Held;
use super::stored::Stored;
use crate::diagnostics::Diagnostic;
use crate::model::{IamRole, NODEGROUP_LABEL, RoleTemplate, WORKSPACE_LABEL, selector_matches};
use crate::objects::{ObjectKind, ObjectRef, Source};
use crate::policy::compile::{
    Bindable, ClusterRoles, CompiledRole, Report, Templates, check_duplicates,
    check_namespace_label, check_template, check_workspace_namespaces, compile_cluster_role,
    compile_cluster_role_binding, compile_iam_binding, compile_iam_role, compile_role,
    compile_role_binding,
};
use crate::policy::index::{ByBinding, ScopeIndex};
use crate::policy::persistent::PersistentMap;
use crate::policy::{Grant, Policy};
use crate::topology::Topology;
use k8s_openapi::api::rbac::v1::ClusterRole;
use std::collections::{BTreeMap, BTreeSet};

/// foldhash: these maps are read once or more per object compiled.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
use std::sync::{Arc, OnceLock};

/// One object ref whose copies changed, with the copies it had before.
pub(super) struct Touched {
    pub(super) object: ObjectRef,
    pub(super) old: Vec<Stored>,
}

/// Objects held, by ref.
pub(super) type HeldObjects = HashMap<ObjectRef, Held>;

/// The first copy of `object`, the one that counts.
fn winner<'h>(held: &'h HeldObjects, object: &ObjectRef) -> Option<&'h Stored> {
    held.get(object)
        .and_then(|h| h.copies.first())
        .map(|(_, o)| o)
}

/// Where `object` was read, from the first origin that says.
fn source_of(held: &HeldObjects, object: &ObjectRef) -> Option<Source> {
    held.get(object).and_then(|h| h.sources.first()).cloned()
}

fn same(a: Option<&Stored>, b: Option<&Stored>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same(b),
        _ => false,
    }
}

fn label<'o>(object: &'o Stored, key: &str) -> Option<&'o str> {
    object
        .metadata()
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

fn as_template(object: &Stored) -> Option<&RoleTemplate> {
    match object {
        Stored::RoleTemplate(t) => Some(t),
        _ => None,
    }
}

fn as_iam_role(object: &Stored) -> Option<&IamRole> {
    match object {
        Stored::IamRole(r) => Some(r),
        _ => None,
    }
}

fn as_cluster_role(object: &Stored) -> Option<&ClusterRole> {
    match object {
        Stored::ClusterRole(r) => Some(r),
        _ => None,
    }
}

/// The RoleTemplates that count, by name.
#[derive(Debug, Default)]
struct TemplateSet(BTreeMap<String, Stored>);

impl Templates for TemplateSet {
    fn named(&self, name: &str) -> Option<&RoleTemplate> {
        self.0.get(name).and_then(|o| as_template(o))
    }

    fn in_name_order(&self) -> impl Iterator<Item = &RoleTemplate> {
        self.0.values().filter_map(|o| as_template(o))
    }
}

/// The ClusterRoles that count, by name.
#[derive(Debug, Default)]
struct ClusterRoleSet(BTreeMap<String, Stored>);

impl ClusterRoles for ClusterRoleSet {
    fn named(&self, name: &str) -> Option<&ClusterRole> {
        self.0.get(name).and_then(|o| as_cluster_role(o))
    }

    fn in_name_order(&self) -> impl Iterator<Item = (&str, &ClusterRole)> {
        self.0
            .iter()
            .filter_map(|(n, o)| Some((n.as_str(), as_cluster_role(o)?)))
    }
}

/// What bindings are compiled against.
#[derive(Debug)]
struct Roles {
    cluster_name: String,
    iam: HashMap<String, CompiledRole>,
    native: HashMap<(String, String), CompiledRole>,
    cluster: HashMap<String, CompiledRole>,
    /// Copies held of each Cluster, Workspace and NodeGroup name.
    declared: HashMap<(ObjectKind, String), usize>,
}

impl Bindable for Roles {
    fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    fn iam_role(&self, name: &str) -> Option<&CompiledRole> {
        self.iam.get(name)
    }

    fn role(&self, namespace: &str, name: &str) -> Option<&CompiledRole> {
        self.native.get(&(namespace.to_string(), name.to_string()))
    }

    fn cluster_role(&self, name: &str) -> Option<&CompiledRole> {
        self.cluster.get(name)
    }

    fn is_declared(&self, kind: ObjectKind, name: &str) -> bool {
        self.declared
            .get(&(kind, name.to_string()))
            .is_some_and(|n| *n > 0)
    }
}

/// What a binding's grant depends on besides itself: its role, and the scope it names when
/// that must be declared.
#[derive(Clone, Debug, Default, PartialEq)]
struct BindingDeps {
    role: Option<ObjectRef>,
    scope: Option<(ObjectKind, String)>,
}

fn binding_deps(binding: &Stored) -> BindingDeps {
    match binding {
        Stored::IamRoleBinding(b) => {
            let scope = b.spec.scope.name.clone().and_then(|name| {
                let kind = match b.spec.scope.kind {
                    crate::model::ScopeKind::Cluster => ObjectKind::Cluster,
                    crate::model::ScopeKind::Workspace => ObjectKind::Workspace,
                    crate::model::ScopeKind::NodeGroup => ObjectKind::NodeGroup,
                    _ => return None,
                };
                Some((kind, name))
            });
            BindingDeps {
                role: Some(ObjectRef::cluster_scoped(
                    ObjectKind::IamRole,
                    b.spec.role_ref.name.clone(),
                )),
                scope,
            }
        }
        Stored::RoleBinding(b) => {
            let role = match b.role_ref.kind.as_str() {
                "Role" => Some(ObjectRef::namespaced(
                    ObjectKind::Role,
                    b.metadata.namespace.clone().unwrap_or_default(),
                    b.role_ref.name.clone(),
                )),
                "ClusterRole" => Some(ObjectRef::cluster_scoped(
                    ObjectKind::ClusterRole,
                    b.role_ref.name.clone(),
                )),
                _ => None,
            };
            BindingDeps { role, scope: None }
        }
        Stored::ClusterRoleBinding(b) => BindingDeps {
            role: Some(ObjectRef::cluster_scoped(
                ObjectKind::ClusterRole,
                b.role_ref.name.clone(),
            )),
            scope: None,
        },
        _ => BindingDeps::default(),
    }
}

fn link<K: std::hash::Hash + Eq, V: Ord>(map: &mut HashMap<K, BTreeSet<V>>, key: K, value: V) {
    map.entry(key).or_default().insert(value);
}

fn unlink<K: std::hash::Hash + Eq, V: Ord>(map: &mut HashMap<K, BTreeSet<V>>, key: &K, value: &V) {
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// Sets a compiled role; whether what its bindings grant changed. An equal role keeps the
/// one already there, so that grants compiled before and after still share it.
fn replace_role<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, CompiledRole>,
    key: K,
    compiled: Option<CompiledRole>,
) -> bool {
    match compiled {
        Some(c) => match map.get(&key) {
            Some(old) if *old == c => false,
            _ => {
                map.insert(key, c);
                true
            }
        },
        None => map.remove(&key).is_some(),
    }
}

/// What is left to compile in one batch.
#[derive(Default)]
struct Dirty {
    iam_roles: BTreeSet<String>,
    roles: BTreeSet<(String, String)>,
    cluster_roles: BTreeSet<String>,
    every_aggregated: bool,
    bindings: HashSet<ObjectRef>,
    /// Objects whose diagnostics must be computed again.
    diagnosed: HashSet<ObjectRef>,
    /// Diagnostics of roles and bindings compiled in this batch, besides duplicates.
    found: HashMap<ObjectRef, Vec<Diagnostic>>,
}

/// The compiled state of a store; see the module documentation.
#[derive(Debug)]
pub(super) struct Compiled {
    templates: TemplateSet,
    cluster_role_objects: ClusterRoleSet,
    roles: Roles,
    /// Template name → IAMRoles naming it in `spec.roleTemplates`.
    template_users: HashMap<String, BTreeSet<String>>,
    /// IAMRoles with a `spec.templateSelector`.
    selector_roles: BTreeSet<String>,
    /// ClusterRoles with an aggregation rule.
    aggregated: BTreeSet<String>,
    /// Role → the bindings naming it.
    bindings_of_role: HashMap<ObjectRef, BTreeSet<ObjectRef>>,
    /// (Cluster|Workspace|NodeGroup, name) → the IAMRoleBindings at that scope.
    bindings_at_scope: HashMap<(ObjectKind, String), BTreeSet<ObjectRef>>,
    /// Copies of Namespaces held, all names.
    namespace_copies: usize,
    /// Workspace label → the Namespaces whose first copy carries it.
    namespaces_labelled: HashMap<String, BTreeSet<String>>,
    /// Namespace name → the Workspaces (any copy) listing it in `spec.namespaces`.
    workspaces_listing: HashMap<String, BTreeSet<String>>,
    index: ScopeIndex,
    grants: PersistentMap<ByBinding, ()>,
    problems: PersistentMap<Arc<ObjectRef>, Arc<[Diagnostic]>>,
    topology: Topology,
    counts: Arc<BTreeMap<ObjectKind, usize>>,
}

impl Compiled {
    /// Nothing compiled yet, for the cluster `cluster_name`.
    pub(super) fn new(cluster_name: &str) -> Self {
        Compiled {
            templates: TemplateSet::default(),
            cluster_role_objects: ClusterRoleSet::default(),
            roles: Roles {
                cluster_name: cluster_name.to_string(),
                iam: HashMap::default(),
                native: HashMap::default(),
                cluster: HashMap::default(),
                declared: HashMap::default(),
            },
            template_users: HashMap::default(),
            selector_roles: BTreeSet::new(),
            aggregated: BTreeSet::new(),
            bindings_of_role: HashMap::default(),
            bindings_at_scope: HashMap::default(),
            namespace_copies: 0,
            namespaces_labelled: HashMap::default(),
            workspaces_listing: HashMap::default(),
            index: ScopeIndex::default(),
            grants: PersistentMap::default(),
            problems: PersistentMap::default(),
            topology: Topology::empty(cluster_name),
            counts: Arc::new(ObjectKind::ALL.iter().map(|k| (*k, 0)).collect()),
        }
    }

    /// A snapshot: copies of the persistent parts, sharing all their contents.
    pub(super) fn policy(&self) -> Policy {
        Policy {
            topology: self.topology.clone(),
            index: self.index.clone(),
            grants: self.grants.clone(),
            problems: self.problems.clone(),
            counts: self.counts.clone(),
            sorted_grants: OnceLock::new(),
            sorted_diagnostics: OnceLock::new(),
        }
    }

    /// Brings everything up to date after `touched` changed in `held`; returns how many
    /// bindings were compiled again.
    pub(super) fn update(&mut self, held: &HeldObjects, touched: Vec<Touched>) -> usize {
        let mut dirty = Dirty::default();
        for t in &touched {
            self.note(held, t, &mut dirty);
        }
        self.compile_roles(held, &mut dirty);
        let recompiled = dirty.bindings.len();
        self.compile_bindings(held, &mut dirty);
        self.diagnose(held, dirty);
        recompiled
    }

    /// Records one changed ref: updates what counts and the reverse indexes, and marks what
    /// depends on it.
    fn note(&mut self, held: &HeldObjects, t: &Touched, dirty: &mut Dirty) {
        let r = &t.object;
        let new_copies: Vec<&Stored> = held
            .get(r)
            .map(|h| h.copies.iter().map(|(_, o)| o).collect())
            .unwrap_or_default();
        let old = t.old.first();
        let new = new_copies.first().copied();
        let changed = !same(old, new);
        let counts = Arc::make_mut(&mut self.counts);
        let count = counts.entry(r.kind).or_default();
        *count = (*count + new_copies.len()).saturating_sub(t.old.len());
        dirty.diagnosed.insert(r.clone());
        let name = r.name.clone();
        match r.kind {
            ObjectKind::RoleTemplate if !name.is_empty() && changed => {
                match new {
                    Some(o) => self.templates.0.insert(name.clone(), o.clone()),
                    None => self.templates.0.remove(&name),
                };
                if let Some(users) = self.template_users.get(&name) {
                    dirty.iam_roles.extend(users.iter().cloned());
                }
                for role in &self.selector_roles {
                    let selector = winner(
                        held,
                        &ObjectRef::cluster_scoped(ObjectKind::IamRole, role.clone()),
                    )
                    .and_then(|o| as_iam_role(o))
                    .and_then(|r| r.spec.template_selector.as_ref());
                    let Some(selector) = selector else { continue };
                    let selects = |o: Option<&Stored>| {
                        o.is_some_and(|o| {
                            let labels = o.metadata().labels.clone().unwrap_or_default();
                            selector_matches(selector, &labels).unwrap_or(true)
                        })
                    };
                    if selects(old) || selects(new) {
                        dirty.iam_roles.insert(role.clone());
                    }
                }
            }
            ObjectKind::IamRole if !name.is_empty() => {
                if changed {
                    if let Some(old) = old.and_then(|o| as_iam_role(o)) {
                        for t in &old.spec.role_templates {
                            unlink(&mut self.template_users, t, &name);
                        }
                        self.selector_roles.remove(&name);
                    }
                    if let Some(new) = new.and_then(|o| as_iam_role(o)) {
                        for t in &new.spec.role_templates {
                            link(&mut self.template_users, t.clone(), name.clone());
                        }
                        if new.spec.template_selector.is_some() {
                            self.selector_roles.insert(name.clone());
                        }
                    }
                }
                dirty.iam_roles.insert(name);
            }
            ObjectKind::Role if !name.is_empty() => {
                let namespace = r.namespace.clone().unwrap_or_default();
                dirty.roles.insert((namespace, name));
            }
            ObjectKind::ClusterRole if !name.is_empty() => {
                if changed {
                    match new {
                        Some(o) => self.cluster_role_objects.0.insert(name.clone(), o.clone()),
                        None => self.cluster_role_objects.0.remove(&name),
                    };
                    let aggregates = new
                        .and_then(|o| as_cluster_role(o))
                        .is_some_and(|c| c.aggregation_rule.is_some());
                    if aggregates {
                        self.aggregated.insert(name.clone());
                    } else {
                        self.aggregated.remove(&name);
                    }
                    dirty.every_aggregated = true;
                }
                dirty.cluster_roles.insert(name);
            }
            ObjectKind::IamRoleBinding
            | ObjectKind::RoleBinding
            | ObjectKind::ClusterRoleBinding => {
                if changed {
                    let old_deps = old.map(binding_deps).unwrap_or_default();
                    let new_deps = new.map(binding_deps).unwrap_or_default();
                    if let Some(role) = &old_deps.role {
                        unlink(&mut self.bindings_of_role, role, r);
                    }
                    if let Some(scope) = &old_deps.scope {
                        unlink(&mut self.bindings_at_scope, scope, r);
                    }
                    if let Some(role) = &new_deps.role {
                        link(&mut self.bindings_of_role, role.clone(), r.clone());
                    }
                    if let Some(scope) = &new_deps.scope {
                        link(&mut self.bindings_at_scope, scope.clone(), r.clone());
                    }
                }
                dirty.bindings.insert(r.clone());
            }
            ObjectKind::Cluster | ObjectKind::Workspace | ObjectKind::NodeGroup => {
                let key = (r.kind, name.clone());
                let was = self.roles.declared.get(&key).copied().unwrap_or_default() > 0;
                let is = !new_copies.is_empty();
                if is {
                    self.roles.declared.insert(key.clone(), new_copies.len());
                } else {
                    self.roles.declared.remove(&key);
                }
                if was != is {
                    if let Some(bindings) = self.bindings_at_scope.get(&key) {
                        dirty.bindings.extend(bindings.iter().cloned());
                    }
                    if r.kind == ObjectKind::Workspace
                        && let Some(namespaces) = self.namespaces_labelled.get(&name)
                    {
                        dirty.diagnosed.extend(
                            namespaces.iter().map(|n| {
                                ObjectRef::cluster_scoped(ObjectKind::Namespace, n.clone())
                            }),
                        );
                    }
                }
                if r.kind == ObjectKind::Workspace {
                    for copy in &t.old {
                        if let Stored::Workspace(w) = copy {
                            for ns in &w.spec.namespaces {
                                unlink(&mut self.workspaces_listing, ns, &name);
                            }
                        }
                    }
                    for copy in &new_copies {
                        if let Stored::Workspace(w) = *copy {
                            for ns in &w.spec.namespaces {
                                link(&mut self.workspaces_listing, ns.clone(), name.clone());
                            }
                        }
                    }
                }
            }
            ObjectKind::Namespace => {
                let had_any = self.namespace_copies > 0;
                self.namespace_copies =
                    (self.namespace_copies + new_copies.len()).saturating_sub(t.old.len());
                if had_any != (self.namespace_copies > 0) {
                    for (kind, workspace) in self.roles.declared.keys() {
                        if *kind == ObjectKind::Workspace {
                            dirty.diagnosed.insert(ObjectRef::cluster_scoped(
                                ObjectKind::Workspace,
                                workspace.clone(),
                            ));
                        }
                    }
                }
                let old_label = old.and_then(|o| label(o, WORKSPACE_LABEL));
                let new_label = new.and_then(|o| label(o, WORKSPACE_LABEL));
                if changed {
                    if let Some(l) = old_label.filter(|l| !l.is_empty()) {
                        unlink(&mut self.namespaces_labelled, &l.to_string(), &name);
                    }
                    if let Some(l) = new_label.filter(|l| !l.is_empty()) {
                        link(&mut self.namespaces_labelled, l.to_string(), name.clone());
                    }
                    if let Some(workspaces) = self.workspaces_listing.get(&name) {
                        dirty.diagnosed.extend(
                            workspaces.iter().map(|w| {
                                ObjectRef::cluster_scoped(ObjectKind::Workspace, w.clone())
                            }),
                        );
                    }
                }
                // The topology counts the first copy that has a name at all.
                let member = new_copies
                    .iter()
                    .find(|o| o.metadata().name.is_some())
                    .and_then(|o| label(o, WORKSPACE_LABEL))
                    .filter(|l| !l.is_empty());
                self.topology.set_workspace_of(&name, member);
            }
            ObjectKind::Node => {
                let member = new_copies
                    .iter()
                    .find(|o| o.metadata().name.is_some())
                    .and_then(|o| label(o, NODEGROUP_LABEL))
                    .filter(|l| !l.is_empty());
                self.topology.set_node_group_of(&name, member);
            }
            _ => {}
        }
    }

    /// Compiles the dirty roles; marks the bindings of those whose grant changed.
    fn compile_roles(&mut self, held: &HeldObjects, dirty: &mut Dirty) {
        for name in std::mem::take(&mut dirty.iam_roles) {
            let me = ObjectRef::cluster_scoped(ObjectKind::IamRole, name.clone());
            let mut report = Report::new(me.clone(), source_of(held, &me));
            let compiled = winner(held, &me)
                .and_then(|o| as_iam_role(o))
                .map(|role| compile_iam_role(role, &me, &self.templates, &mut report));
            dirty.found.insert(me.clone(), report.into_diagnostics());
            let changed = replace_role(&mut self.roles.iam, name, compiled);
            self.changed_role(&me, changed, dirty);
        }
        for (namespace, name) in std::mem::take(&mut dirty.roles) {
            let me = ObjectRef::namespaced(ObjectKind::Role, namespace.clone(), name.clone());
            let mut report = Report::new(me.clone(), source_of(held, &me));
            let compiled = winner(held, &me).and_then(|o| match o {
                Stored::Role(role) => Some(compile_role(role, &me, &mut report)),
                _ => None,
            });
            dirty.found.insert(me.clone(), report.into_diagnostics());
            let changed = replace_role(&mut self.roles.native, (namespace, name), compiled);
            self.changed_role(&me, changed, dirty);
        }
        let mut cluster_roles = std::mem::take(&mut dirty.cluster_roles);
        if dirty.every_aggregated {
            cluster_roles.extend(self.aggregated.iter().cloned());
        }
        for name in cluster_roles {
            let me = ObjectRef::cluster_scoped(ObjectKind::ClusterRole, name.clone());
            let mut report = Report::new(me.clone(), source_of(held, &me));
            let compiled = winner(held, &me)
                .and_then(|o| as_cluster_role(o))
                .map(|role| {
                    compile_cluster_role(role, &me, &self.cluster_role_objects, &mut report)
                });
            dirty.found.insert(me.clone(), report.into_diagnostics());
            let changed = replace_role(&mut self.roles.cluster, name, compiled);
            self.changed_role(&me, changed, dirty);
        }
    }

    fn changed_role(&self, role: &ObjectRef, changed: bool, dirty: &mut Dirty) {
        if changed && let Some(bindings) = self.bindings_of_role.get(role) {
            dirty.bindings.extend(bindings.iter().cloned());
        }
    }

    /// Compiles the dirty bindings and files their grants.
    ///
    /// In two passes: compile every dirty binding, then file the grants that changed in
    /// canonical order in one tight loop, so that on a full load the grants and the index's
    /// tables are allocated together, as a one-shot compile allocates them.
    fn compile_bindings(&mut self, held: &HeldObjects, dirty: &mut Dirty) {
        let mut changed: Vec<(ObjectRef, Option<Grant>)> = Vec::new();
        for me in std::mem::take(&mut dirty.bindings) {
            let entry = held.get(&me);
            let source = entry.and_then(|h| h.sources.first()).cloned();
            let mut report = Report::new(me.clone(), source);
            let winner = entry.and_then(|h| h.copies.first()).map(|(_, o)| o);
            let grant = match winner {
                _ if me.name.is_empty() => None,
                Some(Stored::IamRoleBinding(b)) => {
                    compile_iam_binding(b, &me, &self.roles, &mut report)
                }
                Some(Stored::RoleBinding(b)) => {
                    compile_role_binding(b, &me, &self.roles, &mut report)
                }
                Some(Stored::ClusterRoleBinding(b)) => {
                    compile_cluster_role_binding(b, &me, &self.roles, &mut report)
                }
                _ => None,
            };
            dirty.found.insert(me.clone(), report.into_diagnostics());
            let old = self.grants.get_key_value(&me).map(|(k, _)| &k.0);
            if old.map(|g| &**g) != grant.as_ref() {
                changed.push((me, grant));
            }
        }
        changed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (me, _) in &changed {
            if let Some((old, ())) = self.grants.remove_entry(me) {
                self.index.remove(&old.0);
            }
        }
        for grant in changed.into_iter().filter_map(|(_, g)| g) {
            let grant = Arc::new(grant);
            self.index.insert(&grant);
            self.grants.insert(ByBinding(grant), ());
        }
    }

    /// Computes again the diagnostics of every object marked, and of every role and binding
    /// compiled.
    fn diagnose(&mut self, held: &HeldObjects, mut dirty: Dirty) {
        let mut objects = std::mem::take(&mut dirty.diagnosed);
        let compiled: Vec<ObjectRef> = dirty
            .found
            .keys()
            .filter(|k| !objects.contains(*k))
            .cloned()
            .collect();
        objects.extend(compiled);
        for object in objects {
            let entry = held.get(&object);
            let copies: Vec<&Stored> = entry
                .map(|h| h.copies.iter().map(|(_, o)| o).collect())
                .unwrap_or_default();
            let source = entry.and_then(|h| h.sources.first()).cloned();
            let mut report = Report::new(object.clone(), source);
            check_duplicates(&object, copies.len(), &mut report);
            match object.kind {
                ObjectKind::RoleTemplate if !object.name.is_empty() => {
                    if let Some(t) = copies.first().and_then(|o| as_template(o)) {
                        check_template(t, &mut report);
                    }
                }
                ObjectKind::Workspace => {
                    let any_namespace = self.namespace_copies > 0;
                    for copy in &copies {
                        if let Stored::Workspace(w) = *copy {
                            check_workspace_namespaces(
                                w,
                                |ns| {
                                    let r = ObjectRef::cluster_scoped(ObjectKind::Namespace, ns);
                                    winner(held, &r).map(|o| label(o, WORKSPACE_LABEL))
                                },
                                any_namespace,
                                &mut report,
                            );
                        }
                    }
                }
                ObjectKind::Namespace => {
                    let first = copies.first().and_then(|o| label(o, WORKSPACE_LABEL));
                    for _ in &copies {
                        check_namespace_label(
                            first,
                            |w| self.roles.is_declared(ObjectKind::Workspace, w),
                            &mut report,
                        );
                    }
                }
                _ => {}
            }
            let mut found = report.into_diagnostics();
            found.extend(dirty.found.remove(&object).unwrap_or_default());
            if found.is_empty() {
                self.problems.remove(&object);
            } else {
                self.problems.insert(Arc::new(object), found.into());
            }
        }
    }
}
