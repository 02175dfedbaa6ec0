//! The watch-fed webhook (`scopegate serve --kubeconfig`) against a REAL kube-apiserver (the
//! patched v1.20 build of .ci/kube-apiserver, which can store custom resources):
//!
//! 1. the CRDs and every object of examples/policies are applied to the API server;
//! 2. a watch-fed webhook becomes ready once every kind is listed, and decides exactly as a
//!    file-fed webhook on examples/policies does, over the example reviews and a grid of
//!    reviews over the demo personas (the API server's own bootstrap RBAC is in the watch-fed
//!    policy too; none of these reviews reaches it);
//! 3. creates, updates and deletes in the API server show in its answers within a bounded
//!    time (polled): a binding deleted and created again, a namespace moved into another
//!    workspace, a role template changed;
//! 4. three bindings with errors, in the cluster and in files, grant nothing there and change
//!    no other answer: `check`, `serve --policy` and `serve --kubeconfig` answer alike;
//! 5. a webhook watching the cluster with a policy file beside it serves both; a binding in
//!    the file that names a role that does not exist grants nothing, and the rest serves;
//! 6. with the API server stopped, it keeps deciding on what it holds and `/readyz` says the
//!    source is unhealthy; a webhook started then serves its last-known-good snapshot.
//!
//! One API server for the whole file. `SCOPEGATE_KAPI=0` skips it (it passes, saying so).

mod support;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use reqwest::blocking::Client as Http;
use scopegate_core::model::{IamRoleBinding, RoleTemplate};
use scopegate_testkit::{KubeApiServer, kube_apiserver_disabled, step};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;
use std::time::{Duration, Instant};
use support::{ScratchDir, Server, demo_policies, eventually, repo_root};

/// How long a change in the API server may take to show in the webhook's answers.
const FOLLOW: Duration = Duration::from_secs(10);

/// The field manager the test applies with.
const MANAGER: &str = "scopegate-test";

/// Server-side applies `object` through `api` as the test's field manager.
async fn apply<K>(api: &Api<K>, object: &K)
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    scopegate_testkit::apply(api, object, MANAGER).await;
}

async fn apply_all<K>(client: &Client, objects: &[K])
where
    K: Resource<DynamicType = (), Scope = ClusterResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    for object in objects {
        apply(&Api::all(client.clone()), object).await;
    }
}

async fn apply_all_namespaced<K>(client: &Client, objects: &[K])
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    for object in objects {
        let namespace = object.namespace().unwrap_or_default();
        apply(&Api::namespaced(client.clone(), &namespace), object).await;
    }
}

/// The CRDs (without CEL rules, which v1.20 refuses), applied and Established.
async fn install_crds(client: &Client) {
    let crds: Vec<_> = scopegate_kube::crd::all()
        .into_iter()
        .map(scopegate_kube::crd::without_cel_rules)
        .collect();
    scopegate_testkit::install_crds(client, &crds, MANAGER).await;
}

/// Every object of examples/policies, into the API server.
async fn apply_examples(client: &Client) -> usize {
    let objects = scopegate_core::load::load_paths(&[demo_policies()])
        .expect("the examples load")
        .objects;
    apply_all(client, &objects.namespaces).await;
    apply_all(client, &objects.nodes).await;
    apply_all(client, &objects.clusters).await;
    apply_all(client, &objects.workspaces).await;
    apply_all(client, &objects.node_groups).await;
    apply_all(client, &objects.role_templates).await;
    apply_all(client, &objects.iam_roles).await;
    apply_all(client, &objects.iam_role_bindings).await;
    apply_all_namespaced(client, &objects.roles).await;
    apply_all(client, &objects.cluster_roles).await;
    apply_all_namespaced(client, &objects.role_bindings).await;
    apply_all(client, &objects.cluster_role_bindings).await;
    objects.len()
}

/// A policy file for the webhook that also watches the cluster: it names an IAMRole and a
/// Workspace that exist only in the cluster.
const ZOE_BINDING: &str = "\
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: zoe-team-a-viewer}
spec:
  subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: zoe}]
  roleRef: {apiGroup: iam.theriseunion.io, kind: IAMRole, name: workspace-viewer}
  scope: {kind: Workspace, name: team-a}
";

/// A kubeconfig for the admin with everything embedded (server, CA, token).
fn write_kubeconfig(path: &std::path::Path, kapi: &KubeApiServer) {
    use base64::Engine as _;
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "test", "cluster": {
            "server": kapi.url,
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&kapi.ca_pem),
        }}],
        "users": [{"name": "admin", "user": {"token": kapi.token}}],
        "contexts": [{"name": "admin", "context": {"cluster": "test", "user": "admin"}}],
        "current-context": "admin",
    });
    std::fs::write(path, serde_json::to_vec(&kubeconfig).expect("JSON"))
        .expect("write the kubeconfig");
}

