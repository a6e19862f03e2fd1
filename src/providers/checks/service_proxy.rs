//! Smoke check of a Kubernetes Service through the API server's service
//! proxy: helmsman usually runs outside the cluster and cannot reach a
//! ClusterIP, but the API server can, with the credentials helmsman already
//! has. A blue-green preview Service is checked with
//! `GET /api/v1/namespaces/{ns}/services/{service}:{port}/proxy{path}`,
//! `port` being the Service's first port (its name, else its number), as
//! `kubectl get --raw` would. Pass: a 2xx answer within the timeout.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Service;
use kube::client::Body;
use kube::{Api, Client};
use tokio::sync::OnceCell;

use crate::config::KubernetesBackend;
use crate::observed::{CheckResult, CheckStatus};
use crate::providers::Check;
use crate::providers::traffic::kubernetes::client::{ClientError, connect_to};

/// Why the Service could not be asked through the proxy.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// RBAC names the verb and the resource.
    #[error(
        "forbidden: cannot get {resource} in namespace {namespace} (grant it to the user or \
         service account helmsman runs as)"
    )]
    Forbidden {
        resource: &'static str,
        namespace: String,
    },
    #[error("get {resource} {service}: {source}")]
    Call {
        resource: &'static str,
        service: String,
        source: kube::Error,
    },
    #[error("Service {namespace}/{service} has no ports")]
    NoPorts { namespace: String, service: String },
    #[error("cannot request {uri}: {source}")]
    Request {
        uri: String,
        source: hyper::http::Error,
    },
}

pub struct ServiceProxyCheck {
    kubeconfig: Option<String>,
    context: Option<String>,
    namespace: String,
    service: String,
    path: String,
    timeout: Duration,
    /// Built on the first run, so building the check needs no cluster.
    client: OnceCell<Client>,
}

impl ServiceProxyCheck {
    /// Checks `path` on `service` in the backend's cluster and namespace.
    pub fn new(backend: &KubernetesBackend, service: &str, path: &str, timeout: Duration) -> Self {
        ServiceProxyCheck {
            kubeconfig: backend.kubeconfig.clone(),
            context: backend.context.clone(),
            namespace: backend.namespace.clone(),
            service: service.to_string(),
            path: path.to_string(),
            timeout,
            client: OnceCell::new(),
        }
    }

    /// The HTTP status the Service answered through the proxy.
    async fn probe(&self) -> Result<u16, ProbeError> {
        let client = self
            .client
            .get_or_try_init(|| connect_to(&self.kubeconfig, &self.context))
            .await?
            .clone();
        let services: Api<Service> = Api::namespaced(client.clone(), &self.namespace);
        let service = services
            .get(&self.service)
            .await
            .map_err(|e| self.failed("services", e))?;
        let port = first_port(&service).ok_or_else(|| ProbeError::NoPorts {
            namespace: self.namespace.clone(),
            service: self.service.clone(),
        })?;
        let uri = format!(
            "/api/v1/namespaces/{}/services/{}:{port}/proxy{}",
            self.namespace, self.service, self.path
        );
        let request = hyper::Request::get(uri.as_str())
            .body(Body::from(Vec::new()))
            .map_err(|source| ProbeError::Request {
                uri: uri.clone(),
                source,
            })?;
        let answer = client
            .send(request)
            .await
            .map_err(|e| self.failed("services/proxy", e))?;
        Ok(answer.status().as_u16())
    }

    /// A failed call: a refusal by RBAC is told apart from other failures.
    fn failed(&self, resource: &'static str, e: kube::Error) -> ProbeError {
        match e {
            kube::Error::Api(status) if status.code == 403 => ProbeError::Forbidden {
                resource,
                namespace: self.namespace.clone(),
            },
            source => ProbeError::Call {
                resource,
                service: self.service.clone(),
                source,
            },
        }
    }
}

/// The port the proxy addresses: the first port's name, else its number.
fn first_port(service: &Service) -> Option<String> {
    let port = service.spec.as_ref()?.ports.as_ref()?.first()?;
    Some(port.name.clone().unwrap_or_else(|| port.port.to_string()))
}

#[async_trait]
impl Check for ServiceProxyCheck {
    fn name(&self) -> String {
        format!(
            "GET {} on Service {}/{} (API server proxy)",
            self.path, self.namespace, self.service
        )
    }

    async fn run(&self) -> CheckResult {
        let answer = async {
            let started = Instant::now();
            match self.probe().await {
                Ok(code) => {
                    let mut detail = format!("HTTP {code} in {} ms", started.elapsed().as_millis());
                    if code == 403 {
                        // The proxy passes the pod's answer through, so a 403
                        // may be the application's or the API server's.
                        detail.push_str(" (the pod's answer, or RBAC lacks get on services/proxy)");
                    }
                    match code {
                        200..=299 => (CheckStatus::Pass, detail),
                        _ => (CheckStatus::Fail, detail),
                    }
                }
                Err(why) => (CheckStatus::Fail, why.to_string()),
            }
        };
        super::within(self.name(), self.timeout, answer).await
    }
}
