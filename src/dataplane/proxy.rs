//! Forwarding one user request: pick an upstream from the current table,
//! forward method, path, query, headers and a streamed body over a
//! keep-alive upstream connection, stream the answer back, count the outcome.
//!
//! Upstream connections belong to the user connection that opened them
//! ([`Connection`]) rather than to a shared pool: they live on the same
//! worker thread (see `workers`), so a request never changes threads on
//! its way to the upstream and back. HTTP/1.1 serves one request at a time
//! per connection, so one upstream connection per upstream instance is
//! all a user connection ever needs.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{Either, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::{self as client_http1, SendRequest};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::counters::Outcome;
use super::pool::Upstream;
use super::state::Shared;

/// Request bodies sent upstream: the client's streamed body, or nothing
/// (health probes).
pub type UpstreamBody = Either<Incoming, Empty<Bytes>>;
/// The pooled client of the health checks.
pub type UpstreamClient = Client<HttpConnector, UpstreamBody>;
/// Response bodies: the upstream's streamed body, or the proxy's own 502.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// A pooled keep-alive client (for the health checks). `TCP_NODELAY`
/// because small request heads must not wait for Nagle's algorithm.
pub fn upstream_client(connect_timeout: Duration) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1);
/// a proxy must not forward them.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers listed in `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// `http` has no constant for this de-facto standard header.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Appends the client address (`peer`, pre-formatted once per connection).
fn append_forwarded_for(headers: &mut HeaderMap, peer: &HeaderValue) {
    let earlier = headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok());
    let value = match (earlier, peer.to_str()) {
        (Some(earlier), Ok(ip)) => HeaderValue::from_str(&format!("{earlier}, {ip}")).ok(),
        _ => Some(peer.clone()),
    };
    if let Some(v) = value {
        headers.insert(X_FORWARDED_FOR, v);
    }
}

/// The proxy's own answer, when the upstream gave none.
fn own_answer(status: StatusCode, why: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from_static(why.as_bytes()))));
    *response.status_mut() = status;
    response
}

fn bad_gateway(why: &'static str) -> Response<ProxyBody> {
    own_answer(StatusCode::BAD_GATEWAY, why)
}

/// How many idle upstream connections one user connection keeps: one per
/// instance it talked to lately (a canary split needs two), the least
/// recently used one is closed first.
const MAX_IDLE_UPSTREAMS: usize = 4;

/// One user connection: its client address and the upstream connections it
/// opened. They close when the user connection does.
pub struct Connection {
    shared: Arc<Shared>,
    /// The client address, formatted once, for `X-Forwarded-For`.
    forwarded_for: HeaderValue,
    idle: Mutex<Vec<(SocketAddr, SendRequest<UpstreamBody>)>>,
}

/// Why a request got no response from its upstream.
enum Failure {
    /// No connection could be made, so nothing was sent: the request is
    /// handed back for a retry elsewhere.
    Connect(io::Error, Box<Request<UpstreamBody>>),
    /// The connection broke after the request was (maybe partly) sent.
    Broken(hyper::Error),
    /// The client's own request body could not be read (a malformed chunk,
    /// a client that hung up mid-body): its mistake, not the upstream's.
    ClientBody(hyper::Error),
}

impl Failure {
    fn sending(e: hyper::Error) -> Failure {
        // hyper reports an error of the body it was sending as a "user"
        // error caused by that body's own error: here the client's
        // `Incoming`, which fails with a hyper::Error of its own.
        let from_client_body =
            e.is_user() && std::error::Error::source(&e).is_some_and(|s| s.is::<hyper::Error>());
        if from_client_body {
            Failure::ClientBody(e)
        } else {
            Failure::Broken(e)
        }
    }
}

