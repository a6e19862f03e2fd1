//! Forwarding one user request: pick an upstream from the current table,
//! forward method, path, query, headers and a streamed body over a pooled
//! keep-alive connection, stream the answer back, count the outcome.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{Either, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{PathAndQuery, Scheme};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::counters::Outcome;
use super::pool::Pick;
use super::state::Shared;

/// Request bodies sent upstream: the client's streamed body, or nothing
/// (health probes, and the retry of a body-less request).
pub type UpstreamBody = Either<Incoming, Empty<Bytes>>;
pub type UpstreamClient = Client<HttpConnector, UpstreamBody>;
/// Response bodies: the upstream's streamed body, or the proxy's own 502.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// A pooled keep-alive client. `TCP_NODELAY` because a proxy writes small
/// request heads that must not wait for Nagle's algorithm.
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

fn append_forwarded_for(headers: &mut HeaderMap, peer: SocketAddr) {
    let ip = peer.ip().to_string();
    let value = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(X_FORWARDED_FOR, v);
    }
}

fn bad_gateway(why: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from_static(why.as_bytes()))));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

fn upstream_uri(pick: &Pick<'_>, path: Option<&PathAndQuery>) -> Option<Uri> {
    Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(pick.upstream.authority.clone())
        .path_and_query(
            path.cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        )
        .build()
        .ok()
}

/// Serves one user request. Never fails: problems become a counted 502.
pub async fn handle(
    shared: &Shared,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    // The request holds its table until it is answered, so an instance that
    // leaves rotation meanwhile still finishes this request (drain).
    let table = shared.table();
    let Some(pick) = table.pick() else {
        table
            .stable
            .counters
            .record(Outcome::ConnectFailed, started.elapsed());
        return Ok(bad_gateway("no upstream instance is in rotation\n"));
    };

    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    append_forwarded_for(&mut parts.headers, peer);
    // A refused connection means nothing was sent, so a body-less request
    // can be retried once on another instance of the same side. A request
    // with a body is not: its body stream was handed to the failed attempt.
    let retry_parts = body
        .is_end_stream()
        .then(|| (parts.method.clone(), parts.headers.clone()));

    let Some(uri) = upstream_uri(&pick, parts.uri.path_and_query()) else {
        pick.route
            .counters
            .record(Outcome::ConnectFailed, started.elapsed());
        return Ok(bad_gateway("cannot build the upstream address\n"));
    };
    parts.uri = uri;
    parts.version = hyper::Version::HTTP_11;
    let path = parts.uri.path_and_query().cloned();
    let first = shared
        .client
        .request(Request::from_parts(parts, Either::Left(body)))
        .await;

    let (pick, result) = match first {
        Err(e) if e.is_connect() => {
            let retry = retry_parts.and_then(|(method, headers)| {
                let other = table.pick_other(pick.route.side, pick.upstream.addr)?;
                let mut req = Request::new(Either::Right(Empty::new()));
                *req.method_mut() = method;
                *req.headers_mut() = headers;
                *req.uri_mut() = upstream_uri(&other, path.as_ref())?;
                Some((other, req))
            });
            match retry {
                Some((other, req)) => {
                    tracing::debug!(upstream = %pick.upstream.addr, retry = %other.upstream.addr, "connection refused; retrying once");
                    (other, shared.client.request(req).await)
                }
                None => (pick, Err(e)),
            }
        }
        other => (pick, other),
    };

    match result {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            let kind = shared
                .error_kind_header
                .as_ref()
                .and_then(|h| parts.headers.get(h))
                .and_then(|v| v.to_str().ok());
            pick.route.counters.record(
                Outcome::Answered {
                    status: parts.status.as_u16(),
                    error_kind: kind,
                },
                started.elapsed(),
            );
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, Either::Left(body)))
        }
        Err(e) => {
            let connect = e.is_connect();
            tracing::debug!(upstream = %pick.upstream.addr, error = %e, "upstream request failed");
            let outcome = if connect {
                Outcome::ConnectFailed
            } else {
                Outcome::UpstreamBroken
            };
            pick.route.counters.record(outcome, started.elapsed());
            Ok(bad_gateway(if connect {
                "upstream refused the connection\n"
            } else {
                "upstream connection failed before answering\n"
            }))
        }
    }
}
