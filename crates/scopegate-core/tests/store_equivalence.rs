//! The incremental [`PolicyStore`] against a policy compiled afresh.
//!
//! Proptest draws three small universes of objects from the reference model's generators
//! (`common::generators::objects`: few names, so the same object keeps coming back with
//! other contents, duplicates and dangling references included) and a sequence of changes
//! taken from them, fed to one store from both origins: single applies (creations and
//! updates), deletions (of held objects and of absent ones), re-lists of one kind, and whole
//! origin replacements (with file sources that change from one reload to the next). After
//! every change, the store's snapshot must equal `Policy::compile(&store.objects())` on
//! everything it answers: decisions (allowed or not, by which binding and rule, so the
//! reason too), explanations, UI permissions, compiled subjects, the grants, the object
//! counts and the diagnostics (same list, same order, same sources).
//!
//! `Policy::compile` is itself checked against an independent reference in
//! `reference_model.rs`; this test shows that no sequence of changes leads the store
//! anywhere else.

mod common;

use common::generators::{objects, request, requests_for, scope_pick, subject_info};
use proptest::prelude::*;
use proptest::test_runner::RngAlgorithm;
use scopegate_core::model::Scope;
use scopegate_core::store::{Change, Origin, PolicyStore};
use scopegate_core::{
    ObjectKind, ObjectRef, Policy, PolicyObject, PolicyObjects, PolicyOptions, Request, Source,
    SubjectInfo,
};
use std::path::PathBuf;

/// One change to the store, its objects picked by index from the universes.
#[derive(Clone, Debug)]
enum Op {
    /// Apply the `pick`-th object of kind `kind` of universe `universe`.
    Apply {
        origin: Origin,
        universe: usize,
        kind: usize,
        pick: usize,
    },
    /// Delete the `pick`-th object of kind `kind` the store holds (or, when `absent`, of a
    /// universe, held or not).
    Delete {
        origin: Origin,
        kind: usize,
        pick: usize,
        absent: bool,
    },
    /// Re-list one kind from one origin with a universe's objects of that kind.
    ReplaceKind {
        origin: Origin,
        universe: usize,
        kind: usize,
    },
    /// Replace everything from one origin with a universe (with sources for Files).
    ReplaceOrigin { origin: Origin, universe: usize },
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![3 => Just(Origin::Cluster), 1 => Just(Origin::Files)]
}

/// A kind, uniformly: the few templates, scopes and namespaces change as often as the many
/// bindings.
fn kind() -> impl Strategy<Value = usize> {
    0..ObjectKind::ALL.len()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (origin(), 0..3usize, kind(), 0..1000usize)
            .prop_map(|(origin, universe, kind, pick)| Op::Apply { origin, universe, kind, pick }),
        4 => (origin(), kind(), 0..1000usize, prop::bool::weighted(0.2))
            .prop_map(|(origin, kind, pick, absent)| Op::Delete { origin, kind, pick, absent }),
        2 => (origin(), 0..3usize, 0..ObjectKind::ALL.len())
            .prop_map(|(origin, universe, kind)| Op::ReplaceKind { origin, universe, kind }),
        1 => (origin(), 0..3usize)
            .prop_map(|(origin, universe)| Op::ReplaceOrigin { origin, universe }),
    ]
}

/// A UI-permission question.
fn ui_query() -> impl Strategy<Value = (SubjectInfo, Scope)> {
    (subject_info(), scope_pick()).prop_filter_map("a valid scope", |(who, pick)| {
        Scope::from_spec(&pick.spec(pick.kind))
            .ok()
            .map(|scope| (who, scope))
    })
}

#[derive(Clone, Debug)]
struct Case {
    universes: Vec<PolicyObjects>,
    ops: Vec<Op>,
    requests: Vec<Request>,
    ui_queries: Vec<(SubjectInfo, Scope)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(objects(), 3),
        prop::collection::vec(op(), 1..16),
        prop::collection::vec(request(), 10),
        prop::collection::vec(ui_query(), 3),
    )
        .prop_map(|(universes, ops, requests, ui_queries)| Case {
            universes,
            ops,
            requests,
            ui_queries,
        })
}

fn flat(objects: &PolicyObjects) -> Vec<PolicyObject> {
    objects.clone().into_objects().collect()
}

/// The objects of the `kind`-th kind.
fn of_kind(objects: &PolicyObjects, kind: usize) -> Vec<PolicyObject> {
    let kind = ObjectKind::ALL[kind % ObjectKind::ALL.len()];
    flat(objects)
        .into_iter()
        .filter(|o| o.kind() == kind)
        .collect()
}

