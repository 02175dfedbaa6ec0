//! The controllers against a REAL kube-apiserver (v1.20, RBAC only, no webhook, no
//! kube-controller-manager), run in-process on the demo policy (examples/policies):
//!
//! - what they make exists, owned by its source and applied by the field manager `scopegate`;
//! - native RBAC alone then answers exactly as the scope model does: for every request of a
//!   universe over the demo's people (users and groups, verbs, namespaced and cluster-scoped
//!   resources and subresources, names, namespaces, URLs) the API server's own
//!   SubjectAccessReview allows exactly when the engine (`Policy::decide` on the same IAM
//!   objects, every demo binding being materialisable) allows;
//! - a second round of reconciles writes nothing (resourceVersions unchanged);
//! - drift is corrected (a deleted RoleBinding, a ClusterRole whose rules were edited);
//! - revocation works: a RoleTemplate losing a rule, or no longer matching a role's selector,
//!   takes the rule out of the ClusterRole; a namespace leaving a workspace loses its
//!   RoleBindings, one joining gains them; a deleted IAMRoleBinding's objects go (by the
//!   controllers' orphan sweep: this API server has no garbage collector);
//! - NodeGroup labels follow the selector, both ways, and the group's binding follows them;
//! - an error is a `Ready: False` status and a Warning Event;
//! - two replicas share one Lease: exactly one leads; when it dies the other takes over
//!   within a bounded time and reconciles.
//!
//! Every wait is a bounded poll. Set `SCOPEGATE_KAPI=0` to skip.

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes as SarResource, SubjectAccessReview,
    SubjectAccessReviewSpec,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use scopegate_core::model::{IamRole, IamRoleBinding, NodeGroup, RoleTemplate};
use scopegate_core::{Policy, PolicyObjects, PolicyOptions, Request, ResourceAttributes};
use scopegate_kube::controller::{
    ControllerMetrics, ControllerOptions, LeaseConfig, run_with_leader_election,
};
use scopegate_kube::crd;
use scopegate_kube::materialize::{
    DesiredRbac, ObservedWorld, RbacObject, desired_cluster_role, desired_objects,
};
use scopegate_testkit::{KubeApiServer, kube_apiserver_disabled, step};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

const ADMIN: &str = "test-admin";
const LEASE: &str = "scopegate-controller";
const LEASE_NS: &str = "default";
const WAIT: Duration = Duration::from_secs(30);

/// Polls `check` every 100 ms until it returns `Some`, or panics naming `what` after `limit`.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Server-side applies `object` through `api` as the test's admin.
async fn apply<K>(api: &Api<K>, object: &K)
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    scopegate_testkit::apply(api, object, ADMIN).await;
}

fn demo() -> PolicyObjects {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies");
    scopegate_core::load::load_paths(&[dir]).unwrap().objects
}

/// The demo without native RBAC (kube-apiserver alone has no aggregation controller to fill
/// in the aggregated ClusterRole), as the API server will hold it.
fn iam_only(objects: &PolicyObjects) -> PolicyObjects {
    PolicyObjects {
        roles: vec![],
        cluster_roles: vec![],
        role_bindings: vec![],
        cluster_role_bindings: vec![],
        ..objects.clone()
    }
}

