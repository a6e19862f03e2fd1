//! `kill -9` of the release host at many points of a release, for each
//! strategy, with users' requests flowing through the data plane; the host
//! is restarted each time. A measurement, not a test (issue 13's crash
//! script; `scripts/crash-host.sh` builds and runs it).
//!
//! For each point: a fresh world on loopback (sample services v1 and v2,
//! two instances each, `helmsman serve` in front, 200 requests/s of load),
//! a release handed to the host with `--detach`, the host killed after a
//! delay that sweeps the release from its first step to its last, and a
//! new host started on the same state directory. Then:
//! - recovered: the release ended (taken over by the new host, resumed or
//!   rolled back) within 180 s;
//! - lost: it was acknowledged with its id but the journal does not have it;
//! - undriven: in flight with no process driving it, 2 s after the new host
//!   started;
//! - false history: the journal's outcome disagrees with what the data
//!   plane serves (succeeded but v1 stable, or rolled back but v2 staged);
//! - failed requests: the load's failures (5xx and transport errors).
//!
//! Usage: `crash_host [--points N] [--on-restart resume|rollback]` (N
//! points per strategy, default 20; the policy the restarted host takes
//! over with, default serve's), with the release build
//! (`target/release/helmsman`, or `$HELMSMAN_BIN`).

#[allow(dead_code)] // each measurement uses a different part of it
#[path = "support/bench.rs"]
mod bench;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bench::{free_port, helmsman};
use helmsman::demo::load::Load;
use helmsman::demo::sample_service::{Behaviour, SampleService};
use tokio::process::{Child, Command};

/// `--on-restart P`, passed on to every `serve`.
fn policy() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--on-restart")?;
    args.get(at + 1).cloned()
}

/// Each strategy's steps, about five seconds of release in all.
const STRATEGIES: [(&str, &str); 3] = [
    (
        "canary",
        r#"kind = "canary"
steps = [{ weight = 10 }, { pause = "1s" }, { weight = 25 }, { pause = "1s" }, { weight = 50 }, { pause = "1s" }, { weight = 100 }]"#,
    ),
    (
        "blue-green",
        r#"kind = "blue-green"
smoke_path = "/healthz"
preview_for = "2s"
manual_switch = false
scale_down_delay = "2s""#,
    ),
    (
        "rolling",
        r#"kind = "rolling"
max_surge = 1
max_unavailable = 0
batch_pause = "1s""#,
    ),
];

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    points: u32,
    recovered: u32,
    /// Of those recovered: resumed at their step, and ended rolled back
    /// (by the take-over or by a trigger after the resume).
    resumed: u32,
    rolled_back: u32,
    lost: u32,
    undriven: u32,
    /// Killed before the release began (nothing had moved).
    not_begun: u32,
    /// Had already finished when the host was killed.
    finished_before: u32,
    /// Driven, but not finished 180 s after the restart.
    still_running: u32,
    false_history: u32,
    failed_requests: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.points += other.points;
        self.recovered += other.recovered;
        self.resumed += other.resumed;
        self.rolled_back += other.rolled_back;
        self.lost += other.lost;
        self.undriven += other.undriven;
        self.not_begun += other.not_begun;
        self.finished_before += other.finished_before;
        self.still_running += other.still_running;
        self.false_history += other.false_history;
        self.failed_requests += other.failed_requests;
    }
}

