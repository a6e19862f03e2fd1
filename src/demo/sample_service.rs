//! The demo's sample HTTP service: one instance of one version, with a
//! behaviour the scenario chooses (errors, latency, error kinds, health);
//! or, behind a feature flag, one behaviour per variant of the flag, the
//! variant chosen per request from the flag file as flagd would
//! ([`super::flag_eval`]) and named in `x-flag-variant`.
//!
//! Faults are injected *deterministically* (an accumulator, not a coin
//! flip): "8 % errors" means exactly 8 of every 100 requests, and latency
//! cycles through a fixed table. The demo's verdicts are then the same on
//! every run, so its exit codes can be tested without flakiness, while the
//! traffic, the proxy and the analysis stay real.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::database::Customers;

/// Latency of a healthy instance, in milliseconds: 20 requests cycled in
/// order. Its p95 is about 30 ms, its median about 13 ms.
const LATENCY_TABLE_MS: [u64; 20] = [
    8, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 16, 17, 18, 20, 22, 25, 30,
];

/// What one instance does.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    pub version: String,
    /// Multiplies every latency of the table.
    pub latency_factor: f64,
    /// Percent of requests answered 500 without an error kind header.
    pub error_pct: f64,
    /// Percent of requests answered 500 with `x-error-kind: <kind>`.
    pub error_kind: Option<(String, f64)>,
    /// Whether `/healthz` answers 200.
    pub healthy: bool,
    /// The database each request reads a customer from, if any: a read
    /// the schema does not allow answers 500 with SQLite's error.
    pub customers: Option<Customers>,
}

impl Behaviour {
    /// A well-behaved instance: 0.1 % errors, like the stable version.
    pub fn healthy(version: &str) -> Behaviour {
        Behaviour {
            version: version.to_string(),
            latency_factor: 1.0,
            error_pct: 0.1,
            error_kind: None,
            healthy: true,
            customers: None,
        }
    }
}

/// The error kind of a request whose database read failed.
pub const DATABASE_ERROR_KIND: &str = "SQLiteError";

/// Header carrying the error kind, as the demo configuration names it.
pub const ERROR_KIND_HEADER: &str = "x-error-kind";

/// Fires `pct` times in every 100 calls, evenly spread.
#[derive(Debug, Default)]
struct Accumulator(AtomicU64);

impl Accumulator {
    /// Works in hundredths of a percent so 0.1 % is exact.
    fn fires(&self, pct: f64) -> bool {
        let step = (pct * 100.0).round() as u64;
        if step == 0 {
            return false;
        }
        let before = self.0.fetch_add(step, Ordering::Relaxed);
        before / 10_000 != (before + step) / 10_000
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    errors: Accumulator,
    kinds: Accumulator,
}

/// The header naming the variant that served, as the demo's flagd backend
/// counts it.
pub const VARIANT_HEADER: &str = "x-flag-variant";

/// An instance whose behaviour depends on a feature flag.
pub struct Flagged {
    pub flag: super::flag_eval::FlagEvaluator,
    /// Each variant's behaviour; a variant not listed gets the first.
    pub variants: Vec<(String, Behaviour)>,
}

/// What an instance answers with: one behaviour, or one per variant.
struct Answers {
    flag: Option<super::flag_eval::FlagEvaluator>,
    /// (variant, behaviour, its counters); the first answers health checks
    /// and any variant not listed.
    behaviours: Vec<(String, Behaviour, Counters)>,
    requests: AtomicU64,
}

/// A running instance, until `stop` or drop: then it takes no connection
/// and closes those it has, as a process that died would.
pub struct SampleService {
    addr: SocketAddr,
    task: JoinHandle<()>,
    stopped: tokio::sync::watch::Sender<bool>,
}

impl SampleService {
    /// Binds `addr` (port 0 picks a free port) and serves until stopped.
    pub async fn start(addr: SocketAddr, behaviour: Behaviour) -> std::io::Result<SampleService> {
        let version = behaviour.version.clone();
        Self::serve(
            addr,
            Answers {
                flag: None,
                behaviours: vec![(version, behaviour, Counters::default())],
                requests: AtomicU64::new(0),
            },
        )
        .await
    }

    /// An instance behind a feature flag: each request is a new user
    /// (targeting key `user-<n>`), served as its variant's behaviour.
    pub async fn start_flagged(
        addr: SocketAddr,
        flagged: Flagged,
    ) -> std::io::Result<SampleService> {
        assert!(!flagged.variants.is_empty(), "a behaviour per variant");
        let behaviours = flagged
            .variants
            .into_iter()
            .map(|(variant, behaviour)| (variant, behaviour, Counters::default()))
            .collect();
        Self::serve(
            addr,
            Answers {
                flag: Some(flagged.flag),
                behaviours,
                requests: AtomicU64::new(0),
            },
        )
        .await
    }

