//! From desired state and what exists to what to do: the objects to apply and the objects to
//! delete, so that whatever one source made before and no longer should have is removed
//! (revocation), and nothing is touched when everything is already as it should be
//! (idempotence).

use super::{DesiredRbac, MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::fmt;

/// The four native RBAC kinds, in the order objects are applied: roles before the bindings
/// that point at them, so that a new binding never meets a role still holding old rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RbacKind {
    /// `rbac.authorization.k8s.io/v1` ClusterRole.
    ClusterRole,
    /// `rbac.authorization.k8s.io/v1` Role.
    Role,
    /// `rbac.authorization.k8s.io/v1` ClusterRoleBinding.
    ClusterRoleBinding,
    /// `rbac.authorization.k8s.io/v1` RoleBinding.
    RoleBinding,
}

impl RbacKind {
    /// The kind as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            RbacKind::ClusterRole => "ClusterRole",
            RbacKind::Role => "Role",
            RbacKind::ClusterRoleBinding => "ClusterRoleBinding",
            RbacKind::RoleBinding => "RoleBinding",
        }
    }

    /// Whether this is a binding kind.
    pub fn is_binding(self) -> bool {
        matches!(self, RbacKind::ClusterRoleBinding | RbacKind::RoleBinding)
    }
}

/// One object by kind, namespace (Role and RoleBinding only) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The kind.
    pub kind: RbacKind,
    /// The namespace, for Roles and RoleBindings.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.as_str(), self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// One native RBAC object.
#[derive(Clone, Debug, PartialEq)]
pub enum RbacObject {
    /// A ClusterRole.
    ClusterRole(ClusterRole),
    /// A Role.
    Role(Role),
    /// A ClusterRoleBinding.
    ClusterRoleBinding(ClusterRoleBinding),
    /// A RoleBinding.
    RoleBinding(RoleBinding),
}

impl RbacObject {
    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            RbacObject::ClusterRole(o) => &o.metadata,
            RbacObject::Role(o) => &o.metadata,
            RbacObject::ClusterRoleBinding(o) => &o.metadata,
            RbacObject::RoleBinding(o) => &o.metadata,
        }
    }

    /// The object's kind.
    pub fn kind(&self) -> RbacKind {
        match self {
            RbacObject::ClusterRole(_) => RbacKind::ClusterRole,
            RbacObject::Role(_) => RbacKind::Role,
            RbacObject::ClusterRoleBinding(_) => RbacKind::ClusterRoleBinding,
            RbacObject::RoleBinding(_) => RbacKind::RoleBinding,
        }
    }

    /// The object's key.
    pub fn key(&self) -> ObjectKey {
        let meta = self.metadata();
        let namespace = match self.kind() {
            RbacKind::Role | RbacKind::RoleBinding => {
                Some(meta.namespace.clone().unwrap_or_default())
            }
            _ => None,
        };
        ObjectKey {
            kind: self.kind(),
            namespace,
            name: meta.name.clone().unwrap_or_default(),
        }
    }

    fn role_ref(&self) -> Option<&RoleRef> {
        match self {
            RbacObject::ClusterRoleBinding(o) => Some(&o.role_ref),
            RbacObject::RoleBinding(o) => Some(&o.role_ref),
            _ => None,
        }
    }

    fn is_managed(&self) -> bool {
        self.metadata()
            .labels
            .as_ref()
            .and_then(|l| l.get(MANAGED_BY_LABEL))
            .is_some_and(|v| v == MANAGED_BY_VALUE)
    }
}

impl DesiredRbac {
    /// Every object, in apply order (ClusterRoles, Roles, ClusterRoleBindings,
    /// RoleBindings).
    pub fn into_objects(self) -> Vec<RbacObject> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.cluster_roles.into_iter().map(RbacObject::ClusterRole));
        out.extend(self.roles.into_iter().map(RbacObject::Role));
        out.extend(
            self.cluster_role_bindings
                .into_iter()
                .map(RbacObject::ClusterRoleBinding),
        );
        out.extend(self.role_bindings.into_iter().map(RbacObject::RoleBinding));
        out
    }
}