/// A replica of the controllers, stopped (without releasing its Lease, as a crash) when
/// dropped.
struct Replica {
    metrics: ControllerMetrics,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start_replica(client: &Client, identity: &str) -> Replica {
    let metrics = ControllerMetrics::default();
    let lease = LeaseConfig {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
        ..LeaseConfig::new(LEASE, LEASE_NS, identity)
    };
    let options = ControllerOptions {
        instance: identity.to_string(),
        ..ControllerOptions::default()
    };
    let elected = run_with_leader_election(
        client.clone(),
        options,
        metrics.clone(),
        lease,
        std::future::pending(),
    );
    let task = tokio::spawn(async move {
        if let Err(e) = elected.await {
            panic!("controllers stopped: {e}");
        }
    });
    Replica { metrics, task }
}

#[test]
fn controllers_make_native_rbac_that_agrees_with_the_scope_model() {
    if kube_apiserver_disabled("the controllers' end-to-end test") {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let started = Instant::now();
    step("kube-apiserver: start (RBAC only)", started);
    let server = KubeApiServer::start("controllers", &[]);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(&server, started));
    step("done", started);
}

async fn run(server: &KubeApiServer, started: Instant) {
    let client = server.client().await;

    step(
        "CRDs (without CEL rules, for v1.20): apply, wait for Established",
        started,
    );
    let crds: Vec<_> = crd::all().into_iter().map(crd::without_cel_rules).collect();
    scopegate_testkit::install_crds(&client, &crds, ADMIN).await;

    step(
        "the demo's IAM and scope objects, Namespaces and Nodes",
        started,
    );
    let objects = demo();
    for ns in &objects.namespaces {
        apply(&Api::<Namespace>::all(client.clone()), ns).await;
    }
    for node in &objects.nodes {
        apply(&Api::<Node>::all(client.clone()), node).await;
    }
    for o in &objects.clusters {
        apply(&Api::all(client.clone()), o).await;
    }
    for o in &objects.workspaces {
        apply(&Api::all(client.clone()), o).await;
    }
    for o in &objects.node_groups {
        apply(&Api::all(client.clone()), o).await;
    }
    for o in &objects.role_templates {
        apply(&Api::all(client.clone()), o).await;
    }
    for o in &objects.iam_roles {
        apply(&Api::all(client.clone()), o).await;
    }
    for o in &objects.iam_role_bindings {
        apply(&Api::all(client.clone()), o).await;
    }

    step(
        "replica a: acquires the Lease and runs the controllers",
        started,
    );
    let mut replica_a = Some(start_replica(&client, "replica-a"));
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NS);
    eventually("replica-a leads", WAIT, || async {
        let a = replica_a.as_ref()?;
        a.metrics.is_leader().then_some(())
    })
    .await;
    let replica_b = start_replica(&client, "replica-b");

