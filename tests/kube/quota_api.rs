//! A Kubernetes API server for the `quota` check: plain HTTP on loopback
//! answering `GET /api/v1/namespaces/{ns}/resourcequotas` with the real
//! list JSON, or 403 as RBAC does when told to. A kubeconfig whose current
//! context points at it is written beside it.

use std::convert::Infallible;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api_status::{self, json_response, status};

pub struct QuotaApi {
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Drop for QuotaApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the server answers for the quotas of `namespace`.
#[derive(Clone)]
pub enum Quotas {
    /// These ResourceQuota objects (see [`quota`]).
    List(Vec<Value>),
    /// 403: the user may not list resourcequotas.
    Forbidden,
}

impl QuotaApi {
    pub async fn start(namespace: &str, quotas: Quotas) -> QuotaApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let path = format!("/api/v1/namespaces/{namespace}/resourcequotas");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (path, quotas) = (path.clone(), quotas.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let answer = answer(&path, &quotas, request.uri().path());
                    async move { Ok::<_, Infallible>(answer) }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, api_status::kubeconfig(&url, "fake")).unwrap();
        QuotaApi {
            task,
            _dir: dir,
            kubeconfig,
        }
    }
}

/// A ResourceQuota as the quota controller leaves it: `status.hard` and `status.used`.
pub fn quota(name: &str, hard: Value, used: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": { "name": name, "resourceVersion": "7" },
        "spec": { "hard": hard },
        "status": { "hard": hard, "used": used }
    })
}

fn answer(served: &str, quotas: &Quotas, path: &str) -> Response<Full<Bytes>> {
    if path != served {
        return status(404, "NotFound", &format!("no route for {path}"));
    }
    match quotas {
        Quotas::Forbidden => status(
            403,
            "Forbidden",
            "resourcequotas is forbidden: User \"tester\" cannot list resource \
             \"resourcequotas\" in API group \"\" in the namespace",
        ),
        Quotas::List(items) => json_response(
            200,
            &json!({
                "apiVersion": "v1", "kind": "ResourceQuotaList",
                "metadata": { "resourceVersion": "7" }, "items": items
            }),
        ),
    }
}