impl Connection {
    pub fn new(shared: Arc<Shared>, peer: SocketAddr) -> Self {
        let ip = peer.ip().to_string();
        Self {
            shared,
            forwarded_for: HeaderValue::from_str(&ip)
                .expect("an IP address is a valid header value"),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(SocketAddr, SendRequest<UpstreamBody>)>> {
        crate::sync::lock(&self.idle)
    }

    /// An open upstream connection to `addr`, if this connection has one.
    fn take_idle(&self, addr: SocketAddr) -> Option<SendRequest<UpstreamBody>> {
        let mut idle = self.idle();
        while let Some(i) = idle.iter().position(|(a, _)| *a == addr) {
            let (_, sender) = idle.remove(i);
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, addr: SocketAddr, sender: SendRequest<UpstreamBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() >= MAX_IDLE_UPSTREAMS {
            idle.remove(0);
        }
        idle.push((addr, sender));
    }

    /// Sends `request` to `upstream` over this connection's upstream
    /// connection to it, opening one if there is none (or it was closed).
    async fn send(
        &self,
        upstream: &Upstream,
        mut request: Request<UpstreamBody>,
        set_host: bool,
    ) -> Result<Response<Incoming>, Failure> {
        if set_host && let Ok(host) = HeaderValue::from_str(upstream.authority.as_str()) {
            request.headers_mut().insert(header::HOST, host);
        }
        if let Some(mut sender) = self.take_idle(upstream.addr) {
            // Waits until the previous response was read to its end; fails
            // if the upstream closed the connection meanwhile.
            if sender.ready().await.is_ok() {
                match sender.try_send_request(request).await {
                    Ok(response) => {
                        self.put_idle(upstream.addr, sender);
                        return Ok(response);
                    }
                    Err(mut e) => match e.take_message() {
                        // Closed before the request could be written:
                        // nothing was sent, a fresh connection takes it.
                        Some(unsent) => request = unsent,
                        None => return Err(Failure::sending(e.into_error())),
                    },
                }
            }
        }
        let mut sender = match connect(upstream.addr).await {
            Ok(sender) => sender,
            Err(e) => return Err(Failure::Connect(e, Box::new(request))),
        };
        let response = sender
            .send_request(request)
            .await
            .map_err(Failure::sending)?;
        self.put_idle(upstream.addr, sender);
        Ok(response)
    }
}

/// Opens a keep-alive HTTP/1.1 connection to an upstream. Its I/O runs in
/// a task on the current runtime, i.e. on the user connection's worker.
async fn connect(addr: SocketAddr) -> io::Result<SendRequest<UpstreamBody>> {
    let stream = tokio::time::timeout(super::CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting timed out"))??;
    // A proxy writes small request heads that must not wait for Nagle's algorithm.
    stream.set_nodelay(true)?;
    let (sender, connection) = client_http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(upstream = %addr, error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// The request target as an upstream expects it from a client: origin form
/// (`/path?query`), also when the client sent the absolute form.
fn origin_form(uri: Uri) -> Uri {
    if uri.authority().is_none() {
        return uri;
    }
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::from(path)
}

/// Serves one user request. Never fails: upstream problems become a
/// counted 502, a malformed request body an uncounted 400.
pub async fn handle(
    conn: &Connection,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    // The request holds its table until it is answered, so an instance that
    // leaves rotation meanwhile still finishes this request (drain).
    let table = conn.shared.table();
    let Some(pick) = table.pick() else {
        table
            .stable
            .counters
            .record(Outcome::ConnectFailed, started.elapsed());
        return Ok(bad_gateway("no upstream instance is in rotation\n"));
    };

    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    append_forwarded_for(&mut parts.headers, &conn.forwarded_for);
    parts.uri = origin_form(std::mem::take(&mut parts.uri));
    parts.version = hyper::Version::HTTP_11;
    // HTTP/1.1 requires a Host; an HTTP/1.0 client may not have sent one.
    let set_host = !parts.headers.contains_key(header::HOST);
    // A refused connection means nothing was sent, so a body-less request
    // can be retried once on another instance of the same side. A request
    // with a body is not retried.
    let retryable = body.is_end_stream();
    let request = Request::from_parts(parts, Either::Left(body));

    let (pick, result) = match conn.send(pick.upstream, request, set_host).await {
        Err(Failure::Connect(e, request)) if retryable => {
            match table.pick_other(pick.route.side, pick.upstream.addr) {
                Some(other) => {
                    tracing::debug!(upstream = %pick.upstream.addr, retry = %other.upstream.addr, error = %e, "connection refused; retrying once");
                    (other, conn.send(other.upstream, *request, set_host).await)
                }
                None => (pick, Err(Failure::Connect(e, request))),
            }
        }
        other => (pick, other),
    };

    match result {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            let header = |name: &Option<header::HeaderName>| {
                name.as_ref()
                    .and_then(|h| parts.headers.get(h))
                    .and_then(|v| v.to_str().ok())
            };
            let headers = &conn.shared.headers;
            let kind = header(&headers.error_kind);
            // Behind a feature flag every instance runs both variants: the
            // one that served is the side the request counts for.
            let route = header(&headers.variant)
                .and_then(|variant| table.side_running(variant))
                .unwrap_or(pick.route);
            route.counters.record(
                Outcome::Answered {
                    status: parts.status.as_u16(),
                    error_kind: kind,
                },
                started.elapsed(),
            );
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, Either::Left(body)))
        }
        Err(Failure::Connect(e, _)) => {
            tracing::debug!(upstream = %pick.upstream.addr, error = %e, "cannot connect to the upstream");
            pick.route
                .counters
                .record(Outcome::ConnectFailed, started.elapsed());
            Ok(bad_gateway("upstream refused the connection\n"))
        }
        Err(Failure::ClientBody(e)) => {
            // Not counted: the version under test did nothing wrong.
            tracing::debug!(error = %e, "the client's request body is malformed");
            Ok(own_answer(
                StatusCode::BAD_REQUEST,
                "the request body is malformed or incomplete\n",
            ))
        }
        Err(Failure::Broken(e)) => {
            tracing::debug!(upstream = %pick.upstream.addr, error = %e, "upstream request failed");
            pick.route
                .counters
                .record(Outcome::UpstreamBroken, started.elapsed());
            Ok(bad_gateway("upstream connection failed before answering\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use hyper::server::conn::http1 as server_http1;
    use hyper::service::service_fn;
    use tokio::net::TcpListener;

    use crate::config::defaults;
    use crate::dataplane::{DataPlane, DataPlaneConfig};

    use super::*;

    /// An upstream that counts the connections user requests arrived on
    /// (health probes go to `/healthz` and are not counted). With `close`,
    /// every response carries `Connection: close`.
    async fn upstream(close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let used = Arc::new(AtomicUsize::new(0));
        let counter = used.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let counted = Arc::new(AtomicBool::new(false));
                let counter = counter.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    if request.uri().path() != "/healthz" && !counted.swap(true, Ordering::Relaxed)
                    {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                    if close {
                        response
                            .headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                    async move { Ok::<_, Infallible>(response) }
                });
                tokio::spawn(
                    server_http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (addr, used)
    }

    async fn plane(upstream: SocketAddr) -> DataPlane {
        let mut health = defaults::health();
        health.interval = Duration::from_secs(3600);
        DataPlane::start(DataPlaneConfig {
            name: "dev/checkout".to_string(),
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: "127.0.0.1:0".parse().unwrap(),
            stable_version: "v1".to_string(),
            versions: BTreeMap::from([("v1".to_string(), vec![upstream])]),
            error_kind_header: None,
            variant_header: None,
            health,
            admin_token: None,
            limits: Default::default(),
        })
        .await
        .unwrap()
    }

    /// A client that keeps (at most) one connection to the proxy.
    fn one_connection_client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    async fn get_ok(client: &reqwest::Client, plane: &DataPlane) {
        let url = format!("http://{}/work", plane.listen_addr());
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
    }

    #[tokio::test]
    async fn each_user_connection_reuses_its_own_upstream_connection() {
        let (addr, used) = upstream(false).await;
        let plane = plane(addr).await;
        let (a, b) = (one_connection_client(), one_connection_client());
        for _ in 0..10 {
            get_ok(&a, &plane).await;
            get_ok(&b, &plane).await;
        }
        assert_eq!(
            used.load(Ordering::Relaxed),
            2,
            "one keep-alive upstream connection per user connection"
        );
        plane.shutdown().await;
    }

    #[tokio::test]
    async fn an_upstream_closing_its_connections_costs_no_request() {
        let (addr, used) = upstream(true).await;
        let plane = plane(addr).await;
        let client = one_connection_client();
        for _ in 0..10 {
            get_ok(&client, &plane).await;
        }
        assert_eq!(used.load(Ordering::Relaxed), 10);
        plane.shutdown().await;
    }
}