    step(
        "converged: every IAMRole, IAMRoleBinding and NodeGroup Ready",
        started,
    );
    let roles_api: Api<IamRole> = Api::all(client.clone());
    let bindings_api: Api<IamRoleBinding> = Api::all(client.clone());
    let groups_api: Api<NodeGroup> = Api::all(client.clone());
    eventually("everything Ready at its generation", WAIT, || async {
        let mut all = Vec::new();
        for r in roles_api.list(&ListParams::default()).await.ok()? {
            all.push((r.name_any(), r.metadata.generation, r.status));
        }
        for b in bindings_api.list(&ListParams::default()).await.ok()? {
            all.push((b.name_any(), b.metadata.generation, b.status));
        }
        for g in groups_api.list(&ListParams::default()).await.ok()? {
            all.push((g.name_any(), g.metadata.generation, g.status));
        }
        let waiting: Vec<String> = all
            .iter()
            .filter(|(_, generation, status)| {
                !status.as_ref().is_some_and(|s| {
                    s.observed_generation == *generation
                        && s.conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            })
            .map(|(name, generation, status)| {
                format!("{name} (generation {generation:?}): {status:?}")
            })
            .collect();
        if !waiting.is_empty() && started.elapsed() > Duration::from_secs(30) {
            eprintln!("    waiting for: {waiting:#?}");
        }
        waiting.is_empty().then_some(())
    })
    .await;
    let binding = bindings_api.get("team-a-admins").await.unwrap();
    let ready = &binding.status.as_ref().unwrap().conditions[0];
    assert_eq!(ready.reason, "Materialized");
    assert!(
        ready.message.contains("native objects"),
        "{}",
        ready.message
    );

    step(
        "the native objects: as materialised, owned, applied by `scopegate`",
        started,
    );
    let world = ObservedWorld::from_objects(&objects, "default");
    let mut expected = DesiredRbac::default();
    for role in &objects.iam_roles {
        expected
            .cluster_roles
            .push(desired_cluster_role(role, &objects.role_templates).unwrap());
    }
    for b in &objects.iam_role_bindings {
        let role = objects
            .iam_roles
            .iter()
            .find(|r| r.name_any() == b.spec.role_ref.name);
        expected.extend(desired_objects(b, role, &world).unwrap());
    }
    let sources: BTreeMap<String, String> = roles_api
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (format!("IAMRole/{}", r.name_any()), r.uid().unwrap()))
        .chain(
            bindings_api
                .list(&ListParams::default())
                .await
                .unwrap()
                .into_iter()
                .map(|b| (format!("IAMRoleBinding/{}", b.name_any()), b.uid().unwrap())),
        )
        .collect();
    for object in expected.clone().into_objects() {
        let key = object.key();
        let stored = stored_meta(&client, &object).await;
        let owner = &stored.owner_references.as_ref().expect("owner references")[0];
        assert_eq!(
            Some(&owner.uid),
            sources.get(&format!("{}/{}", owner.kind, owner.name)),
            "{key}: owned by its source"
        );
        assert_eq!(owner.controller, Some(true), "{key}");
        assert!(
            stored.managed_fields.iter().flatten().any(|f| {
                f.manager.as_deref() == Some("scopegate") && f.operation.as_deref() == Some("Apply")
            }),
            "{key}: applied by scopegate"
        );
    }
    eprintln!("    {} native objects, as materialised", expected.len());

    step(
        "status.nativeObjects: what each source keeps, as materialised",
        started,
    );
    for role in roles_api.list(&ListParams::default()).await.unwrap() {
        let status = role.status.as_ref().expect("a status");
        assert_eq!(
            status.native_objects,
            Some(1),
            "IAMRole {}",
            role.name_any()
        );
    }
    for b in bindings_api.list(&ListParams::default()).await.unwrap() {
        let loaded = objects
            .iam_role_bindings
            .iter()
            .find(|l| l.name_any() == b.name_any())
            .expect("a demo binding");
        let role = objects
            .iam_roles
            .iter()
            .find(|r| r.name_any() == loaded.spec.role_ref.name);
        let made = desired_objects(loaded, role, &world).unwrap();
        let status = b.status.as_ref().expect("a status");
        assert_eq!(
            status.native_objects,
            Some(u32::try_from(made.len()).unwrap()),
            "IAMRoleBinding {}",
            b.name_any()
        );
    }
    // A Workspace-scope binding over the workspace's two namespaces: a RoleBinding in each,
    // and (its role reads `workspaces`) a ClusterRole and ClusterRoleBinding for the
    // Workspace object itself.
    let viewers = bindings_api.get("team-a-viewers").await.unwrap();
    let made_name = "scopegate:iamrolebinding:team-a-viewers";
    let named = |names: Vec<Option<String>>| {
        names
            .iter()
            .filter(|n| n.as_deref() == Some(made_name))
            .count()
    };
    let lp = ListParams::default();
    let made = [
        named(
            Api::<ClusterRole>::all(client.clone())
                .list(&lp)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|o| o.metadata.name)
                .collect(),
        ),
        named(
            Api::<ClusterRoleBinding>::all(client.clone())
                .list(&lp)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|o| o.metadata.name)
                .collect(),
        ),
        named(
            Api::<RoleBinding>::all(client.clone())
                .list(&lp)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|o| o.metadata.name)
                .collect(),
        ),
    ];
    assert_eq!(
        made,
        [1, 1, 2],
        "ClusterRole, ClusterRoleBinding, RoleBindings"
    );
    assert_eq!(viewers.status.unwrap().native_objects, Some(4));

    step(
        "native RBAC alone answers as the scope model: SubjectAccessReviews",
        started,
    );
    let (asked, allowed) = compare_with_the_engine(&client, &iam_only(&objects)).await;
    eprintln!("    {asked} SubjectAccessReviews, {allowed} allowed, all as the engine decides");
    assert!(allowed > 200, "the comparison is not vacuous");

    step(
        "idempotent: a second reconcile of everything writes nothing",
        started,
    );
    let before = versions(&client).await;
    let a_metrics = replica_a.as_ref().unwrap().metrics.clone();
    let (roles_before, bindings_before) = (
        a_metrics.reconciles("iamrole"),
        a_metrics.reconciles("iamrolebinding"),
    );
    let touch = json!({"metadata": {"annotations": {"test.scopegate.io/touched": "1"}}});
    let params = PatchParams::default();
    for r in &objects.iam_roles {
        roles_api
            .patch(&r.name_any(), &params, &Patch::Merge(&touch))
            .await
            .unwrap();
    }
    for b in &objects.iam_role_bindings {
        bindings_api
            .patch(&b.name_any(), &params, &Patch::Merge(&touch))
            .await
            .unwrap();
    }
    let (n_roles, n_bindings) = (
        objects.iam_roles.len() as u64,
        objects.iam_role_bindings.len() as u64,
    );
    eventually("every object reconciled again", WAIT, || async {
        (a_metrics.reconciles("iamrole") >= roles_before + n_roles
            && a_metrics.reconciles("iamrolebinding") >= bindings_before + n_bindings)
            .then_some(())
    })
    .await;
    assert_eq!(
        versions(&client).await,
        before,
        "no native object was written"
    );
    let unchanged = bindings_api.get("team-a-admins").await.unwrap();
    assert_eq!(unchanged.status, binding.status, "no status was written");

    step("drift: a deleted RoleBinding comes back", started);
    let rbs: Api<RoleBinding> = Api::namespaced(client.clone(), "team-a-dev");
    let dev_rb = "scopegate:iamrolebinding:team-a-dev-developers";
    let old_uid = rbs.get(dev_rb).await.unwrap().uid();
    rbs.delete(dev_rb, &DeleteParams::default()).await.unwrap();
    eventually("the RoleBinding restored", WAIT, || async {
        let rb = rbs.get_opt(dev_rb).await.ok()??;
        (rb.uid() != old_uid).then_some(())
    })
    .await;

    step(
        "drift: a ClusterRole whose rules were edited is put back",
        started,
    );
    let crs: Api<ClusterRole> = Api::all(client.clone());
    let dev_cr = "scopegate:iamrole:namespace-developer";
    let good_rules = crs.get(dev_cr).await.unwrap().rules;
    let edit = json!({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
    crs.patch(
        dev_cr,
        &PatchParams {
            field_manager: Some("intruder".into()),
            ..PatchParams::default()
        },
        &Patch::Merge(&edit),
    )
    .await
    .unwrap();
    eventually("the rules restored", WAIT, || async {
        (crs.get(dev_cr).await.ok()?.rules == good_rules).then_some(())
    })
    .await;

    step(
        "revocation: a RoleTemplate loses a rule → the ClusterRole loses it",
        started,
    );
    let templates: Api<RoleTemplate> = Api::all(client.clone());
    let mut app_dev = objects
        .role_templates
        .iter()
        .find(|t| t.name_any() == "app-developer")
        .unwrap()
        .clone();
    app_dev
        .spec
        .rules
        .retain(|r| !r.resources.iter().flatten().any(|x| x == "pods/log"));
    apply(&templates, &app_dev).await;
    eventually("pods/log gone from the ClusterRole", WAIT, || async {
        let rules = crs.get(dev_cr).await.ok()?.rules.unwrap_or_default();
        (!rules
            .iter()
            .any(|r| r.resources.iter().flatten().any(|x| x == "pods/log")))
        .then_some(())
    })
    .await;
    let bob_logs = sar_resource(
        "bob",
        &["team-a-devs"],
        "get",
        "",
        "pods",
        "log",
        "team-a-dev",
        "api-0",
    );
    assert!(
        !review(&client, bob_logs).await,
        "bob can no longer read logs"
    );

    step(
        "revocation: a template no longer selected → its rules go",
        started,
    );
    let unlabel =
        json!({"metadata": {"labels": {"templates.scopegate.example/workspace-viewer": null}}});
    templates
        .patch(
            "workspace-settings-view",
            &PatchParams::default(),
            &Patch::Merge(&unlabel),
        )
        .await
        .unwrap();
    eventually(
        "resourcequotas gone from workspace-viewer",
        WAIT,
        || async {
            let rules = crs
                .get("scopegate:iamrole:workspace-viewer")
                .await
                .ok()?
                .rules
                .unwrap_or_default();
            (!rules
                .iter()
                .any(|r| r.resources.iter().flatten().any(|x| x == "resourcequotas")))
            .then_some(())
        },
    )
    .await;

    step(
        "a namespace leaves its workspace → its RoleBindings go; one joins → it gains them",
        started,
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let leave = json!({"metadata": {"labels": {"scope.theriseunion.io/workspace": null}}});
    namespaces
        .patch(
            "team-a-prod",
            &PatchParams::default(),
            &Patch::Merge(&leave),
        )
        .await
        .unwrap();
    let prod: Api<RoleBinding> = Api::namespaced(client.clone(), "team-a-prod");
    eventually("team-a-prod has no Scopegate RoleBinding", WAIT, || async {
        let list = prod
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=scopegate"))
            .await
            .ok()?;
        list.items.is_empty().then_some(())
    })
    .await;
    let qa: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team-a-qa", "labels": {"scope.theriseunion.io/workspace": "team-a"}}
    }))
    .unwrap();
    apply(&namespaces, &qa).await;
    let qa_rbs: Api<RoleBinding> = Api::namespaced(client.clone(), "team-a-qa");
    eventually(
        "team-a-qa has the workspace's RoleBindings",
        WAIT,
        || async {
            let a = qa_rbs
                .get_opt("scopegate:iamrolebinding:team-a-admins")
                .await
                .ok()??;
            let v = qa_rbs
                .get_opt("scopegate:iamrolebinding:team-a-viewers")
                .await
                .ok()??;
            Some((a, v))
        },
    )
    .await;
    let carol_qa = sar_resource("carol", &[], "delete", "", "pods", "", "team-a-qa", "x");
    assert!(
        review(&client, carol_qa).await,
        "carol administers the new namespace"
    );

    step(
        "NodeGroup: a matching node gets the label, a node that stops matching loses it",
        started,
    );
    let nodes: Api<Node> = Api::all(client.clone());
    let node3: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "gpu-node-3", "labels": {"node.kubernetes.io/instance-type": "g5.2xlarge"}}
    }))
    .unwrap();
    apply(&nodes, &node3).await;
    let group_label = "scope.theriseunion.io/nodegroup";
    let olga_cr = "scopegate:iamrolebinding:gpu-operators";
    eventually(
        "gpu-node-3 labelled and in olga's ClusterRole",
        WAIT,
        || async {
            let node = nodes.get("gpu-node-3").await.ok()?;
            let labelled = node.labels().get(group_label).is_some_and(|g| g == "gpu");
            let cr = crs.get(olga_cr).await.ok()?;
            let listed = cr
                .rules
                .iter()
                .flatten()
                .any(|r| r.resource_names.iter().flatten().any(|n| n == "gpu-node-3"));
            (labelled && listed).then_some(())
        },
    )
    .await;
    let olga = sar_resource("olga", &[], "patch", "", "nodes", "", "", "gpu-node-3");
    assert!(
        review(&client, olga.clone()).await,
        "olga patches the new GPU node"
    );
    let retype =
        json!({"metadata": {"labels": {"node.kubernetes.io/instance-type": "m6i.2xlarge"}}});
    nodes
        .patch(
            "gpu-node-3",
            &PatchParams::default(),
            &Patch::Merge(&retype),
        )
        .await
        .unwrap();
    eventually(
        "gpu-node-3 unlabelled and out of olga's ClusterRole",
        WAIT,
        || async {
            let node = nodes.get("gpu-node-3").await.ok()?;
            let cr = crs.get(olga_cr).await.ok()?;
            let listed = cr
                .rules
                .iter()
                .flatten()
                .any(|r| r.resource_names.iter().flatten().any(|n| n == "gpu-node-3"));
            (!node.labels().contains_key(group_label) && !listed).then_some(())
        },
    )
    .await;
    assert!(!review(&client, olga).await, "olga no longer patches it");

    step(
        "an error: a binding to a missing role is Ready False with a Warning Event",
        started,
    );
    let broken: IamRoleBinding = serde_json::from_value(json!({
        "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "IAMRoleBinding",
        "metadata": {"name": "broken"},
        "spec": {
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "zed"}],
            "roleRef": {"apiGroup": "iam.theriseunion.io", "kind": "IAMRole", "name": "no-such-role"},
            "scope": {"kind": "Namespace", "name": "team-a-dev"}
        }
    }))
    .unwrap();
    apply(&bindings_api, &broken).await;
    eventually("broken is Ready False, RoleNotFound", WAIT, || async {
        let b = bindings_api.get("broken").await.ok()?;
        let c = b
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (c.status == "False" && c.reason == "RoleNotFound").then_some(())
    })
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually("a Warning Event about broken", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("RoleNotFound")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("broken")
            })
            .then_some(())
    })
    .await;

    step(
        "a deleted IAMRoleBinding's objects go (orphan sweep; no GC here)",
        started,
    );
    bindings_api
        .delete("team-b-viewers", &DeleteParams::default())
        .await
        .unwrap();
    let team_b: Api<RoleBinding> = Api::namespaced(client.clone(), "team-b-dev");
    eventually("team-b-viewers' RoleBinding deleted", WAIT, || async {
        team_b
            .get_opt("scopegate:iamrolebinding:team-b-viewers")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;

    step(
        "two replicas: one Lease, one leader; the leader dies → the other takes over",
        started,
    );
    let lease = leases.get(LEASE).await.unwrap();
    assert_eq!(
        lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref()),
        Some("replica-a")
    );
    assert!(!replica_b.metrics.is_leader(), "replica-b follows");
    assert_eq!(
        replica_b.metrics.reconciles("iamrolebinding"),
        0,
        "the follower wrote nothing"
    );
    drop(replica_a.take());
    eventually("replica-b leads", Duration::from_secs(20), || async {
        let lease = leases.get(LEASE).await.ok()?;
        let holder = lease.spec?.holder_identity?;
        (holder == "replica-b" && replica_b.metrics.is_leader()).then_some(())
    })
    .await;
    let old_uid = rbs.get(dev_rb).await.unwrap().uid();
    rbs.delete(dev_rb, &DeleteParams::default()).await.unwrap();
    eventually("replica-b restores the RoleBinding", WAIT, || async {
        let rb = rbs.get_opt(dev_rb).await.ok()??;
        (rb.uid() != old_uid).then_some(())
    })
    .await;
}

