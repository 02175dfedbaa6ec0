//! The event → store logic without a cluster: watch updates as the watches would send them,
//! applied to a [`ClusterSource`], and the snapshots it serves.

use super::*;
use crate::serve::state::EMBEDDED_DEMO_POLICY;
use scopegate_core::load::parse_str;
use scopegate_core::{ObjectRef, PolicyObject, Request, ResourceAttributes};

/// The demo policy's objects (examples/policies), as a cluster would hold them.
fn demo() -> Vec<PolicyObject> {
    parse_str(EMBEDDED_DEMO_POLICY, "demo.yaml")
        .expect("the demo parses")
        .into_objects()
        .collect()
}

fn parse(yaml: &str) -> PolicyObjects {
    parse_str(yaml, "test.yaml").expect("test manifests parse")
}

/// One `Listed` per kind, with the objects of that kind.
fn list_every_kind(objects: &[PolicyObject]) -> Vec<WatchUpdate> {
    WATCHED_KINDS
        .iter()
        .map(|&kind| WatchUpdate::Listed {
            kind,
            objects: objects
                .iter()
                .filter(|o| o.kind() == kind)
                .cloned()
                .collect(),
        })
        .collect()
}

/// Applies `updates`, returning the outcome and the policy served, if any.
fn apply(source: &ClusterSource, updates: Vec<WatchUpdate>) -> (BatchOutcome, Option<Policy>) {
    let mut served = None;
    let mut generation = 0;
    let outcome = source.apply_updates(updates, |policy| {
        served = Some(policy);
        generation += 1;
        generation
    });
    (outcome, served)
}

fn bob_reads_logs() -> Request {
    Request::resource(
        "bob",
        ResourceAttributes {
            verb: "get".into(),
            resource: "pods".into(),
            subresource: "log".into(),
            namespace: "team-a-dev".into(),
            name: "api-0".into(),
            ..Default::default()
        },
    )
    .with_groups(["team-a-devs"])
}

fn source() -> ClusterSource {
    ClusterSource::new(PolicyOptions::default())
}

#[test]
fn nothing_is_served_until_every_kind_is_listed() {
    let source = source();
    let mut updates = list_every_kind(&demo());
    let last = updates.pop().expect("twelve kinds");
    let (outcome, served) = apply(&source, updates);
    assert_eq!(outcome.served, None);
    assert!(served.is_none());
    assert!(!source.is_synced());
    let status = source.status_json();
    assert_eq!(status["synced"], false);
    assert_eq!(status["notSynced"], json!(["Node"]));

    let (outcome, served) = apply(&source, vec![last]);
    assert_eq!(outcome.served, Some(1));
    assert!(source.is_synced());
    let policy = served.expect("served once every kind is listed");
    assert!(policy.decide(&bob_reads_logs()).is_allowed());
    assert_eq!(source.status_json()["synced"], true);
}

#[test]
fn an_empty_cluster_is_served_once_listed() {
    let source = source();
    let (outcome, served) = apply(&source, list_every_kind(&[]));
    assert_eq!(outcome.served, Some(1));
    assert!(!served.unwrap().decide(&bob_reads_logs()).is_allowed());
}

#[test]
fn a_relist_deletes_the_objects_missing_from_it() {
    let source = source();
    apply(&source, list_every_kind(&demo()));
    let without_bob: Vec<PolicyObject> = demo()
        .into_iter()
        .filter(|o| o.kind() == ObjectKind::IamRoleBinding)
        .filter(|o| o.object_ref().name != "team-a-dev-developers")
        .collect();
    let (outcome, served) = apply(
        &source,
        vec![WatchUpdate::Listed {
            kind: ObjectKind::IamRoleBinding,
            objects: without_bob,
        }],
    );
    assert!(outcome.served.is_some());
    assert!(!served.unwrap().decide(&bob_reads_logs()).is_allowed());
}

