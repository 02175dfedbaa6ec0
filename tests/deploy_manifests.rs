//! The deployment in `deploy/` is real: what `kubectl kustomize deploy/` renders has the shape
//! a production install needs, a kube-apiserver (v1.20) accepts it, and Scopegate runs with
//! exactly the permissions it grants.
//!
//! 1. `the_rendered_deployment_has_the_shape_a_production_install_needs`: the rendered objects
//!    (Namespace, ServiceAccount, ClusterRole/Binding, Role/Binding for the Lease, a Deployment
//!    of 2 non-root replicas with a read-only root filesystem and probes on the ops port,
//!    Service, PodDisruptionBudget, NetworkPolicy, and the 6 CRDs exactly as deploy/crds), and
//!    every flag the Deployment passes is one `scopegate serve` takes.
//! 2. `the_deployment_runs_with_exactly_the_permissions_it_grants`, against a REAL
//!    kube-apiserver: the rendered objects apply as rendered (but for the PDB and the CRDs'
//!    CEL rules, which v1.20 predates); `scopegate serve`, run with the Deployment's own
//!    arguments as the Deployment's service account, becomes ready, materialises IAMRoles and
//!    IAMRoleBindings, labels nodes, holds the Lease, publishes Events and answers a
//!    SubjectAccessReview — without one `forbidden` in its log; and the API server refuses that
//!    service account what it does not need (secrets, pods, leases elsewhere, ...).
//!
//! Needs kubectl (for kustomize): CI installs Debian's `kubernetes-client` when it is missing.
//! `SCOPEGATE_KAPI=0` skips the second test (it passes, saying so).

mod support;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use scopegate_core::model::{IamRole, IamRoleBinding, NODEGROUP_LABEL};
use scopegate_testkit::{KubeApiServer, TestUser, kube_apiserver_disabled, step};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{
    ScratchDir, Server, demo_policies, eventually, https_client, repo_root, scopegate_bin,
};

/// The namespace deploy/ installs into.
const NAMESPACE: &str = "scopegate-system";
/// The service account Scopegate runs as, as the API server names it.
const SERVICE_ACCOUNT: &str = "system:serviceaccount:scopegate-system:scopegate";
/// The groups the API server gives that service account's token.
const SERVICE_ACCOUNT_GROUPS: [&str; 3] = [
    "system:serviceaccounts",
    "system:serviceaccounts:scopegate-system",
    "system:authenticated",
];
/// How long the webhook may take to sync, and the controllers to converge.
const WAIT: Duration = Duration::from_secs(60);

/// Runs kubectl with `args`, failing the test with its output (or with how to install it).
fn kubectl(args: &[&str]) -> String {
    let output = Command::new("kubectl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run kubectl ({e}): install it (Debian: `apt-get install kubernetes-client`; \
                 .ci/run does this when `kubectl` is missing)"
            )
        });
    assert!(
        output.status.success(),
        "kubectl {}: {}\n{}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kubectl writes UTF-8")
}

/// The documents of a multi-document YAML stream, as JSON values (empty documents left out).
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// `kubectl kustomize deploy/`, one value per object.
fn rendered() -> Vec<Value> {
    let deploy = repo_root().join("deploy");
    documents(&kubectl(&["kustomize", &deploy.display().to_string()]))
}

/// The one rendered object of `kind` named `name`.
fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name} in the rendering");
    found[0]
}

/// The Deployment's one container.
fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// The container's arguments, as strings.
fn container_args(deployment: &Value) -> Vec<String> {
    container(deployment)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("a string argument").to_string())
        .collect()
}

/// The value of `--flag=VALUE` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("--{name}=")))
}

/// The rules of a (Cluster)Role as (apiGroup, resource, verb) triples.
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    };
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out
}

fn grant(group: &str, resource: &str, verb: &str) -> (String, String, String) {
    (group.to_string(), resource.to_string(), verb.to_string())
}

