//! The webhook end to end: real `scopegate serve` processes on loopback with real TLS (and
//! mTLS, as kube-apiserver calls it), real policy files edited under load, real signals.
//! Every test has its own server on its own port and its own scratch directory.

mod support;

use reqwest::blocking::{Body, Client};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{
    ScratchDir, Server, demo_policies, eventually, https_client, review_v1, scopegate_bin,
};

/// Generous upper bound for anything asynchronous (a reload, a log line) to happen.
const WAIT: Duration = Duration::from_secs(10);

/// A webhook served over mutual TLS with `--self-signed`, and a client kube-apiserver-like
/// client (trusting the CA, presenting the client certificate).
struct Webhook {
    // Dropped first: the process stops before its certificates are removed.
    server: Server,
    client: Client,
    certs: ScratchDir,
}

impl Webhook {
    /// Serves the demo policy.
    fn demo(name: &str, extra: &[&str]) -> Webhook {
        let demo = demo_policies().display().to_string();
        let mut args = vec!["--policy", demo.as_str()];
        args.extend_from_slice(extra);
        Webhook::start(name, &args)
    }

    /// `scopegate serve --self-signed DIR --client-ca DIR/ca.crt ARGS`.
    fn start(name: &str, args: &[&str]) -> Webhook {
        let certs = ScratchDir::new(&format!("{name}-certs"));
        let dir = certs.0.display().to_string();
        let ca = certs.path("ca.crt").display().to_string();
        let mut all = vec!["--self-signed", dir.as_str(), "--client-ca", ca.as_str()];
        all.extend_from_slice(args);
        let server = Server::start(&all);
        let client = https_client(
            &certs.path("ca.crt"),
            Some((&certs.path("client.crt"), &certs.path("client.key"))),
        );
        Webhook {
            server,
            client,
            certs,
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// POSTs a review to /authorize: the status code and the JSON body.
    fn authorize(&self, review: &Value) -> (u16, Value) {
        self.post(
            "/authorize",
            "application/json",
            serde_json::to_vec(review).unwrap(),
        )
    }

    fn post(&self, path: &str, content_type: &str, body: impl Into<Body>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: {e:#}"));
        json_response(response)
    }

    fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: {e:#}"));
        (response.status().as_u16(), response.text().expect("body"))
    }

    /// `/readyz`: the status code and the JSON body.
    fn readyz(&self) -> (u16, Value) {
        let (code, text) = self.get("/readyz");
        (
            code,
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("/readyz is not JSON ({e}): {text}")),
        )
    }

    fn generation(&self) -> u64 {
        self.readyz().1["generation"]
            .as_u64()
            .expect("a generation when ready")
    }

    /// Whether the webhook allows `review` (asserting that it answered properly).
    fn allows(&self, review: &Value) -> bool {
        let (code, answer) = self.authorize(review);
        assert_eq!(code, 200, "{answer}");
        decision(&answer)
    }
}

fn json_response(response: reqwest::blocking::Response) -> (u16, Value) {
    let code = response.status().as_u16();
    let text = response.text().expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("HTTP {code}: body is not JSON ({e}): {text}"));
    (code, body)
}

/// The `allowed` of an answered review, checking it is a proper Scopegate answer.
fn decision(answer: &Value) -> bool {
    assert_eq!(answer["kind"], "SubjectAccessReview", "{answer}");
    let status = &answer["status"];
    assert!(
        status.get("denied").is_none(),
        "Scopegate never denies: {answer}"
    );
    assert!(
        status["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "no reason: {answer}"
    );
    status["allowed"]
        .as_bool()
        .unwrap_or_else(|| panic!("no status.allowed: {answer}"))
}

/// A refusal: the expected status code, a JSON error whose message mentions `mentions`, and
/// nothing that looks like an allow.
fn assert_refused(code: u16, body: &Value, expected: u16, mentions: &str) {
    assert_eq!(code, expected, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no error code: {body}"
    );
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {body}"));
    assert!(
        message.contains(mentions),
        "message should mention {mentions:?}: {message}"
    );
    assert_never_allows(&body.to_string());
}

fn assert_never_allows(text: &str) {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        !compact.contains("\"allowed\":true"),
        "a refusal must never allow: {text}"
    );
}

fn bob_pod_log() -> Value {
    let mut review = review_v1(
        "bob",
        &["team-a-devs", "system:authenticated"],
        "get",
        "pods",
        "team-a-dev",
        "api-0",
    );
    review["spec"]["resourceAttributes"]["subresource"] = json!("log");
    review
}

fn carol_deletes_prod_pod() -> Value {
    review_v1(
        "carol",
        &["system:authenticated"],
        "delete",
        "pods",
        "team-a-prod",
        "api-1",
    )
}

fn non_resource(user: &str, groups: &[&str], verb: &str, path: &str) -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": { "user": user, "groups": groups, "nonResourceAttributes": { "verb": verb, "path": path } }
    })
}

/// The value of one sample in Prometheus text, e.g. `scopegate_decisions_total{result="allowed"}`.
/// The sum of every sample of `sample`, which may end in an open label list (`name{a="b"`)
/// to add up the series with more labels after it (e.g. every cache tier).
fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(sample)?;
            let value = if sample.ends_with('"') {
                // An open label list: skip the remaining labels, if any.
                rest.split_once("} ").map(|(_, v)| v)?
            } else {
                rest.strip_prefix(' ')?
            };
            Some(
                value
                    .trim()
                    .parse::<f64>()
                    .unwrap_or_else(|e| panic!("{sample}: {value}: {e}")),
            )
        })
        .sum()
}

// --- deciding ---------------------------------------------------------------------------------

#[test]
fn allows_v1_reviews_as_kube_apiserver_sends_them() {
    let webhook = Webhook::demo("allow-v1", &[]);
    let review = json!({
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": { "creationTimestamp": null },
        "spec": {
            "resourceAttributes": { "namespace": "team-a-dev", "verb": "get", "version": "v1", "resource": "pods", "subresource": "log", "name": "api-0" },
            "user": "bob",
            "groups": ["team-a-devs", "system:authenticated"],
            "extra": { "authentication.kubernetes.io/credential-id": ["JTI=8f7c3b2a-token-like-value"] },
            "uid": "5f0c9e7e-2b4d-4d3c-9a51-7c0e3d1c2b11"
        },
        "status": { "allowed": false }
    });
    let (code, answer) = webhook.authorize(&review);
    assert_eq!(code, 200, "{answer}");
    assert!(decision(&answer), "{answer}");
    assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(
        answer["spec"], review["spec"],
        "the request comes back whole"
    );
    assert_eq!(answer["metadata"], review["metadata"]);
    let reason = answer["status"]["reason"].as_str().unwrap();
    for part in [
        "team-a-dev-developers",
        "namespace-developer",
        "Namespace \"team-a-dev\"",
    ] {
        assert!(
            reason.contains(part),
            "reason should name {part:?}: {reason}"
        );
    }
}