/// The metadata the API server stored for `object`.
async fn stored_meta(client: &Client, object: &RbacObject) -> kube::api::ObjectMeta {
    let key = object.key();
    let ns = key.namespace.clone().unwrap_or_default();
    let found = match object {
        RbacObject::ClusterRole(_) => Api::<ClusterRole>::all(client.clone())
            .get(&key.name)
            .await
            .map(|o| o.metadata),
        RbacObject::ClusterRoleBinding(_) => Api::<ClusterRoleBinding>::all(client.clone())
            .get(&key.name)
            .await
            .map(|o| o.metadata),
        RbacObject::Role(_) => Api::<Role>::namespaced(client.clone(), &ns)
            .get(&key.name)
            .await
            .map(|o| o.metadata),
        RbacObject::RoleBinding(_) => Api::<RoleBinding>::namespaced(client.clone(), &ns)
            .get(&key.name)
            .await
            .map(|o| o.metadata),
    };
    found.unwrap_or_else(|e| panic!("{key} exists: {e}"))
}

/// The resourceVersion of every object Scopegate made.
async fn versions(client: &Client) -> BTreeMap<String, String> {
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=scopegate");
    let mut out = BTreeMap::new();
    let mut add = |kind: &str, items: Vec<kube::api::ObjectMeta>| {
        for m in items {
            out.insert(
                format!(
                    "{kind} {}/{}",
                    m.namespace.unwrap_or_default(),
                    m.name.unwrap_or_default()
                ),
                m.resource_version.unwrap_or_default(),
            );
        }
    };
    add(
        "ClusterRole",
        Api::<ClusterRole>::all(client.clone())
            .list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.metadata)
            .collect(),
    );
    add(
        "Role",
        Api::<Role>::all(client.clone())
            .list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.metadata)
            .collect(),
    );
    add(
        "ClusterRoleBinding",
        Api::<ClusterRoleBinding>::all(client.clone())
            .list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.metadata)
            .collect(),
    );
    add(
        "RoleBinding",
        Api::<RoleBinding>::all(client.clone())
            .list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.metadata)
            .collect(),
    );
    out
}

