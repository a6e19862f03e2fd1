//! Loopback servers standing in for a Prometheus that misbehaves: one that
//! answers each query with a canned body (and records what it was sent),
//! and a proxy that holds every connection longer than a client waits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the server was sent, per query.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub authorization: String,
    pub query: String,
}

/// The status and body answering one PromQL query.
pub type Answer = dyn Fn(&str) -> (u16, String) + Send + Sync;

pub struct Canned {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The most queries ever in flight at once.
    pub max_in_flight: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Canned {
    /// Answers each query with `answer(query)`, after `delay`.
    pub async fn start(answer: Arc<Answer>, delay: Duration) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (task_seen, task_max) = (seen.clone(), max_in_flight.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (answer, seen, max, now) = (
                    answer.clone(),
                    task_seen.clone(),
                    task_max.clone(),
                    in_flight.clone(),
                );
                let service = service_fn(move |request: Request<Incoming>| {
                    let (answer, seen, max, now) =
                        (answer.clone(), seen.clone(), max.clone(), now.clone());
                    async move {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        let (method, path) = (
                            request.method().to_string(),
                            request.uri().path().to_string(),
                        );
                        let (content_type, authorization) =
                            (header("content-type"), header("authorization"));
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let query = form_urlencoded::parse(&body)
                            .find(|(k, _)| k == "query")
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default();
                        tokio::time::sleep(delay).await;
                        let (status, body) = answer(&query);
                        seen.lock().unwrap().push(Seen {
                            method,
                            path,
                            content_type,
                            authorization,
                            query,
                        });
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Canned {
            url,
            seen,
            max_in_flight,
            task,
        }
    }

    pub fn queries(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Canned {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy that waits `delay` before connecting each client to
/// `upstream`: a Prometheus slower than any sensible timeout.
pub struct SlowProxy {
    pub url: String,
    task: JoinHandle<()>,
}

impl SlowProxy {
    pub async fn start(upstream: SocketAddr, delay: Duration) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        SlowProxy { url, task }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A success answering an instant vector; each series is (labels, value).
pub fn vector(series: &[(&[(&str, &str)], &str)]) -> String {
    let result: Vec<serde_json::Value> = series
        .iter()
        .map(|(labels, value)| {
            let metric: serde_json::Map<String, serde_json::Value> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                .collect();
            serde_json::json!({ "metric": metric, "value": [1_700_000_000.0, value] })
        })
        .collect();
    serde_json::json!({
        "status": "success",
        "data": { "resultType": "vector", "result": result }
    })
    .to_string()
}