/// A v1 SubjectAccessReview for a resource request.
fn resource_review(
    user: &str,
    groups: &[&str],
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Value {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user, "groups": groups,
            "resourceAttributes": {"verb": verb, "group": group, "version": "v1",
                "resource": resource, "subresource": subresource,
                "namespace": namespace, "name": name},
        },
    })
}

/// The demo personas (examples/policies, README) and a grid of requests for each, plus the
/// example reviews.
fn reviews() -> Vec<Value> {
    let personas: [(&str, &[&str]); 11] = [
        ("bob", &["team-a-devs"]),
        ("carol", &[]),
        ("dave", &[]),
        ("carl", &[]),
        ("frank", &[]),
        ("olga", &[]),
        ("erin", &[]),
        ("vic", &["team-a-viewers"]),
        ("pat", &["platform-admins"]),
        ("sam", &["sre"]),
        ("system:serviceaccount:team-b-dev:ci-bot", &[]),
    ];
    let mut out = Vec::new();
    for (user, groups) in personas {
        for verb in ["get", "list", "delete", "create"] {
            for (group, resource) in [("", "pods"), ("", "pods/log"), ("apps", "deployments")] {
                for namespace in ["team-a-dev", "team-a-prod", "team-b-dev", "monitoring"] {
                    for name in ["", "api-0", "ide-erin"] {
                        out.push(resource_review(
                            user, groups, verb, group, resource, namespace, name,
                        ));
                    }
                }
            }
            for node in ["gpu-node-1", "cpu-node-1", ""] {
                out.push(resource_review(user, groups, verb, "", "nodes", "", node));
            }
            for (resource, name) in [("workspaces", "team-a"), ("clusters", "edge-1")] {
                out.push(resource_review(
                    user,
                    groups,
                    verb,
                    "scope.theriseunion.io",
                    resource,
                    "",
                    name,
                ));
            }
        }
        out.push(json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups,
                     "nonResourceAttributes": {"verb": "get", "path": "/metrics"}},
        }));
    }
    for entry in std::fs::read_dir(repo_root().join("examples/reviews")).expect("examples/reviews")
    {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("a review");
        out.push(serde_json::from_str(&text).expect("a JSON review"));
    }
    out
}