/// What to do to go from what exists to what should: first delete, in order, then apply
/// (create or update), in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Objects to delete, bindings first: everything made before that should no longer
    /// exist, and bindings whose `roleRef` must change (it is immutable: they are deleted
    /// here and created again by `apply`).
    pub delete: Vec<ObjectKey>,
    /// Objects to create or update, roles before bindings; only those missing or differing
    /// from what exists.
    pub apply: Vec<RbacObject>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.apply.is_empty()
    }
}

/// What to do for one source: `desired` is what it should have (empty when it has an error
/// or no longer exists); `observed` what exists of what it made, i.e. the objects labelled
/// `app.kubernetes.io/managed-by: scopegate` and with the source's label. Observed objects
/// without the managed-by label are never touched, whatever was passed.
///
/// An observed object that is not desired is deleted (a RoleBinding in a namespace that left
/// the workspace, the ClusterRole of a deleted or broken IAMRole, ...). A desired object is
/// applied when it does not exist or differs from what exists in rules, subjects, `roleRef`,
/// its labels or its owner reference (labels and owner references others added are left
/// alone). A binding whose `roleRef` differs is deleted and created again, and so is a
/// ClusterRole that someone made aggregated (its rules would be overwritten by the
/// aggregation controller).
///
/// Deletes come first so that during the change access is only ever taken away early, never
/// given early; applies put roles before bindings.
pub fn plan(desired: DesiredRbac, observed: DesiredRbac) -> Plan {
    let mut wanted: BTreeMap<ObjectKey, RbacObject> = BTreeMap::new();
    for object in desired.into_objects() {
        wanted.entry(object.key()).or_insert(object);
    }
    let mut existing: BTreeMap<ObjectKey, RbacObject> = BTreeMap::new();
    for object in observed.into_objects() {
        if object.is_managed() {
            existing.entry(object.key()).or_insert(object);
        }
    }
    let mut delete = Vec::new();
    for key in existing.keys() {
        if !wanted.contains_key(key) {
            delete.push(key.clone());
        }
    }
    let mut apply = Vec::new();
    for (key, object) in wanted {
        match existing.get(&key) {
            None => apply.push(object),
            Some(current) if must_recreate(&object, current) => {
                delete.push(key);
                apply.push(object);
            }
            Some(current) if !up_to_date(&object, current) => apply.push(object),
            Some(_) => {}
        }
    }
    delete.sort_by_key(|k| (!k.kind.is_binding(), k.clone()));
    apply.sort_by_key(|o| (o.kind(), o.key()));
    Plan { delete, apply }
}

fn must_recreate(desired: &RbacObject, current: &RbacObject) -> bool {
    match (desired, current) {
        (RbacObject::ClusterRole(_), RbacObject::ClusterRole(c)) => c.aggregation_rule.is_some(),
        _ => desired.role_ref() != current.role_ref(),
    }
}

fn up_to_date(desired: &RbacObject, current: &RbacObject) -> bool {
    let (d, c) = (desired.metadata(), current.metadata());
    let labels_ok = d.labels.iter().flatten().all(|(k, v)| {
        c.labels
            .as_ref()
            .and_then(|l| l.get(k))
            .is_some_and(|cv| cv == v)
    });
    let owners_ok = d.owner_references.iter().flatten().all(|want| {
        c.owner_references.iter().flatten().any(|have| {
            have.api_version == want.api_version
                && have.kind == want.kind
                && have.name == want.name
                && have.uid == want.uid
                && have.controller == want.controller
        })
    });
    let content_ok = match (desired, current) {
        (RbacObject::ClusterRole(d), RbacObject::ClusterRole(c)) => {
            same_rules(d.rules.as_deref(), c.rules.as_deref())
        }
        (RbacObject::Role(d), RbacObject::Role(c)) => {
            same_rules(d.rules.as_deref(), c.rules.as_deref())
        }
        (RbacObject::ClusterRoleBinding(d), RbacObject::ClusterRoleBinding(c)) => {
            same_subjects(d.subjects.as_deref(), c.subjects.as_deref())
        }
        (RbacObject::RoleBinding(d), RbacObject::RoleBinding(c)) => {
            same_subjects(d.subjects.as_deref(), c.subjects.as_deref())
        }
        _ => false,
    };
    labels_ok && owners_ok && content_ok
}

