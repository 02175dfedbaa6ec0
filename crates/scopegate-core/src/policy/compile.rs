//! From objects to grants: resolves every role (inline rules, RoleTemplates by name and by
//! selector, ClusterRole aggregation), checks every binding against the model, and reports
//! what does not make sense as diagnostics. An object with an error grants nothing.

use super::grant::{Grant, GrantSubject, ResolvedRole, SubjectKind};
use crate::diagnostics::{Diagnostic, Severity};
use crate::model::{IAM_GROUP, IamRole, Scope, ScopeKind, selector_matches};
use crate::objects::{ObjectKind, ObjectRef, PolicyObjects};
use crate::rbac::service_account_user_name;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Subject};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// What compiling a set of objects yields: the grants in canonical order and the problems.
pub(crate) struct Compiled {
    pub(crate) grants: Vec<Grant>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

struct Compiler<'a> {
    objects: &'a PolicyObjects,
    cluster_name: &'a str,
    diagnostics: Vec<Diagnostic>,
    /// Roles with an error (a missing RoleTemplate, an invalid selector): they grant
    /// nothing, so bindings to them grant nothing either.
    broken_roles: HashSet<ObjectRef>,
}

pub(crate) fn compile(objects: &PolicyObjects, cluster_name: &str) -> Compiled {
    let mut c = Compiler {
        objects,
        cluster_name,
        diagnostics: Vec::new(),
        broken_roles: HashSet::new(),
    };
    c.check_duplicates();
    let iam_roles = c.resolve_iam_roles();
    let roles = c.resolve_native_roles();
    let cluster_roles = c.resolve_cluster_roles();
    let mut grants = Vec::new();
    c.compile_iam_bindings(&iam_roles, &mut grants);
    c.compile_role_bindings(&roles, &cluster_roles, &mut grants);
    c.compile_cluster_role_bindings(&cluster_roles, &mut grants);
    c.check_memberships();
    grants.sort_by(|a, b| a.binding.cmp(&b.binding));
    c.diagnostics
        .sort_by(|a, b| (&a.object, &a.field).cmp(&(&b.object, &b.field)));
    Compiled {
        grants,
        diagnostics: c.diagnostics,
    }
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn reference(
    kind: ObjectKind,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> ObjectRef {
    if kind.is_namespaced() {
        ObjectRef::namespaced(
            kind,
            meta.namespace.clone().unwrap_or_default(),
            name_of(meta),
        )
    } else {
        ObjectRef::cluster_scoped(kind, name_of(meta))
    }
}

impl Compiler<'_> {
    fn report(&mut self, severity: Severity, object: ObjectRef, field: &str, message: String) {
        let source = self.objects.sources.get(&object).cloned();
        self.diagnostics.push(Diagnostic {
            severity,
            object,
            source,
            field: field.to_string(),
            message,
        });
    }

    fn error(&mut self, object: &ObjectRef, field: &str, message: String) {
        self.report(Severity::Error, object.clone(), field, message);
    }

    fn warning(&mut self, object: &ObjectRef, field: &str, message: String) {
        self.report(Severity::Warning, object.clone(), field, message);
    }

    fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Whether a binding's role had errors; if so, says so on the binding, which then grants
    /// nothing.
    fn role_is_broken(&mut self, binding: &ObjectRef, field: &str, role: &ObjectRef) -> bool {
        if !self.broken_roles.contains(role) {
            return false;
        }
        self.warning(
            binding,
            field,
            format!("{role} has errors: the binding grants nothing until they are fixed"),
        );
        true
    }

    /// Two objects of one kind with one name (and namespace) are ambiguous: refuse the second.
    fn check_duplicates(&mut self) {
        let o = self.objects;
        let mut refs: Vec<ObjectRef> = Vec::new();
        refs.extend(
            o.role_templates
                .iter()
                .map(|x| reference(ObjectKind::RoleTemplate, &x.metadata)),
        );
        refs.extend(
            o.iam_roles
                .iter()
                .map(|x| reference(ObjectKind::IamRole, &x.metadata)),
        );
        refs.extend(
            o.iam_role_bindings
                .iter()
                .map(|x| reference(ObjectKind::IamRoleBinding, &x.metadata)),
        );
        refs.extend(
            o.clusters
                .iter()
                .map(|x| reference(ObjectKind::Cluster, &x.metadata)),
        );
        refs.extend(
            o.workspaces
                .iter()
                .map(|x| reference(ObjectKind::Workspace, &x.metadata)),
        );
        refs.extend(
            o.node_groups
                .iter()
                .map(|x| reference(ObjectKind::NodeGroup, &x.metadata)),
        );
        refs.extend(
            o.roles
                .iter()
                .map(|x| reference(ObjectKind::Role, &x.metadata)),
        );
        refs.extend(
            o.cluster_roles
                .iter()
                .map(|x| reference(ObjectKind::ClusterRole, &x.metadata)),
        );
        refs.extend(
            o.role_bindings
                .iter()
                .map(|x| reference(ObjectKind::RoleBinding, &x.metadata)),
        );
        refs.extend(
            o.cluster_role_bindings
                .iter()
                .map(|x| reference(ObjectKind::ClusterRoleBinding, &x.metadata)),
        );
        refs.extend(
            o.namespaces
                .iter()
                .map(|x| reference(ObjectKind::Namespace, &x.metadata)),
        );
        refs.extend(
            o.nodes
                .iter()
                .map(|x| reference(ObjectKind::Node, &x.metadata)),
        );
        let mut seen = HashSet::new();
        for r in refs {
            if r.name.is_empty() {
                self.error(&r, "metadata.name", "is required".to_string());
            } else if r.kind.is_namespaced() && r.namespace.as_deref().is_none_or(str::is_empty) {
                self.error(
                    &r,
                    "metadata.namespace",
                    format!("is required for a {}", r.kind),
                );
            } else if !seen.insert(r.clone()) {
                self.error(
                    &r,
                    "metadata.name",
                    format!("another {} has the same name", r.kind),
                );
            }
        }
    }

    /// First object of each name wins; later duplicates were reported and grant nothing.
    /// Objects without a name were reported too and take no part at all: a nameless binding
    /// grants nothing, and a nameless role cannot be what an empty `roleRef.name` means.
    /// For cluster-scoped kinds, keyed by name alone (namespace ""): Kubernetes ignores a
    /// `metadata.namespace` written on a cluster-scoped object, and so does
    /// `check_duplicates`, so such a namespace must neither hide an object from lookups by
    /// name nor let a reported duplicate grant.
    fn first_by_name<T>(
        items: &[T],
        meta: impl Fn(&T) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> BTreeMap<(String, String), &T> {
        Self::first_by_key(items, meta, false)
    }

    /// [`Self::first_by_name`] for namespaced kinds: first of each (namespace, name).
    fn first_by_namespace_and_name<T>(
        items: &[T],
        meta: impl Fn(&T) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> BTreeMap<(String, String), &T> {
        Self::first_by_key(items, meta, true)
    }

    fn first_by_key<T>(
        items: &[T],
        meta: impl Fn(&T) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        namespaced: bool,
    ) -> BTreeMap<(String, String), &T> {
        let mut map = BTreeMap::new();
        for item in items {
            let m = meta(item);
            if name_of(m).is_empty() {
                continue;
            }
            let namespace = if namespaced {
                m.namespace.clone().unwrap_or_default()
            } else {
                String::new()
            };
            map.entry((namespace, name_of(m).to_string()))
                .or_insert(item);
        }
        map
    }

    fn resolve_iam_roles(&mut self) -> BTreeMap<String, Arc<ResolvedRole>> {
        let templates = Self::first_by_name(&self.objects.role_templates, |t| &t.metadata);
        // A template's rules end up in roles as if written there: report them the same way.
        for template in templates.values() {
            let me = reference(ObjectKind::RoleTemplate, &template.metadata);
            self.check_rules(&me, "spec.rules", &template.spec.rules, false);
        }
        let roles = Self::first_by_name(&self.objects.iam_roles, |r| &r.metadata);
        roles
            .into_iter()
            .map(|((_, name), role)| {
                let resolved = self.resolve_iam_role(role, &templates);
                (name, Arc::new(resolved))
            })
            .collect()
    }

    fn resolve_iam_role(
        &mut self,
        role: &IamRole,
        templates: &BTreeMap<(String, String), &crate::model::RoleTemplate>,
    ) -> ResolvedRole {
        let me = reference(ObjectKind::IamRole, &role.metadata);
        let errors_before = self.error_count();
        let (effective, problems) = resolve_templates(role, templates);
        for problem in problems {
            self.error(&me, &problem.field, problem.message);
        }
        self.check_rules(&me, "spec.rules", &role.spec.rules, false);
        if self.error_count() > errors_before {
            self.broken_roles.insert(me.clone());
        }
        ResolvedRole {
            role: me,
            rules: effective.rules,
            ui_permissions: effective.ui_permissions,
        }
    }

    /// Rules Kubernetes would refuse are reported; they still match exactly as written.
    fn check_rules(
        &mut self,
        object: &ObjectRef,
        field: &str,
        rules: &[PolicyRule],
        namespaced: bool,
    ) {
        for (i, rule) in rules.iter().enumerate() {
            let field = format!("{field}[{i}]");
            if rule.verbs.is_empty() {
                self.warning(
                    object,
                    &format!("{field}.verbs"),
                    "is empty: the rule matches nothing".into(),
                );
            }
            let has_urls = rule
                .non_resource_urls
                .as_ref()
                .is_some_and(|u| !u.is_empty());
            let has_resources = rule.resources.as_ref().is_some_and(|r| !r.is_empty());
            if has_urls && namespaced {
                self.warning(
                    object,
                    &format!("{field}.nonResourceURLs"),
                    "non-resource URLs have no namespace: a namespaced role never grants them"
                        .into(),
                );
            }
            if has_resources && rule.api_groups.as_ref().is_none_or(|g| g.is_empty()) {
                self.warning(
                    object,
                    &format!("{field}.apiGroups"),
                    "is empty: resource rules need at least one API group (\"\" is the core group)"
                        .into(),
                );
            }
        }
    }

    fn resolve_native_roles(&mut self) -> BTreeMap<(String, String), Arc<ResolvedRole>> {
        let roles = Self::first_by_namespace_and_name(&self.objects.roles, |r| &r.metadata);
        roles
            .into_iter()
            .map(|(key, role)| {
                let me = reference(ObjectKind::Role, &role.metadata);
                let rules = role.rules.clone().unwrap_or_default();
                self.check_rules(&me, "rules", &rules, true);
                (
                    key,
                    Arc::new(ResolvedRole {
                        role: me,
                        rules,
                        ui_permissions: BTreeSet::new(),
                    }),
                )
            })
            .collect()
    }

    /// ClusterRoles, with aggregation resolved the way the aggregation controller converges:
    /// an aggregated role's rules are the union of the rules of the roles its selectors match
    /// (transitively through other aggregated roles), its own `rules` replaced.
    fn resolve_cluster_roles(&mut self) -> BTreeMap<String, Arc<ResolvedRole>> {
        let roles = Self::first_by_name(&self.objects.cluster_roles, |r| &r.metadata);
        let by_name: BTreeMap<&str, &ClusterRole> = roles
            .iter()
            .map(|((_, name), role)| (name.as_str(), *role))
            .collect();
        let mut resolved = BTreeMap::new();
        for (name, role) in &by_name {
            let me = reference(ObjectKind::ClusterRole, &role.metadata);
            let errors_before = self.error_count();
            let rules = match &role.aggregation_rule {
                None => role.rules.clone().unwrap_or_default(),
                Some(_) => self.aggregate(name, &by_name, &me),
            };
            if self.error_count() > errors_before {
                self.broken_roles.insert(me.clone());
            }
            if role.aggregation_rule.is_none() {
                self.check_rules(&me, "rules", &rules, false);
            }
            resolved.insert(
                name.to_string(),
                Arc::new(ResolvedRole {
                    role: me,
                    rules,
                    ui_permissions: BTreeSet::new(),
                }),
            );
        }
        resolved
    }

    fn aggregate(
        &mut self,
        root: &str,
        by_name: &BTreeMap<&str, &ClusterRole>,
        me: &ObjectRef,
    ) -> Vec<PolicyRule> {
        let mut rules: Vec<PolicyRule> = Vec::new();
        let mut visited: HashSet<&str> = HashSet::from([root]);
        let mut reported: BTreeSet<usize> = BTreeSet::new();
        let mut queue = vec![root];
        while let Some(current) = queue.pop() {
            let Some(selectors) = by_name[current]
                .aggregation_rule
                .as_ref()
                .and_then(|a| a.cluster_role_selectors.as_ref())
            else {
                continue;
            };
            for (name, candidate) in by_name {
                if visited.contains(name) {
                    continue;
                }
                let labels = candidate.metadata.labels.clone().unwrap_or_default();
                let mut selected = false;
                for (i, selector) in selectors.iter().enumerate() {
                    match selector_matches(selector, &labels) {
                        Ok(m) => selected |= m,
                        Err(e) if current == root && reported.insert(i) => {
                            self.error(
                                me,
                                &format!("aggregationRule.clusterRoleSelectors[{i}]"),
                                e.to_string(),
                            );
                        }
                        Err(_) => {}
                    }
                }
                if !selected {
                    continue;
                }
                visited.insert(name);
                if candidate.aggregation_rule.is_some() {
                    queue.push(name);
                } else {
                    for rule in candidate.rules.iter().flatten() {
                        if !rules.contains(rule) {
                            rules.push(rule.clone());
                        }
                    }
                }
            }
        }
        rules
    }

    /// Normalises a binding's subjects (`field` is where they are, e.g. `spec.subjects`). A
    /// subject that can never match is an error, and a binding with an error grants nothing
    /// (Kubernetes refuses such a binding whole): then `None`.
    fn subjects(
        &mut self,
        binding: &ObjectRef,
        field: &str,
        subjects: &[Subject],
        default_namespace: Option<&str>,
    ) -> Option<Vec<GrantSubject>> {
        let errors_before = self.error_count();
        let prefix = field;
        let mut out = Vec::new();
        for (i, s) in subjects.iter().enumerate() {
            let field = format!("{prefix}[{i}]");
            if s.name.is_empty() {
                self.error(binding, &format!("{field}.name"), "is required".into());
                continue;
            }
            let subject = match s.kind.as_str() {
                "User" => GrantSubject {
                    kind: SubjectKind::User,
                    matches: s.name.clone(),
                },
                "Group" => GrantSubject {
                    kind: SubjectKind::Group,
                    matches: s.name.clone(),
                },
                "ServiceAccount" => {
                    let namespace = s
                        .namespace
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .or(default_namespace);
                    let Some(namespace) = namespace else {
                        self.error(
                            binding,
                            &format!("{field}.namespace"),
                            "is required for a ServiceAccount when the binding has no namespace of its own".into(),
                        );
                        continue;
                    };
                    GrantSubject {
                        kind: SubjectKind::ServiceAccount,
                        matches: service_account_user_name(namespace, &s.name),
                    }
                }
                other => {
                    self.error(
                        binding,
                        &format!("{field}.kind"),
                        format!("unknown subject kind {other:?}, expected one of User, Group, ServiceAccount"),
                    );
                    continue;
                }
            };
            out.push(subject);
        }
        if subjects.is_empty() {
            self.warning(
                binding,
                prefix,
                "is empty: the binding grants nothing".into(),
            );
        }
        (self.error_count() == errors_before).then_some(out)
    }

    fn compile_iam_bindings(
        &mut self,
        roles: &BTreeMap<String, Arc<ResolvedRole>>,
        grants: &mut Vec<Grant>,
    ) {
        let bindings = Self::first_by_name(&self.objects.iam_role_bindings, |b| &b.metadata);
        let objects = self.objects;
        let role_kinds: BTreeMap<String, ScopeKind> =
            Self::first_by_name(&objects.iam_roles, |r| &r.metadata)
                .into_iter()
                .map(|((_, name), r)| (name, r.spec.scope))
                .collect();
        let declared = |kind: ObjectKind| -> BTreeSet<&str> {
            let o = objects;
            match kind {
                ObjectKind::Workspace => {
                    o.workspaces.iter().map(|w| name_of(&w.metadata)).collect()
                }
                ObjectKind::NodeGroup => {
                    o.node_groups.iter().map(|g| name_of(&g.metadata)).collect()
                }
                _ => o.clusters.iter().map(|c| name_of(&c.metadata)).collect(),
            }
        };
        let workspaces = declared(ObjectKind::Workspace);
        let node_groups = declared(ObjectKind::NodeGroup);
        let clusters = declared(ObjectKind::Cluster);
        for binding in bindings.values() {
            let me = reference(ObjectKind::IamRoleBinding, &binding.metadata);
            let spec = &binding.spec;
            let role_ref = &spec.role_ref;
            if role_ref.kind != "IAMRole" {
                self.error(
                    &me,
                    "spec.roleRef.kind",
                    format!("must be IAMRole, not {:?}", role_ref.kind),
                );
                continue;
            }
            if role_ref
                .api_group
                .as_deref()
                .is_some_and(|g| !g.is_empty() && g != IAM_GROUP)
            {
                self.error(&me, "spec.roleRef.apiGroup", format!("must be {IAM_GROUP}"));
                continue;
            }
            let scope = match Scope::from_spec(&spec.scope) {
                Ok(scope) => scope,
                Err(message) => {
                    self.error(&me, "spec.scope", message);
                    continue;
                }
            };
            let Some(role) = roles.get(&role_ref.name) else {
                self.error(
                    &me,
                    "spec.roleRef.name",
                    format!("IAMRole {:?} does not exist", role_ref.name),
                );
                continue;
            };
            // Built from the same objects as `roles`, so always present; never panic on it.
            let Some(&role_kind) = role_kinds.get(&role_ref.name) else {
                continue;
            };
            if role_kind != scope.kind() {
                self.error(
                    &me,
                    "spec.scope.kind",
                    format!(
                        "IAMRole {:?} is meant for {role_kind} scopes and cannot be bound at a {} scope",
                        role_ref.name,
                        scope.kind()
                    ),
                );
                continue;
            }
            let target = scope.name().unwrap_or_default();
            let undeclared = match scope.kind() {
                ScopeKind::Workspace => !workspaces.contains(target),
                ScopeKind::NodeGroup => !node_groups.contains(target),
                ScopeKind::Cluster => target != self.cluster_name && !clusters.contains(target),
                _ => false,
            };
            if undeclared {
                self.error(
                    &me,
                    "spec.scope.name",
                    format!("{} {target:?} is not declared", scope.kind()),
                );
                continue;
            }
            let subjects = self.subjects(
                &me,
                "spec.subjects",
                &spec.subjects,
                scope.subject_namespace(),
            );
            if self.role_is_broken(&me, "spec.roleRef.name", &role.role) {
                continue;
            }
            let Some(subjects) = subjects else {
                continue;
            };
            grants.push(Grant {
                binding: me,
                scope,
                subjects,
                role: role.clone(),
            });
        }
    }

    fn compile_role_bindings(
        &mut self,
        roles: &BTreeMap<(String, String), Arc<ResolvedRole>>,
        cluster_roles: &BTreeMap<String, Arc<ResolvedRole>>,
        grants: &mut Vec<Grant>,
    ) {
        let bindings =
            Self::first_by_namespace_and_name(&self.objects.role_bindings, |b| &b.metadata);
        for ((namespace, _), binding) in bindings {
            let me = reference(ObjectKind::RoleBinding, &binding.metadata);
            if namespace.is_empty() {
                continue; // reported by check_duplicates
            }
            let role_ref = &binding.role_ref;
            if role_ref.api_group != RBAC_GROUP {
                self.error(&me, "roleRef.apiGroup", format!("must be {RBAC_GROUP}"));
                continue;
            }
            let role = match role_ref.kind.as_str() {
                "Role" => roles.get(&(namespace.clone(), role_ref.name.clone())),
                "ClusterRole" => cluster_roles.get(&role_ref.name),
                other => {
                    self.error(
                        &me,
                        "roleRef.kind",
                        format!("must be Role or ClusterRole, not {other:?}"),
                    );
                    continue;
                }
            };
            let Some(role) = role else {
                self.warning(
                    &me,
                    "roleRef.name",
                    format!(
                        "{} {:?} does not exist: the binding grants nothing until it does",
                        role_ref.kind, role_ref.name
                    ),
                );
                continue;
            };
            let subjects = self.subjects(
                &me,
                "subjects",
                binding.subjects.as_deref().unwrap_or_default(),
                Some(&namespace),
            );
            if self.role_is_broken(&me, "roleRef.name", &role.role) {
                continue;
            }
            let Some(subjects) = subjects else {
                continue;
            };
            grants.push(Grant {
                binding: me,
                scope: Scope::Namespace { name: namespace },
                subjects,
                role: role.clone(),
            });
        }
    }

    fn compile_cluster_role_bindings(
        &mut self,
        cluster_roles: &BTreeMap<String, Arc<ResolvedRole>>,
        grants: &mut Vec<Grant>,
    ) {
        let bindings = Self::first_by_name(&self.objects.cluster_role_bindings, |b| &b.metadata);
        for binding in bindings.values() {
            let me = reference(ObjectKind::ClusterRoleBinding, &binding.metadata);
            let role_ref = &binding.role_ref;
            if role_ref.api_group != RBAC_GROUP {
                self.error(&me, "roleRef.apiGroup", format!("must be {RBAC_GROUP}"));
                continue;
            }
            if role_ref.kind != "ClusterRole" {
                self.error(
                    &me,
                    "roleRef.kind",
                    format!("must be ClusterRole, not {:?}", role_ref.kind),
                );
                continue;
            }
            let Some(role) = cluster_roles.get(&role_ref.name) else {
                self.warning(
                    &me,
                    "roleRef.name",
                    format!(
                        "ClusterRole {:?} does not exist: the binding grants nothing until it does",
                        role_ref.name
                    ),
                );
                continue;
            };
            let subjects = self.subjects(
                &me,
                "subjects",
                binding.subjects.as_deref().unwrap_or_default(),
                None,
            );
            if self.role_is_broken(&me, "roleRef.name", &role.role) {
                continue;
            }
            let Some(subjects) = subjects else {
                continue;
            };
            let scope = Scope::Cluster {
                name: self.cluster_name.to_string(),
            };
            grants.push(Grant {
                binding: me,
                scope,
                subjects,
                role: role.clone(),
            });
        }
    }

    /// Workspace and NodeGroup membership comes from labels; say where the labels and the
    /// declarations disagree.
    fn check_memberships(&mut self) {
        let o = self.objects;
        // The first Namespace of each name counts; later duplicates were reported.
        let mut labelled: BTreeMap<&str, Option<&str>> = BTreeMap::new();
        for ns in &o.namespaces {
            let label = ns
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(crate::model::WORKSPACE_LABEL));
            labelled
                .entry(name_of(&ns.metadata))
                .or_insert(label.map(String::as_str));
        }
        let workspaces: BTreeSet<&str> =
            o.workspaces.iter().map(|w| name_of(&w.metadata)).collect();
        let mut found = Vec::new();
        for ws in &o.workspaces {
            let me = reference(ObjectKind::Workspace, &ws.metadata);
            for (i, ns) in ws.spec.namespaces.iter().enumerate() {
                match labelled.get(ns.as_str()) {
                    Some(Some(label)) if *label == name_of(&ws.metadata) => {}
                    Some(other) => found.push((me.clone(), i, format!(
                        "namespace {ns:?} is labelled {} = {:?}, so it is not in this workspace",
                        crate::model::WORKSPACE_LABEL, other.unwrap_or_default()
                    ))),
                    None if !o.namespaces.is_empty() => found.push((me.clone(), i, format!(
                        "namespace {ns:?} is not among the loaded Namespaces"
                    ))),
                    None => {}
                }
            }
        }
        for (me, i, message) in found {
            self.warning(&me, &format!("spec.namespaces[{i}]"), message);
        }
        for ns in &o.namespaces {
            if let Some(label) = labelled.get(name_of(&ns.metadata)).copied().flatten()
                && !label.is_empty()
                && !workspaces.contains(label)
            {
                let me = reference(ObjectKind::Namespace, &ns.metadata);
                self.warning(
                    &me,
                    &format!("metadata.labels[{}]", crate::model::WORKSPACE_LABEL),
                    format!("Workspace {label:?} is not declared"),
                );
            }
        }
    }
}

/// What an IAMRole grants once its RoleTemplates are resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EffectiveRole {
    /// Every rule, in the engine's order: the role's own rules, then the templates named in
    /// `spec.roleTemplates` in the order named, then the templates `spec.templateSelector`
    /// matches, by name. Rules are as written (duplicates kept).
    pub rules: Vec<PolicyRule>,
    /// Every UI permission of the role and its templates.
    pub ui_permissions: BTreeSet<String>,
}

/// A problem that makes an IAMRole grant nothing: the field it is in and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleProblem {
    /// The role's field, e.g. `spec.roleTemplates[1]` or `spec.templateSelector`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for RoleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The effective rules and UI permissions of `role` given the RoleTemplates that exist, with
/// exactly the resolution the engine uses when it compiles a policy: inline rules, then the
/// named templates, then the selected ones; the first template of each name counts and
/// nameless ones take no part. A role naming a template that does not exist, or whose
/// `templateSelector` is invalid, grants nothing in the engine: then the problems, every one.
pub fn effective_rules(
    role: &IamRole,
    templates: &[crate::model::RoleTemplate],
) -> Result<EffectiveRole, Vec<RoleProblem>> {
    let by_name = Compiler::first_by_name(templates, |t| &t.metadata);
    let (effective, problems) = resolve_templates(role, &by_name);
    if problems.is_empty() {
        Ok(effective)
    } else {
        Err(problems)
    }
}

/// The one resolution of an IAMRole's templates, shared by the compiler and
/// [`effective_rules`]: what the role grants, and the errors that make it grant nothing.
fn resolve_templates(
    role: &IamRole,
    templates: &BTreeMap<(String, String), &crate::model::RoleTemplate>,
) -> (EffectiveRole, Vec<RoleProblem>) {
    let mut problems = Vec::new();
    let mut rules = role.spec.rules.clone();
    let mut ui: BTreeSet<String> = role.spec.ui_permissions.iter().cloned().collect();
    for (i, template_name) in role.spec.role_templates.iter().enumerate() {
        match templates.get(&(String::new(), template_name.clone())) {
            Some(t) => {
                rules.extend(t.spec.rules.iter().cloned());
                ui.extend(t.spec.ui_permissions.iter().cloned());
            }
            None => problems.push(RoleProblem {
                field: format!("spec.roleTemplates[{i}]"),
                message: format!("RoleTemplate {template_name:?} does not exist"),
            }),
        }
    }
    if let Some(selector) = &role.spec.template_selector {
        for t in templates.values() {
            let labels = t.metadata.labels.clone().unwrap_or_default();
            match selector_matches(selector, &labels) {
                Ok(true) => {
                    rules.extend(t.spec.rules.iter().cloned());
                    ui.extend(t.spec.ui_permissions.iter().cloned());
                }
                Ok(false) => {}
                Err(e) => {
                    problems.push(RoleProblem {
                        field: "spec.templateSelector".to_string(),
                        message: e.to_string(),
                    });
                    break;
                }
            }
        }
    }
    (
        EffectiveRole {
            rules,
            ui_permissions: ui,
        },
        problems,
    )
}
