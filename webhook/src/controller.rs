//! `scopegate controller`: runs the controllers that write IAMRoles and IAMRoleBindings out as
//! native RBAC and keep NodeGroup labels on nodes (`scopegate_kube::controller`), under leader
//! election on a Lease, with Prometheus metrics on `--metrics-addr`. `scopegate serve
//! --controllers` runs the same in the webhook's process ([`spawn_in_serve`]).

use anyhow::Context;
use clap::Args;
use prometheus_client::registry::Registry;
use scopegate_kube::controller::{
    ControllerMetrics, ControllerOptions, LeaseConfig, run, run_with_leader_election,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `scopegate controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// The cluster to run in, through this kubeconfig (its current context). Without it:
    /// $KUBECONFIG, ~/.kube/config, or the pod's service account.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Prometheus metrics (`/metrics`) and liveness (`/healthz`) are served here.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: SocketAddr,
    /// The name of this cluster (as the webhook's --cluster-name): a Cluster-scope
    /// IAMRoleBinding naming it becomes a ClusterRoleBinding.
    #[arg(long, value_name = "NAME", default_value = scopegate_core::topology::DEFAULT_CLUSTER_NAME)]
    pub cluster_name: String,
    /// How the controllers behave and elect a leader.
    #[command(flatten)]
    pub settings: ControllerSettings,
}

/// `scopegate serve --controllers`: the controllers in the webhook's process, connected
/// through serve's own `--kubeconfig` and for serve's `--cluster-name`.
#[derive(Debug, Args, Clone)]
pub struct ServeControllerArgs {
    /// Also run the controllers (as `scopegate controller`, with leader election), in this
    /// process; their metrics join the webhook's `/metrics`.
    #[arg(long)]
    pub controllers: bool,
    /// How the controllers behave and elect a leader.
    #[command(flatten)]
    pub settings: ControllerSettings,
}

/// The flags `scopegate controller` and `scopegate serve --controllers` share.
#[derive(Debug, Args, Clone)]
pub struct ControllerSettings {
    /// Do not write IAMRoles and IAMRoleBindings out as native RBAC: only report in their
    /// status whether they are valid, and delete native objects made before (the webhook
    /// decides alone). NodeGroup labels are kept either way.
    #[arg(long)]
    pub no_materialize: bool,
    /// The Lease that elects the one replica that writes.
    #[arg(long, value_name = "NAME", default_value = "scopegate-controller")]
    pub lease_name: String,
    /// The Lease's namespace.
    #[arg(
        long,
        value_name = "NAMESPACE",
        env = "POD_NAMESPACE",
        default_value = "scopegate-system"
    )]
    pub lease_namespace: String,
    /// This replica's identity in the Lease (default: $POD_NAME, else $HOSTNAME, else
    /// scopegate-PID).
    #[arg(long, value_name = "ID")]
    pub identity: Option<String>,
    /// Run without leader election (only where exactly one replica can ever run).
    #[arg(long)]
    pub no_leader_election: bool,
    /// How long other replicas respect a Lease record that stopped changing before one
    /// takes over (client-go's default).
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// How long the leader keeps leading without a successful renewal; shorter than the
    /// lease duration, so that it stops writing before another replica may take over.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub lease_renew_deadline_seconds: u64,
    /// How often the leader renews the Lease and a follower tries to take it; shorter than
    /// the renew deadline.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub lease_retry_period_seconds: u64,
    /// Reconcile every object again after this many seconds even if nothing changed.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub resync_seconds: u64,
}

impl ControllerSettings {
    fn identity(&self) -> String {
        self.identity
            .clone()
            .or_else(|| std::env::var("POD_NAME").ok())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("scopegate-{}", std::process::id()))
    }

    /// The Lease this replica is elected on, checked: `None` without leader election. An
    /// error names the flags, so that bad timings stop the command before it connects.
    pub fn lease(&self) -> anyhow::Result<Option<LeaseConfig>> {
        if self.no_leader_election {
            return Ok(None);
        }
        let mut lease = LeaseConfig::new(
            self.lease_name.clone(),
            self.lease_namespace.clone(),
            self.identity(),
        );
        lease.lease_duration = Duration::from_secs(self.lease_duration_seconds);
        lease.renew_deadline = Duration::from_secs(self.lease_renew_deadline_seconds);
        lease.retry_period = Duration::from_secs(self.lease_retry_period_seconds);
        lease.validate().with_context(|| {
            format!(
                "--lease-duration-seconds {}, --lease-renew-deadline-seconds {}, --lease-retry-period-seconds {}",
                self.lease_duration_seconds,
                self.lease_renew_deadline_seconds,
                self.lease_retry_period_seconds
            )
        })?;
        Ok(Some(lease))
    }

    fn options(&self, cluster_name: &str) -> ControllerOptions {
        ControllerOptions {
            cluster_name: cluster_name.to_string(),
            materialize: !self.no_materialize,
            resync: Duration::from_secs(self.resync_seconds.max(1)),
            instance: self.identity(),
        }
    }
}

/// Runs the controllers until SIGTERM or Ctrl-C.
pub fn run_command(args: &ControllerArgs) -> anyhow::Result<ExitCode> {
    args.settings.lease()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = crate::kube_client::connect(args.kubeconfig.as_deref()).await?;
        let mut registry = Registry::with_prefix("scopegate");
        let metrics = ControllerMetrics::register(&mut registry);
        let listener = tokio::net::TcpListener::bind(args.metrics_addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.metrics_addr))?;
        let registry = Arc::new(registry);
        let app = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let registry = Arc::clone(&registry);
                    async move {
                        let mut out = String::new();
                        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
                            out.push_str("# error encoding metrics\n");
                        }
                        out
                    }
                }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok" }));
        let metrics_server = tokio::spawn(async move { axum::serve(listener, app).await });
        eprintln!(
            "scopegate: controllers starting (metrics on http://{}/metrics)",
            args.metrics_addr
        );
        let result = controllers(
            client,
            &args.cluster_name,
            &args.settings,
            metrics,
            crate::shutdown::signal("releasing the Lease"),
        )
        .await;
        metrics_server.abort();
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the controllers (with leader election unless turned off) until `shutdown`.
async fn controllers(
    client: kube::Client,
    cluster_name: &str,
    settings: &ControllerSettings,
    metrics: ControllerMetrics,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let options = settings.options(cluster_name);
    let Some(lease) = settings.lease()? else {
        tracing::warn!("leader election is off: no other replica may run");
        tokio::select! {
            result = run(client, options, metrics) => result?,
            () = shutdown => {}
        }
        return Ok(());
    };
    tracing::info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "waiting to lead");
    run_with_leader_election(client, options, metrics, lease, shutdown).await?;
    Ok(())
}

/// For `scopegate serve --controllers`: runs the controllers in a background task (stopped
/// when the returned handle is dropped), connected through `kubeconfig`, with their metrics
/// in the webhook's registry.
pub async fn spawn_in_serve(
    kubeconfig: Option<&std::path::Path>,
    cluster_name: &str,
    settings: &ControllerSettings,
    metrics: ControllerMetrics,
) -> anyhow::Result<ControllerTask> {
    settings.lease()?;
    let client = crate::kube_client::connect(kubeconfig).await?;
    let settings = settings.clone();
    let cluster_name = cluster_name.to_string();
    let task = tokio::spawn(async move {
        let stopped = controllers(
            client,
            &cluster_name,
            &settings,
            metrics,
            std::future::pending(),
        );
        if let Err(error) = stopped.await {
            tracing::error!(error = %format!("{error:#}"), "the controllers stopped");
        }
    });
    Ok(ControllerTask(task))
}

/// The controllers running inside `serve`; dropping it stops them.
pub struct ControllerTask(tokio::task::JoinHandle<()>);

impl Drop for ControllerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