#[test]
fn a_burst_of_changes_is_one_snapshot() {
    let source = source();
    apply(&source, list_every_kind(&demo()));
    let added = parse(
        "
apiVersion: v1
kind: Namespace
metadata: {name: team-a-qa, labels: {scope.theriseunion.io/workspace: team-a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a-perf, labels: {scope.theriseunion.io/workspace: team-a}}
",
    );
    let mut updates: Vec<WatchUpdate> = added
        .into_objects()
        .map(|o| WatchUpdate::Applied(Box::new(o)))
        .collect();
    updates.push(WatchUpdate::Deleted(ObjectRef::cluster_scoped(
        ObjectKind::IamRoleBinding,
        "team-a-dev-developers",
    )));
    let mut snapshots = 0;
    let outcome = source.apply_updates(updates, |_| {
        snapshots += 1;
        7
    });
    assert_eq!(snapshots, 1);
    assert_eq!(outcome.served, Some(7));
}

#[test]
fn a_change_that_changes_nothing_serves_nothing() {
    let source = source();
    apply(&source, list_every_kind(&demo()));
    let same = demo()
        .into_iter()
        .find(|o| o.kind() == ObjectKind::Namespace)
        .unwrap();
    let (outcome, _) = apply(&source, vec![WatchUpdate::Applied(Box::new(same))]);
    assert_eq!(outcome.served, None);
}

#[test]
fn an_unreadable_object_is_skipped_and_the_rest_applies() {
    let source = source();
    apply(&source, list_every_kind(&demo()));
    let reference = ObjectRef::cluster_scoped(ObjectKind::IamRoleBinding, "team-a-dev-developers");
    let (outcome, served) = apply(
        &source,
        vec![
            WatchUpdate::Unreadable {
                object: reference.clone(),
                error: "spec.scope.kind: unknown variant `Tenant`".into(),
            },
            WatchUpdate::Deleted(reference),
        ],
    );
    assert!(outcome.served.is_some());
    assert!(!served.unwrap().decide(&bob_reads_logs()).is_allowed());
    let text = {
        let mut registry = prometheus_client::registry::Registry::default();
        source.metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    };
    assert!(
        text.contains("watch_events_total{kind=\"IAMRoleBinding\",event=\"unreadable\"} 1"),
        "{text}"
    );
}

#[test]
fn objects_with_errors_grant_nothing_but_never_stop_the_policy() {
    let source = source();
    let mut objects = demo();
    objects.extend(
        parse(
            "
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: to-a-missing-role}
spec:
  subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: mallory}]
  roleRef: {apiGroup: iam.theriseunion.io, kind: IAMRole, name: does-not-exist}
  scope: {kind: Platform}
",
        )
        .into_objects(),
    );
    let (_, served) = apply(&source, list_every_kind(&objects));
    let policy = served.expect("served despite the error");
    assert!(policy.decide(&bob_reads_logs()).is_allowed());
    let mallory = Request::resource(
        "mallory",
        ResourceAttributes {
            verb: "get".into(),
            resource: "pods".into(),
            namespace: "team-a-dev".into(),
            ..Default::default()
        },
    );
    assert!(!policy.decide(&mallory).is_allowed());
    assert!(source.metrics.policy_errors.get() >= 1);
}

#[test]
fn a_failed_watch_keeps_the_policy_and_is_unhealthy_until_listed_again() {
    let source = source();
    apply(&source, list_every_kind(&demo()));
    let (outcome, _) = apply(
        &source,
        vec![WatchUpdate::Failed {
            kind: ObjectKind::IamRoleBinding,
            error: "connection refused".into(),
        }],
    );
    assert_eq!(outcome.served, None, "nothing changes: it keeps deciding");
    let status = source.status_json();
    assert_eq!(status["synced"], true);
    assert_eq!(status["healthy"], false);
    assert_eq!(status["failing"], json!(["IAMRoleBinding"]));
    assert_eq!(status["lastError"]["message"], "connection refused");
    assert!(status["since"].is_string());

    let bindings = demo()
        .into_iter()
        .filter(|o| o.kind() == ObjectKind::IamRoleBinding)
        .collect();
    apply(
        &source,
        vec![WatchUpdate::Listed {
            kind: ObjectKind::IamRoleBinding,
            objects: bindings,
        }],
    );
    let status = source.status_json();
    assert_eq!(status["healthy"], true);
    assert_eq!(status["since"], Value::Null);
    assert_eq!(
        status["lastError"]["message"], "connection refused",
        "the last error stays visible after recovery"
    );
}

const FILE_BINDING: &str = "
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: zoe-team-a-viewer}
spec:
  subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: zoe}]
  roleRef: {apiGroup: iam.theriseunion.io, kind: IAMRole, name: workspace-viewer}
  scope: {kind: Workspace, name: team-a}
";

fn zoe_lists_pods() -> Request {
    Request::resource(
        "zoe",
        ResourceAttributes {
            verb: "list".into(),
            resource: "pods".into(),
            namespace: "team-a-dev".into(),
            ..Default::default()
        },
    )
}

#[test]
fn files_wait_for_the_cluster_and_may_refer_to_its_objects() {
    let source = source();
    // The role and the workspace it names exist only in the cluster.
    let served = source.replace_files(parse(FILE_BINDING), |_| unreachable!("not synced yet"));
    assert_eq!(served, None);
    let (outcome, policy) = apply(&source, list_every_kind(&demo()));
    assert!(outcome.pending_files);
    assert!(policy.unwrap().decide(&zoe_lists_pods()).is_allowed());
}