#[test]
fn allows_v1beta1_reviews_with_groups_in_group() {
    let webhook = Webhook::demo("allow-v1beta1", &[]);
    let review = json!({
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1beta1",
        "spec": {
            "resourceAttributes": { "namespace": "team-a-prod", "verb": "update", "group": "apps", "version": "v1", "resource": "deployments", "name": "web" },
            "user": "carol",
            "group": ["system:authenticated"],
            "extra": { "authentication.kubernetes.io/credential-id": ["JTI=another-token-like-value"] },
            "uid": "0a1b2c3d"
        }
    });
    let (code, answer) = webhook.authorize(&review);
    assert_eq!(code, 200, "{answer}");
    assert!(decision(&answer), "{answer}");
    assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1beta1");
    assert_eq!(answer["spec"], review["spec"]);
    assert!(
        answer["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("team-a-admins"),
        "{answer}"
    );

    // The group is read from `group` in v1beta1: the platform admins' group reaches anything.
    let admins = json!({
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1beta1",
        "spec": { "user": "pat", "group": ["platform-admins"], "resourceAttributes": { "verb": "delete", "resource": "nodes", "name": "gpu-node-1" } }
    });
    assert!(webhook.allows(&admins));
}

#[test]
fn no_opinion_is_allowed_false_without_denied_and_says_nothing_matched() {
    let webhook = Webhook::demo("no-opinion", &[]);
    // bob develops in team-a-dev, not in team-a-prod; mallory has nothing at all.
    for review in [
        review_v1(
            "bob",
            &["team-a-devs", "system:authenticated"],
            "get",
            "pods",
            "team-a-prod",
            "api-0",
        ),
        review_v1(
            "mallory",
            &["system:authenticated"],
            "list",
            "secrets",
            "team-a-dev",
            "",
        ),
    ] {
        let (code, answer) = webhook.authorize(&review);
        assert_eq!(code, 200, "{answer}");
        assert!(!decision(&answer), "{answer}");
        assert!(
            answer["status"].get("evaluationError").is_none(),
            "{answer}"
        );
        let reason = answer["status"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("no Scopegate binding allows"),
            "the reason says nothing matched: {reason}"
        );
    }
}

#[test]
fn non_resource_requests_are_decided() {
    let webhook = Webhook::demo("non-resource", &[]);
    let (code, answer) = webhook.authorize(&non_resource(
        "sam",
        &["sre", "system:authenticated"],
        "get",
        "/metrics",
    ));
    assert_eq!(code, 200);
    assert!(decision(&answer), "{answer}");
    assert!(
        answer["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("sre-monitoring"),
        "{answer}"
    );
    assert!(webhook.allows(&non_resource("sam", &["sre"], "get", "/metrics/cadvisor")));
    assert!(!webhook.allows(&non_resource("sam", &["sre"], "post", "/metrics")));
    assert!(!webhook.allows(&non_resource("bob", &["team-a-devs"], "get", "/metrics")));
}

// --- refusing ---------------------------------------------------------------------------------

#[test]
fn malformed_reviews_are_refused_with_400_and_say_what_is_wrong() {
    let webhook = Webhook::demo("bad-request", &[]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("invalid JSON", b"{\"apiVersion\": \"authorization.k8s.io/v1\", ".to_vec(), "not valid JSON"),
        ("not an object", b"[1, 2, 3]".to_vec(), "object"),
        (
            "wrong kind",
            br#"{"apiVersion":"authorization.k8s.io/v1","kind":"TokenReview","spec":{"user":"bob","resourceAttributes":{"verb":"get","resource":"pods"}}}"#.to_vec(),
            "kind",
        ),
        (
            "wrong apiVersion",
            br#"{"apiVersion":"authorization.k8s.io/v2","kind":"SubjectAccessReview","spec":{"user":"bob","resourceAttributes":{"verb":"get","resource":"pods"}}}"#.to_vec(),
            "apiVersion",
        ),
        (
            "neither resourceAttributes nor nonResourceAttributes",
            br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"bob","groups":["platform-admins"]}}"#.to_vec(),
            "resourceAttributes",
        ),
        (
            "both resourceAttributes and nonResourceAttributes",
            br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"bob","groups":["platform-admins"],"resourceAttributes":{"verb":"get","resource":"pods"},"nonResourceAttributes":{"verb":"get","path":"/metrics"}}}"#.to_vec(),
            "not both",
        ),
        (
            "a field of the wrong type",
            br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"pat","groups":"platform-admins","resourceAttributes":{"verb":"get","resource":"pods"}}}"#.to_vec(),
            "spec.groups",
        ),
    ];
    for (what, body, mentions) in cases {
        let (code, answer) = webhook.post("/authorize", "application/json", body);
        assert_refused(code, &answer, 400, mentions);
        assert_eq!(answer["error"], "InvalidRequest", "{what}: {answer}");
    }
}

/// A body just over the limit, as a SubjectAccessReview padded in a field.
fn oversized_review() -> Vec<u8> {
    let mut review = review_v1(
        "pat",
        &["platform-admins"],
        "get",
        "pods",
        "team-a-dev",
        "x",
    );
    review["metadata"] = json!({ "annotations": { "padding": "x".repeat(1024 * 1024) } });
    serde_json::to_vec(&review).unwrap()
}

#[test]
fn a_body_over_1_mib_is_refused_with_413_with_content_length() {
    let webhook = Webhook::demo("too-large", &[]);
    let body = oversized_review();
    assert!(body.len() > 1024 * 1024);
    let (code, answer) = webhook.post("/authorize", "application/json", body);
    assert_refused(code, &answer, 413, "larger than");
}

#[test]
fn a_chunked_body_over_1_mib_is_refused_with_413() {
    let webhook = Webhook::demo("too-large-chunked", &[]);
    // A reader of unknown length is sent with Transfer-Encoding: chunked.
    let body = Body::new(std::io::Cursor::new(oversized_review()));
    let (code, answer) = webhook.post("/authorize", "application/json", body);
    assert_refused(code, &answer, 413, "larger than");
}