/// Applies one op; `step` makes file sources differ between reloads.
fn run(store: &mut PolicyStore, case: &Case, op: &Op, step: usize) {
    match op {
        Op::Apply {
            origin,
            universe,
            kind,
            pick,
        } => {
            let all = of_kind(&case.universes[*universe], *kind);
            if !all.is_empty() {
                let object = all[pick % all.len()].clone();
                store.apply(*origin, Change::Apply(object));
            }
        }
        Op::Delete {
            origin,
            kind,
            pick,
            absent,
        } => {
            let all = if *absent {
                of_kind(&case.universes[pick % case.universes.len()], *kind)
            } else {
                of_kind(&store.objects(), *kind)
            };
            if !all.is_empty() {
                let object_ref = all[pick % all.len()].object_ref();
                store.apply(*origin, Change::Delete(object_ref));
            }
        }
        Op::ReplaceKind {
            origin,
            universe,
            kind,
        } => {
            let kind = ObjectKind::ALL[*kind];
            let objects: Vec<PolicyObject> = flat(&case.universes[*universe])
                .into_iter()
                .filter(|o| o.kind() == kind)
                .collect();
            store.replace_kind(*origin, kind, objects);
        }
        Op::ReplaceOrigin { origin, universe } => {
            let mut objects = case.universes[*universe].clone();
            if *origin == Origin::Files {
                for (document, object) in flat(&objects).iter().enumerate() {
                    if document % 3 != 2 {
                        objects.sources.insert(
                            object.object_ref(),
                            Source {
                                file: PathBuf::from(format!("u{universe}-{}.yaml", step % 2)),
                                document: document + 1,
                                line: Some(document * 4 + 1),
                            },
                        );
                    }
                }
            }
            store.replace_origin(*origin, &objects);
        }
    }
}

/// The store's snapshot and a fresh compile of its objects answer everything alike.
fn check(store: &PolicyStore, case: &Case, step: usize) -> Result<(), TestCaseError> {
    let options = PolicyOptions::default();
    let held = store.objects();
    prop_assert_eq!(store.len(), held.len());
    prop_assert_eq!(store.is_empty(), held.is_empty());
    let fresh = Policy::compile(&held, &options);
    let policy = store.policy();
    prop_assert_eq!(
        policy.diagnostics(),
        fresh.diagnostics(),
        "diagnostics after step {}",
        step
    );
    prop_assert_eq!(
        policy.grants(),
        fresh.grants(),
        "grants after step {}",
        step
    );
    prop_assert_eq!(policy.object_counts(), fresh.object_counts());
    for request in requests_for(&held, &case.requests) {
        let got = policy.decide(&request);
        let want = fresh.decide(&request);
        prop_assert_eq!(&got, &want, "step {}: {:?}", step, request);
        prop_assert_eq!(got.reason(), want.reason());
        let subject = policy.compile_subject(&request.user, &request.groups);
        prop_assert_eq!(&policy.decide_compiled(&subject, &request), &want);
        let explained = serde_json::to_value(policy.explain(&request)).unwrap_or_default();
        let expected = serde_json::to_value(fresh.explain(&request)).unwrap_or_default();
        prop_assert_eq!(explained, expected, "explanation, step {}", step);
    }
    for (subject, scope) in &case.ui_queries {
        prop_assert_eq!(
            policy.ui_permissions(subject, scope),
            fresh.ui_permissions(subject, scope)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(1_000)
    })]

    /// After every change, the store's snapshot equals a fresh compile of its objects.
    #[test]
    fn store_snapshot_equals_a_fresh_compile_after_every_change(case in case()) {
        let mut store = PolicyStore::new(PolicyOptions::default());
        for (step, op) in case.ops.iter().enumerate() {
            run(&mut store, &case, op, step);
            check(&store, &case, step)?;
        }
    }
}

