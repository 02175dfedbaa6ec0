//! A grant: one binding, compiled. The role's rules resolved (templates, aggregation), the
//! scope resolved, the subjects normalised. What decisions point at when they allow.

use super::compact_rules::CompactRules;
use super::rule_filter::ActionBits;
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
    /// `rules` laid out for matching ([`CompactRules`]), built with the role
    /// ([`ResolvedRole::new`]); `None` for rules too large to encode. Decisions inside a
    /// policy read only this: the roles there are built by the compiler and never changed.
    #[serde(skip)]
    compact: Option<CompactRules>,
}

impl ResolvedRole {
    /// A resolved role with these effective rules and UI permissions.
    pub fn new(role: ObjectRef, rules: Vec<PolicyRule>, ui_permissions: BTreeSet<String>) -> Self {
        let compact = CompactRules::of(&rules);
        ResolvedRole {
            role,
            rules,
            ui_permissions,
            compact,
        }
    }

    /// The index of the first rule that covers the action `bits` were computed from: the
    /// answer of [`crate::rbac::rule_allows`] on each rule in order, read from the compact
    /// rules (each rule's filter first, then its names).
    #[inline]
    pub(crate) fn first_allowing_rule(&self, action: &Action, bits: &ActionBits) -> Option<usize> {
        match &self.compact {
            Some(compact) => compact.first_allowing_rule(action, bits),
            None => self
                .rules
                .iter()
                .position(|rule| crate::rbac::rule_allows(rule, action)),
        }
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
        // The reference matcher on the public rules: a grant built or changed outside the
        // compiler is answered by what its rules say.
        self.role
            .rules
            .iter()
            .position(|rule| crate::rbac::rule_allows(rule, action))
    }
}

/// A grant as the decision paths file it (a scope's subject table, a compiled subject): the
/// grant, and its role's compact rules beside it. Checking the rules then reads neither the
/// grant nor the role first: on a large policy each is a cache miss per candidate, as
/// grants are many and roles are read rarely.
#[derive(Clone, Debug)]
pub(crate) struct Filed {
    /// The grant's role's rules (the role's own [`CompactRules`], shared); `None` when the
    /// role has none (rules too large to encode).
    rules: Option<CompactRules>,
    /// The grant, loaded only once its rules allow (or to order it against one that did).
    pub(crate) grant: Arc<Grant>,
}

impl Filed {
    /// `grant`, filed.
    pub(crate) fn new(grant: &Arc<Grant>) -> Self {
        Filed {
            rules: grant.role.compact.clone(),
            grant: grant.clone(),
        }
    }

    /// The index of the first of the role's rules that covers `action`, if any; the same as
    /// [`Grant::first_allowing_rule`].
    #[inline]
    pub(crate) fn first_allowing_rule(&self, action: &Action, bits: &ActionBits) -> Option<usize> {
        match &self.rules {
            Some(rules) => rules.first_allowing_rule(action, bits),
            None => self.grant.role.first_allowing_rule(action, bits),
        }
    }
}