    async fn serve(addr: SocketAddr, answers: Answers) -> std::io::Result<SampleService> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let answers = Arc::new(answers);
        let (stopped, stop_signal) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let answers = answers.clone();
                let mut stop_signal = stop_signal.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(req, answers.clone()));
                    let connection =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    // Dropped on stop: the connection closes mid-keep-alive.
                    tokio::select! {
                        _ = connection => {}
                        _ = stop_signal.wait_for(|stopped| *stopped) => {}
                    }
                });
            }
        });
        Ok(SampleService {
            addr,
            task,
            stopped,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(&self) {
        self.task.abort();
        self.stopped.send_replace(true);
    }
}

impl Drop for SampleService {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn answer(
    req: Request<Incoming>,
    answers: Arc<Answers>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let first = &answers.behaviours[0];
    if req.uri().path() == "/healthz" {
        return Ok(answer_as(req, &first.1, &first.2).await);
    }
    let Some(flag) = &answers.flag else {
        return Ok(answer_as(req, &first.1, &first.2).await);
    };
    let user = answers.requests.fetch_add(1, Ordering::Relaxed);
    let variant = flag.variant(&format!("user-{user}"));
    let (name, behaviour, counters) = answers
        .behaviours
        .iter()
        .find(|(name, ..)| Some(name) == variant.as_ref())
        .unwrap_or(first);
    let mut response = answer_as(req, behaviour, counters).await;
    if let Ok(value) = name.parse() {
        response.headers_mut().insert(VARIANT_HEADER, value);
    }
    Ok(response)
}

async fn answer_as(
    req: Request<Incoming>,
    behaviour: &Behaviour,
    counters: &Counters,
) -> Response<Full<Bytes>> {
    if req.uri().path() == "/healthz" {
        let (status, body) = if behaviour.healthy {
            (StatusCode::OK, "ok\n")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "unhealthy\n")
        };
        return text(status, &behaviour.version, body.to_string());
    }

    let n = counters.requests.fetch_add(1, Ordering::Relaxed);
    let base = LATENCY_TABLE_MS[(n % LATENCY_TABLE_MS.len() as u64) as usize] as f64;
    tokio::time::sleep(Duration::from_secs_f64(
        base * behaviour.latency_factor / 1000.0,
    ))
    .await;

    if let Some((kind, pct)) = &behaviour.error_kind
        && counters.kinds.fires(*pct)
    {
        let mut response = text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &behaviour.version,
            format!("{kind}\n"),
        );
        if let Ok(value) = kind.parse() {
            response.headers_mut().insert(ERROR_KIND_HEADER, value);
        }
        return response;
    }
    if counters.errors.fires(behaviour.error_pct) {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &behaviour.version,
            "internal error\n".to_string(),
        );
    }
    let Some(customers) = behaviour.customers.clone() else {
        return text(
            StatusCode::OK,
            &behaviour.version,
            format!("hello from {}\n", behaviour.version),
        );
    };
    let read = tokio::task::spawn_blocking(move || customers.greet(n))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match read {
        Ok(name) => text(
            StatusCode::OK,
            &behaviour.version,
            format!("hello {name}, from {}\n", behaviour.version),
        ),
        Err(e) => {
            let mut response = text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &behaviour.version,
                format!("{e}\n"),
            );
            response.headers_mut().insert(
                ERROR_KIND_HEADER,
                hyper::header::HeaderValue::from_static(DATABASE_ERROR_KIND),
            );
            response
        }
    }
}

fn text(status: StatusCode, version: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = version.parse() {
        response.headers_mut().insert("x-version", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulator_fires_exactly_the_share_asked_for() {
        for (pct, expected) in [(8.0, 80), (0.1, 1), (2.0, 20), (0.0, 0), (100.0, 1000)] {
            let acc = Accumulator::default();
            let fired = (0..1000).filter(|_| acc.fires(pct)).count();
            assert_eq!(fired, expected, "{pct} %");
        }
    }

    #[tokio::test]
    async fn serves_its_version_health_and_faults() {
        let behaviour = Behaviour {
            error_pct: 50.0,
            healthy: false,
            ..Behaviour::healthy("v9")
        };
        let service = SampleService::start("127.0.0.1:0".parse().unwrap(), behaviour)
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let base = format!("http://{}", service.addr());
        let health = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 503);
        let mut errors = 0;
        for _ in 0..10 {
            let r = client.get(format!("{base}/")).send().await.unwrap();
            assert_eq!(r.headers()["x-version"], "v9");
            if r.status() == 500 {
                errors += 1;
            }
        }
        assert_eq!(errors, 5);
    }
}
