//! An object with an error grants nothing, and nothing else: the answers of a policy with
//! errors are exactly the answers of the same policy without the objects at fault, whether
//! the objects come from files (`Policy::compile`, what `check`, `explain` and
//! `serve --policy` build) or from a cluster (a [`PolicyStore`] fed watch events one at a time
//! in any order, what `serve --kubeconfig` builds).
//!
//! The universes come from the shared generators (`common::generators::objects`): few names,
//! so dangling roleRefs, bindings at a scope of another kind than their role's, scopes that
//! are not declared, duplicates and the like happen all the time. The objects at fault are
//! taken out until none is left (taking out a role leaves its bindings dangling, which are
//! then at fault too): no answer may change on the way.
//!
//! In this allow-only model leaving an object out can only take permissions away; with
//! deny rules it would add them back, and this property would have to change with them.

mod common;

use common::generators::{objects, request, requests_for};
use proptest::prelude::*;
use scopegate_core::store::{Change, Origin, PolicyStore};
use scopegate_core::{
    ObjectRef, Policy, PolicyObject, PolicyObjects, PolicyOptions, Request, Severity,
};
use std::collections::BTreeSet;

/// The first copy of every object, nameless ones left out: a cluster holds one object per
/// name, and this is the one the compiler lets count.
fn first_copies(objects: &PolicyObjects) -> Vec<PolicyObject> {
    let mut seen = BTreeSet::new();
    objects
        .clone()
        .into_objects()
        .filter(|o| {
            let r = o.object_ref();
            !r.name.is_empty() && seen.insert(r)
        })
        .collect()
}

/// The objects with an error of their own (a second copy's "same name" error is about the
/// copy, which `first_copies` already leaves out).
fn at_fault(policy: &Policy) -> BTreeSet<ObjectRef> {
    policy
        .diagnostics()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| !d.message.ends_with("has the same name"))
        .map(|d| d.object.clone())
        .collect()
}

fn to_objects(list: impl IntoIterator<Item = PolicyObject>) -> PolicyObjects {
    let mut objects = PolicyObjects::default();
    for object in list {
        objects.push(object);
    }
    objects
}

/// What a decision says: allowed or not, and by which binding and rule (in the reason).
fn answers(policy: &Policy, requests: &[Request]) -> Vec<(bool, String)> {
    requests
        .iter()
        .map(|r| {
            let d = policy.decide(r);
            (d.is_allowed(), d.reason())
        })
        .collect()
}

fn case() -> impl Strategy<Value = (PolicyObjects, Vec<PolicyObject>, Vec<Request>)> {
    objects().prop_flat_map(|objects| {
        let shuffled = Just(first_copies(&objects)).prop_shuffle();
        (
            Just(objects),
            shuffled,
            prop::collection::vec(request(), 12),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn answers_do_not_change_when_the_objects_at_fault_are_left_out(
        (objects, watch_order, random) in case()
    ) {
        let options = PolicyOptions::default();
        let requests = requests_for(&objects, &random);
        let from_files = Policy::compile(&objects, &options);
        let expected = answers(&from_files, &requests);

        // The same objects as a cluster's watch delivers them, one at a time, in any order.
        let mut store = PolicyStore::new(options.clone());
        for object in watch_order {
            store.apply(Origin::Cluster, Change::Apply(object));
        }
        prop_assert_eq!(&answers(&store.policy(), &requests), &expected, "cluster and files differ");

        // Leave out what is at fault until nothing is.
        let mut remaining = first_copies(&objects);
        let mut rounds = 0;
        loop {
            let policy = Policy::compile(&to_objects(remaining.clone()), &options);
            prop_assert_eq!(
                &answers(&policy, &requests),
                &expected,
                "leaving out objects at fault changed an answer (round {})",
                rounds
            );
            let faulty = at_fault(&policy);
            if faulty.is_empty() {
                break;
            }
            remaining.retain(|o| !faulty.contains(&o.object_ref()));
            rounds += 1;
        }
    }
}
