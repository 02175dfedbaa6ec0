//! `scopegate apiserver-config`: the files that put Scopegate into kube-apiserver's
//! authorization chain (the README explains every choice).
//!
//! Three files go to `--out-dir`:
//! - `webhook-kubeconfig.yaml`: how kube-apiserver reaches the webhook: its URL, the CA of its
//!   serving certificate, and the client certificate kube-apiserver presents (all embedded, so
//!   the file is self-contained; it holds a private key and is written mode 0600);
//! - `authorization-config.yaml`: an `AuthorizationConfiguration` (apiserver.config.k8s.io/v1,
//!   Kubernetes 1.32+, `--authorization-config`): Node, then Scopegate, then RBAC;
//! - `kube-apiserver-flags.txt`: the same chain with the older flags, one per line.

use crate::args::ApiserverConfigArgs;
use anyhow::{Context, bail};
use base64::Engine;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The webhook kubeconfig's file name.
pub const WEBHOOK_KUBECONFIG: &str = "webhook-kubeconfig.yaml";
/// The `AuthorizationConfiguration`'s file name.
pub const AUTHORIZATION_CONFIG: &str = "authorization-config.yaml";
/// The older flags' file name.
pub const LEGACY_FLAGS: &str = "kube-apiserver-flags.txt";

/// The authorizer's name in the chain (and in kube-apiserver's metrics).
const AUTHORIZER_NAME: &str = "scopegate";

/// Requests kube-apiserver never sends to Scopegate (CEL over the v1 SubjectAccessReview
/// spec). Scopegate only ever allows or has no opinion, so leaving a request out can take
/// away an allow Scopegate would have given, never add one: these are the cluster's own
/// machinery, which RBAC (and the Node authorizer) already decide, and which must keep
/// working, at full speed, whatever happens to the webhook. `system:masters` needs no
/// condition: kube-apiserver allows it before any configured authorizer.
pub const MATCH_CONDITIONS: &[&str] = &[
    // Kubelets: the Node authorizer, first in the chain, and RBAC decide them.
    "!request.user.startsWith('system:node:')",
    // kube-controller-manager, kube-scheduler, kube-proxy (system:kube-*).
    "!request.user.startsWith('system:kube-')",
    // The controllers' own service accounts (kube-controller-manager with
    // --use-service-account-credentials) and the rest of kube-system's.
    "!request.user.startsWith('system:serviceaccount:kube-system:')",
];

