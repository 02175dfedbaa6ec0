//! What one object change costs in the incremental policy store at 100,000 bindings.
//!
//! ```text
//! cargo bench -p scopegate-benches --bench store
//! SCOPEGATE_STORE_BINDINGS=10000 cargo bench -p scopegate-benches --bench store
//! ```
//!
//! The generated policy (`GeneratedPolicy`, seed 42) is loaded once into a
//! [`PolicyStore`]; each benchmark then applies one watch event per iteration, alternating
//! between two versions of one object so that every iteration is a real change, and takes
//! a snapshot after it with [`PolicyStore::policy`], keeping it until the next iteration,
//! as a server does (so the store must copy, not mutate, what the live snapshot shares).
//! The figure is the cost of one change plus its snapshot (and dropping the previous one).
//! Group `store_100k`:
//!
//! - `binding_update`: an IAMRoleBinding's subject changes (1 binding recompiled);
//! - `role_update/native`: a namespace's Role `ci-deployer` gains a rule (its bindings);
//! - `role_update/iam`: the IAMRole `cluster-viewer` gains a rule (every binding to it);
//! - `template_update`: the RoleTemplate `cluster-read` gains a rule (its roles, their
//!   bindings);
//! - `namespace_relabel`: a Namespace moves to another workspace and back;
//! - `snapshot`: `policy()` alone, nothing changed;
//! - `identical_apply`: an Apply of the object already held (a no-op).
//!
//! How many bindings each change recompiles is printed before it is timed.

// The allocator and options `scopegate serve` runs with (webhook/src/main.rs), so that the
// engine is measured with the memory layout it is served with.
scopegate_alloc::use_jemalloc!();

use criterion::{Criterion, SamplingMode};
use k8s_openapi::api::rbac::v1::PolicyRule;
use scopegate_benches::GeneratedPolicy;
use scopegate_core::store::{Change, Origin, PolicyStore};
use scopegate_core::{Policy, PolicyObject, PolicyObjects, PolicyOptions};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SEED: u64 = 42;

fn bindings() -> usize {
    std::env::var("SCOPEGATE_STORE_BINDINGS")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(100_000)
}

fn extra_rule() -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec!["bench.example".into()]),
        resources: Some(vec!["widgets".into()]),
        verbs: vec!["get".into()],
        ..Default::default()
    }
}

/// Two versions of one object: as generated, and changed by `change`.
fn versions(original: PolicyObject, change: impl Fn(&mut PolicyObject)) -> [PolicyObject; 2] {
    let mut changed = original.clone();
    change(&mut changed);
    [original, changed]
}

fn find(objects: &PolicyObjects, which: impl Fn(&PolicyObject) -> bool) -> PolicyObject {
    objects
        .clone()
        .into_objects()
        .find(|o| which(o))
        .expect("the generated policy has this object")
}

fn name_is(o: &PolicyObject, name: &str) -> bool {
    o.metadata().name.as_deref() == Some(name)
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let n = bindings();
    let started = Instant::now();
    let objects =
        GeneratedPolicy::from_config(scopegate_benches::GenConfig::for_bindings(n, SEED)).objects();
    eprintln!(
        "[store] generated {n} bindings in {:.1?}",
        started.elapsed()
    );

    let options = PolicyOptions::default();
    let started = Instant::now();
    let mut store = PolicyStore::new(options.clone());
    let effect = store.replace_origin(Origin::Cluster, &objects);
    eprintln!(
        "[store] loaded {} objects ({} bindings compiled) in {:.1?}",
        store.len(),
        effect.bindings_recompiled,
        started.elapsed()
    );
    let started = Instant::now();
    let compiled = Policy::compile(&objects, &options);
    eprintln!(
        "[store] Policy::compile of the same objects: {:.1?} ({} grants)",
        started.elapsed(),
        compiled.grants().len()
    );
    drop(compiled);

    let binding = versions(
        find(
            &objects,
            |o| matches!(o, PolicyObject::IamRoleBinding(b) if b.spec.role_ref.name == "namespace-developer"),
        ),
        |o| {
            if let PolicyObject::IamRoleBinding(b) = o
                && let Some(s) = b.spec.subjects.first_mut()
            {
                s.name.push_str("-moved");
            }
        },
    );
    let native_role = versions(
        find(&objects, |o| matches!(o, PolicyObject::Role(_))),
        |o| {
            if let PolicyObject::Role(r) = o {
                r.rules.get_or_insert_with(Vec::new).push(extra_rule());
            }
        },
    );
    let iam_role = versions(
        find(&objects, |o| {
            matches!(o, PolicyObject::IamRole(_)) && name_is(o, "cluster-viewer")
        }),
        |o| {
            if let PolicyObject::IamRole(r) = o {
                r.spec.rules.push(extra_rule());
            }
        },
    );
    let template = versions(
        find(&objects, |o| {
            matches!(o, PolicyObject::RoleTemplate(_)) && name_is(o, "cluster-read")
        }),
        |o| {
            if let PolicyObject::RoleTemplate(t) = o {
                t.spec.rules.push(extra_rule());
            }
        },
    );
    let namespace = versions(
        find(&objects, |o| matches!(o, PolicyObject::Namespace(_))),
        |o| {
            if let PolicyObject::Namespace(ns) = o
                && let Some(labels) = ns.metadata.labels.as_mut()
            {
                labels.insert(
                    scopegate_core::model::WORKSPACE_LABEL.to_string(),
                    "ws-00001".to_string(),
                );
            }
        },
    );

    let mut group = c.benchmark_group(format!("store_{}", short(n)));
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let cases: [(&str, &[PolicyObject; 2]); 5] = [
        ("binding_update", &binding),
        ("role_update/native", &native_role),
        ("role_update/iam", &iam_role),
        ("template_update", &template),
        ("namespace_relabel", &namespace),
    ];
    for (name, versions) in cases {
        let effect = store.apply(Origin::Cluster, Change::Apply(versions[1].clone()));
        eprintln!(
            "[store] {name}: {} binding(s) recompiled per change (changed: {})",
            effect.bindings_recompiled, effect.changed
        );
        let mut live = store.policy();
        let mut flip = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                flip ^= 1;
                let effect = store.apply(
                    Origin::Cluster,
                    Change::Apply(black_box(versions[flip].clone())),
                );
                live = store.policy();
                black_box(effect)
            })
        });
        black_box(&live);
        store.apply(Origin::Cluster, Change::Apply(versions[0].clone()));
    }
    group.bench_function("snapshot", |b| b.iter(|| black_box(store.policy())));
    let held = binding[0].clone();
    let _live = store.policy();
    group.bench_function("identical_apply", |b| {
        b.iter(|| store.apply(Origin::Cluster, Change::Apply(black_box(held.clone()))))
    });
    group.finish();
    c.final_summary();
}

fn short(n: usize) -> String {
    match n {
        n if n % 1_000_000 == 0 => format!("{}m", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}