/// Hands `yaml` to the source as the files' objects; the policy served, if one was.
fn serve_files(source: &ClusterSource, yaml: &str) -> Option<Policy> {
    let mut served = None;
    source.replace_files(parse(yaml), |policy| {
        served = Some(policy);
        1
    });
    served
}

#[test]
fn a_file_binding_with_an_error_grants_nothing_and_the_rest_is_served() {
    let source = source();
    apply(&source, list_every_kind(&demo()));
    let policy = serve_files(&source, FILE_BINDING).expect("served");
    assert!(policy.decide(&zoe_lists_pods()).is_allowed());
    // The role it names is gone: the binding is revoked, not frozen at its last good version.
    let broken = FILE_BINDING.replace("name: workspace-viewer", "name: no-such-role");
    let policy = serve_files(&source, &broken).expect("served");
    assert!(!policy.decide(&zoe_lists_pods()).is_allowed());
    assert!(
        policy.decide(&bob_reads_logs()).is_allowed(),
        "the cluster's objects decide"
    );
    assert!(
        policy
            .diagnostics()
            .iter()
            .any(|d| d.object.name == "zoe-team-a-viewer" && d.field == "spec.roleRef.name"),
        "{:?}",
        policy.diagnostics()
    );
    // A change from the cluster keeps the files as they are.
    let (_, policy) = apply(
        &source,
        parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n")
            .into_objects()
            .map(|o| WatchUpdate::Applied(Box::new(o)))
            .collect(),
    );
    assert!(!policy.unwrap().decide(&zoe_lists_pods()).is_allowed());
}

#[test]
fn an_object_both_in_the_files_and_in_the_cluster_is_served_once() {
    let source = source();
    let mut cluster = demo();
    cluster.extend(parse(FILE_BINDING).into_objects());
    apply(&source, list_every_kind(&cluster));
    let policy = serve_files(&source, FILE_BINDING).expect("served");
    assert!(policy.decide(&zoe_lists_pods()).is_allowed());
    let twice = format!("{FILE_BINDING}---{FILE_BINDING}");
    let policy = serve_files(&source, &twice).expect("served");
    assert!(
        policy
            .diagnostics()
            .iter()
            .any(|d| d.message.contains("has the same name")),
        "two copies in the files themselves are reported"
    );
    assert!(
        policy.decide(&zoe_lists_pods()).is_allowed(),
        "the first copy counts"
    );
}

