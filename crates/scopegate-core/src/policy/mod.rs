//! A compiled policy: an immutable snapshot of every grant, indexed by scope and subject,
//! that decides requests, explains them and answers UI-permission questions.

mod compact_rules;
pub(crate) mod compile;
mod grant;
mod iam_binding;
pub(crate) mod index;
pub(crate) mod name;
pub(crate) mod persistent;
mod rule_filter;
#[cfg(test)]
mod rule_strategies;
mod subject;

pub use compile::{EffectiveRole, RoleProblem, effective_rules};
pub use grant::{Grant, GrantSubject, ResolvedRole, SubjectKind};
pub use iam_binding::{
    BindingProblem, BoundSubject, CheckedIamBinding, IamBindingContext, check_iam_role_binding,
    check_iam_role_binding_target, check_subjects,
};
pub use subject::CompiledSubject;

use crate::chain::{Lookups, ScopeChain, ScopeStep};
use crate::decision::{Allowed, AllowedRef, Decision, DecisionRef};
use crate::diagnostics::{Diagnostic, Severity};
use crate::explain::{BindingConsidered, Explanation, RuleAllow, RuleRejection, ScopeVisit};
use crate::model::Scope;
use crate::objects::{ObjectKind, ObjectRef, PolicyObjects};
use crate::rbac::check_rule;
use crate::request::{Request, SubjectInfo};
use crate::store::{Origin, PolicyStore};
use crate::topology::{DEFAULT_CLUSTER_NAME, Topology};

use index::{ByBinding, ScopeIndex};
use persistent::PersistentMap;
use rule_filter::ActionBits;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

/// How to build a policy.
#[derive(Clone, Debug)]
pub struct PolicyOptions {
    /// The cluster this engine serves: ClusterRoleBindings and Cluster-scope bindings of this
    /// name act on its requests.
    pub cluster_name: String,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        PolicyOptions {
            cluster_name: DEFAULT_CLUSTER_NAME.to_string(),
        }
    }
}

/// A policy that has errors and so was not built (only from strict constructors).
#[derive(Debug, thiserror::Error)]
#[error("the policy has {} error(s); first: {}", .errors.len(), .errors.first().map(ToString::to_string).unwrap_or_default())]
pub struct InvalidPolicy {
    /// Every error found.
    pub errors: Vec<Diagnostic>,
    /// Every warning found.
    pub warnings: Vec<Diagnostic>,
}

/// An immutable, indexed snapshot of a policy. Cheap to share (`Arc<Policy>`); a change is a
/// new snapshot.
///
/// Every part is persistent (see [`crate::store`]): a snapshot taken from a policy store
/// after a change shares everything the change did not touch with the one before. The
/// canonical lists ([`Policy::grants`], [`Policy::diagnostics`]) are sorted on first use.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) topology: Topology,
    pub(crate) index: ScopeIndex,
    /// Every grant, by binding.
    pub(crate) grants: PersistentMap<ByBinding, ()>,
    /// Every object's problems, by object (objects without any are absent).
    pub(crate) problems: PersistentMap<Arc<ObjectRef>, Arc<[Diagnostic]>>,
    pub(crate) counts: Arc<BTreeMap<ObjectKind, usize>>,
    pub(crate) sorted_grants: OnceLock<Vec<Arc<Grant>>>,
    pub(crate) sorted_diagnostics: OnceLock<Vec<Diagnostic>>,
}

impl Policy {
    /// Builds a policy from objects, whatever problems they have: objects with errors grant
    /// nothing, and the problems are in [`Policy::diagnostics`]. What the webhook and the
    /// tools build, from files and from watches alike.
    ///
    /// This is a [`PolicyStore`] fed `objects` once: there is one compiler, and a store's
    /// snapshot after any changes equals this on the store's objects.
    pub fn compile(objects: &PolicyObjects, options: &PolicyOptions) -> Policy {
        let mut store = PolicyStore::new(options.clone());
        store.replace_origin(Origin::Files, objects);
        store.policy()
    }

