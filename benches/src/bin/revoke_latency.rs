//! Measures how long a revocation takes to be served: from the moment a policy file changes
//! to the first `allowed: false` for a request only the revoked grant allowed.
//!
//! It starts a real `scopegate serve` (with its default cache tiers) on a copy of a policy
//! directory, adds a grant for user `revoke-probe`, waits until the webhook allows the probe,
//! then revokes it and sends the probe back to back over one keep-alive HTTPS connection until
//! the answer changes. Repeated `--rounds` times. Two ways to revoke (`--scenario`):
//! - `remove-binding` (default): the file holding the probe's IAMRoleBinding is removed;
//! - `delete-role`: the probe's IAMRole is deleted from the roles file it shares with another
//!   role (rewritten atomically, as editors and ConfigMap volumes do), and the binding that
//!   names it is left behind: the binding now has an error and must grant nothing at once.
//!
//! ```text
//! cargo build --release -p scopegate -p scopegate-benches
//! target/release/revoke_latency --scopegate target/release/scopegate --policy examples/policies
//! target/release/revoke_latency --scenario delete-role
//! ```

use anyhow::{Context, bail};
use clap::Parser;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Measures the time from a policy file change to the first decision that reflects it.
#[derive(Debug, Parser)]
struct Args {
    /// The scopegate binary to run.
    #[arg(long, default_value = "target/release/scopegate")]
    scopegate: PathBuf,
    /// The policy directory to copy and serve.
    #[arg(long, default_value = "examples/policies")]
    policy: PathBuf,
    /// An IAMRole with `scope: Namespace` that grants `get pods` (the demo's works).
    #[arg(long, default_value = "namespace-developer")]
    role: String,
    /// A namespace of the policy.
    #[arg(long, default_value = "team-a-dev")]
    namespace: String,
    /// How many revocations to time.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// How the grant is revoked.
    #[arg(long, value_enum, default_value_t = Scenario::RemoveBinding)]
    scenario: Scenario,
}

/// How the probe's grant is revoked.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Scenario {
    /// The binding's file is removed.
    RemoveBinding,
    /// The role is deleted from its file; the binding naming it stays.
    DeleteRole,
}

/// The probe's grant on disk, and how to revoke and restore it.
struct Grant {
    scenario: Scenario,
    binding_file: PathBuf,
    roles_file: PathBuf,
    role: String,
    namespace: String,
}

impl Grant {
    fn new(policies: &Path, scenario: Scenario, role: &str, namespace: &str) -> Self {
        Grant {
            scenario,
            binding_file: policies.join("zz-revoke-probe.yaml"),
            roles_file: policies.join("zz-revoke-probe-roles.yaml"),
            role: role.to_string(),
            namespace: namespace.to_string(),
        }
    }

    /// Writes the grant (for `delete-role`, a role of its own beside another in one file).
    fn write(&self) -> anyhow::Result<()> {
        match self.scenario {
            Scenario::RemoveBinding => {
                replace(&self.binding_file, &grant_file(&self.role, &self.namespace))
            }
            Scenario::DeleteRole => {
                replace(&self.roles_file, &roles_file(true))?;
                replace(
                    &self.binding_file,
                    &grant_file("revoke-probe-role", &self.namespace),
                )
            }
        }
    }

    fn revoke(&self) -> anyhow::Result<()> {
        match self.scenario {
            Scenario::RemoveBinding => Ok(std::fs::remove_file(&self.binding_file)?),
            Scenario::DeleteRole => replace(&self.roles_file, &roles_file(false)),
        }
    }
}

/// A roles file: a role nobody is bound to, and (when `with_probe_role`) the probe's role.
fn roles_file(with_probe_role: bool) -> String {
    let role = |name: &str| {
        format!(
            "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRole\nmetadata: {{name: {name}}}\nspec:\n  scope: Namespace\n  rules: [{{apiGroups: [\"\"], resources: [pods], verbs: [get]}}]\n"
        )
    };
    if with_probe_role {
        format!("{}---\n{}", role("unbound-role"), role("revoke-probe-role"))
    } else {
        role("unbound-role")
    }
}

/// Replaces `path`'s contents atomically (a reader sees the old file or the new one).
fn replace(path: &Path, contents: &str) -> anyhow::Result<()> {
    let name = path.file_name().context("a file name")?.to_string_lossy();
    let aside = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&aside, contents)?;
    std::fs::rename(&aside, path)?;
    Ok(())
}

/// Kills the server when dropped, whatever happens.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn grant_file(role: &str, namespace: &str) -> String {
    format!(
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRoleBinding\nmetadata: {{name: revoke-probe}}\nspec:\n  subjects: [{{kind: User, name: revoke-probe}}]\n  roleRef: {{kind: IAMRole, name: {role}}}\n  scope: {{kind: Namespace, name: {namespace}}}\n"
    )
}

fn probe_body(namespace: &str) -> String {
    serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "revoke-probe", "groups": ["system:authenticated"],
                 "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": namespace, "name": "p"}}
    })
    .to_string()
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch =
        std::env::temp_dir().join(format!("scopegate-revoke-latency-{}", std::process::id()));
    let policies = scratch.join("policies");
    let certs = scratch.join("certs");
    copy_dir(&args.policy, &policies)?;
    let grant = Grant::new(&policies, args.scenario, &args.role, &args.namespace);
    grant.write()?;

    let mut child = Command::new(&args.scopegate)
        .args(["serve", "--listen", "127.0.0.1:0", "--self-signed"])
        .arg(&certs)
        .arg("--policy")
        .arg(&policies)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", args.scopegate.display()))?;
    let stderr = child.stderr.take().context("stderr")?;
    let server = Server(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("scopegate: listening on ") {
            url = rest
                .split_whitespace()
                .next()
                .map(|u| format!("{u}/authorize"));
            break;
        }
    }
    let url = url.context("the server did not start")?;
    // Keep reading the server's log, or it blocks writing it once the pipe is full.
    std::thread::spawn(move || lines.for_each(drop));
    let ca = std::fs::read(certs.join("ca.crt"))?;
    let client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?;
    let body = probe_body(&args.namespace);
    let allowed = || -> anyhow::Result<bool> {
        let answer: serde_json::Value = client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()?
            .json()?;
        Ok(answer["status"]["allowed"] == true)
    };

    let mut latencies = Vec::with_capacity(args.rounds);
    for round in 0..args.rounds {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !allowed()? {
            if Instant::now() > deadline {
                let ready = client
                    .get(url.replace("/authorize", "/readyz"))
                    .send()?
                    .text()?;
                bail!("round {round}: the grant was never served; readyz: {ready}");
            }
        }
        // Warm every tier with the allowed answer before revoking.
        for _ in 0..10 {
            allowed()?;
        }
        let revoked_at = Instant::now();
        grant.revoke()?;
        let mut probes = 0u64;
        while allowed()? {
            probes += 1;
            if revoked_at.elapsed() > Duration::from_secs(10) {
                bail!("round {round}: the revocation was never served");
            }
        }
        let latency = revoked_at.elapsed();
        println!(
            "round {round}: first no-opinion {:.1} ms after the revocation was written ({probes} allowed probes in between)",
            latency.as_secs_f64() * 1e3
        );
        latencies.push(latency);
        grant.write()?;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "revocation latency ({:?}) over {} rounds: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        args.scenario,
        latencies.len(),
        ms(latencies[0]),
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() - 1])
    );
    Ok(())
}
