//! Measures how long a revocation takes to be served: from the moment a policy file that
//! grants a permission is removed to the first `allowed: false` for a request only it allowed.
//!
//! It starts a real `scopegate serve` (with its default cache tiers) on a copy of a policy
//! directory, adds a file granting user `revoke-probe` a Namespace-scope role, waits until the
//! webhook allows the probe, then removes the file and sends the probe back to back over one
//! keep-alive HTTPS connection until the answer changes. Repeated `--rounds` times.
//!
//! ```text
//! cargo build --release -p scopegate -p scopegate-benches
//! target/release/revoke_latency --scopegate target/release/scopegate --policy examples/policies
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
    let grant = policies.join("zz-revoke-probe.yaml");
    std::fs::write(&grant, grant_file(&args.role, &args.namespace))?;

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
        std::fs::remove_file(&grant)?;
        let mut probes = 0u64;
        while allowed()? {
            probes += 1;
            if revoked_at.elapsed() > Duration::from_secs(10) {
                bail!("round {round}: the revocation was never served");
            }
        }
        let latency = revoked_at.elapsed();
        println!(
            "round {round}: first no-opinion {:.1} ms after the file was removed ({probes} allowed probes in between)",
            latency.as_secs_f64() * 1e3
        );
        latencies.push(latency);
        std::fs::write(&grant, grant_file(&args.role, &args.namespace))?;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "revocation latency over {} rounds: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(latencies[0]),
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() - 1])
    );
    Ok(())
}
