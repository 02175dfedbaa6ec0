//! Scopegate inside a REAL kube-apiserver (v1.20, built by .ci/kube-apiserver/build.sh), wired
//! as production wires it: `scopegate serve` over mutual TLS, `scopegate apiserver-config`
//! writing the webhook kubeconfig and the kube-apiserver flags, and requests made through the
//! API server as other users (impersonation), so the API server itself asks the webhook.
//!
//! One API server for the whole file: a single test walks through named steps. It needs
//! etcd and the kube-apiserver build (`build.sh`, about 5 minutes the first time; CI runs it
//! first). Set `SCOPEGATE_KAPI=0` to skip it (it then passes, saying so).
//!
//! What the status codes prove: `list` in a namespace answers 200 even when it is empty, and
//! `get` of an object that does not exist answers 404 only once authorization has passed
//! (403 otherwise), so no object needs to exist for an allow to show.

mod support;

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderValue};
use scopegate_testkit::{KubeApiServer, kube_apiserver_disabled, step};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{
    ScratchDir, Server, demo_policies, eventually, https_client, review_v1, scopegate_bin,
};

/// How long a policy edit, a stopped webhook or a new RBAC object may take to show through
/// the API server (its webhook caches live 1 s here).
const WAIT: Duration = Duration::from_secs(15);

/// A running etcd + kube-apiserver (stopped when dropped, also when a step panics), with an
/// HTTP client for the test's own admin requests.
struct KubeApiserver {
    server: KubeApiServer,
    url: String,
    admin: Client,
}

impl KubeApiserver {
    /// Starts the API server in `dir` with `flags`; the admin authenticates with the static
    /// token the test kit gives it.
    fn start(dir: &Path, flags: &[String]) -> KubeApiserver {
        let server = KubeApiServer::start_in(dir, flags, &[]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "Authorization",
            HeaderValue::from_str(&format!("Bearer {}", server.token)).unwrap(),
        );
        let admin = Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&server.ca_pem).unwrap())
            .default_headers(headers)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        KubeApiserver {
            url: server.url.clone(),
            server,
            admin,
        }
    }

    /// The last lines of kube-apiserver's log, for failure messages.
    fn log_tail(&self, lines: usize) -> String {
        self.server.log_tail(lines)
    }

    /// A request as the admin (system:masters): the status code and the body.
    fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, String) {
        let mut request = self.admin.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap_or_else(|e| panic!("{path}: {e}"));
        (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        )
    }

    fn create(&self, path: &str, object: Value) {
        let (code, body) = self.admin(reqwest::Method::POST, path, Some(object));
        assert!(code == 201 || code == 409, "create {path}: {code} {body}");
    }

    /// `GET path` as `user` in `groups`, impersonated by the admin: the status code.
    fn get_as(&self, user: &str, groups: &[&str], path: &str) -> u16 {
        let mut headers = HeaderMap::new();
        headers.insert("Impersonate-User", HeaderValue::from_str(user).unwrap());
        for group in groups {
            headers.append("Impersonate-Group", HeaderValue::from_str(group).unwrap());
        }
        let response = self
            .admin
            .get(format!("{}{path}", self.url))
            .headers(headers)
            .send()
            .unwrap_or_else(|e| panic!("GET {path} as {user}: {e}"));
        response.status().as_u16()
    }
}

/// One request through the API server and the status it must get.
struct Case {
    what: &'static str,
    user: &'static str,
    groups: &'static [&'static str],
    path: &'static str,
    status: u16,
    /// For an allow: the scope kind and the Scopegate binding that must have decided it, per
    /// the webhook's decision log.
    decided_by: Option<(&'static str, &'static str)>,
}

/// The demo has no Node-scope binding: the test adds one.
const NODE_SCOPE_POLICY: &str = "\
# Added by the kube-apiserver end-to-end test: a binding at the Node scope.
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata:
  name: node-viewer
spec:
  scope: Node
  roleTemplates: [node-view]
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata:
  name: nick-cpu-node-1
spec:
  subjects:
    - {kind: User, apiGroup: rbac.authorization.k8s.io, name: nick}
  roleRef: {apiGroup: iam.theriseunion.io, kind: IAMRole, name: node-viewer}
  scope: {kind: Node, name: cpu-node-1}
";