#[test]
fn a_body_that_is_not_json_by_content_type_is_refused_with_415() {
    let webhook = Webhook::demo("media-type", &[]);
    let review = serde_json::to_vec(&review_v1(
        "pat",
        &["platform-admins"],
        "get",
        "pods",
        "team-a-dev",
        "x",
    ))
    .unwrap();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/yaml",
    ] {
        let (code, answer) = webhook.post("/authorize", content_type, review.clone());
        assert_refused(code, &answer, 415, "application/json");
    }
    // Parameters of the JSON media type are fine.
    let (code, answer) = webhook.post("/authorize", "application/json; charset=utf-8", review);
    assert_eq!(code, 200, "{answer}");
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let webhook = Webhook::demo("routes", &[]);
    let review = serde_json::to_vec(&review_v1(
        "pat",
        &["platform-admins"],
        "get",
        "pods",
        "team-a-dev",
        "x",
    ))
    .unwrap();
    let (code, answer) = webhook.post("/authorise", "application/json", review.clone());
    assert_refused(code, &answer, 404, "/authorise");
    let (code, answer) = webhook.post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        "application/json",
        review,
    );
    assert_refused(code, &answer, 404, "/apis/");

    let (code, text) = webhook.get("/authorize");
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_refused(code, &answer, 405, "method");
    let response = webhook
        .client
        .put(webhook.url("/authorize"))
        .body("{}")
        .send()
        .unwrap();
    let (code, answer) = json_response(response);
    assert_refused(code, &answer, 405, "method");
}

/// The `host:port` of a plain-HTTP server.
fn address(server: &Server) -> String {
    server
        .base_url
        .strip_prefix("http://")
        .expect("an --insecure-http server")
        .to_string()
}