    /// Builds a policy only if its objects have no errors: for a caller that must not decide
    /// on a policy with any error (a strict check in CI).
    pub fn from_objects(
        objects: &PolicyObjects,
        options: &PolicyOptions,
    ) -> Result<Policy, InvalidPolicy> {
        Policy::compile(objects, options).refuse_errors()
    }

    /// Builds a policy only if its objects have no errors, as [`Policy::from_objects`], from
    /// objects it takes: nothing is copied, so a caller done with the objects (a command
    /// that only decides) holds them once at the peak of the build instead of twice.
    pub fn from_owned_objects(
        objects: PolicyObjects,
        options: &PolicyOptions,
    ) -> Result<Policy, InvalidPolicy> {
        let mut store = PolicyStore::new(options.clone());
        store.replace_origin_with(Origin::Files, objects);
        store.policy().refuse_errors()
    }

    /// This policy if its objects have no errors, or every error and warning: what
    /// [`Policy::from_objects`] checks, for a policy built another way (e.g. by a
    /// [`PolicyStore`] fed once with objects it may consume).
    pub fn refuse_errors(self) -> Result<Policy, InvalidPolicy> {
        let (errors, warnings): (Vec<_>, Vec<_>) = self
            .diagnostics()
            .iter()
            .cloned()
            .partition(|d| d.severity == Severity::Error);
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(InvalidPolicy { errors, warnings })
        }
    }

    /// Problems found while building, errors and warnings, by object then field.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.sorted_diagnostics.get_or_init(|| {
            let mut all: Vec<(&Arc<ObjectRef>, &Arc<[Diagnostic]>)> =
                self.problems.iter().collect();
            all.sort_by(|a, b| a.0.cmp(b.0));
            let mut out: Vec<Diagnostic> = all
                .into_iter()
                .flat_map(|(_, d)| d.iter().cloned())
                .collect();
            // Stable: one object's problems with one field stay in the order found.
            out.sort_by(|a, b| (&a.object, &a.field).cmp(&(&b.object, &b.field)));
            out
        })
    }

    /// How many objects of each kind the policy was built from.
    pub fn object_counts(&self) -> &BTreeMap<ObjectKind, usize> {
        &self.counts
    }

    /// Every compiled binding, in canonical order (by binding).
    pub fn grants(&self) -> &[Arc<Grant>] {
        self.sorted_grants.get_or_init(|| {
            let mut all: Vec<Arc<Grant>> = self.grants.iter().map(|(g, _)| g.0.clone()).collect();
            all.sort_by(|a, b| a.binding.cmp(&b.binding));
            all
        })
    }

    /// Where namespaces and nodes sit, and which cluster this policy serves.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Decides a request: walks its scope chain from the most specific scope and stops at
    /// the first binding whose role has a rule that allows it.
    ///
    /// The answer holds a share of the allowing grant, so it outlives the policy. A caller
    /// that only reads it (a check in a hot loop) uses [`Policy::decide_ref`]: at a million
    /// bindings an owned answer costs about a fifth more (`BENCHMARKS.md`).
    pub fn decide(&self, request: &Request) -> Decision {
        self.decide_ref(request).to_decision()
    }

    /// Decides a request as [`Policy::decide`] does, the answer borrowed from this policy
    /// (see [`DecisionRef`] for what that saves).
    pub fn decide_ref(&self, request: &Request) -> DecisionRef<'_> {
        let bits = ActionBits::of(&request.action);
        ScopeChain::walk_action(
            &request.action,
            &self.topology,
            Lookups::ALL,
            |step| match self.first_allow_at(step, request, &bits) {
                Some((grant, rule_index)) => {
                    ControlFlow::Break(DecisionRef::Allowed(AllowedRef { grant, rule_index }))
                }
                None => ControlFlow::Continue(()),
            },
        )
        .unwrap_or(DecisionRef::NoOpinion)
    }

    /// At one step, the first grant in canonical order that allows the request, and its rule.
    #[inline]
    fn first_allow_at(
        &self,
        step: &ScopeStep<'_>,
        request: &Request,
        bits: &ActionBits,
    ) -> Option<(&Arc<Grant>, usize)> {
        let index = self.index.at(step)?;
        let mut best: Option<(&Arc<Grant>, usize)> = None;
        for list in index.candidates(&request.user, &request.groups) {
            for filed in list {
                // Each list is in canonical order: nothing after a grant that sorts after the
                // best so far can be better. Compared only once something allowed.
                if let Some((b, _)) = best
                    && (Arc::ptr_eq(b, &filed.grant) || b.binding <= filed.grant.binding)
                {
                    break;
                }
                // The role is filed beside the grant: the grant itself is loaded only when
                // its role allows.
                if let Some(rule) = filed.first_allowing_rule(&request.action, bits) {
                    best = Some((&filed.grant, rule));
                    break;
                }
            }
        }
        best
    }

    /// Every grant at one step that names the user or one of their groups, in canonical order.
    fn candidates_at(
        &self,
        step: &ScopeStep<'_>,
        user: &str,
        groups: &[String],
    ) -> Vec<&Arc<Grant>> {
        let Some(index) = self.index.at(step) else {
            return Vec::new();
        };
        let mut all: Vec<&Arc<Grant>> = index
            .candidates(user, groups)
            .flatten()
            .map(|filed| &filed.grant)
            .collect();
        all.sort_unstable_by(|a, b| a.binding.cmp(&b.binding));
        all.dedup_by(|a, b| a.binding == b.binding);
        all
    }

    /// Decides a request and says how: every step of the chain, every binding considered,
    /// which rule allowed and why the others did not.
    pub fn explain(&self, request: &Request) -> Explanation {
        let chain = ScopeChain::for_action(&request.action, &self.topology);
        let mut decided: Option<(Arc<Grant>, usize)> = None;
        let mut visits = Vec::new();
        for step in chain.steps() {
            let visited = decided.is_none();
            let mut bindings = Vec::new();
            for grant in self.candidates_at(step, &request.user, &request.groups) {
                let mut allowing_rule = None;
                let mut rejected_rules = Vec::new();
                for (index, rule) in grant.role.rules.iter().enumerate() {
                    match check_rule(rule, &request.action) {
                        Ok(()) if allowing_rule.is_none() => {
                            allowing_rule = Some(RuleAllow {
                                index,
                                rule: rule.clone(),
                            })
                        }
                        Ok(()) => {}
                        Err(mismatch) => rejected_rules.push(RuleRejection { index, mismatch }),
                    }
                }
                let decides = visited && decided.is_none() && allowing_rule.is_some();
                if decides {
                    decided = allowing_rule.as_ref().map(|a| (grant.clone(), a.index));
                }
                bindings.push(BindingConsidered {
                    binding: grant.binding.clone(),
                    role: grant.role.role.clone(),
                    matched_subjects: grant
                        .subjects
                        .iter()
                        .filter(|s| s.applies_to(&request.user, &request.groups))
                        .cloned()
                        .collect(),
                    decided: decides,
                    allowing_rule,
                    rejected_rules,
                });
            }
            let decided_here = bindings.iter().any(|b| b.decided);
            visits.push(ScopeVisit {
                scope: step.to_scope(),
                visited,
                decided_here,
                bindings,
            });
        }
        let decision = match decided {
            Some((grant, rule_index)) => Decision::Allowed(Allowed { grant, rule_index }),
            None => Decision::NoOpinion,
        };
        Explanation {
            request: request.clone(),
            allowed: decision.is_allowed(),
            reason: decision.reason(),
            chain: visits,
            tier: None,
        }
    }

    /// The console permissions of a subject at a scope: the union of the `uiPermissions` of
    /// every role bound to the subject anywhere on that scope's chain.
    pub fn ui_permissions(&self, subject: &SubjectInfo, scope: &Scope) -> BTreeSet<String> {
        let chain = ScopeChain::for_scope(scope, &self.topology);
        let mut permissions = BTreeSet::new();
        for step in chain.steps() {
            for grant in self.candidates_at(step, &subject.user, &subject.groups) {
                permissions.extend(grant.role.ui_permissions.iter().cloned());
            }
        }
        permissions
    }
}

#[cfg(test)]
mod tests;