#[allow(clippy::too_many_arguments)]
fn sar_resource(
    user: &str,
    groups: &[&str],
    verb: &str,
    group: &str,
    resource: &str,
    sub: &str,
    namespace: &str,
    name: &str,
) -> SubjectAccessReviewSpec {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    SubjectAccessReviewSpec {
        user: Some(user.to_string()),
        groups: Some(groups.iter().map(|g| g.to_string()).collect()),
        resource_attributes: Some(SarResource {
            verb: Some(verb.to_string()),
            group: Some(group.to_string()),
            resource: Some(resource.to_string()),
            subresource: opt(sub),
            namespace: opt(namespace),
            name: opt(name),
            version: Some("v1".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Asks the API server (as the admin) whether `spec` is allowed.
async fn review(client: &Client, spec: SubjectAccessReviewSpec) -> bool {
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let review = SubjectAccessReview {
        spec,
        ..Default::default()
    };
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .unwrap_or_else(|e| panic!("SubjectAccessReview: {e}"));
    answer.status.is_some_and(|s| s.allowed)
}

/// The engine's request for a SubjectAccessReview spec.
fn engine_request(spec: &SubjectAccessReviewSpec) -> Request {
    let user = spec.user.clone().unwrap_or_default();
    let groups = spec.groups.clone().unwrap_or_default();
    if let Some(n) = &spec.non_resource_attributes {
        return Request::non_resource(
            user,
            n.verb.clone().unwrap_or_default(),
            n.path.clone().unwrap_or_default(),
        )
        .with_groups(groups);
    }
    let r = spec.resource_attributes.clone().unwrap_or_default();
    Request::resource(
        user,
        ResourceAttributes {
            verb: r.verb.unwrap_or_default(),
            group: r.group.unwrap_or_default(),
            resource: r.resource.unwrap_or_default(),
            subresource: r.subresource.unwrap_or_default(),
            namespace: r.namespace.unwrap_or_default(),
            name: r.name.unwrap_or_default(),
            ..Default::default()
        },
    )
    .with_groups(groups)
}

/// Every request of the universe, asked of the API server and of the engine: they must agree.
/// Returns (asked, allowed).
async fn compare_with_the_engine(client: &Client, objects: &PolicyObjects) -> (usize, usize) {
    let engine = Policy::compile(
        objects,
        &PolicyOptions {
            cluster_name: "default".to_string(),
        },
    );
    let people: &[(&str, &[&str])] = &[
        ("pat", &["platform-admins"]),
        ("carl", &[]),
        ("frank", &[]),
        ("carol", &[]),
        ("dave", &[]),
        ("vic", &["team-a-viewers"]),
        ("tina", &["team-b-viewers"]),
        ("bob", &["team-a-devs"]),
        ("olga", &[]),
        ("erin", &[]),
        ("mallory", &["outsiders"]),
    ];
    let verbs = ["get", "list", "create", "delete"];
    let namespaced: &[(&str, &str, &str)] = &[
        ("", "pods", ""),
        ("", "pods", "log"),
        ("", "pods", "exec"),
        ("apps", "deployments", ""),
        ("", "secrets", ""),
        ("", "resourcequotas", ""),
        ("rbac.authorization.k8s.io", "rolebindings", ""),
    ];
    let namespaces = ["team-a-dev", "team-a-prod", "team-b-dev", "monitoring"];
    let names = ["", "ide-erin", "web-0"];
    let cluster_scoped: &[(&str, &str, &str, &[&str])] = &[
        ("", "nodes", "", &["", "gpu-node-1", "cpu-node-1"]),
        ("", "nodes", "status", &["gpu-node-2", "cpu-node-1"]),
        (
            "scope.theriseunion.io",
            "workspaces",
            "",
            &["", "team-a", "team-b"],
        ),
        ("scope.theriseunion.io", "nodegroups", "", &["gpu"]),
        (
            "scope.theriseunion.io",
            "clusters",
            "",
            &["", "default", "edge-1"],
        ),
        ("storage.k8s.io", "storageclasses", "", &["", "fast"]),
    ];
    let mut specs = Vec::new();
    for (user, groups) in people {
        for verb in verbs {
            for (group, resource, sub) in namespaced {
                specs.push(sar_resource(
                    user, groups, verb, group, resource, sub, "", "",
                ));
                for ns in namespaces {
                    for name in names {
                        specs.push(sar_resource(
                            user, groups, verb, group, resource, sub, ns, name,
                        ));
                    }
                }
            }
            for (group, resource, sub, names) in cluster_scoped {
                for name in *names {
                    specs.push(sar_resource(
                        user, groups, verb, group, resource, sub, "", name,
                    ));
                }
            }
            for ns in ["team-a-dev", "team-b-dev"] {
                specs.push(sar_resource(
                    user,
                    groups,
                    verb,
                    "",
                    "namespaces",
                    "",
                    ns,
                    ns,
                ));
            }
        }
        for path in ["/metrics", "/healthz"] {
            specs.push(SubjectAccessReviewSpec {
                user: Some(user.to_string()),
                groups: Some(groups.iter().map(|g| g.to_string()).collect()),
                non_resource_attributes: Some(NonResourceAttributes {
                    verb: Some("get".into()),
                    path: Some(path.into()),
                }),
                ..Default::default()
            });
        }
    }
    let asked = specs.len();
    let answers: Vec<(SubjectAccessReviewSpec, bool)> = futures::stream::iter(specs)
        .map(|spec| async move {
            let allowed = review(client, spec.clone()).await;
            (spec, allowed)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut allowed = 0;
    let mut disagreements = Vec::new();
    for (spec, natively) in answers {
        let request = engine_request(&spec);
        let by_engine = engine.decide(&request).is_allowed();
        allowed += usize::from(natively);
        if by_engine != natively {
            disagreements.push(format!(
                "{}: engine {by_engine}, API server {natively}",
                serde_json::to_string(&spec).unwrap_or_default()
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {asked} disagree:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
    (asked, allowed)
}
