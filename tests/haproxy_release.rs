//! Releases on HAProxy as a user runs them: `helmsman release` (the real
//! binary) against a real HAProxy (Debian's `haproxy`) in front of real
//! loopback upstreams, with load running through HAProxy the whole time.
//! A canary, a blue-green switch, a rolling replacement and an automatic
//! rollback in turn, then a reload of HAProxy in the middle of a release,
//! and names HAProxy does not have.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "haproxy/server.rs"]
mod server;
mod support;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use helmsman::demo::load::Load;
use helmsman::demo::sample_service::{Behaviour, SampleService};
use helmsman::providers::haproxy::{Address, Admin, RuntimeApi, ServerState};
use server::HaProxy;
use world::{Files, release_of};

/// The versions of the fleet, two servers each; v5 answers 40 % of its
/// requests with a 500.
const VERSIONS: [&str; 5] = ["v1", "v2", "v3", "v4", "v5"];

const CANARY: &str = r#"kind = "canary"
steps = [{ weight = 10 }, { pause = "1s" }, { weight = 50 }, { pause = "1s" }, { weight = 100 }]"#;
const BLUE_GREEN: &str = r#"kind = "blue-green"
smoke_path = "/healthz"
preview_for = "1s"
scale_down_delay = "1s""#;
const ROLLING: &str = r#"kind = "rolling"
max_surge = 1
max_unavailable = 0
batch_pause = "1s""#;

struct Fleet {
    _instances: Vec<SampleService>,
    haproxy: HaProxy,
    api: RuntimeApi,
}

impl Fleet {
    /// Every version's servers in backend `web`; v1's at weight 100 in
    /// the file, the others at 0: v1 serves.
    async fn start() -> Option<Fleet> {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut instances = Vec::new();
        let mut servers = Vec::new();
        for version in VERSIONS {
            let behaviour = match version {
                "v5" => Behaviour {
                    error_pct: 40.0,
                    ..quiet(version)
                },
                _ => quiet(version),
            };
            for side in ["a", "b"] {
                let instance = SampleService::start(any, behaviour.clone()).await.unwrap();
                let weight = if version == "v1" { 100 } else { 0 };
                servers.push((format!("{version}-{side}"), instance.addr(), weight));
                instances.push(instance);
            }
        }
        let named: Vec<(&str, SocketAddr, u16)> = servers
            .iter()
            .map(|(name, addr, weight)| (name.as_str(), *addr, *weight))
            .collect();
        let haproxy = HaProxy::start(&named).await?;
        let api = RuntimeApi::new(Address::Socket(haproxy.socket()), Duration::from_secs(5));
        let fleet = Fleet {
            _instances: instances,
            haproxy,
            api,
        };
        fleet.until_all_up().await;
        Some(fleet)
    }

