//! A grant: one binding, compiled. The role's rules resolved (templates, aggregation), the
//! scope resolved, the subjects normalised. What decisions point at when they allow.

use super::rule_filter::{ActionBits, RuleFilter};
use crate::model::Scope;
use crate::objects::ObjectRef;
use crate::request::Action;
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// How a binding names a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SubjectKind {
    /// A user, by name.
    User,
    /// A group, by name.
    Group,
    /// A ServiceAccount, matched as the user `system:serviceaccount:NS:NAME`.
    ServiceAccount,
}

/// One subject of a grant, as the engine matches it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GrantSubject {
    /// What the binding called it.
    pub kind: SubjectKind,
    /// The user name (for User and ServiceAccount) or group name it matches.
    pub matches: String,
}

impl GrantSubject {
    /// Whether this subject is the requesting user (or one of their groups).
    pub fn applies_to(&self, user: &str, groups: &[String]) -> bool {
        match self.kind {
            SubjectKind::User | SubjectKind::ServiceAccount => self.matches == user,
            SubjectKind::Group => groups.contains(&self.matches),
        }
    }
}

/// A role, resolved: every rule and UI permission it grants, wherever they came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedRole {
    /// The role object.
    pub role: ObjectRef,
    /// Its effective rules, in order: own rules, then named templates, then selected ones
    /// (or, for an aggregated ClusterRole, the union of the roles it selects).
    pub rules: Vec<PolicyRule>,
    /// Its effective UI permissions.
    pub ui_permissions: BTreeSet<String>,
    /// A quick pre-check of each rule, in the order of `rules`, derived from them when the
    /// role is built ([`ResolvedRole::new`]).
    #[serde(skip)]
    filters: Box<[RuleFilter]>,
}

impl ResolvedRole {
    /// A resolved role with these effective rules and UI permissions.
    pub fn new(role: ObjectRef, rules: Vec<PolicyRule>, ui_permissions: BTreeSet<String>) -> Self {
        let filters = rules.iter().map(RuleFilter::of).collect();
        ResolvedRole {
            role,
            rules,
            ui_permissions,
            filters,
        }
    }

    /// The index of the first rule that covers the action `bits` were computed from.
    /// Rules the filter rules out are not compared; every other rule is checked by
    /// [`crate::rbac::rule_allows`], so the answer is that of checking every rule in order.
    /// (A rule without a filter, had `rules` been changed after [`ResolvedRole::new`], is
    /// checked; a stale filter could only skip it, never allow.)
    #[inline]
    pub(crate) fn first_allowing_rule(&self, action: &Action, bits: &ActionBits) -> Option<usize> {
        self.rules.iter().enumerate().position(|(i, rule)| {
            self.filters.get(i).is_none_or(|f| f.may_allow(bits))
                && crate::rbac::rule_allows(rule, action)
        })
    }
}

/// One binding, compiled: who, what role, where.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Grant {
    /// The binding object (IAMRoleBinding, RoleBinding or ClusterRoleBinding).
    pub binding: ObjectRef,
    /// The scope it acts at.
    pub scope: Scope,
    /// Who it is for.
    pub subjects: Vec<GrantSubject>,
    /// The role it grants.
    pub role: Arc<ResolvedRole>,
}

impl Grant {
    /// The index of the first of the role's rules that covers `action`, if any.
    pub fn first_allowing_rule(&self, action: &Action) -> Option<usize> {
        self.role
            .first_allowing_rule(action, &ActionBits::of(action))
    }
}
