//! Connecting to a Kubernetes API server: from `--kubeconfig PATH`, or, without it, the way
//! kubectl and in-cluster workloads do (`$KUBECONFIG`, `~/.kube/config`, then the pod's
//! service account). Shared by `serve` (the watch-fed policy source) and `controller`.

use anyhow::Context;
use std::path::Path;

/// A client for the API server named by `kubeconfig`, or found as kubectl would find it
/// (falling back to the in-cluster service account) when `kubeconfig` is `None`.
pub async fn connect(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("{}: cannot read the kubeconfig", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("{}: not a usable kubeconfig", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "no Kubernetes configuration: give --kubeconfig, set KUBECONFIG, or run in a pod",
        )?,
    };
    kube::Client::try_from(config).context("cannot build a Kubernetes client")
}
