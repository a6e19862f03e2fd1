//! The admin API: the only way the release engine steers a data plane,
//! whether it runs in the same process or as `helmsman serve` elsewhere
//! (like HAProxy's runtime API). JSON in, JSON out; every refusal is a 4xx
//! with `{"error": "..."}` saying what is wrong. Who may change what is
//! `admin_guard`'s business.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde::Serialize;

use super::admin_guard::{AdminGuard, Refusal};
use super::exposition;
use super::routing::RoutingError;
use super::siblings;
use super::state::Shared;
use crate::observed::Observed;

/// Admin bodies are tiny; anything bigger is a mistake, not a request.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightBody {
    new_percent: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstancesBody {
    stable: usize,
    new: usize,
}

/// The answer of `GET /api/v1/observed/siblings`: what each plane asked
/// for observes, by admin address, for those this process runs (see
/// `siblings`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Siblings {
    pub planes: BTreeMap<SocketAddr, Observed>,
}

/// Most planes one sibling call may ask for: the query string stays
/// within a few kilobytes.
pub const MAX_SIBLINGS: usize = 128;

/// `admin=A,B,…` of a query string: the admin addresses asked for.
fn admin_list(query: Option<&str>) -> Result<Vec<SocketAddr>, AdminError> {
    let list = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find_map(|(name, value)| (name == "admin").then_some(value))
        .ok_or_else(|| AdminError::BadQuery("name the planes: ?admin=ADDRESS,ADDRESS,…".into()))?;
    let wanted = list
        .split(',')
        .map(|a| {
            a.parse().map_err(|_| {
                AdminError::BadQuery(format!("`{a}` is not an admin address (IP:PORT)"))
            })
        })
        .collect::<Result<Vec<SocketAddr>, _>>()?;
    if wanted.len() > MAX_SIBLINGS {
        return Err(AdminError::BadQuery(format!(
            "{} planes asked for; at most {MAX_SIBLINGS} at once",
            wanted.len()
        )));
    }
    Ok(wanted)
}

#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("invalid JSON body: {0}")]
    BadBody(String),
    #[error("invalid query: {0}")]
    BadQuery(String),
    #[error("no such endpoint: {0}")]
    NotFound(String),
    #[error("{path} does not accept {method}; use {allowed}")]
    MethodNotAllowed {
        method: Method,
        path: String,
        allowed: &'static str,
    },
}

impl AdminError {
    fn status(&self) -> StatusCode {
        match self {
            AdminError::Routing(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            AdminError::Refused(r) => r.status(),
            AdminError::BadBody(_) | AdminError::BadQuery(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|e| {
        format!("{{\"error\":\"cannot encode the answer: {e}\"}}").into_bytes()
    });
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_response(e: &AdminError) -> Response<Full<Bytes>> {
    let mut response = json(e.status(), &serde_json::json!({ "error": e.to_string() }));
    match e {
        AdminError::MethodNotAllowed { allowed, .. } => {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
        }
        AdminError::Refused(Refusal::MissingToken | Refusal::WrongToken) => {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    response
}

async fn parse<T: for<'de> Deserialize<'de>>(body: Incoming) -> Result<T, AdminError> {
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| AdminError::BadBody(e.to_string()))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| AdminError::BadBody(e.to_string()))
}

pub async fn handle(
    shared: &Shared,
    guard: &AdminGuard,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // Reading is open (Prometheus scrapes /metrics); changing is guarded.
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    let admitted = match reads {
        true => Ok(()),
        false => guard.admit(request.headers()).map_err(AdminError::from),
    };
    let answer = match admitted {
        Ok(()) => route(shared, guard.admin(), request).await,
        Err(refused) => {
            tracing::warn!(method = %request.method(), path = request.uri().path(), reason = %refused, "admin call refused");
            Err(refused)
        }
    };
    Ok(answer.unwrap_or_else(|e| error_response(&e)))
}

async fn route(
    shared: &Shared,
    admin: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, AdminError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let method = parts.method;
    let wrong_method = |allowed: &'static str| AdminError::MethodNotAllowed {
        method: method.clone(),
        path: path.clone(),
        allowed,
    };
    let ok = |state| Ok(json(StatusCode::OK, &state));
    match path.as_str() {
        "/metrics" if method == Method::GET => {
            let accept = parts.headers.get(ACCEPT).and_then(|v| v.to_str().ok());
            let format = exposition::Format::from_accept(accept);
            let text = exposition::render_shared(shared, format);
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            Ok(response)
        }
        "/api/v1/state" if method == Method::GET => ok(shared.traffic_state()),
        "/api/v1/counters" if method == Method::GET => Ok(json(StatusCode::OK, &shared.reading())),
        "/api/v1/observed" if method == Method::GET => Ok(json(StatusCode::OK, &shared.observed())),
        "/api/v1/observed/siblings" if method == Method::GET => {
            let wanted = admin_list(parts.uri.query())?;
            let planes = siblings::observed(admin, &wanted);
            Ok(json(StatusCode::OK, &Siblings { planes }))
        }
        "/api/v1/release" if method == Method::PUT => {
            let b: ReleaseBody = parse(body).await?;
            ok(shared.update(|spec, v| spec.prepare(&b.version, v))?)
        }
        "/api/v1/weight" if method == Method::PUT => {
            let b: WeightBody = parse(body).await?;
            ok(shared.update(|spec, v| spec.set_weight(b.new_percent, v))?)
        }
        "/api/v1/instances" if method == Method::PUT => {
            let b: InstancesBody = parse(body).await?;
            ok(shared.update(|spec, v| spec.set_instances(b.stable, b.new, v))?)
        }
        "/api/v1/finish" if method == Method::POST => ok(shared.update(|spec, v| spec.finish(v))?),
        "/api/v1/discard" if method == Method::POST => {
            ok(shared.update(|spec, v| Ok(spec.discard(v)))?)
        }
        "/metrics"
        | "/api/v1/state"
        | "/api/v1/counters"
        | "/api/v1/observed"
        | "/api/v1/observed/siblings" => Err(wrong_method("GET")),
        "/api/v1/release" | "/api/v1/weight" | "/api/v1/instances" => Err(wrong_method("PUT")),
        "/api/v1/finish" | "/api/v1/discard" => Err(wrong_method("POST")),
        _ => Err(AdminError::NotFound(path.clone())),
    }
}