/// A client certificate (and key) signed by a CA of its own, not the webhook's client CA.
fn other_ca_client_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "some other CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver-webhook-client");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (cert_path, key_path) = (dir.join("client.crt"), dir.join("client.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Whether the webhook logged an allow for `user` by `binding` at a scope of kind `kind`.
fn logged_allow(server: &Server, user: &str, (kind, binding): (&str, &str)) -> bool {
    server.stderr.lock().unwrap().iter().any(|line| {
        line.contains(&format!("\"user\":\"{user}\""))
            && line.contains("\"allowed\":true")
            && line.contains(&format!("\"scope\":\"{kind}"))
            && line.contains(&format!("\"binding\":\"IAMRoleBinding {binding}\""))
    })
}

#[test]
fn scopegate_decides_inside_a_real_kube_apiserver() {
    if kube_apiserver_disabled("the webhook end-to-end test") {
        return;
    }
    let started = Instant::now();
    // Dropped last: everything below is stopped before its files go.
    let scratch = ScratchDir::new("kapi");
    let pki = scratch.path("webhook-pki");
    let policy = scratch.path("policy");
    let out = scratch.path("apiserver-config");

    step(
        "policy: the demo policy plus a Node-scope binding, in a scratch directory",
        started,
    );
    std::fs::create_dir_all(&policy).unwrap();
    for entry in std::fs::read_dir(demo_policies()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, policy.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(policy.join("70-node-scope.yaml"), NODE_SCOPE_POLICY).unwrap();

    step(
        "webhook: scopegate serve over mTLS, accepting only the API server's client certificate",
        started,
    );
    // --self-signed writes a CA, the serving certificate and ONE client certificate: the one
    // handed to kube-apiserver below. With --client-ca set to that CA, no other client
    // certificate gets an answer. (start.sh's own apiserver-client certificate is X.509 v1,
    // which rustls refuses, and its CA also signs the cluster admin's certificate.)
    let (pki_s, ca_s, policy_s) = (
        pki.display().to_string(),
        pki.join("ca.crt").display().to_string(),
        policy.display().to_string(),
    );
    let server = Server::start(&[
        "--self-signed",
        &pki_s,
        "--client-ca",
        &ca_s,
        "--policy",
        &policy_s,
        "--decision-log",
    ]);

    step(
        "apiserver-config: webhook kubeconfig and kube-apiserver flags (TTLs 1s)",
        started,
    );
    let output = Command::new(scopegate_bin())
        .args([
            "apiserver-config",
            "--url",
            &server.url("/authorize"),
            "--ca",
            &ca_s,
        ])
        .args([
            "--client-cert",
            &pki.join("client.crt").display().to_string(),
        ])
        .args([
            "--client-key",
            &pki.join("client.key").display().to_string(),
        ])
        .args([
            "--out-dir",
            &out.display().to_string(),
            "--authorized-ttl",
            "1s",
            "--unauthorized-ttl",
            "1s",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "apiserver-config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // v1.20 has no --authorization-config: the older flags, exactly as generated.
    let flags: Vec<String> = std::fs::read_to_string(out.join("kube-apiserver-flags.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(flags[0], "--authorization-mode=Node,Webhook,RBAC");

    step("kube-apiserver: start.sh with the generated flags", started);
    let kapi = KubeApiserver::start(&scratch.path("kapi"), &flags);

    step(
        "setup as admin: namespaces, and a native Role + RoleBinding for rita (not in Scopegate's files)",
        started,
    );
    for (name, workspace) in [
        ("team-a-dev", "team-a"),
        ("team-a-prod", "team-a"),
        ("team-b-dev", "team-b"),
        ("monitoring", ""),
    ] {
        let labels = if workspace.is_empty() {
            json!({})
        } else {
            json!({"scope.theriseunion.io/workspace": workspace})
        };
        kapi.create("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}));
    }
    kapi.create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/monitoring/roles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "configmap-reader", "namespace": "monitoring"},
               "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}),
    );
    kapi.create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/monitoring/rolebindings",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "rita-reads-configmaps", "namespace": "monitoring"},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "rita"}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"}}),
    );

    step(
        "a Scopegate binding at each scope kind allows through the API server; its neighbours get 403",
        started,
    );
    let cases = [
        Case {
            what: "Platform: platform-admins list secrets in kube-system",
            user: "pat",
            groups: &["platform-admins"],
            path: "/api/v1/namespaces/kube-system/secrets",
            status: 200,
            decided_by: Some(("Platform", "platform-admins")),
        },
        Case {
            what: "Cluster: carl lists namespaces",
            user: "carl",
            groups: &[],
            path: "/api/v1/namespaces",
            status: 200,
            decided_by: Some(("Cluster", "carl-cluster-admin")),
        },
        Case {
            what: "Cluster: carl gets a node (none exist: 404 means authorized)",
            user: "carl",
            groups: &[],
            path: "/api/v1/nodes/cpu-node-1",
            status: 404,
            decided_by: Some(("Cluster", "carl-cluster-admin")),
        },
        Case {
            what: "Workspace: carol lists pods in team-a-prod",
            user: "carol",
            groups: &[],
            path: "/api/v1/namespaces/team-a-prod/pods",
            status: 200,
            decided_by: Some(("Workspace", "team-a-admins")),
        },
        Case {
            what: "Workspace: carol in team-b-dev (another workspace)",
            user: "carol",
            groups: &[],
            path: "/api/v1/namespaces/team-b-dev/pods",
            status: 403,
            decided_by: None,
        },
        Case {
            what: "NodeGroup: olga gets gpu-node-1",
            user: "olga",
            groups: &[],
            path: "/api/v1/nodes/gpu-node-1",
            status: 404,
            decided_by: Some(("NodeGroup", "gpu-operators")),
        },
        Case {
            what: "NodeGroup: olga gets cpu-node-1 (not in her group)",
            user: "olga",
            groups: &[],
            path: "/api/v1/nodes/cpu-node-1",
            status: 403,
            decided_by: None,
        },
        Case {
            what: "Namespace: team-a-devs list pods in team-a-dev",
            user: "dan",
            groups: &["team-a-devs"],
            path: "/api/v1/namespaces/team-a-dev/pods",
            status: 200,
            decided_by: Some(("Namespace", "team-a-dev-developers")),
        },
        Case {
            what: "Namespace: team-a-devs in team-a-prod",
            user: "dan",
            groups: &["team-a-devs"],
            path: "/api/v1/namespaces/team-a-prod/pods",
            status: 403,
            decided_by: None,
        },
        Case {
            what: "Node: nick gets cpu-node-1",
            user: "nick",
            groups: &[],
            path: "/api/v1/nodes/cpu-node-1",
            status: 404,
            decided_by: Some(("Node", "nick-cpu-node-1")),
        },
        Case {
            what: "Node: nick gets gpu-node-1",
            user: "nick",
            groups: &[],
            path: "/api/v1/nodes/gpu-node-1",
            status: 403,
            decided_by: None,
        },
        Case {
            what: "Resource: erin gets her pod ide-erin",
            user: "erin",
            groups: &[],
            path: "/api/v1/namespaces/team-a-dev/pods/ide-erin",
            status: 404,
            decided_by: Some(("Resource", "erin-ide")),
        },
        Case {
            what: "Resource: erin gets its log",
            user: "erin",
            groups: &[],
            path: "/api/v1/namespaces/team-a-dev/pods/ide-erin/log",
            status: 404,
            decided_by: Some(("Resource", "erin-ide")),
        },
        Case {
            what: "Resource: erin gets another pod",
            user: "erin",
            groups: &[],
            path: "/api/v1/namespaces/team-a-dev/pods/ide-frank",
            status: 403,
            decided_by: None,
        },
        Case {
            what: "Resource: erin lists pods (no name, no Resource step)",
            user: "erin",
            groups: &[],
            path: "/api/v1/namespaces/team-a-dev/pods",
            status: 403,
            decided_by: None,
        },
        Case {
            what: "nothing allows: mallory lists pods",
            user: "mallory",
            groups: &[],
            path: "/api/v1/namespaces/team-a-dev/pods",
            status: 403,
            decided_by: None,
        },
        Case {
            what: "nothing allows: a team-a viewer reads secrets",
            user: "vic",
            groups: &["team-a-viewers"],
            path: "/api/v1/namespaces/team-a-dev/secrets",
            status: 403,
            decided_by: None,
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let got = kapi.get_as(case.user, case.groups, case.path);
        eprintln!("    {:>3} (want {}) {}", got, case.status, case.what);
        if got != case.status {
            failures.push(format!("{}: got {got}, want {}", case.what, case.status));
        }
    }
    assert!(
        failures.is_empty(),
        "{failures:#?}\nwebhook log:\n{}",
        server.logs()
    );
    for case in &cases {
        let Some(decided_by) = case.decided_by else {
            continue;
        };
        assert!(
            eventually(Duration::from_secs(2), || logged_allow(
                &server, case.user, decided_by
            )),
            "{}: the webhook's decision log shows no allow by {decided_by:?}\n{}",
            case.what,
            server.logs()
        );
    }

    // system:masters (the test's admin, who also impersonates everyone above) is allowed by
    // kube-apiserver before its authorizer chain: the webhook never hears of it.
    assert!(
        !server.logs().contains("\"user\":\"e2e-admin\""),
        "system:masters reached the webhook"
    );

    step(
        "native RBAC decides what Scopegate has no opinion on: rita reads configmaps",
        started,
    );
    // The RBAC authorizer sees the new Role through an informer: give it a moment.
    let rita = || kapi.get_as("rita", &[], "/api/v1/namespaces/monitoring/configmaps");
    assert!(eventually(WAIT, || rita() == 200), "rita: {}", rita());
    assert_eq!(
        kapi.get_as("rita", &[], "/api/v1/namespaces/monitoring/secrets"),
        403
    );
    assert!(
        server
            .logs()
            .lines()
            .any(|l| l.contains("\"user\":\"rita\"") && l.contains("\"allowed\":false")),
        "the webhook was asked about rita and had no opinion"
    );

    step(
        "the webhook answers only the API server's client certificate",
        started,
    );
    let review = review_v1("carl", &[], "get", "pods", "team-a-dev", "");
    let anonymous = https_client(&pki.join("ca.crt"), None);
    let refused = anonymous
        .post(server.url("/authorize"))
        .json(&review)
        .send()
        .and_then(|r| r.text());
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    let (other_cert, other_key) = other_ca_client_certificate(&scratch.path("other-ca"));
    let other_ca = https_client(&pki.join("ca.crt"), Some((&other_cert, &other_key)));
    let refused = other_ca
        .post(server.url("/authorize"))
        .json(&review)
        .send()
        .and_then(|r| r.text());
    assert!(
        refused.is_err(),
        "a client certificate of another CA: {refused:?}"
    );
    let apiserver_identity = https_client(
        &pki.join("ca.crt"),
        Some((&pki.join("client.crt"), &pki.join("client.key"))),
    );
    let answer: Value = apiserver_identity
        .post(server.url("/authorize"))
        .json(&review)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["status"]["allowed"], true, "{answer}");

    step(
        "revoking a binding in the policy files: 403 within a bounded time",
        started,
    );
    let dan = || {
        kapi.get_as(
            "dan",
            &["team-a-devs"],
            "/api/v1/namespaces/team-a-dev/pods",
        )
    };
    assert_eq!(dan(), 200);
    let bindings = policy.join("50-bindings.yaml");
    let text = std::fs::read_to_string(&bindings).unwrap();
    let kept: Vec<&str> = text
        .split("\n---\n")
        .filter(|doc| !doc.contains("name: team-a-dev-developers\n"))
        .collect();
    assert_eq!(
        kept.len() + 1,
        text.split("\n---\n").count(),
        "exactly one document revoked"
    );
    let edited = Instant::now();
    std::fs::write(&bindings, kept.join("\n---\n")).unwrap();
    assert!(
        eventually(WAIT, || dan() == 403),
        "dan still allowed {:?} after the edit",
        edited.elapsed()
    );
    eprintln!("    revoked after {:.1?}", edited.elapsed());
    assert_eq!(
        kapi.get_as("carol", &[], "/api/v1/namespaces/team-a-prod/pods"),
        200,
        "other bindings still apply"
    );

    step(
        "webhook stopped: RBAC still decides (NoOpinion on failure)",
        started,
    );
    drop(server);
    let stopped = Instant::now();
    // When the webhook cannot be reached and no later authorizer allows, kube-apiserver
    // refuses with 500 (an authorizer failed), not 403: the request is refused either way,
    // and nothing Scopegate alone allowed gets through.
    let carol = || kapi.get_as("carol", &[], "/api/v1/namespaces/team-a-prod/pods");
    assert!(
        eventually(WAIT, || carol() == 500),
        "carol: {} {:?} after the webhook stopped; kube-apiserver log:\n{}",
        carol(),
        stopped.elapsed(),
        kapi.log_tail(10)
    );
    eprintln!(
        "    Scopegate-only allow refused (500) after {:.1?}",
        stopped.elapsed()
    );
    assert_eq!(kapi.get_as("nick", &[], "/api/v1/nodes/cpu-node-1"), 500);
    let asked = Instant::now();
    assert_eq!(
        rita(),
        200,
        "RBAC-allowed request while the webhook is down"
    );
    eprintln!(
        "    RBAC-allowed request answered 200 in {:.1?} with the webhook down",
        asked.elapsed()
    );
    let (code, body) = kapi.admin(reqwest::Method::GET, "/api/v1/namespaces", None);
    assert_eq!(code, 200, "the admin still works: {body}");

    step("done", started);
    drop(kapi);
    eprintln!("total {:.1?}", started.elapsed());
}
