//! The kube client of one backend: from a kubeconfig file and context, or
//! the default chain (`$KUBECONFIG`, `~/.kube/config`, then the pod's
//! service account when helmsman runs in the cluster).

use kube::config::{InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::config::KubernetesBackend;

/// Why no client could be built, naming where the configuration came from.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Unreadable {
        path: String,
        source: KubeconfigError,
    },
    #[error("kubeconfig {path}: {source}")]
    File {
        path: String,
        source: KubeconfigError,
    },
    #[error("kubeconfig context `{context}`: {source}")]
    Context {
        context: String,
        source: KubeconfigError,
    },
    #[error("no kubeconfig and not in a pod: {0}")]
    Inferred(InferConfigError),
    #[error("cannot build the Kubernetes client: {0}")]
    Build(kube::Error),
}

/// Builds the client; nothing is sent until the first call.
pub(super) async fn connect(backend: &KubernetesBackend) -> Result<Client, ClientError> {
    connect_to(&backend.kubeconfig, &backend.context).await
}

/// The client of a kubeconfig file and context, each optional (the
/// `quota` preflight check connects the same way as the backend).
pub(crate) async fn connect_to(
    kubeconfig: &Option<String>,
    context: &Option<String>,
) -> Result<Client, ClientError> {
    let options = KubeConfigOptions {
        context: context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match (kubeconfig, context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path).map_err(|source| ClientError::Unreadable {
                path: path.clone(),
                source,
            })?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|source| ClientError::File {
                    path: path.clone(),
                    source,
                })?
        }
        // A named context only exists in a kubeconfig, never in-cluster.
        (None, Some(context)) => {
            Config::from_kubeconfig(&options)
                .await
                .map_err(|source| ClientError::Context {
                    context: context.clone(),
                    source,
                })?
        }
        (None, None) => Config::infer().await.map_err(ClientError::Inferred)?,
    };
    // helmsman retries itself (calls.rs), within its own timeouts and
    // naming each failure; kube's retries would multiply the wait unseen.
    config.default_retry = false;
    Client::try_from(config).map_err(ClientError::Build)
}