/// Reads until the server closes the connection (or `limit` passes, which fails the test).
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server did not close the connection ({e}); received so far: {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[test]
fn a_client_sending_headers_too_slowly_is_disconnected() {
    let demo = demo_policies().display().to_string();
    let server = Server::start(&[
        "--insecure-http",
        "--policy",
        &demo,
        "--header-timeout",
        "1",
    ]);
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    // Half a request line, then nothing.
    stream.write_all(b"POST /autho").unwrap();
    let started = Instant::now();
    let received = read_until_closed(&mut stream, Duration::from_secs(15));
    // Closed by the header timeout (1 s), not by anything sooner.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed after {:?}",
        started.elapsed()
    );
    assert_never_allows(&received);
    // The server still serves others.
    let mut fresh = TcpStream::connect(address(&server)).unwrap();
    fresh
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut fresh, Duration::from_secs(15));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_client_sending_its_body_too_slowly_gets_408() {
    let demo = demo_policies().display().to_string();
    let server = Server::start(&["--insecure-http", "--policy", &demo, "--body-timeout", "1"]);
    let body = serde_json::to_string(&review_v1(
        "pat",
        &["platform-admins"],
        "get",
        "pods",
        "team-a-dev",
        "x",
    ))
    .unwrap();
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    let head = format!(
        "POST /authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .unwrap();
    let received = read_until_closed(&mut stream, Duration::from_secs(15));
    assert!(received.starts_with("HTTP/1.1 408"), "{received}");
    let json_body = received.split("\r\n\r\n").nth(1).unwrap_or_default();
    let answer: Value =
        serde_json::from_str(json_body).unwrap_or_else(|e| panic!("{e}: {received}"));
    assert_refused(408, &answer, 408, "in time");
}

#[test]
fn a_client_without_a_certificate_is_refused_when_client_ca_is_set() {
    let webhook = Webhook::demo("mtls", &[]);
    let anonymous = https_client(&webhook.certs.path("ca.crt"), None);
    let review = review_v1(
        "pat",
        &["platform-admins"],
        "get",
        "pods",
        "team-a-dev",
        "x",
    );
    let refused = anonymous
        .post(webhook.url("/authorize"))
        .json(&review)
        .send()
        .and_then(|r| r.text());
    assert!(
        refused.is_err(),
        "a client without a certificate must not be answered: {refused:?}"
    );
    assert!(
        anonymous
            .get(webhook.url("/healthz"))
            .send()
            .and_then(|r| r.text())
            .is_err()
    );

    // A certificate from another CA is refused too.
    let stranger_certs = ScratchDir::new("mtls-stranger");
    let stranger_dir = stranger_certs.0.display().to_string();
    let stranger_server = Server::start(&[
        "--self-signed",
        &stranger_dir,
        "--policy",
        &demo_policies().display().to_string(),
    ]);
    drop(stranger_server);
    let stranger = https_client(
        &webhook.certs.path("ca.crt"),
        Some((
            &stranger_certs.path("client.crt"),
            &stranger_certs.path("client.key"),
        )),
    );
    assert!(
        stranger
            .post(webhook.url("/authorize"))
            .json(&review)
            .send()
            .and_then(|r| r.text())
            .is_err()
    );

    // With the CA's client certificate it works.
    assert!(webhook.allows(&review));
}

#[test]
fn the_ops_listener_serves_health_readiness_and_metrics_over_plain_http_and_nothing_else() {
    let webhook = Webhook::demo("ops", &["--ops-listen", "127.0.0.1:0"]);
    let ops_url = webhook.server.ops_url("");
    assert!(ops_url.starts_with("http://127.0.0.1:"), "{ops_url}");
    let plain = Client::builder().timeout(WAIT).build().unwrap();
    let get = |path: &str| {
        let response = plain
            .get(webhook.server.ops_url(path))
            .send()
            .unwrap_or_else(|e| panic!("GET {path} on the ops port: {e:#}"));
        (response.status().as_u16(), response.text().unwrap())
    };

    // The kubelet and Prometheus: no TLS, no client certificate.
    let (code, text) = get("/healthz");
    assert_eq!((code, text.as_str()), (200, "ok\n"));
    let (code, text) = get("/readyz");
    assert_eq!(code, 200, "{text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["generation"], 1, "{ready}");
    // The same state as the webhook port: a decision made there is counted here.
    assert!(webhook.allows(&bob_pod_log()));
    let (code, metrics) = get("/metrics");
    assert_eq!(code, 200);
    assert!(
        metric(&metrics, "scopegate_decisions_total{result=\"allowed\"") >= 1.0,
        "{metrics}"
    );

    // Decisions are never served there, whatever the method.
    for path in ["/authorize", "/explain"] {
        let response = plain
            .post(webhook.server.ops_url(path))
            .json(&bob_pod_log())
            .send()
            .unwrap();
        let (code, body) = json_response(response);
        assert_refused(code, &body, 404, path);
        let (code, _) = get(path);
        assert_eq!(code, 404, "GET {path}");
    }
    let (code, _) = get("/nowhere");
    assert_eq!(code, 404);
    // Only GET on the ops endpoints, as on the webhook port.
    let code = plain
        .post(webhook.server.ops_url("/healthz"))
        .send()
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(code, 405);

    // The webhook port still demands the client certificate, for /healthz too.
    let anonymous = https_client(&webhook.certs.path("ca.crt"), None);
    assert!(
        anonymous
            .get(webhook.url("/healthz"))
            .send()
            .and_then(|r| r.text())
            .is_err(),
        "the webhook port answered a client without a certificate"
    );
    let (code, _) = webhook.get("/healthz");
    assert_eq!(code, 200);
}

#[test]
fn sigterm_stops_the_webhook_and_the_ops_listener_together() {
    let webhook = Webhook::demo("ops-stop", &["--ops-listen", "127.0.0.1:0"]);
    let ops = webhook.server.ops_url("/healthz");
    let plain = Client::builder().timeout(WAIT).build().unwrap();
    assert_eq!(plain.get(&ops).send().unwrap().status().as_u16(), 200);
    let status = Command::new("kill")
        .args(["-TERM", &webhook.server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        eventually(WAIT, || webhook
            .server
            .logs()
            .contains("scopegate webhook stopped")),
        "{}",
        webhook.server.logs()
    );
    assert!(
        plain.get(&ops).send().is_err(),
        "the ops port still answers"
    );
}

// --- health, readiness, metrics, decision log ------------------------------------------------

#[test]
fn health_readiness_and_metrics_report_the_served_policy_and_decisions() {
    let webhook = Webhook::demo("observability", &[]);
    let (code, text) = webhook.get("/healthz");
    assert_eq!(code, 200, "{text}");

    let (code, ready) = webhook.readyz();
    assert_eq!(code, 200, "{ready}");
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["generation"], 1);
    assert!(ready["lastReloadError"].is_null(), "{ready}");
    let loaded_at = ready["loadedAt"]
        .as_str()
        .unwrap_or_else(|| panic!("loadedAt: {ready}"));
    assert!(
        loaded_at.len() == 20 && loaded_at.ends_with('Z') && loaded_at.as_bytes()[10] == b'T',
        "RFC 3339: {loaded_at}"
    );

    let (code, before) = webhook.get("/metrics");
    assert_eq!(code, 200);
    for name in [
        "scopegate_decision_duration_seconds",
        "scopegate_policy_reloads_total",
        "scopegate_policy_generation 1",
        "scopegate_policy_objects",
        "scopegate_in_flight_requests",
    ] {
        assert!(
            before.contains(name),
            "/metrics should have {name}:\n{before}"
        );
    }
    let allowed = "scopegate_decisions_total{result=\"allowed\"";
    let no_opinion = "scopegate_decisions_total{result=\"no_opinion\"";
    let l1_hits = "scopegate_cache_hits_total{tier=\"decision_cache\"";
    let rejected = "scopegate_rejected_requests_total{reason=\"bad_request\"}";
    for _ in 0..3 {
        assert!(webhook.allows(&bob_pod_log()));
    }
    for _ in 0..2 {
        assert!(!webhook.allows(&review_v1("mallory", &[], "get", "pods", "team-a-dev", "x")));
    }
    let (code, _) = webhook.post("/authorize", "application/json", "{}".to_string());
    assert_eq!(code, 400);

    let (_, after) = webhook.get("/metrics");
    assert!(after.contains("scopegate_decisions_total"), "{after}");
    assert_eq!(
        metric(&after, allowed) - metric(&before, allowed),
        3.0,
        "{after}"
    );
    assert_eq!(
        metric(&after, no_opinion) - metric(&before, no_opinion),
        2.0,
        "{after}"
    );
    assert_eq!(
        metric(&after, rejected) - metric(&before, rejected),
        1.0,
        "{after}"
    );
    // The same review three times: the second and third come from the decision cache.
    assert!(
        metric(&after, l1_hits) - metric(&before, l1_hits) >= 2.0,
        "{after}"
    );
    for name in [
        "scopegate_cache_misses_total",
        "scopegate_cache_entries",
        "scopegate_cache_evictions_total",
    ] {
        assert!(
            after.contains(name),
            "/metrics should have {name}:\n{after}"
        );
    }
    assert!(
        metric(&after, "scopegate_decision_duration_seconds_count")
            >= metric(&before, "scopegate_decision_duration_seconds_count") + 5.0,
        "{after}"
    );
}

#[test]
fn the_decision_log_has_user_and_reason_and_never_extra_values() {
    let webhook = Webhook::demo("decision-log", &["--decision-log"]);
    let token = "sk-live-7d1e0c5a9b8f4e2d-SECRET";
    let mut review = bob_pod_log();
    review["spec"]["user"] = json!("bob-logged");
    review["spec"]["extra"] = json!({
        "authentication.kubernetes.io/credential-id": [format!("JTI={token}")],
        "scopes.example.com/session": [token]
    });
    review["spec"]["uid"] = json!("uid-1234");
    let (code, answer) = webhook.authorize(&review);
    assert_eq!(code, 200);
    assert!(decision(&answer));

    let found = eventually(WAIT, || {
        webhook.server.stderr.lock().unwrap().iter().any(|line| {
            let Ok(entry) = serde_json::from_str::<Value>(line) else {
                return false;
            };
            let fields = &entry["fields"];
            fields["user"] == "bob-logged"
                && fields["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("team-a-dev-developers"))
                && fields["allowed"] == true
        })
    });
    let logs = webhook.server.logs();
    assert!(found, "a JSON decision line with user and reason:\n{logs}");
    assert!(
        logs.contains("authentication.kubernetes.io/credential-id"),
        "the extra keys are logged:\n{logs}"
    );
    assert!(
        !logs.contains(token),
        "the value of extra must never be logged:\n{logs}"
    );
}

// --- policy reloads ---------------------------------------------------------------------------

/// Copies the demo policy into `dir/policies` and returns that directory.
fn copy_demo(dir: &ScratchDir) -> PathBuf {
    let target = dir.path("policies");
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(demo_policies()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
    }
    target
}

/// Replaces a file the way editors and ConfigMap updates do: write aside, then rename.
fn replace_file(path: &Path, contents: &str) {
    let name = path.file_name().unwrap().to_string_lossy();
    let aside = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

/// The demo bindings without `team-a-dev-developers` (which lets bob read pod logs).
/// `text`'s YAML documents without the one containing `marker`.
fn without_document(text: &str, marker: &str) -> String {
    let kept: Vec<&str> = text
        .split("\n---\n")
        .filter(|doc| !doc.contains(marker))
        .collect();
    assert!(
        kept.len() < text.split("\n---\n").count(),
        "{marker} not found"
    );
    kept.join("\n---\n")
}

fn bindings_without_team_a_developers(original: &str) -> String {
    let kept: Vec<&str> = original
        .split("\n---\n")
        .filter(|doc| !doc.contains("name: team-a-dev-developers\n"))
        .collect();
    assert_eq!(
        kept.len(),
        original.split("\n---\n").count() - 1,
        "exactly one document removed"
    );
    kept.join("\n---\n")
}

/// Clients hammering the webhook in the background, counting every answer that is not a
/// 200 with a proper SubjectAccessReview.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

/// The load runs at least this long, whatever the edits take.
const MIN_LOAD: Duration = Duration::from_secs(3);

impl Load {
    fn start(webhook: &Webhook, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let reviews = [
            bob_pod_log(),
            carol_deletes_prod_pod(),
            non_resource("sam", &["sre"], "get", "/metrics"),
        ];
        let handles = (0..threads)
            .map(|t| {
                let (stop, answered, failures) = (stop.clone(), answered.clone(), failures.clone());
                let (client, url, reviews) = (
                    webhook.client.clone(),
                    webhook.url("/authorize"),
                    reviews.clone(),
                );
                std::thread::spawn(move || {
                    // Bounded even if the test forgets to stop it.
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let review = &reviews[i % reviews.len()];
                        i += 1;
                        let outcome = client
                            .post(&url)
                            .json(review)
                            .send()
                            .map_err(|e| format!("{e:#}"))
                            .and_then(|r| {
                                let code = r.status().as_u16();
                                let body: Value = r
                                    .json()
                                    .map_err(|e| format!("HTTP {code}: not JSON: {e:#}"))?;
                                let ok = code == 200
                                    && body["kind"] == "SubjectAccessReview"
                                    && body["status"]["allowed"].is_boolean()
                                    && body["status"].get("denied").is_none()
                                    && body["status"].get("evaluationError").is_none();
                                if ok {
                                    Ok(())
                                } else {
                                    Err(format!("HTTP {code}: {body}"))
                                }
                            });
                        match outcome {
                            Ok(()) => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => failures.lock().unwrap().push(e),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            answered,
            failures,
            threads: handles,
            started: Instant::now(),
        }
    }

    /// Stops the clients; returns how many answers they got, failing on any failed request.
    fn finish(self) -> usize {
        std::thread::sleep(MIN_LOAD.saturating_sub(self.started.elapsed()));
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("load thread");
        }
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "{} failed requests, first: {:?}",
            failures.len(),
            failures.first()
        );
        self.answered.load(Ordering::Relaxed)
    }
}

#[test]
fn policy_edits_are_served_under_load_and_a_broken_file_keeps_its_last_clean_contents() {
    let dir = ScratchDir::new("hot-reload");
    let policies = copy_demo(&dir);
    let bindings = policies.join("50-bindings.yaml");
    let roles = policies.join("20-roles.yaml");
    let original = std::fs::read_to_string(&bindings).unwrap();
    let webhook = Webhook::start("hot-reload", &["--policy", &policies.display().to_string()]);
    assert!(webhook.allows(&bob_pod_log()));
    assert!(webhook.allows(&carol_deletes_prod_pod()));
    let first = webhook.generation();

    let load = Load::start(&webhook, 4);
    std::thread::sleep(Duration::from_millis(300));

    // (a) A good edit revokes bob's binding.
    let revoked = bindings_without_team_a_developers(&original);
    replace_file(&bindings, &revoked);
    assert!(
        eventually(WAIT, || !webhook.allows(&bob_pod_log())),
        "the revoked binding still allows"
    );
    let (_, ready) = webhook.readyz();
    assert!(ready["generation"].as_u64().unwrap() > first, "{ready}");
    assert!(ready["lastReloadError"].is_null(), "{ready}");
    assert_eq!(
        ready["policyProblems"]["fileProblems"],
        json!([]),
        "{ready}"
    );
    assert!(
        webhook.allows(&carol_deletes_prod_pod()),
        "the other bindings stay"
    );

    // (b) A syntax error: the file counts with its last clean contents, the problem names
    // the file and line, and the webhook stays ready.
    let broken = revoked.replacen(
        "roleRef: {apiGroup: iam.theriseunion.io, kind: IAMRole, name: workspace-admin}",
        "roleRef: {apiGroup: iam.theriseunion.io, kind: [IAMRole",
        1,
    );
    assert_ne!(broken, revoked);
    replace_file(&bindings, &broken);
    assert!(
        eventually(WAIT, || webhook.readyz().1["policyProblems"]["staleFiles"]
            .as_array()
            .is_some_and(|f| f.len() == 1)),
        "the bad edit is reported: {}",
        webhook.readyz().1
    );
    let (code, ready) = webhook.readyz();
    assert_eq!(code, 200, "still ready: {ready}");
    assert_eq!(ready["ready"], true);
    assert!(ready["lastReloadError"].is_null(), "{ready}");
    let stale = ready["policyProblems"]["staleFiles"][0].as_str().unwrap();
    assert!(stale.ends_with("50-bindings.yaml"), "{ready}");
    let message = ready["policyProblems"]["fileProblems"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{ready}"));
    let place = message
        .find("50-bindings.yaml:")
        .unwrap_or_else(|| panic!("names the file: {message}"));
    let line = &message[place + "50-bindings.yaml:".len()..];
    assert!(
        line.starts_with(|c: char| c.is_ascii_digit()),
        "names the line: {message}"
    );
    assert!(
        webhook.allows(&carol_deletes_prod_pod()),
        "the broken file's last clean contents count"
    );
    assert!(!webhook.allows(&bob_pod_log()), "and nothing else");
    let metrics = webhook.get("/metrics").1;
    assert!(
        metrics.contains("scopegate_policy_stale_files 1"),
        "{metrics}"
    );

    // (c) While bindings are broken, a revocation in another, readable file takes effect:
    // carol's role goes from 20-roles.yaml.
    let roles_text = std::fs::read_to_string(&roles).unwrap();
    let generation = webhook.generation();
    replace_file(
        &roles,
        &without_document(&roles_text, "  name: workspace-admin\n"),
    );
    assert!(
        eventually(WAIT, || !webhook.allows(&carol_deletes_prod_pod())),
        "a revocation in a readable file waits for a broken one: {}",
        webhook.readyz().1
    );
    assert!(webhook.generation() > generation);
    replace_file(&roles, &roles_text);

    // (d) Fixing it (back to the original) clears the problem and restores bob's binding.
    replace_file(&bindings, &original);
    assert!(
        eventually(WAIT, || {
            let (_, ready) = webhook.readyz();
            ready["policyProblems"]["staleFiles"] == json!([])
                && ready["policyProblems"]["fileProblems"] == json!([])
        }),
        "the fix is loaded: {}",
        webhook.readyz().1
    );
    assert!(eventually(WAIT, || webhook.allows(&bob_pod_log())));
    assert!(eventually(WAIT, || webhook.allows(&carol_deletes_prod_pod())));

    let answered = load.finish();
    assert!(answered > 0, "the load ran");
}

/// The issue's scenario: an admin deletes a role, leaving its bindings behind. The dangling
/// binding grants nothing at once; everything else keeps serving; the problem is reported.
#[test]
fn deleting_a_role_that_bindings_still_name_revokes_at_the_next_reload() {
    let dir = ScratchDir::new("dangling");
    let policies = copy_demo(&dir);
    let roles = policies.join("20-roles.yaml");
    let webhook = Webhook::start("dangling", &["--policy", &policies.display().to_string()]);
    assert!(webhook.allows(&bob_pod_log()));
    let text = std::fs::read_to_string(&roles).unwrap();
    replace_file(
        &roles,
        &without_document(&text, "name: namespace-developer\n"),
    );
    assert!(
        eventually(WAIT, || !webhook.allows(&bob_pod_log())),
        "the binding to the deleted role still allows: {}",
        webhook.readyz().1
    );
    assert!(
        webhook.allows(&carol_deletes_prod_pod()),
        "the rest is served"
    );
    let (code, ready) = webhook.readyz();
    assert_eq!(code, 200, "{ready}");
    assert!(ready["lastReloadError"].is_null(), "{ready}");
    assert!(
        ready["policyProblems"]["objectErrors"].as_u64().unwrap() >= 1,
        "{ready}"
    );
    let objects = ready["policyProblems"]["objects"].to_string();
    assert!(
        objects.contains("team-a-dev-developers") && objects.contains("spec.roleRef.name"),
        "{ready}"
    );
    let metrics = webhook.get("/metrics").1;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("scopegate_policy_object_errors ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // The answer names no role that does not exist.
    let (_, answer) = webhook.authorize(&bob_pod_log());
    assert_eq!(answer["status"]["allowed"], false, "{answer}");
    assert!(answer["status"].get("denied").is_none(), "{answer}");
}

#[test]
fn sighup_reloads_the_policy() {
    let dir = ScratchDir::new("sighup");
    let policies = copy_demo(&dir);
    let bindings = policies.join("50-bindings.yaml");
    let original = std::fs::read_to_string(&bindings).unwrap();
    let webhook = Webhook::start(
        "sighup",
        &["--no-watch", "--policy", &policies.display().to_string()],
    );
    assert_eq!(webhook.generation(), 1);
    assert!(webhook.allows(&bob_pod_log()));

    replace_file(&bindings, &bindings_without_team_a_developers(&original));
    // Not watched: nothing changes until the signal.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(webhook.generation(), 1);
    assert!(webhook.allows(&bob_pod_log()));

    let status = Command::new("kill")
        .args(["-HUP", &webhook.server.pid().to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("run kill");
    assert!(status.success());
    assert!(
        eventually(WAIT, || webhook.generation() == 2),
        "{}",
        webhook.server.logs()
    );
    assert!(!webhook.allows(&bob_pod_log()));
    assert!(webhook.allows(&carol_deletes_prod_pod()));
}

#[test]
fn a_webhook_whose_policy_does_not_load_is_up_not_ready_and_never_allows() {
    let dir = ScratchDir::new("broken-start");
    let policies = dir.path("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let grant_all = "\
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata:
  name: everything
spec:
  scope: Platform
  rules:
    - apiGroups: [\"*\"]
      resources: [\"*\"]
      verbs: [\"*\"]
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata:
  name: everyone
spec:
  subjects: [{kind: Group, name: system:authenticated}]
  roleRef: {kind: IAMRole, name: everything}
  scope: {kind: Platform}
";
    let policy_file = policies.join("policy.yaml");
    std::fs::write(
        &policy_file,
        grant_all.replace("verbs: [\"*\"]", "verbs: [\"*\""),
    )
    .unwrap();
    let webhook = Webhook::start(
        "broken-start",
        &["--policy", &policies.display().to_string()],
    );

    let (code, ready) = webhook.readyz();
    assert_eq!(code, 503, "{ready}");
    assert_eq!(ready["ready"], false);
    let message = ready["lastReloadError"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{ready}"));
    assert!(message.contains("policy.yaml:"), "{message}");
    let (code, _) = webhook.get("/healthz");
    assert_eq!(code, 200, "alive though not ready");

    let review = review_v1(
        "anyone",
        &["system:authenticated"],
        "get",
        "pods",
        "team-a-dev",
        "x",
    );
    let (code, answer) = webhook.authorize(&review);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"]["allowed"], false, "{answer}");
    assert!(answer["status"].get("denied").is_none(), "{answer}");
    assert!(
        answer["status"]["evaluationError"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{answer}"
    );

    // Once the file is fixed the webhook becomes ready and decides.
    replace_file(&policy_file, grant_all);
    assert!(
        eventually(WAIT, || webhook.readyz().0 == 200),
        "{}",
        webhook.readyz().1
    );
    assert!(webhook.allows(&review));
}

// --- the webhook and `scopegate check` agree ------------------------------------------------

/// ~20 reviews over the demo policy, allowed and not, in both versions.
fn assorted_reviews() -> Vec<Value> {
    let resource = |user: &str, groups: &[&str], attributes: Value| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": user, "groups": groups, "uid": "u-1", "resourceAttributes": attributes}})
    };
    let v1beta1 = |user: &str, groups: &[&str], attributes: Value| {
        json!({"apiVersion": "authorization.k8s.io/v1beta1", "kind": "SubjectAccessReview",
               "spec": {"user": user, "group": groups, "resourceAttributes": attributes}})
    };
    vec![
        bob_pod_log(),
        resource(
            "bob",
            &["team-a-devs"],
            json!({"verb": "create", "group": "apps", "resource": "deployments", "namespace": "team-a-dev"}),
        ),
        resource(
            "bob",
            &["team-a-devs"],
            json!({"verb": "get", "resource": "pods", "namespace": "team-a-prod", "name": "api-0"}),
        ),
        resource(
            "bob",
            &["team-a-devs"],
            json!({"verb": "get", "resource": "secrets", "namespace": "team-a-dev", "name": "db"}),
        ),
        resource(
            "carol",
            &[],
            json!({"verb": "delete", "resource": "pods", "namespace": "team-a-prod", "name": "api-1"}),
        ),
        resource(
            "carol",
            &[],
            json!({"verb": "patch", "group": "scope.theriseunion.io", "resource": "workspaces", "name": "team-a"}),
        ),
        resource(
            "carol",
            &[],
            json!({"verb": "get", "resource": "pods", "namespace": "team-b-dev"}),
        ),
        resource(
            "erin",
            &[],
            json!({"verb": "create", "resource": "pods", "subresource": "exec", "namespace": "team-a-dev", "name": "ide-erin"}),
        ),
        resource(
            "erin",
            &[],
            json!({"verb": "get", "resource": "pods", "namespace": "team-a-dev", "name": "api-0"}),
        ),
        resource(
            "erin",
            &[],
            json!({"verb": "list", "resource": "pods", "namespace": "team-a-dev"}),
        ),
        resource(
            "olga",
            &[],
            json!({"verb": "patch", "resource": "nodes", "name": "gpu-node-1"}),
        ),
        resource(
            "olga",
            &[],
            json!({"verb": "patch", "resource": "nodes", "name": "cpu-node-1"}),
        ),
        resource(
            "carl",
            &[],
            json!({"verb": "delete", "resource": "namespaces", "name": "monitoring"}),
        ),
        resource(
            "frank",
            &[],
            json!({"verb": "delete", "resource": "namespaces", "name": "monitoring"}),
        ),
        resource(
            "system:serviceaccount:team-b-dev:ci-bot",
            &["system:serviceaccounts"],
            json!({"verb": "update", "group": "apps", "resource": "deployments", "namespace": "team-b-dev", "name": "search"}),
        ),
        resource(
            "viewer",
            &["team-a-viewers"],
            json!({"verb": "get", "resource": "configmaps", "namespace": "team-a-prod", "name": "cfg",
                                                       "labelSelector": {"rawSelector": "app=web"}}),
        ),
        v1beta1(
            "pat",
            &["platform-admins"],
            json!({"verb": "delete", "resource": "nodes", "name": "gpu-node-2"}),
        ),
        v1beta1(
            "nobody",
            &["system:authenticated"],
            json!({"verb": "get", "resource": "pods", "namespace": "monitoring"}),
        ),
        non_resource("sam", &["sre"], "get", "/metrics"),
        non_resource("sam", &["sre"], "get", "/healthz"),
        non_resource("carl", &[], "post", "/debug/pprof/profile"),
    ]
}

#[test]
fn check_and_the_webhook_give_the_same_answers() {
    let reviews = assorted_reviews();
    let webhook = Webhook::demo("check-agrees", &[]);
    let input: String = reviews
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    let mut child = Command::new(scopegate_bin())
        .args(["check", "--policy", &demo_policies().display().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scopegate check");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_check: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(from_check.len(), reviews.len());

    let mut allowed = 0;
    for (review, checked) in reviews.iter().zip(&from_check) {
        let (code, served) = webhook.authorize(review);
        assert_eq!(code, 200, "{served}");
        assert_eq!(&served, checked, "webhook and check differ on {review}");
        allowed += usize::from(decision(&served));
    }
    assert!(
        allowed > 5 && allowed < reviews.len() - 5,
        "a mix of answers: {allowed} of {} allowed",
        reviews.len()
    );
}

// --- the last-known-good snapshot -----------------------------------------------------------

#[test]
fn a_restarted_webhook_serves_its_last_known_good_snapshot_when_the_files_are_broken() {
    let dir = ScratchDir::new("snapshot");
    let policies = copy_demo(&dir);
    let snapshot = dir.path("last-good.json");
    let policy_arg = policies.display().to_string();
    let snapshot_arg = snapshot.display().to_string();
    let args = [
        "--policy",
        policy_arg.as_str(),
        "--snapshot-file",
        snapshot_arg.as_str(),
    ];

    let first = Webhook::start("snapshot-first", &args);
    assert!(first.allows(&bob_pod_log()));
    assert!(
        support::eventually(WAIT, || snapshot.is_file()),
        "the snapshot is written after a good load"
    );
    drop(first);

    // The source breaks while the webhook is down: every file of the policy is unreadable.
    for entry in std::fs::read_dir(&policies).unwrap() {
        std::fs::write(entry.unwrap().path(), "kind: [unclosed\n").unwrap();
    }
    let second = Webhook::start("snapshot-second", &args);
    let (code, ready) = second.readyz();
    assert_eq!(code, 200, "{ready}");
    assert_eq!(ready["servingFrom"], "snapshot", "{ready}");
    assert!(
        ready["lastReloadError"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("policies")),
        "{ready}"
    );
    assert!(
        second.allows(&bob_pod_log()),
        "the snapshot's decisions are served"
    );
    assert!(!second.allows(&review_v1("mallory", &[], "get", "pods", "team-a-dev", "x")));

    // A broken snapshot is not a reason to stop either: not ready, never an allow.
    drop(second);
    std::fs::write(&snapshot, "{ not json").unwrap();
    let third = Webhook::start("snapshot-third", &args);
    let (code, ready) = third.readyz();
    assert_eq!(code, 503, "{ready}");
    assert!(!third.allows(&bob_pod_log()));
}

/// The allocator options compiled into the binary are in force: jemalloc's background
/// thread, which hands freed memory back to the system, is running, and the heap is
/// advised onto transparent huge pages where the kernel offers them (`scopegate_alloc`).
/// If the options' symbol were ever not picked up, an idle server would silently keep
/// hundreds of megabytes more, and decisions on a large policy would be slower (see
/// BENCHMARKS.md, "Allocator").
#[cfg(target_os = "linux")]
#[test]
fn the_servers_allocator_runs_with_its_compiled_in_options() {
    let webhook = Webhook::demo("allocator", &[]);
    assert!(webhook.allows(&bob_pod_log()));
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", webhook.server.pid()));
    let names: Vec<String> = std::fs::read_dir(proc_dir.join("task"))
        .unwrap_or_else(|e| panic!("{}: {e}", proc_dir.display()))
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n == "jemalloc_bg_thd"),
        "threads: {names:?}"
    );
    let huge_pages_offered = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|mode| !mode.contains("[never]"));
    if huge_pages_offered {
        let smaps = std::fs::read_to_string(proc_dir.join("smaps")).expect("smaps");
        let advised = smaps
            .lines()
            .filter_map(|l| l.strip_prefix("VmFlags:"))
            .any(|flags| flags.split_whitespace().any(|f| f == "hg"));
        assert!(
            advised,
            "no mapping of the server is advised onto huge pages"
        );
    }
}

#[test]
fn caches_can_be_switched_off_and_answers_stay_the_same() {
    let cached = Webhook::demo("cached", &[]);
    let uncached = Webhook::demo("uncached", &["--no-cache"]);
    let reviews = [
        bob_pod_log(),
        carol_deletes_prod_pod(),
        review_v1("mallory", &[], "get", "pods", "team-a-dev", "x"),
        non_resource("sam", &["sre"], "get", "/metrics"),
    ];
    for _ in 0..3 {
        for review in &reviews {
            let (a, b) = (cached.authorize(review), uncached.authorize(review));
            assert_eq!(a.0, 200);
            assert_eq!(a.1["status"], b.1["status"], "{review}");
        }
    }
    let (_, metrics) = uncached.get("/metrics");
    assert_eq!(
        metric(
            &metrics,
            "scopegate_cache_hits_total{tier=\"decision_cache\""
        ),
        0.0,
        "{metrics}"
    );
    let (_, metrics) = cached.get("/metrics");
    assert!(
        metric(
            &metrics,
            "scopegate_cache_hits_total{tier=\"decision_cache\""
        ) >= 8.0,
        "{metrics}"
    );

    // L2 is on by default: another request of a subject already compiled (bob, above) misses
    // L1 and is answered from bob's compiled permissions, the same as without caches.
    let subject_hits = "scopegate_cache_hits_total{tier=\"subject_cache\"";
    let before = metric(&metrics, subject_hits);
    let mut bob_lists_pods = bob_pod_log();
    bob_lists_pods["spec"]["resourceAttributes"]["verb"] = json!("list");
    bob_lists_pods["spec"]["resourceAttributes"]["subresource"] = json!("");
    bob_lists_pods["spec"]["resourceAttributes"]["name"] = json!("");
    let (a, b) = (
        cached.authorize(&bob_lists_pods),
        uncached.authorize(&bob_lists_pods),
    );
    assert_eq!(a.1["status"], b.1["status"]);
    let (_, metrics) = cached.get("/metrics");
    assert_eq!(metric(&metrics, subject_hits) - before, 1.0, "{metrics}");
}

// --- certificate rotation ------------------------------------------------------------------

/// Writes a CA and certificates into a fresh directory by letting `serve --self-signed` do it.
fn self_signed_dir(name: &str) -> ScratchDir {
    let dir = ScratchDir::new(name);
    let dir_arg = dir.0.display().to_string();
    drop(Server::start(&["--self-signed", dir_arg.as_str()]));
    dir
}

#[test]
fn a_rotated_serving_certificate_is_picked_up_without_a_restart() {
    let old = self_signed_dir("rotate-old");
    let new = self_signed_dir("rotate-new");
    let live = ScratchDir::new("rotate-live");
    let (cert, key) = (live.path("tls.crt"), live.path("tls.key"));
    std::fs::copy(old.path("server.crt"), &cert).unwrap();
    std::fs::copy(old.path("server.key"), &key).unwrap();
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let server = Server::start(&[
        "--tls-cert",
        cert_arg.as_str(),
        "--tls-key",
        key_arg.as_str(),
    ]);
    let healthz = server.url("/healthz");
    let reachable_trusting = |ca: &Path| {
        https_client(ca, None)
            .get(&healthz)
            .send()
            .is_ok_and(|r| r.status() == 200)
    };
    assert!(reachable_trusting(&old.path("ca.crt")));
    assert!(
        !reachable_trusting(&new.path("ca.crt")),
        "the new CA is not trusted yet"
    );

    // Rotate the way cert-manager does: both files replaced.
    std::fs::copy(new.path("server.key"), &key).unwrap();
    std::fs::copy(new.path("server.crt"), &cert).unwrap();
    assert!(
        support::eventually(WAIT, || reachable_trusting(&new.path("ca.crt"))),
        "the rotated certificate is served: {}",
        server.logs()
    );
    assert!(
        !reachable_trusting(&old.path("ca.crt")),
        "the old certificate is no longer served"
    );

    // A broken rotation (a key that does not belong to the certificate) keeps the last good pair.
    std::fs::copy(old.path("server.key"), &key).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        reachable_trusting(&new.path("ca.crt")),
        "the last good certificate keeps serving"
    );
}

#[test]
fn a_rotated_client_ca_is_trusted_without_a_restart() {
    let old = self_signed_dir("client-ca-old");
    let new = self_signed_dir("client-ca-new");
    let live = ScratchDir::new("client-ca-live");
    let client_ca = live.path("client-ca.crt");
    std::fs::copy(old.path("ca.crt"), &client_ca).unwrap();
    let server = Server::start(&[
        "--tls-cert",
        &old.path("server.crt").display().to_string(),
        "--tls-key",
        &old.path("server.key").display().to_string(),
        "--client-ca",
        &client_ca.display().to_string(),
    ]);
    let healthz = server.url("/healthz");
    // A fresh client (and so a fresh connection and handshake) every time: a connection
    // keeps the configuration it was accepted with.
    let answered_with_client_cert_of = |dir: &ScratchDir| {
        https_client(
            &old.path("ca.crt"),
            Some((&dir.path("client.crt"), &dir.path("client.key"))),
        )
        .get(&healthz)
        .send()
        .is_ok_and(|r| r.status() == 200)
    };
    assert!(answered_with_client_cert_of(&old));
    assert!(
        !answered_with_client_cert_of(&new),
        "the new CA is not trusted yet"
    );

    std::fs::copy(new.path("ca.crt"), &client_ca).unwrap();
    assert!(
        support::eventually(WAIT, || answered_with_client_cert_of(&new)),
        "clients of the rotated CA are answered: {}",
        server.logs()
    );
    assert!(
        !answered_with_client_cert_of(&old),
        "clients of the old CA are refused once it is replaced"
    );

    // A broken CA file keeps the last good CA.
    std::fs::write(&client_ca, "not a certificate\n").unwrap();
    assert!(
        support::eventually(WAIT, || server.logs().contains("client CA not reloaded")),
        "the bad file is reported: {}",
        server.logs()
    );
    assert!(
        answered_with_client_cert_of(&new),
        "the last good CA keeps serving"
    );
    assert!(!answered_with_client_cert_of(&old));
    // Retried at every poll (2 s), reported once per change of the file.
    std::thread::sleep(Duration::from_secs(5));
    let logs = server.logs();
    assert_eq!(logs.matches("client CA not reloaded").count(), 1, "{logs}");
}
