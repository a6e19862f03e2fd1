//! `helmsman serve` attacked and stopped as it would be in production: raw
//! HTTP against its admin API (as curl or a web page would send it), slow
//! and malformed clients against its proxy, and SIGTERM while requests are
//! in flight. Everything runs on 127.0.0.1.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use world::{free_port, helmsman, wait_for_admin};

/// An upstream whose `/slow` requests are counted on arrival and wait for a
/// permit of `gate`; everything else answers at once.
struct GatedUpstream {
    addr: SocketAddr,
    arrived: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

impl GatedUpstream {
    async fn start() -> GatedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let arrived = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let (count, wait) = (arrived.clone(), gate.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (count, wait) = (count.clone(), wait.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let (count, wait) = (count.clone(), wait.clone());
                    async move {
                        if request.uri().path() == "/slow" {
                            count.fetch_add(1, Ordering::SeqCst);
                            let _ = wait.acquire().await.map(|p| p.forget());
                        }
                        // Like most applications, read the whole body first.
                        let _ = request.into_body().collect().await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"v1"))))
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        GatedUpstream {
            addr,
            arrived,
            gate,
        }
    }
}

/// A running `helmsman serve` with one local-backend service.
struct Served {
    _dir: tempfile::TempDir,
    state: PathBuf,
    listen: u16,
    admin: u16,
    child: Child,
}

/// The configuration of one service `dev/web` whose v1 and v2 are `upstream`;
/// `backend_extra` goes into its backend table.
fn config_text(listen: u16, admin: u16, upstream: SocketAddr, backend_extra: &str) -> String {
    format!(
        r#"[[environments]]
name = "dev"
[[environments.services]]
name = "web"
[environments.services.backend]
type = "local"
listen = "127.0.0.1:{listen}"
admin = "127.0.0.1:{admin}"
stable = "v1"
{backend_extra}
[environments.services.backend.versions]
"v1" = ["{upstream}"]
"v2" = ["{upstream}"]
"#
    )
}

impl Served {
    async fn start(upstream: SocketAddr, backend_extra: &str) -> Served {
        Self::start_with(upstream, backend_extra, |_| {}).await
    }

    /// As `start`, letting the caller adjust the command first.
    async fn start_with(
        upstream: SocketAddr,
        backend_extra: &str,
        adjust: impl FnOnce(&mut Command),
    ) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let (listen, admin) = (free_port(), free_port());
        let config = dir.path().join("helmsman.toml");
        std::fs::write(&config, config_text(listen, admin, upstream, backend_extra)).unwrap();
        let mut command = helmsman(&config, &state, &["serve"]);
        command.stdout(Stdio::null());
        adjust(&mut command);
        let mut child = command.spawn().unwrap();
        wait_for_admin(admin, &mut child).await;
        Served {
            _dir: dir,
            state,
            listen,
            admin,
            child,
        }
    }

    /// The generated admin token, if the data plane wrote one.
    fn token(&self) -> Option<String> {
        std::fs::read_to_string(self.state.join("admin-token"))
            .ok()
            .map(|t| t.trim().to_string())
    }

    async fn state(&self) -> Value {
        let url = format!("http://127.0.0.1:{}/api/v1/state", self.admin);
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }
}