#[test]
fn the_rendered_deployment_has_the_shape_a_production_install_needs() {
    let objects = rendered();
    let kinds: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut counted: Vec<(String, usize)> = Vec::new();
    for kind in &kinds {
        match counted.iter_mut().find(|(k, _)| k == kind) {
            Some((_, n)) => *n += 1,
            None => counted.push((kind.clone(), 1)),
        }
    }
    counted.sort();
    let expected: Vec<(String, usize)> = [
        ("ClusterRole", 1),
        ("ClusterRoleBinding", 1),
        ("CustomResourceDefinition", 6),
        ("Deployment", 1),
        ("Namespace", 1),
        ("NetworkPolicy", 1),
        ("PodDisruptionBudget", 1),
        ("Role", 1),
        ("RoleBinding", 1),
        ("Service", 1),
        ("ServiceAccount", 1),
    ]
    .iter()
    .map(|(k, n)| (k.to_string(), *n))
    .collect();
    assert_eq!(counted, expected);

    // Every object is Scopegate's, and every namespaced one is in its namespace.
    for o in &objects {
        let what = format!("{} {}", o["kind"], o["metadata"]["name"]);
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/part-of"], "scopegate",
            "{what}"
        );
        let cluster_scoped = [
            "Namespace",
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
        ]
        .contains(&o["kind"].as_str().unwrap_or_default());
        if cluster_scoped {
            assert!(o["metadata"]["namespace"].is_null(), "{what}");
        } else {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{what}");
        }
    }
    let namespace = object(&objects, "Namespace", NAMESPACE);
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    object(&objects, "ServiceAccount", "scopegate");

    // RBAC: the ClusterRole bound to the service account, the Lease Role in its namespace.
    let subject = json!([{"kind": "ServiceAccount", "name": "scopegate", "namespace": NAMESPACE}]);
    let cluster_binding = object(&objects, "ClusterRoleBinding", "scopegate");
    assert_eq!(cluster_binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(cluster_binding["roleRef"]["name"], "scopegate");
    assert_eq!(cluster_binding["subjects"], subject);
    let lease_binding = object(&objects, "RoleBinding", "scopegate-leader-election");
    assert_eq!(lease_binding["roleRef"]["kind"], "Role");
    assert_eq!(
        lease_binding["roleRef"]["name"],
        "scopegate-leader-election"
    );
    assert_eq!(lease_binding["subjects"], subject);
    let lease_role = grants(object(&objects, "Role", "scopegate-leader-election"));
    assert_eq!(
        lease_role,
        ["get", "create", "update"]
            .iter()
            .map(|v| grant("coordination.k8s.io", "leases", v))
            .collect()
    );
    let cluster_role = grants(object(&objects, "ClusterRole", "scopegate"));
    for (group, resource, verb) in &cluster_role {
        assert!(
            !["*", "secrets", "pods", "leases", "serviceaccounts"].contains(&resource.as_str())
                && group != "*"
                && !["*", "impersonate", "deletecollection"].contains(&verb.as_str()),
            "the ClusterRole grants {verb} on {resource} in {group:?}"
        );
    }
    // Writing the materialised RBAC needs bind and escalate (see deploy/rbac.yaml).
    assert!(cluster_role.contains(&grant(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "escalate"
    )));
    assert!(cluster_role.contains(&grant("rbac.authorization.k8s.io", "clusterroles", "bind")));

    // The Deployment: 2 non-root replicas, read-only root filesystem, probes on the ops port.
    let deployment = object(&objects, "Deployment", "scopegate");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "scopegate");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    // The namespace enforces the `restricted` Pod Security Standard.
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(
        pod["securityContext"]["runAsUser"]
            .as_u64()
            .is_some_and(|u| u > 0)
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(
        &deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        &labels["app.kubernetes.io/name"]
    );
    let main = container(deployment);
    assert_eq!(main["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(main["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        main["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    let port = |name: &str| {
        main["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("a container port named {name}"))["containerPort"]
            .as_u64()
            .expect("a port number")
    };
    let args = container_args(deployment);
    assert_eq!(args[0], "serve");
    for wanted in ["--watch-cluster", "--controllers"] {
        assert!(args.iter().any(|a| a == wanted), "{wanted} in {args:?}");
    }
    let listen_port = |name: &str| {
        let addr = flag(&args, name).unwrap_or_else(|| panic!("--{name} in {args:?}"));
        addr.rsplit(':').next().and_then(|p| p.parse::<u64>().ok())
    };
    assert_eq!(listen_port("listen"), Some(port("webhook")));
    assert_eq!(listen_port("ops-listen"), Some(port("ops")));
    assert!(
        flag(&args, "client-ca").is_some(),
        "the webhook port demands a client certificate"
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(main[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(main[probe]["httpGet"]["port"], "ops", "{probe}");
        assert!(
            main[probe]["httpGet"]["scheme"].is_null()
                || main[probe]["httpGet"]["scheme"] == "HTTP"
        );
    }
    // Every file the arguments name is on a mounted volume; only the state volume is writable.
    let mounts: Vec<(&str, bool)> = main["volumeMounts"]
        .as_array()
        .expect("volume mounts")
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().expect("a mount path"),
                m["readOnly"] == true,
            )
        })
        .collect();
    for name in ["tls-cert", "tls-key", "client-ca", "snapshot-file"] {
        let file = flag(&args, name).unwrap_or_else(|| panic!("--{name} in {args:?}"));
        let (_, read_only) = mounts
            .iter()
            .find(|(dir, _)| Path::new(file).starts_with(dir))
            .unwrap_or_else(|| panic!("--{name}={file} is on no volume mount: {mounts:?}"));
        assert_eq!(*read_only, name != "snapshot-file", "--{name}={file}");
    }
    let env: Vec<&str> = main["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for name in ["POD_NAME", "POD_NAMESPACE"] {
        assert!(env.contains(&name), "{name} in {env:?}");
    }
    // Every flag is one `scopegate serve` takes.
    let help = Command::new(scopegate_bin())
        .args(["serve", "--help"])
        .output()
        .expect("run scopegate serve --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for arg in &args[1..] {
        let name = arg.split('=').next().unwrap_or_default();
        assert!(
            help.contains(&format!("{name} ")) || help.contains(&format!("{name}\n")),
            "`scopegate serve` takes no {name}"
        );
    }

    // The Service and the PodDisruptionBudget select the pods; the NetworkPolicy lets the
    // webhook port in.
    let service = object(&objects, "Service", "scopegate");
    assert_eq!(
        service["spec"]["selector"]["app.kubernetes.io/name"],
        labels["app.kubernetes.io/name"]
    );
    let service_ports: Vec<(&str, u64)> = service["spec"]["ports"]
        .as_array()
        .expect("service ports")
        .iter()
        .map(|p| {
            (
                p["targetPort"].as_str().unwrap_or_default(),
                p["port"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        service_ports,
        [("webhook", port("webhook")), ("ops", port("ops"))]
    );
    let pdb = object(&objects, "PodDisruptionBudget", "scopegate");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        labels["app.kubernetes.io/name"]
    );
    let policy = object(&objects, "NetworkPolicy", "scopegate");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        labels["app.kubernetes.io/name"]
    );
    let ingress_ports: BTreeSet<u64> = policy["spec"]["ingress"]
        .as_array()
        .expect("ingress rules")
        .iter()
        .flat_map(|rule| rule["ports"].as_array().into_iter().flatten())
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert_eq!(ingress_ports, [port("webhook"), port("ops")].into());

    // The CRDs: exactly the committed files, as `scopegate crd` wrote them.
    let crd_dir = repo_root().join("deploy/crds");
    let mut committed: Vec<Value> = std::fs::read_dir(&crd_dir)
        .expect("deploy/crds")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .flat_map(|p| documents(&std::fs::read_to_string(p).expect("a CRD file")))
        .collect();
    committed.sort_by_key(|c| c["metadata"]["name"].to_string());
    let mut crds: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .cloned()
        .collect();
    crds.sort_by_key(|c| c["metadata"]["name"].to_string());
    assert_eq!(crds.len(), 6);
    // kustomize writes the generator's `minimum: 0.0` as `0`: the same number to the API
    // server, so numbers are compared as numbers.
    let (crds, committed) = (
        numbers_as_f64(json!(crds)),
        numbers_as_f64(json!(committed)),
    );
    assert!(
        crds == committed,
        "the rendered CRDs differ from deploy/crds"
    );
}

/// `value` with every number as a float, so that `0` and `0.0` compare equal.
fn numbers_as_f64(value: Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Number(n), |f| json!(f)),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_f64).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, numbers_as_f64(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A SubjectAccessReview, asked as the admin, of whether the service account may `verb`
/// `resource` (in `group`, in `namespace` when not empty).
async fn service_account_may(
    client: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(SERVICE_ACCOUNT.to_string()),
            groups: Some(
                SERVICE_ACCOUNT_GROUPS
                    .iter()
                    .map(|g| g.to_string())
                    .collect(),
            ),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_string()),
                group: Some(group.to_string()),
                resource: Some(resource.to_string()),
                namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("a SubjectAccessReview");
    answer.status.is_some_and(|s| s.allowed)
}

/// The Deployment's arguments, made runnable here: files in `certs` and `scratch`, loopback
/// ports, and the service account's kubeconfig in place of the pod's in-cluster one.
/// Without `serve` (the test helper adds it) and `--listen` (it adds a free port).
fn local_args(
    deployment_args: &[String],
    certs: &Path,
    scratch: &Path,
    kubeconfig: &Path,
) -> Vec<String> {
    assert_eq!(deployment_args[0], "serve");
    let mut out = Vec::new();
    for arg in &deployment_args[1..] {
        let (name, _) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        let with = |value: &Path| format!("{name}={}", value.display());
        match name {
            "--watch-cluster" => out.push(format!("--kubeconfig={}", kubeconfig.display())),
            "--listen" => {}
            "--ops-listen" => out.push("--ops-listen=127.0.0.1:0".to_string()),
            "--tls-cert" => out.push(with(&certs.join("server.crt"))),
            "--tls-key" => out.push(with(&certs.join("server.key"))),
            "--client-ca" => out.push(with(&certs.join("ca.crt"))),
            "--snapshot-file" => out.push(with(&scratch.join("last-good.json"))),
            _ if arg.contains('/') => {
                panic!("{arg}: a path this test does not know how to replace")
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

#[test]
fn the_deployment_runs_with_exactly_the_permissions_it_grants() {
    if kube_apiserver_disabled("the deployment manifests test") {
        return;
    }
    let started = Instant::now();
    let objects = rendered();
    let scratch = ScratchDir::new("deploy");
    step(
        "kube-apiserver: start, with the service account's token",
        started,
    );
    let kapi = KubeApiServer::start_with_users(
        "deploy",
        &[],
        &[TestUser {
            name: SERVICE_ACCOUNT.to_string(),
            groups: SERVICE_ACCOUNT_GROUPS
                .iter()
                .map(|g| g.to_string())
                .collect(),
        }],
    );
    let admin = kapi.admin_kubeconfig().display().to_string();
    let as_admin = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", admin.as_str()];
        all.extend_from_slice(args);
        kubectl(&all)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let client = runtime.block_on(kapi.client());

    step("the CRDs, without CEL rules (v1.20 refuses them)", started);
    let crds = Command::new(scopegate_bin())
        .args(["crd", "--without-cel-rules"])
        .output()
        .expect("run scopegate crd");
    assert!(crds.status.success());
    let crd_file = scratch.path("crds.yaml");
    std::fs::write(&crd_file, &crds.stdout).unwrap();
    as_admin(&["apply", "-f", &crd_file.display().to_string()]);
    as_admin(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);

    step("the rest of deploy/, as rendered", started);
    // v1.20 has no policy/v1 (PodDisruptionBudget is there from v1.21): the PDB is the one
    // object left out. Its shape is checked by the test above.
    let rest: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] != "CustomResourceDefinition" && o["kind"] != "PodDisruptionBudget")
        .collect();
    let mut stream = String::new();
    for o in &rest {
        stream.push_str("---\n");
        stream.push_str(&serde_yaml::to_string(o).unwrap());
    }
    let rest_file = scratch.path("deploy.yaml");
    std::fs::write(&rest_file, stream).unwrap();
    as_admin(&["apply", "-f", &rest_file.display().to_string()]);
    for o in &rest {
        let kind = o["kind"].as_str().unwrap();
        let name = o["metadata"]["name"].as_str().unwrap();
        let mut args = vec!["get", kind, name, "-o", "name"];
        if let Some(ns) = o["metadata"]["namespace"].as_str() {
            args.extend(["-n", ns]);
        }
        as_admin(&args);
    }

    step(
        "scopegate serve: the Deployment's arguments, as its service account",
        started,
    );
    let certs = ScratchDir::new("deploy-certs");
    let certs_arg = certs.0.display().to_string();
    drop(Server::start(&["--self-signed", &certs_arg]));
    let deployment = object(&objects, "Deployment", "scopegate");
    let args = local_args(
        &container_args(deployment),
        &certs.0,
        &scratch.0,
        &kapi.kubeconfig_for_user(SERVICE_ACCOUNT),
    );
    eprintln!("    scopegate serve {}", args.join(" "));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pod_name = "scopegate-7d9f-test";
    let server = Server::start_with_env(
        &args,
        &[
            ("POD_NAME", pod_name),
            ("POD_NAMESPACE", NAMESPACE),
            ("RUST_LOG", "info"),
        ],
    );
    let plain = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let readyz = || -> Option<Value> {
        let response = plain.get(server.ops_url("/readyz")).send().ok()?;
        (response.status() == 200).then(|| response.json().ok())?
    };
    assert!(
        eventually(WAIT, || readyz().is_some()),
        "never ready (the watches need list and watch on every kind): {:?}\n{}",
        plain
            .get(server.ops_url("/readyz"))
            .send()
            .and_then(|r| r.text()),
        server.logs()
    );
    // Healthy, eventually: a watch of a CRD created a moment before may be told its
    // resourceVersion is already too old (410 Expired, kube-apiserver v1.20's watch cache
    // at start-up) and re-list, which is no permission problem. A missing permission
    // keeps the kind failing, and this times out with its error.
    let healthy = |ready: &Value| {
        ready["source"]["cluster"]["synced"] == true
            && ready["source"]["cluster"]["healthy"] == true
    };
    assert!(
        eventually(WAIT, || readyz().is_some_and(|ready| healthy(&ready))),
        "the watches never became healthy: {:?}\n{}",
        readyz(),
        server.logs()
    );

    step("the Lease in scopegate-system, held by this pod", started);
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let holder = |lease: Lease| lease.spec?.holder_identity;
    assert!(
        eventually(WAIT, || {
            runtime
                .block_on(leases.get_opt("scopegate-controller"))
                .ok()
                .flatten()
                .and_then(holder)
                .as_deref()
                == Some(pod_name)
        }),
        "the Lease is not held by {pod_name}:\n{}",
        server.logs()
    );

    step(
        "examples/policies, as the admin; and a node to label and one to unlabel",
        started,
    );
    as_admin(&["apply", "-f", &demo_policies().display().to_string()]);
    let extra_nodes = scratch.path("nodes.yaml");
    std::fs::write(
        &extra_nodes,
        "apiVersion: v1\nkind: List\nitems:\n\
         - apiVersion: v1\n  kind: Node\n  metadata:\n    name: gpu-node-3\n    labels:\n      node.kubernetes.io/instance-type: g5.2xlarge\n\
         - apiVersion: v1\n  kind: Node\n  metadata:\n    name: cpu-node-2\n    labels:\n      node.kubernetes.io/instance-type: m6i.2xlarge\n      scope.theriseunion.io/nodegroup: gpu\n",
    )
    .unwrap();
    as_admin(&["apply", "-f", &extra_nodes.display().to_string()]);

    step("the controllers materialise, label and report", started);
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    assert!(
        eventually(WAIT, || runtime
            .block_on(cluster_roles.get_opt("scopegate:iamrole:namespace-developer"))
            .ok()
            .flatten()
            .is_some()),
        "no ClusterRole scopegate:iamrole:namespace-developer:\n{}",
        server.logs()
    );
    let role_bindings: Api<RoleBinding> = Api::namespaced(client.clone(), "team-a-dev");
    assert!(
        eventually(WAIT, || runtime
            .block_on(role_bindings.get_opt("scopegate:iamrolebinding:team-a-dev-developers"))
            .ok()
            .flatten()
            .is_some()),
        "no RoleBinding scopegate:iamrolebinding:team-a-dev-developers:\n{}",
        server.logs()
    );
    let nodes: Api<Node> = Api::all(client.clone());
    let node_group = |name: &str| {
        runtime
            .block_on(nodes.get(name))
            .ok()
            .and_then(|n| n.metadata.labels?.get(NODEGROUP_LABEL).cloned())
    };
    assert!(
        eventually(WAIT, || node_group("gpu-node-3").as_deref() == Some("gpu")
            && node_group("cpu-node-2").is_none()),
        "NodeGroup gpu did not relabel the nodes: gpu-node-3 {:?}, cpu-node-2 {:?}",
        node_group("gpu-node-3"),
        node_group("cpu-node-2")
    );
    let roles: Api<IamRole> = Api::all(client.clone());
    let role = runtime.block_on(roles.get("namespace-developer")).unwrap();
    let status = role.status.expect("the controllers wrote the status");
    assert_eq!(status.native_objects, Some(1));
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );

    step("a Warning Event for a binding to a missing role", started);
    let broken: IamRoleBinding = serde_json::from_value(json!({
        "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "IAMRoleBinding",
        "metadata": {"name": "to-a-missing-role"},
        "spec": {
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "nobody"}],
            "roleRef": {"kind": "IAMRole", "apiGroup": "iam.theriseunion.io", "name": "missing"},
            "scope": {"kind": "Namespace", "name": "team-a-dev"},
        },
    }))
    .unwrap();
    let bindings: Api<IamRoleBinding> = Api::all(client.clone());
    runtime
        .block_on(bindings.create(&PostParams::default(), &broken))
        .expect("create the broken binding");
    let events: Api<Event> = Api::all(client.clone());
    assert!(
        eventually(WAIT, || runtime
            .block_on(events.list(&ListParams::default()))
            .is_ok_and(|list| list.items.iter().any(|e| e
                .regarding
                .as_ref()
                .and_then(|r| r.name.as_deref())
                == Some("to-a-missing-role")))),
        "no Event about the broken binding:\n{}",
        server.logs()
    );

    step("a deleted binding's native objects are deleted", started);
    runtime
        .block_on(bindings.delete("team-a-dev-developers", &Default::default()))
        .expect("delete the binding");
    assert!(
        eventually(WAIT, || runtime
            .block_on(role_bindings.get_opt("scopegate:iamrolebinding:team-a-dev-developers"))
            .is_ok_and(|b| b.is_none())),
        "the RoleBinding of a deleted binding is still there:\n{}",
        server.logs()
    );

    step(
        "the webhook answers a SubjectAccessReview (mutual TLS)",
        started,
    );
    let https = https_client(
        &certs.path("ca.crt"),
        Some((&certs.path("client.crt"), &certs.path("client.key"))),
    );
    let carol_deletes = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "carol", "groups": ["system:authenticated"],
                 "resourceAttributes": {"verb": "delete", "version": "v1", "resource": "pods",
                                        "namespace": "team-a-prod", "name": "api-1"}}
    });
    let allowed = || {
        https
            .post(server.url("/authorize"))
            .json(&carol_deletes)
            .send()
            .and_then(|r| r.json::<Value>())
            .is_ok_and(|answer| answer["status"]["allowed"] == true)
    };
    assert!(
        eventually(WAIT, allowed),
        "carol (Workspace admin of team-a) is not allowed:\n{}",
        server.logs()
    );

    step(
        "and nothing more: what the service account may not do",
        started,
    );
    runtime.block_on(async {
        for (verb, group, resource, namespace) in [
            ("update", "coordination.k8s.io", "leases", NAMESPACE),
            ("patch", "", "nodes", ""),
            (
                "create",
                "rbac.authorization.k8s.io",
                "rolebindings",
                "team-a-dev",
            ),
        ] {
            assert!(
                service_account_may(&client, verb, group, resource, namespace).await,
                "the service account needs {verb} {resource} {namespace}"
            );
        }
        for (verb, group, resource, namespace) in [
            ("list", "", "secrets", ""),
            ("get", "", "secrets", NAMESPACE),
            ("create", "", "pods", "default"),
            ("create", "", "pods", NAMESPACE),
            ("update", "coordination.k8s.io", "leases", "kube-system"),
            ("create", "coordination.k8s.io", "leases", "default"),
            ("delete", "coordination.k8s.io", "leases", NAMESPACE),
            ("delete", "", "namespaces", ""),
            ("update", "", "nodes", ""),
            ("delete", "", "nodes", ""),
            ("create", "", "serviceaccounts", NAMESPACE),
            ("impersonate", "", "users", ""),
            ("update", "iam.theriseunion.io", "iamroles", ""),
            ("delete", "iam.theriseunion.io", "iamrolebindings", ""),
            ("create", "apps", "deployments", NAMESPACE),
            (
                "deletecollection",
                "rbac.authorization.k8s.io",
                "clusterroles",
                "",
            ),
        ] {
            assert!(
                !service_account_may(&client, verb, group, resource, namespace).await,
                "the service account may {verb} {resource} in {namespace:?}: more than it needs"
            );
        }
    });

    let logs = server.logs();
    let forbidden: Vec<&str> = logs
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("forbidden"))
        .collect();
    assert!(
        forbidden.is_empty(),
        "the service account was refused something:\n{}",
        forbidden.join("\n")
    );
}
