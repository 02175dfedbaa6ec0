//! From objects to grants, one object at a time: resolves a role (inline rules, RoleTemplates
//! by name and by selector, ClusterRole aggregation), checks a binding against the model, and
//! reports what does not make sense as diagnostics. An object with an error grants nothing.
//!
//! Every function here compiles ONE object and reads the others through a small lookup trait
//! ([`Templates`], [`ClusterRoles`], [`Bindable`]), so that the policy store can compile again
//! exactly the objects a change can affect, with the same code a full compile runs (a full
//! compile is the store fed every object at once). The diagnostics of an object are all
//! about that object; the store keeps them per object.
//!
//! Duplicates: two objects of one kind with one name (and namespace) are ambiguous. The
//! first counts; the others are reported and take no part. Nameless objects are reported
//! and take no part at all.

use super::grant::{Grant, GrantSubject, ResolvedRole, SubjectKind};
use super::iam_binding::{
    BoundSubject, IamBindingContext, check_iam_role_binding_target, check_subjects,
};
use crate::diagnostics::{Diagnostic, Severity};
use crate::model::{
    IamRole, IamRoleBinding, RoleTemplate, Scope, ScopeKind, Workspace, selector_matches,
};
use crate::objects::{ObjectKind, ObjectRef, Source};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The diagnostics of one object, as they are found.
pub(crate) struct Report {
    object: ObjectRef,
    source: Option<Source>,
    found: Vec<Diagnostic>,
}

impl Report {
    /// An empty report about `object`, read from `source`.
    pub(crate) fn new(object: ObjectRef, source: Option<Source>) -> Self {
        Report {
            object,
            source,
            found: Vec::new(),
        }
    }

    fn push(&mut self, severity: Severity, field: &str, message: String) {
        self.found.push(Diagnostic {
            severity,
            object: self.object.clone(),
            source: self.source.clone(),
            field: field.to_string(),
            message,
        });
    }

    fn error(&mut self, field: &str, message: String) {
        self.push(Severity::Error, field, message);
    }

    fn warning(&mut self, field: &str, message: String) {
        self.push(Severity::Warning, field, message);
    }

    fn error_count(&self) -> usize {
        self.found
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Everything found, in the order found.
    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.found
    }
}

/// A role, compiled: what a binding to it grants, and whether it may be bound at all.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CompiledRole {
    /// Its effective rules and UI permissions.
    pub(crate) resolved: Arc<ResolvedRole>,
    /// Whether it had errors: then bindings to it grant nothing.
    pub(crate) broken: bool,
    /// For an IAMRole, the scope kind it is meant for.
    pub(crate) scope: Option<ScopeKind>,
}

/// The errors of the `copies` objects held under `object` (all copies of one ref): a
/// missing name or namespace on each, or every copy after the first.
pub(crate) fn check_duplicates(object: &ObjectRef, copies: usize, report: &mut Report) {
    for copy in 0..copies {
        if object.name.is_empty() {
            report.error("metadata.name", "is required".to_string());
        } else if object.kind.is_namespaced()
            && object.namespace.as_deref().is_none_or(str::is_empty)
        {
            report.error(
                "metadata.namespace",
                format!("is required for a {}", object.kind),
            );
        } else if copy > 0 {
            report.error(
                "metadata.name",
                format!("another {} has the same name", object.kind),
            );
        }
    }
}

