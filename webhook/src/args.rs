//! The command line: one subcommand per job, with the flags each takes.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Scopegate: scoped permissions for Kubernetes (Platform → Cluster → Workspace/NodeGroup →
/// Namespace/Node → Resource), as a library, a webhook and tools.
#[derive(Debug, Parser)]
#[command(name = "scopegate", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide SubjectAccessReviews read from standard input (one JSON object per line), or
    /// one request given with flags (like `kubectl auth can-i`: exit 0 when allowed, 1 when not).
    Check(CheckArgs),
    /// Explain how a request given with flags is decided: the scope chain walked, the
    /// bindings considered at each scope, and the rule that decided.
    Explain(ExplainArgs),
    /// Check policy files: print every error and exit 1, or a one-line summary and exit 0.
    Validate(ValidateArgs),
    /// Serve the authorization webhook kube-apiserver calls (SubjectAccessReview over HTTPS).
    Serve(Box<ServeArgs>),
    /// Write the files that put the webhook into kube-apiserver's authorization chain: the
    /// webhook kubeconfig, an AuthorizationConfiguration (Kubernetes 1.32+), and the older
    /// --authorization-* flags (README, "Putting Scopegate in front of kube-apiserver").
    ApiserverConfig(ApiserverConfigArgs),
    /// Print the CustomResourceDefinitions of RoleTemplate, IAMRole, IAMRoleBinding, Cluster,
    /// Workspace and NodeGroup as multi-document YAML (for `kubectl apply -f -`), or write
    /// one file per CRD with --out-dir.
    Crd(CrdArgs),
    /// Run the controllers: IAMRoles and IAMRoleBindings written out as native RBAC,
    /// NodeGroup labels on nodes, under leader election.
    Controller(Box<crate::controller::ControllerArgs>),
}

/// Where the policy comes from and which cluster it is for.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Policy manifests: YAML or JSON files, or directories read recursively. Repeatable.
    #[arg(long = "policy", value_name = "PATH", required = true)]
    pub policy: Vec<PathBuf>,
    /// The cluster this policy decides for (ClusterRoleBindings and Cluster-scope bindings of
    /// this name act on its requests).
    #[arg(long, value_name = "NAME", default_value = scopegate_core::topology::DEFAULT_CLUSTER_NAME)]
    pub cluster_name: String,
}

/// A request written with flags.
#[derive(Debug, Args, Default)]
pub struct RequestArgs {
    /// The user asking.
    #[arg(long)]
    pub user: Option<String>,
    /// A group of the user. Repeatable.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// The verb, e.g. get, list, create, delete.
    #[arg(long)]
    pub verb: Option<String>,
    /// The plural resource, e.g. pods.
    #[arg(long, conflicts_with = "path")]
    pub resource: Option<String>,
    /// The subresource, e.g. log.
    #[arg(long, requires = "resource")]
    pub subresource: Option<String>,
    /// The API group; empty (the default) is the core group.
    #[arg(long, requires = "resource", default_value = "")]
    pub api_group: String,
    /// The namespace, for namespaced resources.
    #[arg(long, short = 'n', requires = "resource")]
    pub namespace: Option<String>,
    /// The object's name.
    #[arg(long, requires = "resource")]
    pub name: Option<String>,
    /// A non-resource URL path, e.g. /metrics (instead of --resource).
    #[arg(long)]
    pub path: Option<String>,
}

/// `scopegate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// A request given with flags; without them, SubjectAccessReviews are read from stdin.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Answer nothing if the policy has any error (exit 2). Without it, answers come from
    /// the objects that load, as the webhook serves them, and errors are printed on stderr.
    #[arg(long)]
    pub strict: bool,
}

/// `scopegate explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// The request to explain.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Print the explanation as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Explain nothing if the policy has any error (exit 2), as `check --strict`.
    #[arg(long)]
    pub strict: bool,
}