    async fn until_all_up(&self) {
        for _ in 0..100 {
            if self.servers().await.iter().all(|s| s.up) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not every server came up:\n{}", self.haproxy.log());
    }

    async fn servers(&self) -> Vec<ServerState> {
        self.api.servers("web").await.unwrap()
    }

    /// The versions whose servers are in rotation (ready, weight above 0).
    async fn serving(&self) -> Vec<String> {
        let mut versions: Vec<String> = self
            .servers()
            .await
            .iter()
            .filter(|s| s.admin == Admin::Ready && s.weight > 0)
            .map(|s| s.server[..2].to_string())
            .collect();
        versions.dedup();
        versions
    }

    /// The configuration of service `web` on this HAProxy, with `strategy`
    /// and the server names of `versions` (as a user may get them wrong).
    fn config(&self, strategy: &str, versions: &str) -> String {
        format!(
            r#"[defaults.analysis]
interval = "200ms"
min_requests = 20
[defaults.health]
interval = "200ms"
timeout = "500ms"

[[environments]]
name = "dev"
[[environments.services]]
name = "web"
[environments.services.backend]
type = "haproxy"
runtime_api = "{socket}"
backend = "web"
[environments.services.backend.versions]
{versions}
[environments.services.strategy]
{strategy}
"#,
            socket = self.haproxy.socket().display(),
        )
    }
}

/// An instance that never fails on its own: every failure seen is one
/// the release caused.
fn quiet(version: &str) -> Behaviour {
    Behaviour {
        error_pct: 0.0,
        ..Behaviour::healthy(version)
    }
}

fn all_versions() -> String {
    VERSIONS
        .iter()
        .map(|v| format!("\"{v}\" = [\"{v}-a\", \"{v}-b\"]\n"))
        .collect()
}

fn write(files: &Files, text: &str) {
    std::fs::write(&files.config, text).unwrap();
}

async fn release(files: &Files, version: &str) -> (i32, String, String) {
    files.run(&release_of(version, &["dev"])).await
}

/// The load's requests so far: sent, without an answer, answered 5xx.
fn counts(load: &Load) -> (u64, u64, u64) {
    let stats = load.stats();
    (
        stats.sent.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        stats.status_5xx.load(Ordering::Relaxed),
    )
}

/// Asserts that no request of the load so far failed or answered a 5xx,
/// and says how many went through (the count runs on across releases).
fn assert_no_failure(load: &Load, during: &str) {
    let (sent, failed, errors) = counts(load);
    assert_eq!(
        (failed, errors),
        (0, 0),
        "{during}: {failed} requests failed, {errors} answered 5xx"
    );
    eprintln!("up to {during}: {sent} requests, {failed} failed, {errors} answered 5xx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_blue_green_rolling_and_rollback_move_haproxy_with_no_request_lost() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let files = Files::new(&fleet.config(CANARY, &all_versions()));
    let listen: SocketAddr = format!("127.0.0.1:{}", fleet.haproxy.listen)
        .parse()
        .unwrap();
    let load = Load::start(listen, 100);

    // `plan` reads the serving version from HAProxy and speaks in weights.
    let (code, out, err) = files
        .run(&[
            "plan",
            "--env",
            "dev",
            "--service",
            "web",
            "--version",
            "v2",
        ])
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("v1 → v2"), "{out}");
    assert!(out.contains("HAProxy backend web"), "{out}");
    assert!(
        out.contains("set weight 10% (HAProxy weights: v2-a v2-b 28, v1-a v1-b 252)"),
        "{out}"
    );

    let steps = [("v2", CANARY), ("v3", BLUE_GREEN), ("v4", ROLLING)];
    for (version, strategy) in steps {
        write(&files, &fleet.config(strategy, &all_versions()));
        let (code, out, err) = release(&files, version).await;
        assert_eq!(code, 0, "{version}: {out}\n{err}\n{}", fleet.haproxy.log());
        assert!(out.contains("→ Succeeded"), "{out}");
        assert_eq!(fleet.serving().await, [version], "after {version}");
        assert_no_failure(&load, version);
    }
    let (sent_before_rollback, _, _) = counts(&load);
    assert!(sent_before_rollback > 500, "{sent_before_rollback}");

    // v5 fails 40 % of its requests: the canary is rolled back, and v4
    // alone serves again. Its 500s are v5's own; no request is lost.
    write(&files, &fleet.config(CANARY, &all_versions()));
    let (code, out, err) = release(&files, "v5").await;
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("result: rolled-back"), "{out}");
    assert_eq!(fleet.serving().await, ["v4"]);
    let (sent, failed, errors) = counts(&load);
    assert_eq!(failed, 0);
    assert!(errors > 0);
    eprintln!(
        "up to v5's rollback: {sent} requests, {failed} failed, {errors} answered 5xx (v5's own)"
    );
    load.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_mid_release_is_caught_and_the_release_goes_on_at_its_own_split() {
    let Some(mut fleet) = Fleet::start().await else {
        return;
    };
    let slow_canary = r#"kind = "canary"
steps = [{ weight = 50 }, { pause = "4s" }, { weight = 100 }]"#;
    let files = Files::new(&fleet.config(slow_canary, &all_versions()));
    let listen: SocketAddr = format!("127.0.0.1:{}", fleet.haproxy.listen)
        .parse()
        .unwrap();
    let load = Load::start(listen, 100);

    let running = files
        .helmsman(&release_of("v2", &["dev"]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the canary has its 50 %, HAProxy is reloaded: the file puts
    // v2's servers back to weight 0.
    let mut at_half = false;
    for _ in 0..200 {
        let servers = fleet.servers().await;
        if servers.iter().any(|s| s.server == "v2-a" && s.weight > 0) {
            at_half = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(at_half, "the canary never reached its first step");
    fleet.haproxy.reload().await;

    let output = running.wait_with_output().await.unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("reloaded or restarted") && out.contains("helmsman set them again"),
        "{out}"
    );
    assert_eq!(fleet.serving().await, ["v2"]);
    assert_no_failure(&load, "the reload");
    load.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_haproxy_does_not_have_are_refused_with_those_it_has() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let wrong_server = "\"v1\" = [\"v1-a\", \"v1-b\"]\n\"v2\" = [\"v2-a\", \"v2-x\"]\n";
    let files = Files::new(&fleet.config(CANARY, wrong_server));
    let (code, out, err) = release(&files, "v2").await;
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("no server `v2-x`") && err.contains("`v2-b`"),
        "{err}"
    );
    // Nothing moved.
    assert_eq!(fleet.serving().await, ["v1"]);
    let untouched = fleet.servers().await;
    assert!(untouched.iter().all(|s| s.weight == s.file_weight));

    let wrong_backend = fleet
        .config(CANARY, &all_versions())
        .replace("backend = \"web\"", "backend = \"shop\"");
    write(&files, &wrong_backend);
    let (code, _, err) = release(&files, "v2").await;
    assert_ne!(code, 0);
    assert!(
        err.contains("no backend `shop`") && err.contains("`web`"),
        "{err}"
    );

    // A strategy HAProxy cannot run is refused before anything runs, at
    // its place in the file, with those it can.
    let flag = fleet.config(
        "kind = \"feature-flag\"\nflag = \"web-v2\"",
        &all_versions(),
    );
    write(&files, &flag);
    let (code, _, err) = files.run(&["check-config"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("helmsman.toml:")
            && err.contains("HAProxy backend `web`")
            && err.contains("canary, blue-green, rolling"),
        "{err}"
    );
}