/// The three bindings of `tests/fixtures/three-mistakes.yaml` (a dangling roleRef, a
/// scope-kind mismatch, an undeclared Workspace) beside the demo, everywhere at once: applied
/// to the API server and watched, in a directory served by a file-fed webhook, and in the same
/// directory read by `scopegate check`. All four answer as `check` does on the directory
/// without the three bindings.
fn three_mistakes_answer_alike(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    http: &Http,
    watched: &Server,
    scratch: &ScratchDir,
) {
    let mistakes = scopegate_core::load::load_paths(&[support::three_mistakes()])
        .expect("the fixture reads")
        .objects;
    runtime.block_on(async {
        apply_all(client, &mistakes.namespaces).await;
        apply_all(client, &mistakes.iam_role_bindings).await;
    });
    let with = scratch.path("with-mistakes");
    let without = scratch.path("without-mistakes");
    for dir in [&with, &without] {
        std::fs::create_dir_all(dir).expect("a policy directory");
        for entry in std::fs::read_dir(demo_policies()).expect("the demo") {
            let path = entry.expect("an entry").path();
            std::fs::copy(&path, dir.join(path.file_name().expect("a name"))).expect("copy");
        }
    }
    std::fs::copy(support::three_mistakes(), with.join("90-mistakes.yaml")).expect("copy");
    std::fs::write(
        without.join("90-mistakes.yaml"),
        support::three_mistakes_removed(),
    )
    .expect("write");
    let files = Server::start(&["--policy", &with.display().to_string(), "--insecure-http"]);
    let mut reviews = reviews();
    reviews.extend(support::three_mistakes_probes());
    let check = |dir: &std::path::Path| -> Vec<(bool, String)> {
        let input: String = reviews.iter().map(|r| format!("{r}\n")).collect();
        let mut child = std::process::Command::new(support::scopegate_bin())
            .args([
                "check",
                "--policy",
                &dir.display().to_string(),
                "--cluster-name",
                "default",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run scopegate check");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(input.as_bytes());
        });
        let output = child.wait_with_output().expect("check ran");
        writer.join().expect("stdin written");
        assert_eq!(output.status.code(), Some(0), "check answers every line");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                let answer: Value = serde_json::from_str(line).expect("a JSON answer");
                let status = &answer["status"];
                (
                    status["allowed"].as_bool().unwrap_or(false),
                    status["reason"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let expected = check(&without);
    assert_eq!(expected.len(), reviews.len());
    assert_eq!(check(&with), expected, "check with the mistakes");
    let probes = support::three_mistakes_probes();
    let probe_answers = &expected[expected.len() - probes.len()..];
    assert!(probe_answers[..4].iter().all(|(allowed, _)| !allowed));
    assert!(probe_answers[4..].iter().all(|(allowed, _)| *allowed));
    for (review, want) in reviews.iter().zip(&expected) {
        assert_eq!(
            &decide(http, &files, review),
            want,
            "serve --policy, for {review}"
        );
    }
    // The watch delivers the new objects shortly: wait for the namespace's bindings to show.
    let last = reviews.last().expect("reviews");
    assert!(eventually(FOLLOW, || decide(http, watched, last)
        == expected[expected.len() - 1]));
    let watched_agrees = || {
        reviews
            .iter()
            .zip(&expected)
            .all(|(review, want)| &decide(http, watched, review) == want)
    };
    assert!(
        eventually(FOLLOW, watched_agrees),
        "serve --kubeconfig answers otherwise"
    );
    for (review, want) in reviews.iter().zip(&expected) {
        assert_eq!(
            &decide(http, watched, review),
            want,
            "serve --kubeconfig, for {review}"
        );
    }
    let (_, ready) = readyz(http, watched);
    let problems = ready["policyProblems"]["objects"].to_string();
    for name in ["mallory-ghost", "mallory-wrong-kind", "mallory-undeclared"] {
        assert!(problems.contains(name), "{name} not reported: {ready}");
    }
}

/// The webhook's answer: whether allowed, and why.
fn decide(http: &Http, server: &Server, review: &Value) -> (bool, String) {
    let answer: Value = http
        .post(server.url("/authorize"))
        .json(review)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("POST /authorize: {e}"));
    let status = &answer["status"];
    (
        status["allowed"].as_bool().unwrap_or(false),
        status["reason"].as_str().unwrap_or_default().to_string(),
    )
}

fn allowed(http: &Http, server: &Server, review: &Value) -> bool {
    decide(http, server, review).0
}

fn readyz(http: &Http, server: &Server) -> (u16, Value) {
    match http.get(server.url("/readyz")).send() {
        Ok(response) => {
            let code = response.status().as_u16();
            (code, response.json().unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn bob_reads_logs() -> Value {
    resource_review(
        "bob",
        &["team-a-devs"],
        "get",
        "",
        "pods/log",
        "team-a-dev",
        "api-0",
    )
}

#[test]
fn the_watch_fed_webhook_decides_like_files_and_follows_the_cluster() {
    if kube_apiserver_disabled("the watch-fed webhook test") {
        return;
    }
    let started = Instant::now();
    let scratch = ScratchDir::new("kube-watch");
    let snapshot = scratch.path("last-good.json");
    step("kube-apiserver: start", started);
    let kapi = KubeApiServer::start("kube-watch", &[]);
    // Self-contained (the CA embedded): it must outlive the API server's directory.
    let kubeconfig = scratch.path("admin.kubeconfig");
    write_kubeconfig(&kubeconfig, &kapi);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let client = runtime.block_on(kapi.client());

    step(
        "watch-fed webhook (--kubeconfig) before the CRDs exist: not ready, no opinion",
        started,
    );
    let kubeconfig_arg = kubeconfig.display().to_string();
    let snapshot_arg = snapshot.display().to_string();
    let watched = Server::start(&[
        "--kubeconfig",
        &kubeconfig_arg,
        "--snapshot-file",
        &snapshot_arg,
        "--insecure-http",
    ]);
    let http = Http::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    assert!(
        eventually(Duration::from_secs(10), || {
            let (code, body) = readyz(&http, &watched);
            code == 503
                && body["source"]["cluster"]["notSynced"]
                    .as_array()
                    .is_some_and(|kinds| kinds.contains(&json!("IAMRoleBinding")))
        }),
        "before the CRDs exist /readyz must be 503 naming the kinds not synced: {:?}",
        readyz(&http, &watched)
    );
    assert!(
        !allowed(&http, &watched, &bob_reads_logs()),
        "nothing may be allowed before the watches have synced"
    );

    step("CRDs and examples/policies into the API server", started);
    let applied = runtime.block_on(async {
        install_crds(&client).await;
        apply_examples(&client).await
    });
    eprintln!("    {applied} objects applied");

    step("file-fed webhook (--policy) beside it", started);
    let demo = demo_policies().display().to_string();
    let files = Server::start(&["--policy", &demo, "--insecure-http"]);
    assert!(
        eventually(Duration::from_secs(30), || readyz(&http, &watched).0 == 200),
        "the watch-fed webhook never became ready: {:?}\n{}",
        readyz(&http, &watched),
        watched.logs()
    );
    let (_, ready) = readyz(&http, &watched);
    assert_eq!(ready["servingFrom"], "cluster", "{ready}");
    assert_eq!(ready["source"]["cluster"]["synced"], true, "{ready}");
    assert_eq!(ready["source"]["cluster"]["healthy"], true, "{ready}");

    step("the same answers as the file-fed webhook", started);
    let reviews = reviews();
    let mut allows = 0;
    for review in &reviews {
        let from_cluster = decide(&http, &watched, review);
        let from_files = decide(&http, &files, review);
        assert_eq!(from_cluster, from_files, "for {review}");
        allows += usize::from(from_cluster.0);
    }
    eprintln!(
        "    {} reviews, {allows} allowed, answered alike",
        reviews.len()
    );
    assert!(allows > 50, "the grid exercises allows too");

    step(
        "three bindings with errors: check, serve --policy and serve --kubeconfig answer alike, as without them",
        started,
    );
    three_mistakes_answer_alike(&runtime, &client, &http, &watched, &scratch);

    step(
        "a deleted binding stops allowing; created again, it allows",
        started,
    );
    let bindings: Api<IamRoleBinding> = Api::all(client.clone());
    let developers = runtime
        .block_on(bindings.get("team-a-dev-developers"))
        .expect("the binding is in the API server");
    assert!(allowed(&http, &watched, &bob_reads_logs()));
    runtime
        .block_on(bindings.delete("team-a-dev-developers", &DeleteParams::default()))
        .expect("delete the binding");
    assert!(
        eventually(FOLLOW, || !allowed(&http, &watched, &bob_reads_logs())),
        "the deleted binding still allows"
    );
    let mut again = developers.clone();
    again.metadata.resource_version = None;
    again.metadata.uid = None;
    again.metadata.managed_fields = None;
    again.metadata.creation_timestamp = None;
    runtime
        .block_on(bindings.create(&PostParams::default(), &again))
        .expect("create the binding again");
    assert!(
        eventually(FOLLOW, || allowed(&http, &watched, &bob_reads_logs())),
        "the created binding does not allow"
    );

    step("a namespace moved into another workspace", started);
    let carol_deletes = resource_review("carol", &[], "delete", "", "pods", "team-a-dev", "api-0");
    let dave_deletes = resource_review("dave", &[], "delete", "", "pods", "team-a-dev", "api-0");
    assert!(allowed(&http, &watched, &carol_deletes));
    assert!(!allowed(&http, &watched, &dave_deletes));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    runtime
        .block_on(namespaces.patch(
            "team-a-dev",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"scope.theriseunion.io/workspace": "team-b"}}}),
            ),
        ))
        .expect("relabel the namespace");
    assert!(
        eventually(FOLLOW, || allowed(&http, &watched, &dave_deletes)
            && !allowed(&http, &watched, &carol_deletes)),
        "the namespace's workspace did not follow its label"
    );

    step("a role template changed", started);
    let bob_gets_pod = resource_review(
        "bob",
        &["team-a-devs"],
        "get",
        "",
        "pods",
        "team-a-dev",
        "api-0",
    );
    assert!(allowed(&http, &watched, &bob_gets_pod));
    let templates: Api<RoleTemplate> = Api::all(client.clone());
    runtime
        .block_on(templates.patch(
            "app-developer",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            ]}})),
        ))
        .expect("change the template");
    assert!(
        eventually(FOLLOW, || !allowed(&http, &watched, &bob_reads_logs())),
        "the template's removed rule still allows"
    );
    assert!(allowed(&http, &watched, &bob_gets_pod));
    assert!(
        eventually(Duration::from_secs(15), || snapshot.is_file()),
        "no last-known-good snapshot written"
    );
    // The snapshot is written at most every few seconds: give the last change time to land.
    let snapshot_has_the_template_change = || {
        std::fs::read_to_string(&snapshot).is_ok_and(|text| {
            serde_json::from_str::<Value>(&text).is_ok_and(|list| {
                list["items"].as_array().into_iter().flatten().any(|item| {
                    item["kind"] == "RoleTemplate"
                        && item["metadata"]["name"] == "app-developer"
                        && item["spec"]["rules"]
                            .as_array()
                            .is_some_and(|r| r.len() == 1)
                })
            })
        })
    };
    assert!(
        eventually(Duration::from_secs(15), snapshot_has_the_template_change),
        "the snapshot does not follow the changes"
    );

    step(
        "files beside the cluster: served together, a binding with an error grants nothing",
        started,
    );
    let extra = scratch.path("extra.yaml");
    std::fs::write(&extra, ZOE_BINDING).expect("write the extra policy file");
    let extra_arg = extra.display().to_string();
    let combined = Server::start(&[
        "--kubeconfig",
        &kubeconfig_arg,
        "--policy",
        &extra_arg,
        "--insecure-http",
    ]);
    assert!(
        eventually(Duration::from_secs(30), || readyz(&http, &combined).0
            == 200),
        "the combined webhook never became ready: {:?}\n{}",
        readyz(&http, &combined),
        combined.logs()
    );
    assert_eq!(readyz(&http, &combined).1["servingFrom"], "filesAndCluster");
    let zoe_lists = resource_review("zoe", &[], "list", "", "pods", "team-a-prod", "");
    assert!(
        allowed(&http, &combined, &zoe_lists),
        "a file binding to a role and workspace that exist only in the cluster"
    );
    assert!(!allowed(&http, &watched, &zoe_lists));
    assert!(
        allowed(&http, &combined, &dave_deletes),
        "and the cluster's own"
    );
    std::fs::write(
        &extra,
        ZOE_BINDING.replace("name: workspace-viewer", "name: no-such-role"),
    )
    .expect("break the extra policy file");
    assert!(
        eventually(Duration::from_secs(10), || {
            readyz(&http, &combined).1["policyProblems"]["objects"]
                .to_string()
                .contains("zoe-team-a-viewer")
        }),
        "the binding's error is not reported: {:?}",
        readyz(&http, &combined)
    );
    assert!(
        !allowed(&http, &combined, &zoe_lists),
        "a binding to a role that does not exist grants nothing"
    );
    assert!(
        allowed(&http, &combined, &dave_deletes),
        "and the rest keeps serving"
    );
    drop(combined);

    step(
        "the API server stops: the webhook keeps deciding, and says so",
        started,
    );
    drop(client);
    drop(runtime);
    drop(kapi);
    assert!(allowed(&http, &watched, &bob_gets_pod));
    assert!(allowed(&http, &watched, &dave_deletes));
    assert!(
        eventually(Duration::from_secs(20), || {
            let (code, body) = readyz(&http, &watched);
            code == 200 && body["source"]["cluster"]["healthy"] == false
        }),
        "/readyz does not report the lost API server: {:?}",
        readyz(&http, &watched)
    );
    let (_, body) = readyz(&http, &watched);
    eprintln!("    /readyz: {}", body["source"]["cluster"]);
    assert!(body["source"]["cluster"]["lastError"]["message"].is_string());
    let metrics = http
        .get(watched.url("/metrics"))
        .send()
        .and_then(|r| r.text())
        .expect("GET /metrics");
    for expected in [
        "scopegate_watch_healthy{kind=\"IAMRoleBinding\"} 0",
        "scopegate_watch_synced{kind=\"IAMRoleBinding\"} 1",
        "scopegate_watch_events_total{kind=\"IAMRoleBinding\",event=\"deleted\"} 1",
        "scopegate_store_update_duration_seconds_count",
    ] {
        assert!(metrics.contains(expected), "{expected} in\n{metrics}");
    }
    assert!(allowed(&http, &watched, &bob_gets_pod));

    step(
        "a webhook started without its API server serves the snapshot",
        started,
    );
    let restarted = Server::start(&[
        "--kubeconfig",
        &kubeconfig_arg,
        "--snapshot-file",
        &snapshot_arg,
        "--insecure-http",
    ]);
    assert!(
        eventually(Duration::from_secs(20), || readyz(&http, &restarted).0
            == 200),
        "not ready on the snapshot: {:?}\n{}",
        readyz(&http, &restarted),
        restarted.logs()
    );
    let (_, body) = readyz(&http, &restarted);
    assert_eq!(body["servingFrom"], "snapshot", "{body}");
    assert_eq!(body["source"]["cluster"]["synced"], false, "{body}");
    assert!(allowed(&http, &restarted, &dave_deletes));
    assert!(allowed(&http, &restarted, &bob_gets_pod));
    assert!(!allowed(&http, &restarted, &bob_reads_logs()));
    step("done", started);
}
