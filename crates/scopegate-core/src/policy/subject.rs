//! Compiled subjects (the L2 tier): everything in one policy that can apply to one subject
//! (user plus groups), filed by scope, so that deciding any request of that subject costs
//! one lookup per chain step. The seed's "precomputation at login".

use super::{Grant, Policy};
use crate::chain::ScopeChain;
use crate::decision::{Allowed, Decision};
use crate::model::Scope;
use crate::request::Request;
use std::collections::HashMap;
use std::sync::Arc;

type ScopeMap = hashbrown::HashMap<Scope, Vec<Arc<Grant>>, foldhash::fast::RandomState>;

/// The grants of one subject in one policy, by scope, each list in canonical order.
#[derive(Debug, Clone)]
pub struct CompiledSubject {
    user: String,
    groups: Vec<String>,
    by_scope: ScopeMap,
}

impl CompiledSubject {
    /// Whether this compiles exactly the subject of `request` (same user, same groups in the
    /// same order).
    pub fn is_for(&self, request: &Request) -> bool {
        self.user == request.user && self.groups == request.groups
    }

    /// How many scopes the subject has grants at.
    pub fn scope_count(&self) -> usize {
        self.by_scope.len()
    }
}

impl Policy {
    /// Compiles everything that can apply to `user` with `groups`.
    pub fn compile_subject(&self, user: &str, groups: &[String]) -> CompiledSubject {
        let mut by_scope: HashMap<&Scope, Vec<Arc<Grant>>> = HashMap::new();
        for list in self.index.all_scopes.candidates(user, groups) {
            for grant in list {
                by_scope
                    .entry(&grant.scope)
                    .or_default()
                    .push(grant.clone());
            }
        }
        let by_scope = by_scope
            .into_iter()
            .map(|(scope, mut grants)| {
                grants.sort_unstable_by(|a, b| a.binding.cmp(&b.binding));
                grants.dedup_by(|a, b| a.binding == b.binding);
                (scope.clone(), grants)
            })
            .collect();
        CompiledSubject {
            user: user.to_string(),
            groups: groups.to_vec(),
            by_scope,
        }
    }

    /// Decides `request` with its subject's compiled grants; the same answer as
    /// [`Policy::decide`] when `subject` was compiled from this policy for this subject.
    pub fn decide_compiled(&self, subject: &CompiledSubject, request: &Request) -> Decision {
        let chain = ScopeChain::for_action(&request.action, &self.topology);
        for step in chain.steps() {
            let Some(grants) = subject.by_scope.get(step) else {
                continue;
            };
            for grant in grants {
                if let Some(rule_index) = grant.first_allowing_rule(&request.action) {
                    return Decision::Allowed(Allowed {
                        grant: grant.clone(),
                        rule_index,
                    });
                }
            }
        }
        Decision::NoOpinion
    }
}
