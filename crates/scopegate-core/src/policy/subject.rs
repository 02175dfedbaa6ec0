//! Compiled subjects (the L2 tier): everything in one policy that can apply to one subject
//! (user plus groups), filed by scope, so that deciding any request of that subject costs
//! one lookup per chain step. The seed's "precomputation at login".

use super::Policy;
use crate::chain::ScopeChain;
use crate::decision::{Allowed, Decision};
use crate::model::Scope;
use crate::request::Request;
use std::collections::HashMap;

type ScopeMap = hashbrown::HashMap<Scope, Vec<u32>, foldhash::fast::RandomState>;

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
        let mut by_scope: HashMap<&Scope, Vec<u32>> = HashMap::new();
        for list in self.index.all_scopes.candidates(user, groups) {
            for &ordinal in list {
                by_scope
                    .entry(&self.grants[ordinal as usize].scope)
                    .or_default()
                    .push(ordinal);
            }
        }
        let by_scope = by_scope
            .into_iter()
            .map(|(scope, mut ordinals)| {
                ordinals.sort_unstable();
                ordinals.dedup();
                (scope.clone(), ordinals)
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
            let Some(ordinals) = subject.by_scope.get(step) else {
                continue;
            };
            for &ordinal in ordinals {
                let grant = &self.grants[ordinal as usize];
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
