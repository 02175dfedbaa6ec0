//! Shared helpers for the integration tests: real `scopegate` processes, real files in
//! scratch directories, and HTTPS clients that trust the test CA.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `scopegate` binary cargo built for these tests.
pub fn scopegate_bin() -> &'static str {
    env!("CARGO_BIN_EXE_scopegate")
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The demo policy directory.
pub fn demo_policies() -> PathBuf {
    repo_root().join("examples/policies")
}

/// A fresh scratch directory, removed when dropped.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// Creates `$TMPDIR/scopegate-test-<name>-<pid>-<n>`.
    pub fn new(name: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("scopegate-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `scopegate serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `https://127.0.0.1:PORT` (or `http://` with --insecure-http).
    pub base_url: String,
    /// Everything the server wrote to stderr so far (JSON log lines and notices).
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `scopegate serve ARGS --listen 127.0.0.1:0` and waits until it listens.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// [`Server::start`] with these environment variables set too.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(scopegate_bin())
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start scopegate serve");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("scopegate: listening on ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(url);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let base_url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "scopegate serve did not start; stderr:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            base_url,
            stderr: lines,
        }
    }

    /// The URL of an endpoint.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The URL of an endpoint on the ops listener (`--ops-listen`), announced on stderr
    /// before the webhook's own address.
    pub fn ops_url(&self, path: &str) -> String {
        let lines = self.stderr.lock().unwrap();
        let base = lines
            .iter()
            .find_map(|l| l.strip_prefix("scopegate: ops listening on "))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no ops listener announced:\n{}", lines.join("\n")));
        format!("{base}{path}")
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stderr lines so far, joined.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS client trusting `ca` and, if given, presenting a client certificate.
pub fn https_client(ca: &Path, identity: Option<(&Path, &Path)>) -> reqwest::blocking::Client {
    let ca_pem = std::fs::read(ca).expect("read CA");
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).expect("CA PEM"))
        .timeout(Duration::from_secs(10));
    if let Some((cert, key)) = identity {
        let mut pem = std::fs::read(cert).expect("read client cert");
        pem.extend(std::fs::read(key).expect("read client key"));
        builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("client identity"));
    }
    builder.build().expect("HTTPS client")
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// A SubjectAccessReview body (v1) for a resource request.
pub fn review_v1(
    user: &str,
    groups: &[&str],
    verb: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": groups,
            "resourceAttributes": { "verb": verb, "resource": resource, "namespace": namespace, "name": name, "version": "v1" }
        }
    })
}

/// `tests/fixtures/three-mistakes.yaml`: a Namespace and three bindings with errors (a
/// dangling roleRef, a scope-kind mismatch, an undeclared Workspace), to go beside the demo.
pub fn three_mistakes() -> PathBuf {
    repo_root().join("tests/fixtures/three-mistakes.yaml")
}

/// The same file without its three bindings: what the answers must be equal to.
pub fn three_mistakes_removed() -> String {
    let text = std::fs::read_to_string(three_mistakes()).expect("read the fixture");
    text.split("\n---\n")
        .filter(|doc| !doc.contains("kind: IAMRoleBinding"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// Requests the three mistakes would allow if their errors were ignored, and requests the
/// demo allows, one SubjectAccessReview each.
pub fn three_mistakes_probes() -> Vec<serde_json::Value> {
    vec![
        // Would be allowed by mallory-ghost (Platform), mallory-wrong-kind (Workspace team-a)
        // and mallory-undeclared (Workspace team-z).
        review_v1("mallory", &[], "delete", "nodes", "", "n1"),
        review_v1("mallory", &[], "get", "pods", "team-a-dev", "api-0"),
        review_v1("mallory", &[], "list", "pods", "team-z-dev", ""),
        review_v1(
            "mallory",
            &["system:authenticated"],
            "get",
            "configmaps",
            "team-a-prod",
            "c",
        ),
        // Allowed by the demo, and must stay so.
        review_v1(
            "bob",
            &["team-a-devs", "system:authenticated"],
            "get",
            "pods",
            "team-a-dev",
            "api-0",
        ),
        review_v1(
            "carol",
            &["system:authenticated"],
            "delete",
            "pods",
            "team-a-prod",
            "api-1",
        ),
        review_v1("pat", &["platform-admins"], "delete", "nodes", "", "gpu-1"),
    ]
}
