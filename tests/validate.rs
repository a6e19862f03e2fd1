//! Preflight checks against real servers on loopback: HTTP (plain and
//! `application/health+json`), TLS servers presenting certificates made
//! here (expired, expiring, valid, a chain whose intermediate expires
//! first), closed ports, a hanging command, environment variables and the
//! disk. Then `helmsman validate`, `plan` and `release` as a user runs
//! them: a failing check or gate refuses a release before anything moves.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::process::Command;

use helmsman::config::{Config, parse_str};
use helmsman::demo::load::Load;
use helmsman::demo::sample_service::{Behaviour, SampleService};
use helmsman::preflight::{CheckOutcome, CheckStatus, Report, Selection, run};

// ---------------------------------------------------------------- servers

/// An HTTP server answering by path: `/ok`, `/down`, `/redirect`, and
/// `/health/{pass,warn,fail}` as `application/health+json`.
async fn http_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    Ok::<_, Infallible>(answer(req.uri().path()))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn answer(path: &str) -> Response<Full<Bytes>> {
    let health = |status: u16, body: &'static str| {
        Response::builder()
            .status(status)
            .header("content-type", "application/health+json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    match path {
        "/ok" => Response::new(Full::new(Bytes::from("fine"))),
        "/health/pass" => health(200, r#"{"status":"pass"}"#),
        "/health/warn" => health(200, r#"{"status":"warn","output":"disk 85 % full"}"#),
        "/health/fail" => health(503, r#"{"status":"fail","output":"database unreachable"}"#),
        "/redirect" => Response::builder()
            .status(302)
            .header("location", "/ok")
            .body(Full::new(Bytes::new()))
            .unwrap(),
        _ => Response::builder()
            .status(503)
            .body(Full::new(Bytes::from("down")))
            .unwrap(),
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A certificate valid from `from_days` to `to_days` around now.
fn params(cn: &str, from_days: i64, to_days: i64, ca: bool) -> CertificateParams {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    // An hour's margin, so "3 days" still reads 3 days when the check runs.
    params.not_after = now + time::Duration::days(to_days) + time::Duration::hours(1);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
}

type Chain = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn self_signed(cn: &str, from_days: i64, to_days: i64) -> Chain {
    let key = KeyPair::generate().unwrap();
    let cert = params(cn, from_days, to_days, false)
        .self_signed(&key)
        .unwrap();
    (vec![cert.der().clone()], private(&key))
}

/// Leaf (300 days) ← intermediate (`intermediate_days`) ← root (10 years);
/// the server presents the leaf and the intermediate.
fn chain(intermediate_days: i64) -> Chain {
    let root_key = KeyPair::generate().unwrap();
    let root = Issuer::new(params("helmsman test root", -1, 3650, true), root_key);
    let intermediate_key = KeyPair::generate().unwrap();
    let intermediate_params = params("helmsman test intermediate", -1, intermediate_days, true);
    let intermediate_cert = intermediate_params
        .signed_by(&intermediate_key, &root)
        .unwrap();
    let intermediate = Issuer::new(intermediate_params, intermediate_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = params("localhost", -1, 300, false)
        .signed_by(&leaf_key, &intermediate)
        .unwrap();
    (
        vec![leaf.der().clone(), intermediate_cert.der().clone()],
        private(&leaf_key),
    )
}

fn private(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// A TLS server on loopback presenting `chain`; it completes handshakes
/// and closes.
async fn tls_server((certs, key): Chain) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------- helpers

/// An environment `dev` with `checks` (TOML), through the real loader.
fn config(checks: &str) -> Config {
    let text = format!("[[environments]]\nname = \"dev\"\n{checks}");
    parse_str(&text, Path::new("validate.toml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

async fn check_all(checks: &str) -> Report {
    let config = config(checks);
    run(&config.environments[0], Selection::Everything).await
}

fn by_name<'r>(report: &'r Report, name: &str) -> &'r CheckOutcome {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {report:#?}"))
}

#[track_caller]
fn assert_check(report: &Report, name: &str, status: CheckStatus, value: &str) {
    let check = by_name(report, name);
    assert_eq!(check.status, status, "{name}: {}", check.value);
    assert!(
        check.value.contains(value),
        "{name}: `{value}` not in `{}`",
        check.value
    );
}

// ---------------------------------------------------------------- the checks

#[tokio::test]
async fn http_and_tcp_checks_against_real_servers() {
    let server = http_server().await;
    let closed = closed_port();
    let http = |name: &str, path: &str, extra: &str| {
        format!(
            "[[environments.checks]]\nname = \"{name}\"\ntype = \"http\"\n\
             url = \"http://{server}{path}\"\n{extra}\n"
        )
    };
    let checks = [
        http("ok", "/ok", ""),
        http("down", "/down", ""),
        http("pass", "/health/pass", ""),
        http("warn", "/health/warn", ""),
        http("fail", "/health/fail", ""),
        http("redirect", "/redirect", ""),
        http(
            "redirect expected",
            "/redirect",
            "expect_status = [\"2xx\", 302]",
        ),
        format!(
            "[[environments.checks]]\nname = \"refused\"\ntype = \"http\"\n\
             url = \"http://127.0.0.1:{closed}/\"\n"
        ),
        format!(
            "[[environments.checks]]\nname = \"open\"\ntype = \"tcp\"\naddress = \"{server}\"\n"
        ),
        format!(
            "[[environments.checks]]\nname = \"closed\"\ntype = \"tcp\"\n\
             address = \"localhost:{closed}\"\n"
        ),
    ]
    .concat();
    let report = check_all(&checks).await;
    assert_check(&report, "ok", CheckStatus::Pass, "HTTP 200 in ");
    assert_check(&report, "down", CheckStatus::Fail, "HTTP 503 in ");
    assert_check(&report, "down", CheckStatus::Fail, "expected 2xx");
    assert_check(&report, "pass", CheckStatus::Pass, "health pass");
    assert_check(
        &report,
        "warn",
        CheckStatus::Warn,
        "health warn: disk 85 % full",
    );
    assert_check(
        &report,
        "fail",
        CheckStatus::Fail,
        "health fail: database unreachable",
    );
    assert_check(&report, "redirect", CheckStatus::Fail, "HTTP 302");
    assert_check(&report, "redirect expected", CheckStatus::Pass, "HTTP 302");
    assert_check(
        &report,
        "refused",
        CheckStatus::Fail,
        "cannot connect to 127.0.0.1:",
    );
    assert_check(
        &report,
        "open",
        CheckStatus::Pass,
        &format!("connected to {server}"),
    );
    assert_check(&report, "closed", CheckStatus::Fail, "cannot connect to ");
    assert_eq!(report.status, CheckStatus::Fail);
}

#[tokio::test]
async fn tls_checks_judge_every_certificate_of_the_chain() {
    let valid = tls_server(self_signed("valid.test", -1, 365)).await;
    let soon = tls_server(self_signed("soon.test", -1, 3)).await;
    let expired = tls_server(self_signed("expired.test", -400, -3)).await;
    let future = tls_server(self_signed("future.test", 2, 365)).await;
    let chained = tls_server(chain(20)).await;
    let plain = http_server().await;
    let tls = |name: &str, addr: SocketAddr| {
        format!(
            "[[environments.checks]]\nname = \"{name}\"\ntype = \"tls\"\n\
             address = \"{addr}\"\nserver_name = \"localhost\"\n"
        )
    };
    let checks = [
        tls("valid", valid),
        tls("soon", soon),
        tls("expired", expired),
        tls("future", future),
        tls("chain", chained),
        tls("plain http", plain),
    ]
    .concat();
    let report = check_all(&checks).await;
    // The generated CAs are nobody's roots: reported, never failed on.
    assert_check(
        &report,
        "valid",
        CheckStatus::Pass,
        "expires in 365 days (CN=valid.test)",
    );
    assert_check(
        &report,
        "valid",
        CheckStatus::Pass,
        "not trusted: unknown issuer",
    );
    assert_check(
        &report,
        "soon",
        CheckStatus::Fail,
        "expires in 3 days (CN=soon.test)",
    );
    assert_check(
        &report,
        "expired",
        CheckStatus::Fail,
        "expired 2 days ago on ",
    );
    assert_check(&report, "expired", CheckStatus::Fail, "(CN=expired.test)");
    assert_check(&report, "future", CheckStatus::Fail, "not valid until ");
    assert_check(
        &report,
        "chain",
        CheckStatus::Warn,
        "expires in 20 days (CN=helmsman test intermediate, 2 of 2 in the chain)",
    );
    assert_check(
        &report,
        "plain http",
        CheckStatus::Fail,
        "TLS handshake with ",
    );
}

/// Whether a process is gone: no longer listed, or a zombie nobody reaped yet.
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_process_group_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleeper.pid");
    let report = check_all(&format!(
        "[[environments.checks]]\nname = \"hangs\"\ntype = \"command\"\ntimeout = \"1s\"\n\
         run = [\"sh\", \"-c\", \"sleep 60 & echo $! > {}; wait\"]\n",
        pid_file.display()
    ))
    .await;
    let started = Instant::now();
    assert_check(&report, "hangs", CheckStatus::Fail, "timed out after 1s");
    // Generous bounds: the point is that nobody waits for the 60 s sleep.
    let took = by_name(&report, "hangs").duration;
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(15),
        "{took:?}"
    );
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    while !gone(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the background sleep {pid} outlived its check"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- the binary

fn helmsman(config: &Path, state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_helmsman"));
    command
        .arg("--config")
        .arg(config)
        .env("HELMSMAN_STATE_DIR", state)
        .env_remove("HELMSMAN_TEST_UNSET")
        .env("HELMSMAN_TEST_SET", "hunter2-do-not-print")
        .args(args)
        .kill_on_drop(true);
    command
}

async fn output(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().await.unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[tokio::test]
async fn validate_prints_every_check_and_exits_4_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let server = http_server().await;
    let config = dir.path().join("helmsman.toml");
    let disk = dir.path().display();
    std::fs::write(
        &config,
        format!(
            r#"[[environments]]
name = "dev"
[environments.gate]
name = "ci"
type = "http"
url = "http://{server}/health/pass"
[[environments.checks]]
type = "env"
names = ["HELMSMAN_TEST_SET"]
[[environments.checks]]
type = "disk"
path = "{disk}"
warn_free_pct = 100
fail_free_pct = 0

[[environments]]
name = "prod"
[[environments.checks]]
type = "env"
names = ["HELMSMAN_TEST_SET", "HELMSMAN_TEST_UNSET"]
[[environments.services]]
name = "web"
[environments.services.backend]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
stable = "v1"
versions = {{ v1 = ["127.0.0.1:0"] }}
[[environments.services.checks]]
name = "web health"
type = "http"
url = "http://{server}/health/fail"
"#
        ),
    )
    .unwrap();
    let state = dir.path().join("state");

    // dev: a warning (the disk is never 100 % free) and passes: exit 0.
    let (code, out, err) = output(&mut helmsman(
        &config,
        &state,
        &["validate", "--env", "dev"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("STATUS  SCOPE "), "{out}");
    assert!(lines[1].starts_with("PASS    gate "), "{out}");
    assert!(
        lines[1].contains("HTTP 200 in ") && lines[1].contains("health pass"),
        "{out}"
    );
    assert!(out.contains("HELMSMAN_TEST_SET is set"), "{out}");
    assert!(out.contains("WARN    environment  disk"), "{out}");
    assert!(out.contains("% free ("), "{out}");
    assert!(
        out.ends_with("dev: 3 checks: 2 passed, 1 warning, 0 failed\n"),
        "{out}"
    );

    // prod: an unset variable and a failing health document: exit 4.
    let (code, out, err) = output(&mut helmsman(
        &config,
        &state,
        &["validate", "--env", "prod"],
    ))
    .await;
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(out.contains("not set: HELMSMAN_TEST_UNSET"), "{out}");
    assert!(out.contains("FAIL    web "), "{out}");
    assert!(out.contains("a release would be refused"), "{out}");
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}\n{err}"
    );

    let (code, out, _) = output(&mut helmsman(
        &config,
        &state,
        &["validate", "--env", "prod", "--output", "json"],
    ))
    .await;
    assert_eq!(code, 4);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["env"], "prod");
    assert_eq!(json["status"], "fail");
    assert_eq!(json["checks"][1]["scope"], "service");
    assert_eq!(json["checks"][1]["service"], "web");
    assert_eq!(json["checks"][1]["kind"], "http");
    assert!(json["checks"][1]["duration_ms"].is_u64());
    assert!(!out.contains("hunter2"));

    // Usage and configuration problems are exit 2.
    let (code, _, err) = output(&mut helmsman(&config, &state, &["validate", "--env", "qa"])).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no environment `qa`") && err.contains("known: dev, prod"),
        "{err}"
    );
    std::fs::write(
        &config,
        "[[environments]]\nname = \"dev\"\n[[environments.checks]]\ntype = \"tpc\"\n",
    )
    .unwrap();
    let (code, _, err) = output(&mut helmsman(
        &config,
        &state,
        &["validate", "--env", "dev"],
    ))
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(":4:8: error: unknown check type `tpc`"),
        "{err}"
    );
    assert!(err.contains("did you mean `tcp`?"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_or_gate_refuses_a_release_before_anything_moves() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let v1 = SampleService::start(any, Behaviour::healthy("v1"))
        .await
        .unwrap();
    let v2 = SampleService::start(any, Behaviour::healthy("v2"))
        .await
        .unwrap();
    let (listen, admin) = (closed_port(), closed_port());
    let green = dir.path().join("ci-green");
    let config = dir.path().join("helmsman.toml");
    std::fs::write(
        &config,
        format!(
            r#"[defaults.analysis]
interval = "200ms"
min_requests = 20
[defaults.health]
interval = "200ms"
timeout = "500ms"

[[environments]]
name = "dev"
[environments.gate]
name = "ci"
type = "command"
# The gate asks about the version being released, as a CI query would.
run = ["sh", "-c", "test -f {green}-$HELMSMAN_VERSION && echo green for $HELMSMAN_SERVICE $HELMSMAN_VERSION in $HELMSMAN_ENV || {{ echo 'CI is red' >&2; exit 1; }}"]
[[environments.checks]]
type = "disk"
path = "{disk}"
warn_free_pct = 100
fail_free_pct = 0

[[environments.services]]
name = "web"
[environments.services.backend]
listen = "127.0.0.1:{listen}"
admin = "127.0.0.1:{admin}"
stable = "v1"
versions = {{ v1 = ["{v1}"], v2 = ["{v2}"] }}
[environments.services.strategy]
kind = "canary"
steps = [{{ weight = 50 }}, {{ pause = "1s" }}, {{ weight = 100 }}]
[[environments.services.checks]]
name = "database url"
type = "env"
names = ["HELMSMAN_TEST_DB_URL"]
"#,
            green = green.display(),
            disk = dir.path().display(),
            v1 = v1.addr(),
            v2 = v2.addr(),
        ),
    )
    .unwrap();

    let mut serve = helmsman(&config, &state, &["serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state_url = format!("http://127.0.0.1:{admin}/api/v1/state");
    let traffic = || async {
        reqwest::get(&state_url)
            .await
            .ok()?
            .json::<serde_json::Value>()
            .await
            .ok()
    };
    let started = Instant::now();
    while traffic().await.is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "no data plane");
        assert!(serve.try_wait().unwrap().is_none(), "helmsman serve exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let load = Load::start(format!("127.0.0.1:{listen}").parse().unwrap(), 60);
    let release = [
        "release",
        "--env",
        "dev",
        "--service",
        "web",
        "--version",
        "v2",
        "--headless",
    ];
    let plan = [
        "plan",
        "--env",
        "dev",
        "--service",
        "web",
        "--version",
        "v2",
    ];

    // The gate is red and the variable unset: both named, exit 4, nothing moved.
    let (code, out, err) = output(&mut helmsman(&config, &state, &release)).await;
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        err.contains("dev/web: refused: the gate `ci` (command) failed: exit 1: CI is red"),
        "{err}"
    );
    assert!(
        err.contains("check `database url` (env) failed: not set: HELMSMAN_TEST_DB_URL"),
        "{err}"
    );
    assert!(
        out.contains("dev  preflight FAIL  gate command ci: exit 1: CI is red"),
        "{out}"
    );
    assert!(
        out.contains("preflight WARN  disk "),
        "warnings are shown: {out}"
    );
    assert!(!out.contains("→"), "no release event: {out}");
    let now = traffic().await.unwrap();
    assert_eq!(now["stable_version"], "v1", "{now}");
    assert_eq!(now["new_version"], serde_json::Value::Null, "{now}");
    assert_eq!(now["new_weight"], 0, "{now}");
    let (_, history, _) = output(&mut helmsman(&config, &state, &["history"])).await;
    assert_eq!(
        history.trim(),
        "no releases in the journal",
        "nothing recorded"
    );
    let (code, out, _) = output(&mut helmsman(&config, &state, &plan)).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("gate: FAIL ci (command): exit 1: CI is red — the release will be refused"),
        "{out}"
    );

    // CI is green for another version only: still red for this one.
    std::fs::write(format!("{}-v3", green.display()), "").unwrap();
    let (_, out, _) = output(&mut helmsman(&config, &state, &plan)).await;
    assert!(out.contains("gate: FAIL ci (command)"), "{out}");
    // The gate turns green for v2; the check still fails on its own.
    std::fs::write(format!("{}-v2", green.display()), "").unwrap();
    let (code, out, _) = output(&mut helmsman(&config, &state, &plan)).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("gate: PASS ci (command): exit 0: green for web v2 in dev\n"),
        "{out}"
    );
    let (code, out, err) = output(&mut helmsman(&config, &state, &release)).await;
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(!err.contains("the gate"), "{err}");
    assert!(err.contains("check `database url` (env) failed"), "{err}");

    // Everything passes (a warning does not block): the release runs. The
    // variable is set for this process only, so the release runs here:
    // a release handed to the host checks the host's environment.
    let in_process = [&release[..], &["--no-host"]].concat();
    let (code, out, err) = output(
        helmsman(&config, &state, &in_process).env("HELMSMAN_TEST_DB_URL", "postgres://secret@db"),
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("preflight PASS  gate command ci: exit 0: green for web v2 in dev"),
        "{out}"
    );
    assert!(
        out.contains("preflight PASS  web: env database url: HELMSMAN_TEST_DB_URL is set"),
        "{out}"
    );
    assert!(out.contains("→ Succeeded"), "{out}");
    assert!(
        !out.contains("postgres://") && !err.contains("postgres://"),
        "{out}\n{err}"
    );
    assert_eq!(traffic().await.unwrap()["stable_version"], "v2");

    assert_eq!(
        load.stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    load.stop().await;
    serve.kill().await.unwrap();
}