/// Runs `apiserver-config`: checks the inputs, writes the three files, prints how to use them.
pub fn run(args: &ApiserverConfigArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_args(args)?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let out_dir = std::fs::canonicalize(&args.out_dir)
        .with_context(|| format!("cannot resolve {}", args.out_dir.display()))?;
    let files = generate(&settings, &out_dir)?;
    write_file(&files.kubeconfig_path, &files.kubeconfig, true)?;
    write_file(
        &files.authorization_config_path,
        &files.authorization_config,
        false,
    )?;
    write_file(&files.flags_path, &files.flags, false)?;

    println!(
        "wrote {} (how kube-apiserver reaches Scopegate; holds a private key: mode 0600)",
        files.kubeconfig_path.display()
    );
    println!("wrote {}", files.authorization_config_path.display());
    println!("wrote {}", files.flags_path.display());
    println!();
    println!("Kubernetes 1.32 and later: start kube-apiserver with");
    println!(
        "  --authorization-config={}",
        files.authorization_config_path.display()
    );
    println!("and without --authorization-mode or any --authorization-webhook-* flag.");
    println!("Older versions (no match conditions, no timeout setting): start kube-apiserver with");
    for flag in files.flags.lines() {
        println!("  {flag}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The checked inputs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The webhook's URL.
    pub url: String,
    /// PEM of the CA that signed the webhook's serving certificate.
    pub ca_pem: Vec<u8>,
    /// PEM of kube-apiserver's client certificate.
    pub client_cert_pem: Vec<u8>,
    /// PEM of its key.
    pub client_key_pem: Vec<u8>,
    /// Webhook call timeout, as written (a Go duration).
    pub timeout: String,
    /// How long kube-apiserver caches an allow.
    pub authorized_ttl: String,
    /// How long kube-apiserver caches a no-opinion.
    pub unauthorized_ttl: String,
}

impl Settings {
    /// Reads and checks the arguments: an https URL, a CA with at least one certificate, a
    /// client certificate and key that belong together, and the durations kube-apiserver's
    /// own validation accepts (timeout in (0, 30s], TTLs above zero).
    pub fn from_args(args: &ApiserverConfigArgs) -> anyhow::Result<Self> {
        check_url(&args.url)?;
        let ca_pem = std::fs::read(&args.ca)
            .with_context(|| format!("--ca {}: cannot read", args.ca.display()))?;
        let certs = CertificateDer::pem_slice_iter(&ca_pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--ca {}: not PEM certificates", args.ca.display()))?;
        if certs.is_empty() {
            bail!("--ca {}: no certificate in the file", args.ca.display());
        }
        crate::serve::tls::load_certified_key(&args.client_cert, &args.client_key)
            .context("--client-cert/--client-key: not a usable client identity")?;
        let client_cert_pem = std::fs::read(&args.client_cert)?;
        let client_key_pem = std::fs::read(&args.client_key)?;

        let timeout = parse_go_duration(&args.timeout).context("--timeout")?;
        if timeout.is_zero() || timeout > Duration::from_secs(30) {
            bail!(
                "--timeout {}: must be above 0s and at most 30s (kube-apiserver's limit)",
                args.timeout
            );
        }
        for (flag, value) in [
            ("--authorized-ttl", &args.authorized_ttl),
            ("--unauthorized-ttl", &args.unauthorized_ttl),
        ] {
            if parse_go_duration(value).context(flag)?.is_zero() {
                bail!("{flag} {value}: must be above 0s");
            }
        }
        Ok(Settings {
            url: args.url.clone(),
            ca_pem,
            client_cert_pem,
            client_key_pem,
            timeout: args.timeout.clone(),
            authorized_ttl: args.authorized_ttl.clone(),
            unauthorized_ttl: args.unauthorized_ttl.clone(),
        })
    }
}

/// The generated files' contents and where they go.
#[derive(Debug, Clone)]
pub struct Files {
    /// The webhook kubeconfig's path.
    pub kubeconfig_path: PathBuf,
    /// Its YAML.
    pub kubeconfig: String,
    /// The AuthorizationConfiguration's path.
    pub authorization_config_path: PathBuf,
    /// Its YAML.
    pub authorization_config: String,
    /// The older flags' path.
    pub flags_path: PathBuf,
    /// The flags, one per line.
    pub flags: String,
}

/// Builds the three files for `out_dir` (absolute: kube-apiserver requires an absolute
/// `kubeConfigFile`).
pub fn generate(settings: &Settings, out_dir: &Path) -> anyhow::Result<Files> {
    let kubeconfig_path = out_dir.join(WEBHOOK_KUBECONFIG);
    let authorization_config_path = out_dir.join(AUTHORIZATION_CONFIG);
    let flags_path = out_dir.join(LEGACY_FLAGS);
    let kubeconfig_file = kubeconfig_path
        .to_str()
        .context("the output directory's path is not UTF-8")?
        .to_string();

    let b64 = |pem: &[u8]| base64::engine::general_purpose::STANDARD.encode(pem);
    let kubeconfig = Kubeconfig {
        api_version: "v1".into(),
        kind: "Config".into(),
        clusters: vec![NamedCluster {
            name: AUTHORIZER_NAME.into(),
            cluster: Cluster {
                server: settings.url.clone(),
                certificate_authority_data: b64(&settings.ca_pem),
            },
        }],
        users: vec![NamedUser {
            name: "kube-apiserver".into(),
            user: User {
                client_certificate_data: b64(&settings.client_cert_pem),
                client_key_data: b64(&settings.client_key_pem),
            },
        }],
        contexts: vec![NamedContext {
            name: AUTHORIZER_NAME.into(),
            context: KubeContext {
                cluster: AUTHORIZER_NAME.into(),
                user: "kube-apiserver".into(),
            },
        }],
        current_context: AUTHORIZER_NAME.into(),
    };

    let authorization = AuthorizationConfiguration {
        api_version: "apiserver.config.k8s.io/v1".into(),
        kind: "AuthorizationConfiguration".into(),
        authorizers: vec![
            Authorizer {
                kind: "Node".into(),
                name: "node".into(),
                webhook: None,
            },
            Authorizer {
                kind: "Webhook".into(),
                name: AUTHORIZER_NAME.into(),
                webhook: Some(WebhookConfiguration {
                    timeout: settings.timeout.clone(),
                    authorized_ttl: settings.authorized_ttl.clone(),
                    unauthorized_ttl: settings.unauthorized_ttl.clone(),
                    subject_access_review_version: "v1".into(),
                    match_condition_subject_access_review_version: "v1".into(),
                    failure_policy: "NoOpinion".into(),
                    connection_info: ConnectionInfo {
                        kind: "KubeConfigFile".into(),
                        kube_config_file: kubeconfig_file.clone(),
                    },
                    match_conditions: MATCH_CONDITIONS
                        .iter()
                        .map(|e| MatchCondition {
                            expression: (*e).into(),
                        })
                        .collect(),
                }),
            },
            Authorizer {
                kind: "RBAC".into(),
                name: "rbac".into(),
                webhook: None,
            },
        ],
    };

    let header =
        "# Generated by `scopegate apiserver-config`; Scopegate's README explains each field.\n";
    let flags = [
        "--authorization-mode=Node,Webhook,RBAC".to_string(),
        format!("--authorization-webhook-config-file={kubeconfig_file}"),
        "--authorization-webhook-version=v1".to_string(),
        format!(
            "--authorization-webhook-cache-authorized-ttl={}",
            settings.authorized_ttl
        ),
        format!(
            "--authorization-webhook-cache-unauthorized-ttl={}",
            settings.unauthorized_ttl
        ),
    ]
    .join("\n")
        + "\n";
    Ok(Files {
        kubeconfig: format!("{header}{}", serde_yaml::to_string(&kubeconfig)?),
        authorization_config: format!("{header}{}", serde_yaml::to_string(&authorization)?),
        flags,
        kubeconfig_path,
        authorization_config_path,
        flags_path,
    })
}

/// Refuses what kube-apiserver cannot or should not call: anything but an https URL with a
/// host, or one carrying credentials, a query or a fragment.
fn check_url(url: &str) -> anyhow::Result<()> {
    let Some(rest) = url.strip_prefix("https://") else {
        bail!("--url {url}: must start with https:// (kube-apiserver calls the webhook over TLS)");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        bail!("--url {url}: no host");
    }
    if authority.contains('@') || url.contains('?') || url.contains('#') {
        bail!("--url {url}: must not carry credentials, a query or a fragment");
    }
    Ok(())
}

/// Parses a Go duration as kube-apiserver does (`3s`, `5m`, `1m30s`, `250ms`, `1.5h`); no
/// sign, and a bare `0` only.
pub fn parse_go_duration(text: &str) -> anyhow::Result<Duration> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let invalid = || anyhow::anyhow!("{text:?}: not a duration (write e.g. 3s, 5m, 1m30s, 250ms)");
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

/// Writes a file; the kubeconfig (it embeds a private key) readable by its owner only.
fn write_file(path: &Path, contents: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if secret {
        // An existing file keeps its mode on open: tighten it too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

// The two documents, with Kubernetes' field names.

#[derive(Debug, Serialize, Deserialize)]
struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    clusters: Vec<NamedCluster>,
    users: Vec<NamedUser>,
    contexts: Vec<NamedContext>,
    #[serde(rename = "current-context")]
    current_context: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cluster {
    server: String,
    #[serde(rename = "certificate-authority-data")]
    certificate_authority_data: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Debug, Serialize, Deserialize)]
struct User {
    #[serde(rename = "client-certificate-data")]
    client_certificate_data: String,
    #[serde(rename = "client-key-data")]
    client_key_data: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct NamedContext {
    name: String,
    context: KubeContext,
}

#[derive(Debug, Serialize, Deserialize)]
struct KubeContext {
    cluster: String,
    user: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationConfiguration {
    api_version: String,
    kind: String,
    authorizers: Vec<Authorizer>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Authorizer {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<WebhookConfiguration>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookConfiguration {
    timeout: String,
    #[serde(rename = "authorizedTTL")]
    authorized_ttl: String,
    #[serde(rename = "unauthorizedTTL")]
    unauthorized_ttl: String,
    subject_access_review_version: String,
    match_condition_subject_access_review_version: String,
    failure_policy: String,
    connection_info: ConnectionInfo,
    match_conditions: Vec<MatchCondition>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionInfo {
    #[serde(rename = "type")]
    kind: String,
    kube_config_file: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct MatchCondition {
    expression: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::tls::SelfSigned;
    use serde_yaml::Value;

    struct Scratch(PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn scratch(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "scopegate-apiserver-config-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn args_in(dir: &Path) -> ApiserverConfigArgs {
        let certs = SelfSigned::ensure(&dir.join("pki")).unwrap();
        ApiserverConfigArgs {
            url: "https://scopegate.example:8443/authorize".into(),
            ca: certs.ca_cert,
            client_cert: certs.client_cert,
            client_key: certs.client_key,
            out_dir: dir.join("out"),
            timeout: "3s".into(),
            authorized_ttl: "5m".into(),
            unauthorized_ttl: "30s".into(),
        }
    }

    fn read_yaml(path: &Path) -> Value {
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn decode(value: &Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap()
    }

    #[test]
    fn writes_a_webhook_kubeconfig_that_embeds_the_url_the_ca_and_the_client_identity() {
        let dir = scratch("kubeconfig");
        let args = args_in(&dir.0);
        run(&args).unwrap();
        let path = args.out_dir.join(WEBHOOK_KUBECONFIG);
        let config = read_yaml(&path);
        assert_eq!(config["apiVersion"], "v1");
        assert_eq!(config["kind"], "Config");
        let cluster = &config["clusters"][0]["cluster"];
        assert_eq!(
            cluster["server"],
            "https://scopegate.example:8443/authorize"
        );
        assert_eq!(
            decode(&cluster["certificate-authority-data"]),
            std::fs::read(&args.ca).unwrap()
        );
        let user = &config["users"][0]["user"];
        assert_eq!(
            decode(&user["client-certificate-data"]),
            std::fs::read(&args.client_cert).unwrap()
        );
        assert_eq!(
            decode(&user["client-key-data"]),
            std::fs::read(&args.client_key).unwrap()
        );
        let context = &config["contexts"][0];
        assert_eq!(config["current-context"], context["name"]);
        assert_eq!(context["context"]["cluster"], config["clusters"][0]["name"]);
        assert_eq!(context["context"]["user"], config["users"][0]["name"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn writes_an_authorization_configuration_node_then_scopegate_then_rbac() {
        let dir = scratch("authz");
        let args = args_in(&dir.0);
        run(&args).unwrap();
        let config = read_yaml(&args.out_dir.join(AUTHORIZATION_CONFIG));
        assert_eq!(config["apiVersion"], "apiserver.config.k8s.io/v1");
        assert_eq!(config["kind"], "AuthorizationConfiguration");
        let authorizers = config["authorizers"].as_sequence().unwrap();
        let chain: Vec<(&str, &str)> = authorizers
            .iter()
            .map(|a| (a["type"].as_str().unwrap(), a["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            chain,
            [("Node", "node"), ("Webhook", "scopegate"), ("RBAC", "rbac")]
        );
        assert!(authorizers[0].get("webhook").is_none() && authorizers[2].get("webhook").is_none());

        let webhook = &authorizers[1]["webhook"];
        assert_eq!(webhook["timeout"], "3s");
        assert_eq!(webhook["authorizedTTL"], "5m");
        assert_eq!(webhook["unauthorizedTTL"], "30s");
        assert_eq!(webhook["subjectAccessReviewVersion"], "v1");
        assert_eq!(webhook["matchConditionSubjectAccessReviewVersion"], "v1");
        assert_eq!(webhook["failurePolicy"], "NoOpinion");
        assert_eq!(webhook["connectionInfo"]["type"], "KubeConfigFile");
        let kubeconfig = Path::new(
            webhook["connectionInfo"]["kubeConfigFile"]
                .as_str()
                .unwrap(),
        );
        assert!(
            kubeconfig.is_absolute(),
            "kube-apiserver requires an absolute path"
        );
        assert!(kubeconfig.is_file());
        assert_eq!(
            kubeconfig,
            std::fs::canonicalize(&args.out_dir)
                .unwrap()
                .join(WEBHOOK_KUBECONFIG)
        );
        let expressions: Vec<&str> = webhook["matchConditions"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c["expression"].as_str().unwrap())
            .collect();
        assert_eq!(expressions, MATCH_CONDITIONS);
        for excluded in [
            "system:node:",
            "system:kube-",
            "system:serviceaccount:kube-system:",
        ] {
            assert!(
                expressions
                    .iter()
                    .any(|e| e.contains(&format!("!request.user.startsWith('{excluded}')")))
            );
        }
    }

    #[test]
    fn writes_the_older_flags_for_the_same_chain() {
        let dir = scratch("flags");
        let mut args = args_in(&dir.0);
        args.authorized_ttl = "1s".into();
        args.unauthorized_ttl = "2s".into();
        run(&args).unwrap();
        let flags = std::fs::read_to_string(args.out_dir.join(LEGACY_FLAGS)).unwrap();
        let kubeconfig = std::fs::canonicalize(&args.out_dir)
            .unwrap()
            .join(WEBHOOK_KUBECONFIG);
        let expected = [
            "--authorization-mode=Node,Webhook,RBAC".to_string(),
            format!(
                "--authorization-webhook-config-file={}",
                kubeconfig.display()
            ),
            "--authorization-webhook-version=v1".to_string(),
            "--authorization-webhook-cache-authorized-ttl=1s".to_string(),
            "--authorization-webhook-cache-unauthorized-ttl=2s".to_string(),
        ];
        assert_eq!(flags.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn refuses_what_kube_apiserver_would_refuse() {
        let dir = scratch("refuse");
        let good = args_in(&dir.0);
        type Change = fn(&mut ApiserverConfigArgs);
        let cases: [(&str, Change); 9] = [
            ("https://", |a| {
                a.url = "http://scopegate:8443/authorize".into()
            }),
            ("no host", |a| a.url = "https:///authorize".into()),
            ("query", |a| {
                a.url = "https://scopegate/authorize?x=1".into()
            }),
            ("at most 30s", |a| a.timeout = "31s".into()),
            ("above 0s", |a| a.timeout = "0s".into()),
            ("above 0s", |a| a.authorized_ttl = "0".into()),
            ("not a duration", |a| a.unauthorized_ttl = "30".into()),
            ("no certificate", |a| a.ca = a.client_key.clone()),
            ("client identity", |a| {
                a.client_key = a.ca.with_extension("key")
            }),
        ];
        for (expected, change) in cases {
            let mut args = ApiserverConfigArgs {
                out_dir: dir.0.join("never"),
                ..good.clone()
            };
            change(&mut args);
            let error = format!("{:#}", run(&args).unwrap_err());
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        assert!(
            !dir.0.join("never").exists(),
            "nothing is written when an input is wrong"
        );
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_go_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "-1s", "s", "1x", "1.2.3s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }
}
