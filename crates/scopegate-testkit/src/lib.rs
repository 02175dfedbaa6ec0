//! Test support shared by Scopegate's integration tests.
//!
//! [`KubeApiServer`] runs a real etcd and kube-apiserver (v1.20) on loopback for one test, with
//! the scripts in `.ci/kube-apiserver/` (the shared start/stop scripts over a build whose
//! vendored dependencies are fixed so custom resources can be written), and stops them when
//! dropped, also when the test panics. Every test that needs an API server starts it through
//! here, so there is one place that knows how.
//!
//! A suite skips with a clear message, and passes, when `SCOPEGATE_KAPI=0` is set
//! ([`kube_apiserver_disabled`]); CI runs it.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The scripts that build and run kube-apiserver: `.ci/kube-apiserver` in this repository, or
/// `$SCOPEGATE_KAPI_TOOLS`.
pub fn kapi_tools() -> PathBuf {
    std::env::var_os("SCOPEGATE_KAPI_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".ci/kube-apiserver"))
}

/// Whether tests that need a kube-apiserver must skip (`SCOPEGATE_KAPI=0`). Prints why, naming
/// `what`, so a skipped run says so.
pub fn kube_apiserver_disabled(what: &str) -> bool {
    if std::env::var("SCOPEGATE_KAPI").as_deref() == Ok("0") {
        eprintln!(
            "SKIPPED: SCOPEGATE_KAPI=0, so {what} does not run against a real kube-apiserver"
        );
        return true;
    }
    assert!(
        kapi_tools().join("start.sh").is_file(),
        "no kube-apiserver tools at {} (set SCOPEGATE_KAPI_TOOLS, or SCOPEGATE_KAPI=0 to skip)",
        kapi_tools().display()
    );
    false
}

/// A unique suffix for names made by this process.
fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// A running etcd + kube-apiserver in a scratch directory of its own. The admin authenticates
/// with a static `system:masters` token (the admin certificate start.sh writes is X.509 v1,
/// which rustls refuses to present).
pub struct KubeApiServer {
    /// Where start.sh keeps certificates, data, logs and `env`.
    pub dir: PathBuf,
    /// The API server's base URL (`https://127.0.0.1:PORT`).
    pub url: String,
    /// The admin's bearer token.
    pub token: String,
    /// The CA that signed the API server's serving certificate, PEM.
    pub ca_pem: Vec<u8>,
    /// Other users known to the server by token: (user name, token).
    users: Vec<(String, String)>,
    /// Whether to keep `dir` after stopping (when the test failed, for a look at the logs).
    keep_dir: bool,
}

/// A user the API server knows by a static token, for tests that act as someone other than the
/// admin (e.g. Scopegate's own service account under a least-privilege ClusterRole).
#[derive(Clone, Debug)]
pub struct TestUser {
    /// The user name, e.g. `system:serviceaccount:scopegate-system:scopegate`.
    pub name: String,
    /// The user's groups.
    pub groups: Vec<String>,
}

impl KubeApiServer {
    /// Starts etcd and kube-apiserver with `flags` added to start.sh's defaults, and waits until
    /// the API server is ready. `name` names the scratch directory.
    pub fn start(name: &str, flags: &[String]) -> KubeApiServer {
        Self::start_with_users(name, flags, &[])
    }

    /// As [`KubeApiServer::start`], with more users known by token (see
    /// [`KubeApiServer::kubeconfig_for_user`]).
    pub fn start_with_users(name: &str, flags: &[String], users: &[TestUser]) -> KubeApiServer {
        let dir = std::env::temp_dir().join(format!("scopegate-kapi-{name}-{}", unique()));
        Self::start_in(&dir, flags, users)
    }

    /// As [`KubeApiServer::start`], in a directory the caller chose (it may already hold files
    /// the flags name, such as a webhook kubeconfig).
    pub fn start_in(dir: &Path, flags: &[String], users: &[TestUser]) -> KubeApiServer {
        std::fs::create_dir_all(dir).expect("create the kube-apiserver directory");
        let token = format!("admin-{}", unique());
        let mut lines = format!("{token},test-admin,test-admin,\"system:masters\"\n");
        let mut known = Vec::new();
        for (i, user) in users.iter().enumerate() {
            let user_token = format!("user{i}-{}", unique());
            lines.push_str(&format!(
                "{user_token},{},{},\"{}\"\n",
                user.name,
                user.name,
                user.groups.join(",")
            ));
            known.push((user.name.clone(), user_token));
        }
        let tokens = dir.join("tokens.csv");
        std::fs::write(&tokens, lines).expect("write the token file");
        let started = Instant::now();
        // From here on the guard owns whatever start.sh leaves running.
        let mut server = KubeApiServer {
            dir: dir.to_path_buf(),
            url: String::new(),
            token,
            ca_pem: Vec::new(),
            users: known,
            keep_dir: false,
        };
        let output = Command::new(kapi_tools().join("start.sh"))
            .arg(dir)
            .args(flags)
            .arg(format!("--token-auth-file={}", tokens.display()))
            .output()
            .expect("run start.sh");
        assert!(
            output.status.success(),
            "start.sh failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("    kube-apiserver ready in {:.1?}", started.elapsed());
        let env = std::fs::read_to_string(dir.join("env")).expect("start.sh writes DIR/env");
        server.url = env
            .lines()
            .find_map(|l| l.strip_prefix("export KAPI_URL="))
            .expect("KAPI_URL in DIR/env")
            .trim_matches(|c| c == '\'' || c == '"')
            .to_string();
        server.ca_pem = std::fs::read(dir.join("ca.crt")).expect("start.sh writes DIR/ca.crt");
        server
    }

    /// The last `lines` lines of kube-apiserver's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("apiserver.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// A kubeconfig file for the admin (server, CA, token), as a user of `scopegate
    /// --kubeconfig` or kubectl would be given. Written into the server's directory.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.kubeconfig_for("admin", &self.token)
    }

    /// A kubeconfig file for a user given to [`KubeApiServer::start_with_users`].
    pub fn kubeconfig_for_user(&self, user: &str) -> PathBuf {
        let (index, (_, token)) = self
            .users
            .iter()
            .enumerate()
            .find(|(_, (name, _))| name == user)
            .unwrap_or_else(|| panic!("{user} was not given to start_with_users"));
        self.kubeconfig_for(&format!("user{index}"), token)
    }

    /// A kubeconfig file named `name` that authenticates with `token`.
    fn kubeconfig_for(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.kubeconfig"));
        let kubeconfig = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {
                "server": self.url,
                "certificate-authority": self.dir.join("ca.crt"),
            }}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": "test", "user": name}}],
            "current-context": name,
        });
        let yaml = serde_yaml::to_string(&kubeconfig).expect("a kubeconfig serializes");
        std::fs::write(&path, yaml).expect("write the kubeconfig");
        path
    }

    /// A kube client acting as the admin.
    pub async fn client(&self) -> kube::Client {
        client_from(&self.admin_kubeconfig()).await
    }

    /// Whether kube-apiserver is still running (it writes its pid into the directory).
    pub fn is_running(&self) -> bool {
        std::fs::read_to_string(self.dir.join("apiserver.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    }

    /// Keeps the scratch directory after stopping (its path is printed), e.g. to read logs.
    pub fn keep_dir(&mut self) {
        self.keep_dir = true;
    }
}

/// A kube client from a kubeconfig file.
pub async fn client_from(path: &Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("read the kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("a client configuration from the kubeconfig");
    kube::Client::try_from(config).expect("a kube client")
}

impl Drop for KubeApiServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "kube-apiserver's log ({}), last lines:\n{}",
                self.dir.join("apiserver.log").display(),
                self.log_tail(60)
            );
            self.keep_dir = true;
        }
        let _ = Command::new(kapi_tools().join("stop.sh"))
            .arg(&self.dir)
            .output();
        if self.keep_dir {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics naming `what` after `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Prints a test step with the time since `started`, so a slow or failing step is easy to find
/// in the output.
pub fn step(name: &str, started: Instant) {
    eprintln!("[{:>5.1?}] {name}", started.elapsed());
}

/// Server-side applies `object` through `api` as the field manager `manager` (forcing), and
/// returns what the API server stored.
pub async fn apply<K>(api: &kube::Api<K>, object: &K, manager: &str) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let name = object
        .meta()
        .name
        .clone()
        .expect("an object to apply has a name");
    api.patch(
        &name,
        &kube::api::PatchParams::apply(manager).force(),
        &kube::api::Patch::Apply(object),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {name}: {e}"))
}

/// Applies `crds` and waits until each is Established (so its kind can be served), at most
/// 30 s each.
pub async fn install_crds(client: &kube::Client, crds: &[CustomResourceDefinition], manager: &str) {
    let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    for crd in crds {
        apply(&api, crd, manager).await;
    }
    for crd in crds {
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stored = api.get(&name).await.expect("read the CRD back");
            let established = stored
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} not Established within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
