//! A linear-scan evaluator in the style of the Kubernetes RBAC authorizer, as a baseline for
//! the benchmarks.
//!
//! Kubernetes' RBAC authorizer (`plugin/pkg/auth/authorizer/rbac`) decides a request by
//! *visiting* bindings: for each one it checks whether a subject applies to the user, then
//! walks the rules of the bound role, and stops at the first rule that allows. It keeps no
//! index by user or group, so its cost grows with the number of bindings it visits. (The real
//! authorizer narrows RoleBindings to the request's namespace through an informer index and
//! visits every ClusterRoleBinding; this baseline visits every binding of the policy, which
//! is what a cascade over five scope layers without an index has to do.)
//!
//! [`decide`] does exactly that over a compiled [`Policy`]: for each grant, in canonical
//! order, it checks the subjects with [`GrantSubject::applies_to`], whether the grant's
//! scope is on the request's scope chain ([`ScopeChain::for_action`]), and then the role's
//! rules with [`rule_allows`]. It answers allowed / no opinion exactly as [`Policy::decide`]
//! does (a grant applies when one of its subjects matches, its scope is on the chain and
//! one of its rules allows), only without the index: the benchmarks assert this on every
//! request they time. Which grant it names when several allow may differ from
//! [`Policy::decide`], which walks the chain from the most specific scope; only the
//! allowed / no-opinion answer is compared.
//!
//! [`GrantSubject::applies_to`]: scopegate_core::policy::GrantSubject::applies_to

use scopegate_core::Policy;
use scopegate_core::Request;
use scopegate_core::chain::{ScopeChain, ScopeStep};
use scopegate_core::rbac::rule_allows;

/// The first grant (its ordinal, in [`Policy::grants`] order) and rule index that allow
/// `request`, found by visiting every grant; `None` when no grant allows it (no opinion).
pub fn decide(policy: &Policy, request: &Request) -> Option<(usize, usize)> {
    let chain = ScopeChain::for_action(&request.action, policy.topology());
    let steps = chain.steps();
    for (ordinal, grant) in policy.grants().iter().enumerate() {
        if !grant
            .subjects
            .iter()
            .any(|s| s.applies_to(&request.user, &request.groups))
        {
            continue;
        }
        let scope = ScopeStep::of(&grant.scope);
        if !steps.contains(&scope) {
            continue;
        }
        if let Some(rule) = grant
            .role
            .rules
            .iter()
            .position(|rule| rule_allows(rule, &request.action))
        {
            return Some((ordinal, rule));
        }
    }
    None
}

/// Whether the linear scan allows `request`.
pub fn is_allowed(policy: &Policy, request: &Request) -> bool {
    decide(policy, request).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_gen::{GeneratedPolicy, PolicySize};
    use scopegate_core::PolicyOptions;

    #[test]
    fn agrees_with_the_indexed_policy_on_every_generated_request() {
        let plan = GeneratedPolicy::new(PolicySize::K1, 42);
        let policy = Policy::compile(&plan.objects(), &PolicyOptions::default());
        let mut allowed = 0;
        for r in plan.requests(2_000, 5) {
            let indexed = policy.decide(&r).is_allowed();
            assert_eq!(is_allowed(&policy, &r), indexed, "{r:?}");
            allowed += usize::from(indexed);
        }
        assert!(allowed > 1_000, "{allowed} allowed");
    }
}