/// `scopegate validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `scopegate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Policy manifests (files or directories, watched for changes). Repeatable. Without
    /// any (and without a cluster to watch), the embedded demo policy (examples/policies) is
    /// served. With a cluster, these files are served together with the cluster's objects.
    #[arg(long = "policy", value_name = "PATH")]
    pub policy: Vec<PathBuf>,
    /// Watch this cluster for policy: the six Scopegate kinds, native RBAC, Namespaces and
    /// Nodes, read through this kubeconfig (its current context). Turns watching on, like
    /// --watch-cluster. Not ready until every kind has been listed once.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch the cluster found as kubectl finds it ($KUBECONFIG, ~/.kube/config), or, in a
    /// pod, the cluster the pod runs in (its service account), for policy.
    #[arg(long)]
    pub watch_cluster: bool,
    /// The cluster this webhook serves.
    #[arg(long, value_name = "NAME", default_value = scopegate_core::topology::DEFAULT_CLUSTER_NAME)]
    pub cluster_name: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Also serve GET /healthz, /readyz and /metrics, and nothing else, over plain HTTP on
    /// this address: for the kubelet's probes and Prometheus, which cannot present the
    /// client certificate --client-ca demands on the webhook port.
    #[arg(long, value_name = "ADDR")]
    pub ops_listen: Option<std::net::SocketAddr>,
    /// Serving certificate (PEM); reloaded when it changes on disk.
    #[arg(long, value_name = "FILE", requires = "tls_key", conflicts_with_all = ["self_signed", "insecure_http"])]
    pub tls_cert: Option<PathBuf>,
    /// Private key of the serving certificate (PEM); reloaded when it changes on disk.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): kube-apiserver presents one.
    /// Reloaded when it changes on disk (new connections trust the new CA).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure_http")]
    pub client_ca: Option<PathBuf>,
    /// Generate a CA, a serving certificate for localhost and a client certificate into DIR
    /// (kept if already there), and serve with them. For a local try.
    #[arg(long, value_name = "DIR", conflicts_with = "insecure_http")]
    pub self_signed: Option<PathBuf>,
    /// Serve plain HTTP. For local development only: never in front of a real API server.
    #[arg(long)]
    pub insecure_http: bool,
    /// At most this many requests are decided at once; more are refused with 503.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_in_flight: usize,
    /// Time a client has to send its request headers, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub header_timeout: u64,
    /// Time a client has to send its request body, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub body_timeout: u64,
    /// Log one JSON line per decision.
    #[arg(long)]
    pub decision_log: bool,
    /// With --decision-log, log one decision in N.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub decision_log_sample: u64,
    /// Do not watch policy files; reload only on SIGHUP.
    #[arg(long)]
    pub no_watch: bool,
    /// L1: how many recent decisions to cache (0 turns the decision cache off). A hit costs
    /// about 0.1 µs, half of a cold decision at 100k bindings (BENCHMARKS.md).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub decision_cache_size: u64,
    /// L1: how long a cached decision may be served, in seconds, to a few milliseconds (a
    /// policy change clears the cache whatever this is).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub decision_cache_ttl: u64,
    /// L2: how many subjects' compiled permissions to keep (0 turns the subject cache off).
    /// Asked when L1 misses: a hit decides from the subject's own small table, cheaper than
    /// the snapshot's index and as fast at 1M bindings as at 10k; a miss compiles the
    /// subject once per policy generation, a few microseconds (BENCHMARKS.md).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub subject_cache_size: u64,
    /// Turn both cache tiers off: every request is decided on the policy snapshot.
    #[arg(long)]
    pub no_cache: bool,
    /// Keep the objects of the policy served in this file, and serve them at start-up when
    /// no policy file can be read at all or the cluster cannot be reached (`/readyz` then says
    /// `servingFrom: snapshot`). Keep it outside the watched policy directories.
    #[arg(long, value_name = "FILE")]
    pub snapshot_file: Option<PathBuf>,
    /// `--controllers` and the controllers' flags.
    #[command(flatten)]
    pub controller: crate::controller::ServeControllerArgs,
}

impl ServeArgs {
    /// Whether the policy comes from watching a cluster (--kubeconfig or --watch-cluster).
    pub fn watches_cluster(&self) -> bool {
        self.kubeconfig.is_some() || self.watch_cluster
    }

    /// The cache tiers these flags ask for.
    pub fn engine_config(&self) -> scopegate_core::EngineConfig {
        if self.no_cache {
            return scopegate_core::EngineConfig::uncached();
        }
        scopegate_core::EngineConfig {
            decision_cache: (self.decision_cache_size > 0).then(|| {
                (
                    self.decision_cache_size,
                    std::time::Duration::from_secs(self.decision_cache_ttl),
                )
            }),
            subject_cache: (self.subject_cache_size > 0).then_some(self.subject_cache_size),
        }
    }
}

/// `scopegate apiserver-config`.
#[derive(Debug, Args, Clone)]
pub struct ApiserverConfigArgs {
    /// The webhook's URL as kube-apiserver reaches it, e.g. `https://scopegate.example:8443/authorize`.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The CA certificate (PEM) that signed the webhook's serving certificate (embedded).
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// The client certificate (PEM) kube-apiserver presents to the webhook, signed by the CA
    /// given to `serve --client-ca` (embedded).
    #[arg(long, value_name = "FILE")]
    pub client_cert: PathBuf,
    /// Its private key (PEM) (embedded: the kubeconfig is written readable by its owner only).
    #[arg(long, value_name = "FILE")]
    pub client_key: PathBuf,
    /// Where to write the files; their absolute paths are written into the configuration, so
    /// give the directory kube-apiserver will read them from.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// How long kube-apiserver waits for a decision (at most 30s).
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub timeout: String,
    /// How long kube-apiserver caches an allow: the longest a revoked binding still works.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub authorized_ttl: String,
    /// How long kube-apiserver caches a no-opinion: the longest a new binding waits to work.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub unauthorized_ttl: String,
}

/// `scopegate crd`.
#[derive(Debug, Args, Clone)]
pub struct CrdArgs {
    /// Write one file per CRD, named `<plural>.<group>.yaml`, into DIR (created if missing)
    /// instead of printing them: `--out-dir deploy/crds` regenerates the committed files.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Leave out the CEL rules (`x-kubernetes-validations`), for API servers older than
    /// v1.25, which refuse them in a server-side apply. The engine still reports what they
    /// would have refused.
    #[arg(long)]
    pub without_cel_rules: bool,
}