async fn serve(config: &Path, state: &Path, admin: u16) -> anyhow::Result<Child> {
    let mut args = vec!["serve".to_string()];
    if let Some(policy) = policy() {
        args.extend(["--on-restart".to_string(), policy]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut serve = helmsman(config, state, &args).spawn()?;
    bench::serving(&mut serve, state, admin, Duration::from_secs(20)).await?;
    Ok(serve)
}

async fn json(mut command: Command) -> anyhow::Result<serde_json::Value> {
    let output = command.stdout(Stdio::piped()).output().await?;
    Ok(serde_json::from_slice(&output.stdout)?)
}

async fn point(steps: &str, delay: Duration) -> anyhow::Result<Tally> {
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let mut services = Vec::new();
    for version in ["v1", "v1", "v2", "v2"] {
        services.push(SampleService::start(any, Behaviour::healthy(version)).await?);
    }
    let (listen, admin) = (free_port(), free_port());
    let dir = tempfile::tempdir()?;
    let (config, state) = (dir.path().join("helmsman.toml"), dir.path().join("state"));
    let addrs: Vec<SocketAddr> = services.iter().map(SampleService::addr).collect();
    let backend = bench::local_backend(listen, admin, &[("v1", &addrs[..2]), ("v2", &addrs[2..])]);
    std::fs::write(&config, bench::dev_web(bench::FAST, steps, &backend))?;
    let mut host = serve(&config, &state, admin).await?;
    let load = Load::start(format!("127.0.0.1:{listen}").parse()?, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut release = bench::release("v2");
    release.extend(["--detach", "--output", "json"]);
    let release = helmsman(&config, &state, &release).output().await?;
    let acknowledged = release.status.success();
    tokio::time::sleep(delay).await;
    host.start_kill()?; // SIGKILL: the host has no last word
    host.wait().await?;
    let history = json(helmsman(&config, &state, &["history", "--output", "json"])).await?;
    let mut tally = Tally {
        points: 1,
        ..Tally::default()
    };
    let finished_before = history
        .as_array()
        .and_then(|e| e.first())
        .is_some_and(|e| !e["result"].is_null());

    let mut host = serve(&config, &state, admin).await?;
    // Undriven: still in flight with no driver once the new host is up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = json(helmsman(&config, &state, &["status", "--output", "json"])).await?;
    let undriven = status
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r["driver"].is_null()));
    tally.undriven += u32::from(undriven);
    // A resumed canary earns its verdicts again: give it time to finish.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let status = json(helmsman(&config, &state, &["status", "--output", "json"])).await?;
        if status.as_array().is_some_and(|s| s.is_empty()) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let history = json(helmsman(&config, &state, &["history", "--output", "json"])).await?;
    let serving: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{admin}/api/v1/state"))
        .await?
        .json()
        .await?;
    match history.as_array().and_then(|e| e.first()) {
        None if acknowledged => tally.lost += 1,
        None => tally.not_begun += 1,
        Some(_) if finished_before => tally.finished_before += 1,
        Some(entry) if entry["result"].is_null() => tally.still_running += 1,
        Some(entry) => {
            tally.recovered += 1;
            let reason = entry["reason"].as_str().unwrap_or_default();
            tally.resumed += u32::from(reason.contains("resumed at step"));
            tally.rolled_back += u32::from(entry["result"] != "succeeded");
        }
    }
    if let Some(entry) = history.as_array().and_then(|e| e.first()) {
        let agrees = match entry["result"].as_str() {
            Some("succeeded") => serving["stable_version"] == "v2",
            Some("rolled-back" | "aborted") => {
                serving["stable_version"] == "v1" && serving["new_version"].is_null()
            }
            _ => true,
        };
        tally.false_history += u32::from(!agrees);
    } else if serving["stable_version"] != "v1" || !serving["new_version"].is_null() {
        tally.false_history += 1;
    }
    tally.failed_requests = load.stats().failed.load(Ordering::Relaxed);
    load.stop().await;
    bench::stop(&mut host, Duration::from_secs(30)).await;
    Ok(tally)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let points = bench::arg("--points", 20)? as u32;
    println!(
        "| strategy | points | recovered | of them resumed | of them rolled back | lost | undriven | still running after 180 s | killed before it began | finished before the kill | false history | failed requests |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all = Tally::default();
    for (strategy, steps) in STRATEGIES {
        let mut cell = Tally::default();
        for i in 0..points {
            // Sweeps 0.1 s … 5.5 s after the release was acknowledged.
            let delay = Duration::from_millis(100 + u64::from(i) * 5400 / u64::from(points.max(1)));
            cell.add(point(steps, delay).await?);
        }
        println!(
            "| {strategy} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell.points,
            cell.recovered,
            cell.resumed,
            cell.rolled_back,
            cell.lost,
            cell.undriven,
            cell.still_running,
            cell.not_begun,
            cell.finished_before,
            cell.false_history,
            cell.failed_requests
        );
        all.add(cell);
    }
    println!(
        "| all | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        all.points,
        all.recovered,
        all.resumed,
        all.rolled_back,
        all.lost,
        all.undriven,
        all.still_running,
        all.not_begun,
        all.finished_before,
        all.false_history,
        all.failed_requests
    );
    Ok(())
}