/// Sends one raw HTTP/1.1 request (exactly these bytes, as curl would) and
/// returns the status code and body of the answer; the connection closes.
async fn raw(port: u16, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A raw admin request with a JSON-or-not body and extra header lines.
fn admin_request(method: &str, path: &str, port: u16, headers: &[String], body: &str) -> String {
    let mut text =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

fn bearer(token: &Option<String>) -> Vec<String> {
    token
        .iter()
        .map(|t| format!("Authorization: Bearer {t}"))
        .collect()
}

// ----- point 5: the admin API ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_admin_calls_need_the_token_json_and_the_admin_origin() {
    let upstream = GatedUpstream::start().await;
    let served = Served::start(upstream.addr, "").await;
    let (port, token) = (served.admin, served.token());
    let json = "Content-Type: application/json".to_string();

    // The operator's own calls: the generated token, JSON.
    let mut headers = bearer(&token);
    headers.push(json.clone());
    let prepare = admin_request(
        "PUT",
        "/api/v1/release",
        port,
        &headers,
        r#"{"version":"v2"}"#,
    );
    assert_eq!(raw(port, &prepare).await.0, 200);
    let weight = admin_request(
        "PUT",
        "/api/v1/weight",
        port,
        &headers,
        r#"{"new_percent":50}"#,
    );
    assert_eq!(raw(port, &weight).await.0, 200);

    // The issue's attack: a web page (Origin elsewhere, a "simple" text/plain
    // request the browser sends without asking) with no token.
    let attack = admin_request(
        "POST",
        "/api/v1/finish",
        port,
        &[
            "Origin: http://evil.example".to_string(),
            "Content-Type: text/plain".to_string(),
        ],
        "",
    );
    let (status, body) = raw(port, &attack).await;
    assert_eq!(status, 403, "{body}");
    let state = served.state().await;
    assert_eq!(state["stable_version"], "v1", "{state}");
    assert_eq!(state["new_version"], "v2", "{state}");

    // Each defence on its own, the others satisfied.
    let token_json = headers.clone();
    let with = |extra: &[&str]| {
        let mut h = token_json.clone();
        h.extend(extra.iter().map(|s| s.to_string()));
        h
    };
    let cases: Vec<(&str, Vec<String>, u16)> = vec![
        ("no token", vec![json.clone()], 401),
        (
            "a wrong token",
            vec![json.clone(), "Authorization: Bearer guessed".to_string()],
            401,
        ),
        (
            "text/plain",
            bearer(&token)
                .into_iter()
                .chain(["Content-Type: text/plain".to_string()])
                .collect(),
            415,
        ),
        (
            "a foreign Origin",
            with(&["Origin: http://evil.example"]),
            403,
        ),
        ("Origin null", with(&["Origin: null"]), 403),
    ];
    for (what, headers, expected) in cases {
        let request = admin_request("POST", "/api/v1/finish", port, &headers, "{}");
        let (status, body) = raw(port, &request).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(body.contains("\"error\""), "{what}: {body}");
    }
    // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1.
    let rebound = admin_request("POST", "/api/v1/finish", port, &headers, "{}").replace(
        &format!("Host: 127.0.0.1:{port}"),
        &format!("Host: evil.example:{port}"),
    );
    let (status, body) = raw(port, &rebound).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(served.state().await["new_version"], "v2");

    // Readings stay open: Prometheus scrapes /metrics without a token.
    let metrics =
        format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw(port, &metrics).await.0, 200);

    // The operator's own call from the admin page itself still finishes.
    let own = admin_request(
        "POST",
        "/api/v1/finish",
        port,
        &with(&[&format!("Origin: http://127.0.0.1:{port}")]),
        "{}",
    );
    let (status, body) = raw(port, &own).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(served.state().await["stable_version"], "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_admin_token_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let upstream = GatedUpstream::start().await;
    let served = Served::start(upstream.addr, "").await;
    let path = served.state.join("admin-token");
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = served.token().unwrap();
    assert!(token.len() >= 32, "{token:?}");
}

#[tokio::test]
async fn a_configured_admin_token_replaces_the_generated_one() {
    let upstream = GatedUpstream::start().await;
    let extra = "admin_token = \"${SERVE_TEST_ADMIN_TOKEN}\"";
    let served = Served::start_with(upstream.addr, extra, |c| {
        c.env("SERVE_TEST_ADMIN_TOKEN", "s3cret-from-the-environment");
    })
    .await;
    assert_eq!(served.token(), None, "no token is generated");
    let port = served.admin;
    let json = "Content-Type: application/json".to_string();
    let prepare = |token: &str| {
        admin_request(
            "PUT",
            "/api/v1/release",
            port,
            &[json.clone(), format!("Authorization: Bearer {token}")],
            r#"{"version":"v2"}"#,
        )
    };
    assert_eq!(raw(port, &prepare("guessed")).await.0, 401);
    assert_eq!(
        raw(port, &prepare("s3cret-from-the-environment")).await.0,
        200
    );
}

/// `check-config` on a file whose admin address is `admin`, with `extra`
/// in the backend table: exit code and stderr.
async fn check_config(admin: &str, extra: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("helmsman.toml");
    let text = config_text(18080, 19080, "127.0.0.1:18181".parse().unwrap(), extra).replace(
        "admin = \"127.0.0.1:19080\"",
        &format!("admin = \"{admin}\""),
    );
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .arg("check-config")
        .arg(&path)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).replace(&*path.to_string_lossy(), "FILE"),
    )
}

