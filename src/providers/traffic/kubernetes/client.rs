//! The kube client of one backend: from a kubeconfig file and context, or
//! the default chain (`$KUBECONFIG`, `~/.kube/config`, then the pod's
//! service account when helmsman runs in the cluster).

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::config::KubernetesBackend;

/// Builds the client; nothing is sent until the first call.
pub(super) async fn connect(backend: &KubernetesBackend) -> Result<Client, String> {
    connect_to(&backend.kubeconfig, &backend.context).await
}

/// The client of a kubeconfig file and context, each optional (the
/// `quota` preflight check connects the same way as the backend).
pub(crate) async fn connect_to(
    kubeconfig: &Option<String>,
    context: &Option<String>,
) -> Result<Client, String> {
    let options = KubeConfigOptions {
        context: context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match (kubeconfig, context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| format!("cannot read kubeconfig {path}: {e}"))?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| format!("kubeconfig {path}: {e}"))?
        }
        // A named context only exists in a kubeconfig, never in-cluster.
        (None, Some(context)) => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| format!("kubeconfig context `{context}`: {e}"))?,
        (None, None) => Config::infer()
            .await
            .map_err(|e| format!("no kubeconfig and not in a pod: {e}"))?,
    };
    // helmsman retries itself (calls.rs), within its own timeouts and
    // naming each failure; kube's retries would multiply the wait unseen.
    config.default_retry = false;
    Client::try_from(config).map_err(|e| format!("cannot build the Kubernetes client: {e}"))
}
