//! A compiled policy: an immutable snapshot of every grant, indexed by scope and subject,
//! that decides requests, explains them and answers UI-permission questions.

mod compile;
mod grant;
mod index;
mod subject;

pub use compile::{EffectiveRole, RoleProblem, effective_rules};
pub use grant::{Grant, GrantSubject, ResolvedRole, SubjectKind};
pub use subject::CompiledSubject;

use crate::chain::{ScopeChain, ScopeStep};
use crate::decision::{Allowed, Decision};
use crate::diagnostics::{Diagnostic, Severity};
use crate::explain::{BindingConsidered, Explanation, RuleAllow, RuleRejection, ScopeVisit};
use crate::model::Scope;
use crate::objects::{ObjectKind, PolicyObjects};
use crate::rbac::check_rule;
use crate::request::{Request, SubjectInfo};
use crate::topology::{DEFAULT_CLUSTER_NAME, Topology};
use index::ScopeIndex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
#[derive(Debug)]
pub struct Policy {
    topology: Topology,
    grants: Vec<Arc<Grant>>,
    index: ScopeIndex,
    diagnostics: Vec<Diagnostic>,
    counts: BTreeMap<ObjectKind, usize>,
}

impl Policy {
    /// Builds a policy from objects, whatever problems they have: objects with errors grant
    /// nothing, and the problems are in [`Policy::diagnostics`]. For sources that must keep
    /// deciding whatever users write (watches).
    pub fn compile(objects: &PolicyObjects, options: &PolicyOptions) -> Policy {
        let compiled = compile::compile(objects, &options.cluster_name);
        let mut index = ScopeIndex::default();
        let grants: Vec<Arc<Grant>> = compiled.grants.into_iter().map(Arc::new).collect();
        for (ordinal, grant) in grants.iter().enumerate() {
            // More than u32::MAX bindings cannot be loaded in memory anyway.
            index.insert(grant, u32::try_from(ordinal).unwrap_or(u32::MAX));
        }
        let topology = Topology::new(
            options.cluster_name.clone(),
            &objects.namespaces,
            &objects.nodes,
        );
        Policy {
            topology,
            grants,
            index,
            diagnostics: compiled.diagnostics,
            counts: objects.counts(),
        }
    }

    /// Builds a policy only if its objects have no errors. For files, where a bad edit must
    /// be refused whole.
    pub fn from_objects(
        objects: &PolicyObjects,
        options: &PolicyOptions,
    ) -> Result<Policy, InvalidPolicy> {
        let policy = Policy::compile(objects, options);
        let (errors, warnings): (Vec<_>, Vec<_>) = policy
            .diagnostics
            .iter()
            .cloned()
            .partition(|d| d.severity == Severity::Error);
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(InvalidPolicy { errors, warnings })
        }
    }

    /// Problems found while building, errors and warnings.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// How many objects of each kind the policy was built from.
    pub fn object_counts(&self) -> &BTreeMap<ObjectKind, usize> {
        &self.counts
    }

    /// Every compiled binding, in canonical order.
    pub fn grants(&self) -> &[Arc<Grant>] {
        &self.grants
    }

    /// Where namespaces and nodes sit, and which cluster this policy serves.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Decides a request: walks its scope chain from the most specific scope and stops at
    /// the first binding whose role has a rule that allows it.
    pub fn decide(&self, request: &Request) -> Decision {
        let chain = ScopeChain::for_action(&request.action, &self.topology);
        for step in chain.steps() {
            if let Some((ordinal, rule_index)) = self.first_allow_at(step, request) {
                return Decision::Allowed(Allowed {
                    grant: self.grants[ordinal as usize].clone(),
                    rule_index,
                });
            }
        }
        Decision::NoOpinion
    }

    /// At one step, the first grant in canonical order that allows the request, and its rule.
    fn first_allow_at(&self, step: &ScopeStep<'_>, request: &Request) -> Option<(u32, usize)> {
        let index = self.index.at(step)?;
        let mut best: Option<(u32, usize)> = None;
        for list in index.candidates(&request.user, &request.groups) {
            for &ordinal in list {
                if best.is_some_and(|(b, _)| b <= ordinal) {
                    break;
                }
                if let Some(rule) =
                    self.grants[ordinal as usize].first_allowing_rule(&request.action)
                {
                    best = Some((ordinal, rule));
                    break;
                }
            }
        }
        best
    }

    /// Every grant at one step that names the user or one of their groups, in canonical order.
    fn candidates_at(&self, step: &ScopeStep<'_>, user: &str, groups: &[String]) -> Vec<u32> {
        let Some(index) = self.index.at(step) else {
            return Vec::new();
        };
        let mut all: Vec<u32> = index.candidates(user, groups).flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Decides a request and says how: every step of the chain, every binding considered,
    /// which rule allowed and why the others did not.
    pub fn explain(&self, request: &Request) -> Explanation {
        let chain = ScopeChain::for_action(&request.action, &self.topology);
        let mut decided: Option<(u32, usize)> = None;
        let mut visits = Vec::new();
        for step in chain.steps() {
            let visited = decided.is_none();
            let mut bindings = Vec::new();
            for ordinal in self.candidates_at(step, &request.user, &request.groups) {
                let grant = &self.grants[ordinal as usize];
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
                    decided = allowing_rule.as_ref().map(|a| (ordinal, a.index));
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
            Some((ordinal, rule_index)) => Decision::Allowed(Allowed {
                grant: self.grants[ordinal as usize].clone(),
                rule_index,
            }),
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
            for ordinal in self.candidates_at(step, &subject.user, &subject.groups) {
                permissions.extend(
                    self.grants[ordinal as usize]
                        .role
                        .ui_permissions
                        .iter()
                        .cloned(),
                );
            }
        }
        permissions
    }
}

#[cfg(test)]
mod tests;