#[tokio::test]
async fn check_config_refuses_a_reachable_admin_api_without_a_token_and_warns_with_one() {
    let (code, stderr) = check_config("0.0.0.0:19080", "", &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "FILE:8:9: error: `admin` address 0.0.0.0:19080 is reachable from other hosts"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: ") && stderr.contains("admin_token"),
        "{stderr}"
    );

    let token = "admin_token = \"${CHECK_ADMIN_TOKEN}\"";
    let (code, stderr) =
        check_config("0.0.0.0:19080", token, &[("CHECK_ADMIN_TOKEN", "t0ken")]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning: "), "{stderr}");
    assert!(stderr.contains("0.0.0.0:19080"), "{stderr}");
    assert!(
        !stderr.contains("t0ken"),
        "the secret is never printed: {stderr}"
    );

    let (code, stderr) = check_config("127.0.0.1:19080", "", &[]).await;
    assert_eq!((code, stderr.as_str()), (0, ""));
}

// ----- point 6: slow clients --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_clients_are_closed_after_the_header_read_timeout() {
    const SLOW: usize = 20;
    let upstream = GatedUpstream::start().await;
    let served = Served::start(upstream.addr, "header_read_timeout = \"1s\"").await;
    let mut slow = Vec::new();
    for port in [served.listen, served.admin] {
        for _ in 0..SLOW / 2 {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            // A request head that never ends (slowloris).
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1")
                .await
                .unwrap();
            slow.push(stream);
        }
    }
    // Each is closed by the server (end of stream or a reset, perhaps
    // after a 408); 30 s is only how long the test waits before failing.
    for mut stream in slow {
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        let _closed = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the server closed the slow connection");
    }
    // Clients that send their head at once are served as before.
    let (status, body) = raw(
        served.listen,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "v1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_wait_until_one_closes() {
    let upstream = GatedUpstream::start().await;
    let served = Served::start(upstream.addr, "max_connections = 2").await;
    let request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(("127.0.0.1", served.listen))
            .await
            .unwrap();
        stream.write_all(request).await.unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        open.push(stream);
    }
    // The third waits in the listen queue: connected, not yet served.
    let mut third = TcpStream::connect(("127.0.0.1", served.listen))
        .await
        .unwrap();
    third.write_all(request).await.unwrap();
    let mut head = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut head)).await;
    assert!(
        early.is_err(),
        "a third connection was served beyond the limit of 2"
    );
    drop(open.pop());
    tokio::time::timeout(Duration::from_secs(10), third.read_exact(&mut head))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

/// The soft and hard `Max open files` of a running process.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut numbers = line["Max open files".len()..].split_whitespace();
    (
        numbers.next().unwrap().to_string(),
        numbers.next().unwrap().to_string(),
    )
}

#[tokio::test]
async fn serve_raises_its_open_file_limit_to_the_hard_limit() {
    let upstream = GatedUpstream::start().await;
    let served = Served::start_with(upstream.addr, "", |command| {
        // The child starts with a soft limit far below its hard limit.
        // SAFETY: setrlimit is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                use rustix::process::{Resource, getrlimit, setrlimit};
                let mut limit = getrlimit(Resource::Nofile);
                limit.current = Some(256);
                setrlimit(Resource::Nofile, limit).map_err(std::io::Error::from)
            });
        }
    })
    .await;
    // The data planes hold the connections, in the process `serve` starts
    // for them; its lock says which.
    let lock = std::fs::read_to_string(served.state.join("planes.lock")).unwrap();
    let planes: serde_json::Value = serde_json::from_str(&lock).unwrap();
    let pid = planes["pid"].as_u64().unwrap() as u32;
    assert_ne!(pid, served.child.id().unwrap());
    let (soft, hard) = open_file_limits(pid);
    assert_eq!(soft, hard);
}

// ----- point 7: stopping ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_both_drain_in_flight_requests() {
    use rustix::process::{Pid, Signal, kill_process};
    for signal in [Signal::TERM, Signal::INT] {
        const IN_FLIGHT: usize = 20;
        let upstream = GatedUpstream::start().await;
        let mut served = Served::start(upstream.addr, "").await;
        let url = format!("http://127.0.0.1:{}/slow", served.listen);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let requests: Vec<_> = (0..IN_FLIGHT)
            .map(|_| tokio::spawn(client.get(&url).send()))
            .collect();
        while upstream.arrived.load(Ordering::SeqCst) < IN_FLIGHT {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let pid = Pid::from_raw(served.child.id().unwrap() as i32).unwrap();
        kill_process(pid, signal).unwrap();
        // Stopping has begun once the listener is closed.
        while TcpStream::connect(("127.0.0.1", served.listen))
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        upstream.gate.add_permits(IN_FLIGHT);

        let mut answered = 0;
        for request in requests {
            if let Ok(Ok(response)) = request.await
                && response.status() == 200
                && response.text().await.unwrap_or_default() == "v1"
            {
                answered += 1;
            }
        }
        assert_eq!(
            answered, IN_FLIGHT,
            "{signal:?}: in-flight requests answered"
        );
        let status = tokio::time::timeout(Duration::from_secs(20), served.child.wait())
            .await
            .expect("serve exits after draining")
            .unwrap();
        assert_eq!(status.code(), Some(0), "{signal:?}");
    }
}

// ----- point 8: malformed request bodies ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_size_overflow_is_the_clients_mistake() {
    let upstream = GatedUpstream::start().await;
    let served = Served::start(upstream.addr, "").await;
    let (status, body) = raw(
        served.listen,
        "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n\
         fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Nothing is held against the version: no request was answered by it.
    let counters: Value =
        reqwest::get(format!("http://127.0.0.1:{}/api/v1/counters", served.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(counters["baseline"]["errors"], 0, "{counters}");
}