/// Gives every object of `objects` a source, as a file read gives them, so that what a
/// store does with sources is checked too.
fn give_file_sources(objects: &mut PolicyObjects) {
    let refs: Vec<ObjectRef> = objects.object_refs().collect();
    for (document, object_ref) in refs.into_iter().enumerate() {
        let source = Source {
            file: PathBuf::from("files.yaml"),
            document: document + 1,
            line: None,
        };
        objects.sources.insert(object_ref, source);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::with_cases(256)
    })]

    /// `PolicyObjects::object_refs` names the objects `into_objects` yields, in its order:
    /// the store's batches and the webhook's duplicate count rely on it.
    #[test]
    fn object_refs_name_every_object_in_order(objects in objects()) {
        let refs: Vec<ObjectRef> = objects.object_refs().collect();
        let expected: Vec<ObjectRef> = flat(&objects).iter().map(PolicyObject::object_ref).collect();
        prop_assert_eq!(refs, expected);
    }

    /// A store fed objects it takes (`replace_origin_with`) holds and compiles exactly what
    /// one fed the same objects by reference holds, and its `object_list` writes them as
    /// `objects()` lists them, in a document the loader reads back (what a restarted
    /// webhook serves from its last-known-good snapshot).
    #[test]
    fn a_store_fed_by_move_equals_one_fed_by_reference(
        cluster in objects(),
        mut files in objects(),
        requests in prop::collection::vec(request(), 10),
    ) {
        give_file_sources(&mut files);
        let mut by_reference = PolicyStore::new(PolicyOptions::default());
        by_reference.replace_origin(Origin::Cluster, &cluster);
        by_reference.replace_origin(Origin::Files, &files);
        let mut by_move = PolicyStore::new(PolicyOptions::default());
        by_move.replace_origin_with(Origin::Cluster, cluster);
        by_move.replace_origin_with(Origin::Files, files);

        let (expected, policy) = (by_reference.policy(), by_move.policy());
        prop_assert_eq!(policy.diagnostics(), expected.diagnostics());
        prop_assert_eq!(policy.grants(), expected.grants());
        for request in &requests {
            prop_assert_eq!(policy.decide(request), expected.decide(request));
        }
        prop_assert_eq!(by_move.objects().sources, by_reference.objects().sources);

        let mut written = Vec::new();
        by_move.object_list().write_list(&mut written).expect("writes");
        let text = String::from_utf8(written).expect("JSON is UTF-8");
        let read = scopegate_core::load::parse_str(&text, "snapshot.json")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(flat(&read), flat(&by_move.objects()));
    }

    /// An origin saved with `origin_objects` and put back with `restore_origin` after a
    /// change holds, compiles and reports exactly what it did when it was saved (what the
    /// webhook does when it refuses a bad file reload).
    #[test]
    fn a_restored_origin_is_as_it_was_saved(
        cluster in objects(),
        mut files in objects(),
        origin in origin(),
        requests in prop::collection::vec(request(), 10),
    ) {
        give_file_sources(&mut files);
        let mut store = PolicyStore::new(PolicyOptions::default());
        store.replace_origin(Origin::Cluster, &cluster);
        store.replace_origin(Origin::Files, &files);
        let (before, held_before) = (store.policy(), store.objects());

        let saved = store.origin_objects(origin);
        // The other origin's objects: a change to every object the saved origin held.
        let replacement = match origin {
            Origin::Files => &cluster,
            Origin::Cluster => &files,
        };
        store.replace_origin(origin, replacement);
        store.restore_origin(&saved);

        let after = store.policy();
        prop_assert_eq!(after.diagnostics(), before.diagnostics());
        prop_assert_eq!(after.grants(), before.grants());
        for request in &requests {
            prop_assert_eq!(after.decide(request), before.decide(request));
        }
        let held_after = store.objects();
        prop_assert_eq!(flat(&held_after), flat(&held_before));
        prop_assert_eq!(held_after.sources, held_before.sources);
    }

    /// `Policy::from_owned_objects` accepts and refuses exactly what `from_objects` does,
    /// and builds the same policy.
    #[test]
    fn a_policy_from_owned_objects_is_the_one_from_borrowed_objects(
        objects in objects(),
        requests in prop::collection::vec(request(), 10),
    ) {
        let options = PolicyOptions::default();
        let borrowed = Policy::from_objects(&objects, &options);
        let owned = Policy::from_owned_objects(objects, &options);
        match (owned, borrowed) {
            (Ok(owned), Ok(borrowed)) => {
                prop_assert_eq!(owned.diagnostics(), borrowed.diagnostics());
                prop_assert_eq!(owned.grants(), borrowed.grants());
                for request in &requests {
                    prop_assert_eq!(owned.decide(request), borrowed.decide(request));
                }
            }
            (Err(owned), Err(borrowed)) => {
                prop_assert_eq!(owned.errors, borrowed.errors);
                prop_assert_eq!(owned.warnings, borrowed.warnings);
            }
            (owned, borrowed) => prop_assert!(
                false,
                "owned accepted: {}, borrowed accepted: {}",
                owned.is_ok(),
                borrowed.is_ok()
            ),
        }
    }
}