/// An absent list and an empty one are the same to the API server.
fn list(list: &Option<Vec<String>>) -> &[String] {
    list.as_deref().unwrap_or_default()
}

fn same_rules(a: Option<&[PolicyRule]>, b: Option<&[PolicyRule]>) -> bool {
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.verbs == y.verbs
                && list(&x.api_groups) == list(&y.api_groups)
                && list(&x.resources) == list(&y.resources)
                && list(&x.resource_names) == list(&y.resource_names)
                && list(&x.non_resource_urls) == list(&y.non_resource_urls)
        })
}

/// Subjects as the API server stores them: a ServiceAccount's apiGroup defaults to `""`.
fn same_subjects(a: Option<&[Subject]>, b: Option<&[Subject]>) -> bool {
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let group = |s: &Subject| s.api_group.clone().unwrap_or_default();
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.kind == y.kind
                && x.name == y.name
                && x.namespace.as_deref().unwrap_or_default()
                    == y.namespace.as_deref().unwrap_or_default()
                && group(x) == group(y)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::{IAMROLEBINDING_LABEL, labels};

    fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: namespace.map(Into::into),
            labels: Some(labels(IAMROLEBINDING_LABEL, "b")),
            ..Default::default()
        }
    }

    fn rb(namespace: &str, role: &str) -> RoleBinding {
        RoleBinding {
            metadata: meta("scopegate:iamrolebinding:b", Some(namespace)),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: role.into(),
            },
            subjects: Some(vec![Subject {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "User".into(),
                name: "alice".into(),
                namespace: None,
            }]),
        }
    }

    fn cr(name: &str, verbs: &[&str]) -> ClusterRole {
        ClusterRole {
            metadata: meta(name, None),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec!["".into()]),
                resources: Some(vec!["pods".into()]),
                verbs: verbs.iter().map(|v| v.to_string()).collect(),
                ..Default::default()
            }]),
            aggregation_rule: None,
        }
    }

    fn set(rbs: Vec<RoleBinding>, crs: Vec<ClusterRole>) -> DesiredRbac {
        DesiredRbac {
            role_bindings: rbs,
            cluster_roles: crs,
            ..Default::default()
        }
    }

    #[test]
    fn nothing_to_do_when_all_is_in_place() {
        let d = set(vec![rb("a", "r"), rb("b", "r")], vec![cr("r", &["get"])]);
        assert!(plan(d.clone(), d).is_empty());
    }

    #[test]
    fn missing_objects_are_applied_roles_first() {
        let d = set(vec![rb("a", "r")], vec![cr("r", &["get"])]);
        let p = plan(d, DesiredRbac::default());
        assert!(p.delete.is_empty());
        assert_eq!(
            p.apply.iter().map(RbacObject::kind).collect::<Vec<_>>(),
            vec![RbacKind::ClusterRole, RbacKind::RoleBinding]
        );
    }

    #[test]
    fn a_namespace_that_left_loses_its_binding() {
        let observed = set(vec![rb("a", "r"), rb("gone", "r")], vec![]);
        let desired = set(vec![rb("a", "r")], vec![]);
        let p = plan(desired, observed);
        assert!(p.apply.is_empty());
        assert_eq!(
            p.delete,
            vec![ObjectKey {
                kind: RbacKind::RoleBinding,
                namespace: Some("gone".into()),
                name: "scopegate:iamrolebinding:b".into()
            }]
        );
    }

    #[test]
    fn everything_goes_when_nothing_is_desired_bindings_first() {
        let observed = set(vec![rb("a", "r")], vec![cr("r", &["get"])]);
        let p = plan(DesiredRbac::default(), observed);
        assert!(p.apply.is_empty());
        assert_eq!(p.delete[0].kind, RbacKind::RoleBinding);
        assert_eq!(p.delete[1].kind, RbacKind::ClusterRole);
    }

    #[test]
    fn changed_rules_are_applied() {
        let p = plan(
            set(vec![], vec![cr("r", &["get"])]),
            set(vec![], vec![cr("r", &["get", "delete"])]),
        );
        assert!(p.delete.is_empty());
        assert_eq!(p.apply, vec![RbacObject::ClusterRole(cr("r", &["get"]))]);
    }

    #[test]
    fn a_changed_role_ref_is_deleted_then_created() {
        let p = plan(
            set(vec![rb("a", "new")], vec![]),
            set(vec![rb("a", "old")], vec![]),
        );
        assert_eq!(p.delete.len(), 1);
        assert_eq!(p.apply, vec![RbacObject::RoleBinding(rb("a", "new"))]);
    }

    #[test]
    fn changed_subjects_are_applied() {
        let mut other = rb("a", "r");
        other.subjects.as_mut().unwrap()[0].name = "mallory".into();
        let p = plan(set(vec![rb("a", "r")], vec![]), set(vec![other], vec![]));
        assert!(p.delete.is_empty());
        assert_eq!(p.apply.len(), 1);
    }

    #[test]
    fn server_defaults_do_not_cause_updates() {
        let mut desired = rb("a", "r");
        desired.subjects = Some(vec![Subject {
            api_group: None,
            kind: "ServiceAccount".into(),
            name: "ci".into(),
            namespace: Some("a".into()),
        }]);
        let mut stored = desired.clone();
        stored.subjects.as_mut().unwrap()[0].api_group = Some(String::new());
        stored
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("extra".into(), "added-by-someone".into());
        stored.metadata.resource_version = Some("42".into());
        let mut role = cr("r", &["get"]);
        role.rules.as_mut().unwrap()[0].resource_names = None;
        let mut stored_role = role.clone();
        stored_role.rules.as_mut().unwrap()[0].resource_names = Some(vec![]);
        assert!(
            plan(
                set(vec![desired], vec![role]),
                set(vec![stored], vec![stored_role])
            )
            .is_empty()
        );
    }

    #[test]
    fn a_lost_label_or_owner_is_put_back() {
        let mut stored = rb("a", "r");
        stored
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .remove(IAMROLEBINDING_LABEL);
        let p = plan(set(vec![rb("a", "r")], vec![]), set(vec![stored], vec![]));
        assert_eq!(p.apply.len(), 1);

        let mut desired = rb("a", "r");
        desired.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "iam.theriseunion.io/v1alpha1".into(),
                kind: "IAMRoleBinding".into(),
                name: "b".into(),
                uid: "u1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        ]);
        let p = plan(set(vec![desired], vec![]), set(vec![rb("a", "r")], vec![]));
        assert_eq!(p.apply.len(), 1);
    }

    #[test]
    fn an_aggregated_cluster_role_is_recreated() {
        let mut stored = cr("r", &["get"]);
        stored.aggregation_rule = Some(Default::default());
        let p = plan(
            set(vec![], vec![cr("r", &["get"])]),
            set(vec![], vec![stored]),
        );
        assert_eq!(p.delete.len(), 1);
        assert_eq!(p.apply.len(), 1);
    }

    #[test]
    fn objects_not_managed_by_scopegate_are_never_deleted() {
        let mut foreign = rb("a", "r");
        foreign.metadata.labels = None;
        let p = plan(DesiredRbac::default(), set(vec![foreign], vec![]));
        assert!(p.is_empty());
    }
}