/// What kube-apiserver's validation of a native Role or ClusterRole says of one rule
/// (`ValidatePolicyRule` in Kubernetes' `pkg/apis/rbac/validation`): each problem as the
/// field under the rule and a message. A native role with any such problem cannot exist in a
/// cluster, so from files it grants nothing either.
fn native_rule_problems(rule: &PolicyRule, namespaced: bool) -> Vec<(&'static str, &'static str)> {
    let mut problems = Vec::new();
    let has = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
    if rule.verbs.is_empty() {
        problems.push(("verbs", "must contain at least one value"));
    }
    if has(&rule.non_resource_urls) {
        if namespaced {
            problems.push((
                "nonResourceURLs",
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if has(&rule.api_groups) || has(&rule.resources) || has(&rule.resource_names) {
            problems.push((
                "nonResourceURLs",
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return problems;
    }
    if !has(&rule.api_groups) {
        problems.push((
            "apiGroups",
            "resource rules must supply at least one api group (\"\" is the core group)",
        ));
    }
    if !has(&rule.resources) {
        problems.push((
            "resources",
            "resource rules must supply at least one resource",
        ));
    }
    problems
}

/// Whether kube-apiserver would accept a native role with these rules.
pub(crate) fn native_rules_are_valid(rules: &[PolicyRule], namespaced: bool) -> bool {
    rules
        .iter()
        .all(|rule| native_rule_problems(rule, namespaced).is_empty())
}

/// A native role's rules that kube-apiserver would refuse are errors: the role grants nothing.
fn check_native_rules(report: &mut Report, rules: &[PolicyRule], namespaced: bool) {
    for (i, rule) in rules.iter().enumerate() {
        for (field, message) in native_rule_problems(rule, namespaced) {
            report.error(
                &format!("rules[{i}].{field}"),
                format!("{message} (Kubernetes refuses this role, so it grants nothing)"),
            );
        }
    }
}

/// Rules of IAMRoles and RoleTemplates that cannot match anything are reported; their CRDs
/// accept them, so the role keeps its other rules.
fn check_rules(report: &mut Report, field: &str, rules: &[PolicyRule]) {
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("{field}[{i}]");
        if rule.verbs.is_empty() {
            report.warning(
                &format!("{field}.verbs"),
                "is empty: the rule matches nothing".into(),
            );
        }
        let has_resources = rule.resources.as_ref().is_some_and(|r| !r.is_empty());
        if has_resources && rule.api_groups.as_ref().is_none_or(|g| g.is_empty()) {
            report.warning(
                &format!("{field}.apiGroups"),
                "is empty: resource rules need at least one API group (\"\" is the core group)"
                    .into(),
            );
        }
    }
}

/// A template's rules end up in roles as if written there: they are reported the same way.
pub(crate) fn check_template(template: &RoleTemplate, report: &mut Report) {
    check_rules(report, "spec.rules", &template.spec.rules);
}

/// The RoleTemplates that count (the first of each name, nameless ones left out).
pub(crate) trait Templates {
    /// The template named `name`.
    fn named(&self, name: &str) -> Option<&RoleTemplate>;
    /// Every template, by name.
    fn in_name_order(&self) -> impl Iterator<Item = &RoleTemplate>;
}

impl Templates for BTreeMap<String, &RoleTemplate> {
    fn named(&self, name: &str) -> Option<&RoleTemplate> {
        self.get(name).copied()
    }

    fn in_name_order(&self) -> impl Iterator<Item = &RoleTemplate> {
        self.values().copied()
    }
}

/// Compiles an IAMRole (the first of its name) against the templates that count.
pub(crate) fn compile_iam_role(
    role: &IamRole,
    me: &ObjectRef,
    templates: &impl Templates,
    report: &mut Report,
) -> CompiledRole {
    let errors_before = report.error_count();
    let (effective, problems) = resolve_templates(role, templates);
    for problem in problems {
        report.error(&problem.field, problem.message);
    }
    check_rules(report, "spec.rules", &role.spec.rules);
    CompiledRole {
        broken: report.error_count() > errors_before,
        resolved: Arc::new(ResolvedRole::new(
            me.clone(),
            effective.rules,
            effective.ui_permissions,
        )),
        scope: Some(role.spec.scope),
    }
}

/// Compiles a native Role (the first of its namespace and name).
pub(crate) fn compile_role(role: &Role, me: &ObjectRef, report: &mut Report) -> CompiledRole {
    let rules = role.rules.clone().unwrap_or_default();
    let errors_before = report.error_count();
    check_native_rules(report, &rules, true);
    CompiledRole {
        broken: report.error_count() > errors_before,
        resolved: Arc::new(ResolvedRole::new(me.clone(), rules, BTreeSet::new())),
        scope: None,
    }
}

/// The ClusterRoles that count (the first of each name, nameless ones left out).
pub(crate) trait ClusterRoles {
    /// The ClusterRole named `name`.
    fn named(&self, name: &str) -> Option<&ClusterRole>;
    /// Every ClusterRole with its name, by name.
    fn in_name_order(&self) -> impl Iterator<Item = (&str, &ClusterRole)>;
}

/// Compiles a ClusterRole (the first of its name). Aggregation is resolved the way the
/// aggregation controller converges: an aggregated role's rules are the union of the rules
/// of the roles its selectors match (transitively through other aggregated roles), its own
/// `rules` replaced. So an aggregated role depends on every other ClusterRole.
pub(crate) fn compile_cluster_role(
    role: &ClusterRole,
    me: &ObjectRef,
    all: &impl ClusterRoles,
    report: &mut Report,
) -> CompiledRole {
    let errors_before = report.error_count();
    // Written rules are validated even on an aggregated role, as kube-apiserver does on create.
    check_native_rules(report, role.rules.as_deref().unwrap_or_default(), false);
    let rules = match &role.aggregation_rule {
        None => role.rules.clone().unwrap_or_default(),
        Some(_) => aggregate(&me.name, all, report),
    };
    let broken = report.error_count() > errors_before;
    CompiledRole {
        resolved: Arc::new(ResolvedRole::new(me.clone(), rules, BTreeSet::new())),
        broken,
        scope: None,
    }
}

fn aggregate(root: &str, all: &impl ClusterRoles, report: &mut Report) -> Vec<PolicyRule> {
    let mut rules: Vec<PolicyRule> = Vec::new();
    let mut visited: HashSet<&str> = HashSet::from([root]);
    let mut reported: BTreeSet<usize> = BTreeSet::new();
    let mut queue = vec![root];
    while let Some(current) = queue.pop() {
        let Some(selectors) = all
            .named(current)
            .and_then(|r| r.aggregation_rule.as_ref())
            .and_then(|a| a.cluster_role_selectors.as_ref())
        else {
            continue;
        };
        for (name, candidate) in all.in_name_order() {
            if visited.contains(name) {
                continue;
            }
            let labels = candidate.metadata.labels.clone().unwrap_or_default();
            let mut selected = false;
            for (i, selector) in selectors.iter().enumerate() {
                match selector_matches(selector, &labels) {
                    Ok(m) => selected |= m,
                    Err(e) if current == root && reported.insert(i) => {
                        report.error(
                            &format!("aggregationRule.clusterRoleSelectors[{i}]"),
                            e.to_string(),
                        );
                    }
                    Err(_) => {}
                }
            }
            // A role kube-apiserver would refuse does not exist there: nothing to aggregate.
            let acceptable =
                native_rules_are_valid(candidate.rules.as_deref().unwrap_or_default(), false);
            if !selected || !acceptable {
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

/// What compiling a binding looks up: the roles that count, the scopes declared, and the
/// cluster being served.
pub(crate) trait Bindable {
    /// The cluster this policy serves.
    fn cluster_name(&self) -> &str;
    /// The IAMRole named `name`, compiled.
    fn iam_role(&self, name: &str) -> Option<&CompiledRole>;
    /// The Role `namespace/name`, compiled.
    fn role(&self, namespace: &str, name: &str) -> Option<&CompiledRole>;
    /// The ClusterRole named `name`, compiled.
    fn cluster_role(&self, name: &str) -> Option<&CompiledRole>;
    /// Whether some object (any copy, even a duplicate) of `kind` (Cluster, Workspace or
    /// NodeGroup) has this name.
    fn is_declared(&self, kind: ObjectKind, name: &str) -> bool;
}

/// Whether a binding's role had errors; if so, says so on the binding, which then grants
/// nothing.
fn role_is_broken(report: &mut Report, field: &str, role: &CompiledRole) -> bool {
    if !role.broken {
        return false;
    }
    report.warning(
        field,
        format!(
            "{} has errors: the binding grants nothing until they are fixed",
            role.resolved.role
        ),
    );
    true
}

/// A binding's subjects (`field` is where they are, e.g. `subjects`) as the engine matches
/// them, checked by [`check_subjects`]: every problem is an error on the binding, which then
/// grants nothing (`None`).
fn subjects(
    report: &mut Report,
    field: &str,
    subjects: &[Subject],
    default_namespace: Option<&str>,
) -> Option<Vec<GrantSubject>> {
    let checked = check_subjects(field, subjects, default_namespace);
    // Each subject that cannot match is one problem: none left is a binding to no one.
    let matching = match &checked {
        Ok(bound) => bound.len(),
        Err(problems) => subjects.len().saturating_sub(problems.len()),
    };
    if matching == 0 {
        report.warning(field, "is empty: the binding grants nothing".into());
    }
    match checked {
        Ok(bound) => Some(bound.iter().map(grant_subject).collect()),
        Err(problems) => {
            for problem in problems {
                report.error(&problem.field, problem.message);
            }
            None
        }
    }
}

/// A checked subject as the engine matches it.
fn grant_subject(subject: &BoundSubject) -> GrantSubject {
    let kind = match subject {
        BoundSubject::User(_) => SubjectKind::User,
        BoundSubject::Group(_) => SubjectKind::Group,
        BoundSubject::ServiceAccount { .. } => SubjectKind::ServiceAccount,
    };
    GrantSubject {
        kind,
        matches: subject.matches(),
    }
}

/// What kube-apiserver requires of a native binding's subjects beyond what every binding
/// needs (`subjects`): the apiGroup, after its defaulting of an empty one, is
/// `rbac.authorization.k8s.io` for a User or Group and none for a ServiceAccount, and a
/// ServiceAccount's name is a DNS subdomain. A native binding without is refused by
/// kube-apiserver, so from files it is an error and grants nothing. (IAMRoleBindings' CRD
/// accepts any.)
fn check_native_subjects(report: &mut Report, subjects: &[Subject]) -> bool {
    let errors_before = report.error_count();
    for (i, s) in subjects.iter().enumerate() {
        let group = s.api_group.as_deref().unwrap_or_default();
        let expected = match s.kind.as_str() {
            "User" | "Group" => RBAC_GROUP,
            "ServiceAccount" => "",
            _ => continue, // an unknown kind is reported by `subjects`
        };
        if !group.is_empty() && group != expected {
            report.error(
                &format!("subjects[{i}].apiGroup"),
                format!("must be {expected:?} for a {}, not {group:?}", s.kind),
            );
        }
        if s.kind == "ServiceAccount" && !s.name.is_empty() && !is_dns_subdomain(&s.name) {
            report.error(
                &format!("subjects[{i}].name"),
                "must be a DNS subdomain for a ServiceAccount (lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit, at most 253 characters)".into(),
            );
        }
    }
    report.error_count() == errors_before
}

/// A DNS-1123 subdomain, as Kubernetes names most objects: lowercase alphanumeric labels
/// with inner `-`, joined by `.`, at most 253 characters in all.
fn is_dns_subdomain(name: &str) -> bool {
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    };
    name.len() <= 253 && name.split('.').all(label_ok)
}

/// Compiles an IAMRoleBinding (the first of its name): its roleRef and scope, its subjects
/// (the checks of [`check_iam_role_binding`], which the materialiser makes too), then
/// whether its role has errors.
pub(crate) fn compile_iam_binding(
    binding: &IamRoleBinding,
    me: &ObjectRef,
    world: &impl Bindable,
    report: &mut Report,
) -> Option<Grant> {
    let spec = &binding.spec;
    let scope = match check_iam_role_binding_target(spec, &BindableContext(world)) {
        Ok(scope) => scope,
        Err(problem) => {
            report.error(&problem.field, problem.message);
            return None;
        }
    };
    let subjects = subjects(
        report,
        "spec.subjects",
        &spec.subjects,
        scope.subject_namespace(),
    );
    // The target check found the role: its compiled form is there.
    let role = world.iam_role(&spec.role_ref.name)?;
    if role_is_broken(report, "spec.roleRef.name", role) {
        return None;
    }
    Some(Grant {
        binding: me.clone(),
        scope,
        subjects: subjects?,
        role: role.resolved.clone(),
    })
}

/// The compiler's view of the policy, as [`check_iam_role_binding_target`] looks it up.
struct BindableContext<'a, B>(&'a B);

impl<B: Bindable> IamBindingContext for BindableContext<'_, B> {
    fn cluster_name(&self) -> &str {
        self.0.cluster_name()
    }

    fn iam_role_scope(&self, name: &str) -> Option<ScopeKind> {
        self.0.iam_role(name).and_then(|role| role.scope)
    }

    fn is_declared(&self, kind: ObjectKind, name: &str) -> bool {
        self.0.is_declared(kind, name)
    }
}

/// Compiles a RoleBinding (the first of its namespace and name).
pub(crate) fn compile_role_binding(
    binding: &RoleBinding,
    me: &ObjectRef,
    world: &impl Bindable,
    report: &mut Report,
) -> Option<Grant> {
    let namespace = me.namespace.as_deref().unwrap_or_default();
    if namespace.is_empty() {
        return None; // reported as a missing namespace
    }
    let role_ref = &binding.role_ref;
    if role_ref.api_group != RBAC_GROUP {
        report.error("roleRef.apiGroup", format!("must be {RBAC_GROUP}"));
        return None;
    }
    let role = match role_ref.kind.as_str() {
        "Role" => world.role(namespace, &role_ref.name),
        "ClusterRole" => world.cluster_role(&role_ref.name),
        other => {
            report.error(
                "roleRef.kind",
                format!("must be Role or ClusterRole, not {other:?}"),
            );
            return None;
        }
    };
    let Some(role) = role else {
        report.warning(
            "roleRef.name",
            format!(
                "{} {:?} does not exist: the binding grants nothing until it does",
                role_ref.kind, role_ref.name
            ),
        );
        return None;
    };
    let written = binding.subjects.as_deref().unwrap_or_default();
    let subjects = subjects(report, "subjects", written, Some(namespace));
    let subjects_accepted = check_native_subjects(report, written);
    if role_is_broken(report, "roleRef.name", role) || !subjects_accepted {
        return None;
    }
    Some(Grant {
        binding: me.clone(),
        scope: Scope::Namespace {
            name: namespace.to_string(),
        },
        subjects: subjects?,
        role: role.resolved.clone(),
    })
}

/// Compiles a ClusterRoleBinding (the first of its name).
pub(crate) fn compile_cluster_role_binding(
    binding: &ClusterRoleBinding,
    me: &ObjectRef,
    world: &impl Bindable,
    report: &mut Report,
) -> Option<Grant> {
    let role_ref = &binding.role_ref;
    if role_ref.api_group != RBAC_GROUP {
        report.error("roleRef.apiGroup", format!("must be {RBAC_GROUP}"));
        return None;
    }
    if role_ref.kind != "ClusterRole" {
        report.error(
            "roleRef.kind",
            format!("must be ClusterRole, not {:?}", role_ref.kind),
        );
        return None;
    }
    let Some(role) = world.cluster_role(&role_ref.name) else {
        report.warning(
            "roleRef.name",
            format!(
                "ClusterRole {:?} does not exist: the binding grants nothing until it does",
                role_ref.name
            ),
        );
        return None;
    };
    let written = binding.subjects.as_deref().unwrap_or_default();
    let subjects = subjects(report, "subjects", written, None);
    let subjects_accepted = check_native_subjects(report, written);
    if role_is_broken(report, "roleRef.name", role) || !subjects_accepted {
        return None;
    }
    Some(Grant {
        binding: me.clone(),
        scope: Scope::Cluster {
            name: world.cluster_name().to_string(),
        },
        subjects: subjects?,
        role: role.resolved.clone(),
    })
}

/// Workspace membership comes from labels: says where a Workspace's `spec.namespaces` and
/// the Namespaces' labels disagree. `namespace_label(n)` is the workspace label of the first
/// Namespace named `n` (`Some(None)` when it has none, `None` when there is no such
/// Namespace); `any_namespace` whether any Namespace is loaded at all (without any, nothing
/// can be said about missing ones).
pub(crate) fn check_workspace_namespaces<'a>(
    workspace: &Workspace,
    namespace_label: impl Fn(&str) -> Option<Option<&'a str>>,
    any_namespace: bool,
    report: &mut Report,
) {
    let me = workspace.metadata.name.as_deref().unwrap_or_default();
    for (i, ns) in workspace.spec.namespaces.iter().enumerate() {
        let message = match namespace_label(ns) {
            Some(Some(label)) if label == me => continue,
            Some(other) => format!(
                "namespace {ns:?} is labelled {} = {:?}, so it is not in this workspace",
                crate::model::WORKSPACE_LABEL,
                other.unwrap_or_default()
            ),
            None if any_namespace => {
                format!("namespace {ns:?} is not among the loaded Namespaces")
            }
            None => continue,
        };
        report.warning(&format!("spec.namespaces[{i}]"), message);
    }
}

/// A Namespace whose (first copy's) workspace label names no declared Workspace.
pub(crate) fn check_namespace_label(
    label: Option<&str>,
    is_declared: impl Fn(&str) -> bool,
    report: &mut Report,
) {
    if let Some(label) = label
        && !label.is_empty()
        && !is_declared(label)
    {
        report.warning(
            &format!("metadata.labels[{}]", crate::model::WORKSPACE_LABEL),
            format!("Workspace {label:?} is not declared"),
        );
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
    let mut by_name: BTreeMap<String, &RoleTemplate> = BTreeMap::new();
    for t in templates {
        if let Some(name) = t.metadata.name.as_deref().filter(|n| !n.is_empty()) {
            by_name.entry(name.to_string()).or_insert(t);
        }
    }
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
    templates: &impl Templates,
) -> (EffectiveRole, Vec<RoleProblem>) {
    let mut problems = Vec::new();
    let mut rules = role.spec.rules.clone();
    let mut ui: BTreeSet<String> = role.spec.ui_permissions.iter().cloned().collect();
    for (i, template_name) in role.spec.role_templates.iter().enumerate() {
        match templates.named(template_name) {
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
        for t in templates.in_name_order() {
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
