//! TLS for the webhook with rustls: a serving certificate reloaded when its files change,
//! optional client-certificate verification (kube-apiserver presents one) against a CA file
//! reloaded the same way, and a self-signed CA plus certificates for a local try.

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked for changes.
const CERT_POLL_INTERVAL: Duration = Duration::from_secs(2);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a certificate chain and its key from PEM files into a signing identity.
pub fn load_certified_key(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("{}: cannot read certificates", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not a PEM certificate chain", cert.display()))?;
    if chain.is_empty() {
        bail!("{}: no certificate in the file", cert.display());
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{}: not a PEM private key", key.display()))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .with_context(|| format!("{}: unsupported private key", key.display()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().with_context(|| {
        format!(
            "{} and {} do not belong together",
            cert.display(),
            key.display()
        )
    })?;
    Ok(certified)
}

/// Serves the current certificate; a background task swaps in a new one when the files
/// change and a bad new pair leaves the old one serving.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl ReloadingCert {
    /// Loads the pair once; fails if it cannot be used.
    pub fn new(cert: PathBuf, key: PathBuf) -> anyhow::Result<Arc<Self>> {
        let current = ArcSwap::from_pointee(load_certified_key(&cert, &key)?);
        Ok(Arc::new(ReloadingCert { cert, key, current }))
    }

    /// Watches the files until the runtime stops.
    fn spawn_reloader(self: &Arc<Self>) {
        let this = Arc::clone(self);
        let files = vec![self.cert.clone(), self.key.clone()];
        spawn_file_watch(files, "serving certificate", move || {
            let key = load_certified_key(&this.cert, &this.key)?;
            this.current.store(Arc::new(key));
            Ok(())
        });
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The verifier of client certificates signed by a CA in the PEM file `ca` (a client
/// without a valid certificate is refused during the handshake).
fn client_verifier(ca: &Path) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("{}: cannot read", ca.display()))?
    {
        let cert = cert.with_context(|| format!("{}: not a PEM certificate", ca.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("{}: not a usable CA certificate", ca.display()))?;
    }
    if roots.is_empty() {
        bail!("{}: no CA certificate in the file", ca.display());
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .context("client certificate verifier")
}

/// The rustls configuration: the certificate resolver, and client verification when a
/// verifier is given.
fn server_config(
    cert: Arc<ReloadingCert>,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> anyhow::Result<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let mut config = match clients {
        Some(verifier) => builder
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(cert),
        None => builder.with_no_client_auth().with_cert_resolver(cert),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The webhook's TLS: the serving certificate ([`ReloadingCert`]) and, with `--client-ca`,
/// the CA client certificates must be signed by, both reloaded when their files change.
///
/// Why the CA too: kube-apiserver's client CA is rotated like any certificate, and a
/// webhook that needs a restart to trust the new one refuses kube-apiserver (every request
/// then fails closed) from the rotation until someone restarts it. Each connection takes
/// the configuration current when it is accepted; open connections keep theirs.
#[derive(Debug)]
pub struct ReloadingTls {
    cert: Arc<ReloadingCert>,
    client_ca: Option<PathBuf>,
    current: ArcSwap<ServerConfig>,
}

impl ReloadingTls {
    /// Loads the serving pair and the client CA once; fails if either cannot be used.
    pub fn new(cert: Arc<ReloadingCert>, client_ca: Option<PathBuf>) -> anyhow::Result<Arc<Self>> {
        let clients = client_ca.as_deref().map(client_verifier).transpose()?;
        let config = server_config(cert.clone(), clients)?;
        Ok(Arc::new(ReloadingTls {
            cert,
            client_ca,
            current: ArcSwap::from_pointee(config),
        }))
    }

    /// An acceptor with the configuration current now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// Watches the serving pair and the client CA file until the runtime stops; a file that
    /// cannot be used leaves the last good configuration serving.
    pub fn spawn_reloader(self: &Arc<Self>) {
        self.cert.spawn_reloader();
        let Some(ca) = self.client_ca.clone() else {
            return;
        };
        let this = Arc::clone(self);
        spawn_file_watch(vec![ca.clone()], "client CA", move || {
            let config = server_config(this.cert.clone(), Some(client_verifier(&ca)?))?;
            this.current.store(Arc::new(config));
            Ok(())
        });
    }
}

/// Calls `reload` whenever one of `files` changes on disk (polled every
/// [`CERT_POLL_INTERVAL`]), until the runtime stops; `what` names them in the logs.
///
/// A reload that fails (a half-written or bad file) changes nothing, so the last good
/// configuration keeps serving; it is tried again at every poll until it succeeds, and
/// the failure is logged once per change of the files rather than at every poll.
fn spawn_file_watch(
    files: Vec<PathBuf>,
    what: &'static str,
    mut reload: impl FnMut() -> anyhow::Result<()> + Send + 'static,
) {
    let modified = move || -> Option<Vec<SystemTime>> {
        files
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    };
    tokio::spawn(async move {
        let mut loaded = modified();
        let mut reported = None;
        loop {
            tokio::time::sleep(CERT_POLL_INTERVAL).await;
            let now = modified();
            if now.is_none() || now == loaded {
                continue;
            }
            match reload() {
                Ok(()) => {
                    loaded = now;
                    tracing::info!("{what} reloaded");
                }
                Err(e) if reported != now => {
                    tracing::warn!(error = %format!("{e:#}"), "{what} not reloaded; the last good one keeps serving");
                    reported = now;
                }
                Err(_) => {}
            }
        }
    });
}

/// The files `--self-signed DIR` writes and uses.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The CA certificate clients should trust.
    pub ca_cert: PathBuf,
    /// The serving certificate, for localhost and 127.0.0.1.
    pub server_cert: PathBuf,
    /// Its key.
    pub server_key: PathBuf,
    /// A client certificate signed by the CA, for trying mTLS with curl.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
}

impl SelfSigned {
    /// The file names under `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        SelfSigned {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
        }
    }

    /// Uses the files in `dir` if they are all there, otherwise generates them all.
    pub fn ensure(dir: &Path) -> anyhow::Result<Self> {
        let files = SelfSigned::in_dir(dir);
        let all = [
            &files.ca_cert,
            &files.server_cert,
            &files.server_key,
            &files.client_cert,
            &files.client_key,
        ];
        if all.iter().all(|p| p.is_file()) {
            return Ok(files);
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        files.generate()?;
        Ok(files)
    }

    fn generate(&self) -> anyhow::Result<()> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "scopegate local CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server_params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "scopegate");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &issuer)?;

        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "scopegate-local-client");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &issuer)?;

        write_private(&self.ca_cert, &ca_cert.pem(), false)?;
        write_private(&self.ca_cert.with_extension("key"), &ca_key_pem, true)?;
        write_private(&self.server_cert, &server_cert.pem(), false)?;
        write_private(&self.server_key, &server_key.serialize_pem(), true)?;
        write_private(&self.client_cert, &client_cert.pem(), false)?;
        write_private(&self.client_key, &client_key.serialize_pem(), true)?;
        Ok(())
    }
}

/// Writes a file; keys are readable by their owner only.
fn write_private(path: &Path, contents: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