/// Not a test: measures what one watch event costs at 100,000 bindings, end to end through
/// the path the watch task takes (`ClusterSource::apply_updates`: the store, one snapshot,
/// `Engine::replace`). Run it in release, alone:
///
/// ```sh
/// cargo test --release -p scopegate --bin scopegate -- --ignored --nocapture watch_update_cost
/// ```
#[test]
#[ignore = "a measurement, run by hand for BENCHMARKS.md"]
fn watch_update_cost_at_100k_bindings() {
    use scopegate_benches::{GeneratedPolicy, PolicySize};
    use scopegate_core::{Engine, EngineConfig};
    const WORKSPACE: &str = scopegate_core::model::WORKSPACE_LABEL;

    let generated = GeneratedPolicy::new(PolicySize::K100, 1);
    let objects: Vec<PolicyObject> = generated.objects().into_objects().collect();
    let bindings: Vec<PolicyObject> = objects
        .iter()
        .filter(|o| o.kind() == ObjectKind::IamRoleBinding)
        .cloned()
        .collect();
    let namespaces: Vec<PolicyObject> = objects
        .iter()
        .filter(|o| o.kind() == ObjectKind::Namespace)
        .cloned()
        .collect();
    eprintln!(
        "{} objects, {} IAMRoleBindings, {} namespaces",
        objects.len(),
        bindings.len(),
        namespaces.len()
    );
    let engine = Engine::new(&EngineConfig::default());
    let source = source();
    let started = Instant::now();
    let outcome = source.apply_updates(list_every_kind(&objects), |p| engine.replace(p));
    assert!(outcome.served.is_some());
    eprintln!(
        "initial sync (12 lists → first snapshot): {:?}",
        started.elapsed()
    );

    let report = |what: &str, mut times: Vec<Duration>, recompiled: usize| {
        times.sort();
        let n = times.len();
        let total: Duration = times.iter().sum();
        eprintln!(
            "{what}: n={n} median={:?} p90={:?} max={:?} mean={:?} bindings recompiled/event={:.1}",
            times[n / 2],
            times[n * 9 / 10],
            times[n - 1],
            total / u32::try_from(n).unwrap_or(1),
            recompiled as f64 / n as f64
        );
    };
    let recompiled = || {
        let mut registry = prometheus_client::registry::Registry::default();
        source.metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out.lines()
            .find_map(|l| l.strip_prefix("store_bindings_recompiled_total "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0)
    };
    let measure = |what: &str, updates: Vec<Vec<WatchUpdate>>| {
        let before = recompiled();
        let mut times = Vec::new();
        for batch in updates {
            let t = Instant::now();
            let outcome = source.apply_updates(batch, |p| engine.replace(p));
            times.push(t.elapsed());
            assert!(
                outcome.served.is_some(),
                "{what}: every event changes the policy"
            );
        }
        report(what, times, recompiled() - before);
    };
    // One binding's subject changed (an update), 200 times on different bindings: from the
    // watcher's event (a DynamicObject, read into the typed model by the watch's KindFeed)
    // to the new snapshot in the engine.
    let events: Vec<kube::api::DynamicObject> = (0..200)
        .map(|i| {
            let mut object = bindings[i * 397 % bindings.len()].clone();
            if let PolicyObject::IamRoleBinding(b) = &mut object {
                b.spec.subjects[0].name = format!("watch-bench-user-{i}");
            }
            let PolicyObject::IamRoleBinding(b) = object else {
                unreachable!("a binding")
            };
            serde_json::from_value(serde_json::to_value(&b).unwrap()).unwrap()
        })
        .collect();
    let before = recompiled();
    let mut times = Vec::new();
    for event in events {
        let t = Instant::now();
        let mut feed = scopegate_kube::watch::KindFeed::new(ObjectKind::IamRoleBinding);
        let updates = feed.on_event(kube::runtime::watcher::Event::Apply(event));
        let outcome = source.apply_updates(updates, |p| engine.replace(p));
        times.push(t.elapsed());
        assert!(outcome.served.is_some());
    }
    report(
        "update one IAMRoleBinding (watch event → KindFeed → store → engine)",
        times,
        recompiled() - before,
    );
    // One binding deleted, then created again.
    let deletes: Vec<Vec<WatchUpdate>> = (0..200)
        .map(|i| {
            vec![WatchUpdate::Deleted(
                bindings[i * 211 % bindings.len()].object_ref(),
            )]
        })
        .collect();
    measure("delete one IAMRoleBinding", deletes);
    let creates: Vec<Vec<WatchUpdate>> = (0..200)
        .map(|i| {
            vec![WatchUpdate::Applied(Box::new(
                bindings[i * 211 % bindings.len()].clone(),
            ))]
        })
        .collect();
    measure("create one IAMRoleBinding", creates);
    // A namespace moved into another workspace (its workspace label changed): membership,
    // not bindings, changes.
    let workspaces: Vec<String> = namespaces
        .iter()
        .filter_map(|o| o.metadata().labels.as_ref()?.get(WORKSPACE).cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let relabels: Vec<Vec<WatchUpdate>> = (0..100)
        .map(|i| {
            let mut object = namespaces[i * 31 % namespaces.len()].clone();
            if let PolicyObject::Namespace(n) = &mut object {
                let labels = n.metadata.labels.get_or_insert_with(Default::default);
                let current = labels.get(WORKSPACE).cloned().unwrap_or_default();
                let other = workspaces
                    .iter()
                    .find(|w| **w != current)
                    .cloned()
                    .unwrap_or_default();
                labels.insert(WORKSPACE.into(), other);
            }
            vec![WatchUpdate::Applied(Box::new(object))]
        })
        .collect();
    measure("move one Namespace into another workspace", relabels);
    // A burst: 100 binding updates arriving together, one snapshot.
    let burst: Vec<Vec<WatchUpdate>> = (0..20)
        .map(|round| {
            (0..100)
                .map(|i| {
                    let mut object = bindings[(round * 100 + i) * 13 % bindings.len()].clone();
                    if let PolicyObject::IamRoleBinding(b) = &mut object {
                        b.spec.subjects[0].name = format!("burst-{round}-{i}");
                    }
                    WatchUpdate::Applied(Box::new(object))
                })
                .collect()
        })
        .collect();
    measure("a burst of 100 IAMRoleBinding updates (one batch)", burst);
    // A re-list of every binding after a failure (nothing changed meanwhile).
    let t = Instant::now();
    source.apply_updates(
        vec![WatchUpdate::Listed {
            kind: ObjectKind::IamRoleBinding,
            objects: bindings.clone(),
        }],
        |p| engine.replace(p),
    );
    eprintln!(
        "re-list of {} IAMRoleBindings: {:?}",
        bindings.len(),
        t.elapsed()
    );
}
