//! The Cedar translation of the decision benchmarks (`benches/support/cedar.rs`) decides
//! like Scopegate: run by `cargo test`, on a small generated policy, so that a change in the
//! engine or the generator that the translation does not follow is caught before anyone
//! benchmarks. (The benchmarks check it again on every request they time.)

#[allow(dead_code)]
#[path = "../benches/support/mod.rs"]
mod support;

use scopegate_benches::PolicySize;
use scopegate_core::Request;

#[test]
fn cedar_allows_exactly_what_scopegate_allows() {
    let (fx, policy) = support::Fixture::new(PolicySize::K1, false);
    // Every kind of request, a few of each class (Cedar evaluates every policy: slow in a
    // debug build).
    let requests: Vec<&Request> = fx
        .allowed
        .iter()
        .take(150)
        .chain(fx.denied.iter().take(60))
        .collect();
    let world = support::cedar::translate(&policy, &requests);
    assert!(world.links > 2_000, "{} links", world.links);
    for r in &requests {
        let cedar = world.is_allowed(&support::cedar::cedar_request(&policy, r));
        assert_eq!(cedar, policy.decide(r).is_allowed(), "{r:?}");
    }
}
