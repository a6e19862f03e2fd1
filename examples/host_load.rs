//! What the release host costs while it drives many releases at once:
//! SERVICES services in each of 3 environments (900 by default), each with
//! a release in flight at a 1 s analysis interval, its data plane reading
//! and health-checking shared sample upstreams. Reports the host's CPU (as
//! a share of one core) and memory over a window, and the data planes'
//! process beside it. A measurement, not a test.
//!
//! Usage: `host_load [--services N] [--seconds S] [--at-once K]` (defaults
//! 300, 60 and 32 submissions in flight at once),
//! with the release build (`target/release/helmsman`, or `$HELMSMAN_BIN`).

#[allow(dead_code)] // each measurement uses a different part of it
#[path = "support/bench.rs"]
mod bench;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helmsman::demo::sample_service::{Behaviour, SampleService};
use helmsman::host::protocol::{Reply, Request};

const ENVS: [&str; 3] = ["dev", "staging", "prod"];

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = &stat[stat.rfind(')').unwrap_or(0) + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

/// A `VmRSS:`-style field of /proc/PID/status, in MB.
fn memory_mb(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or_else(|| anyhow::anyhow!("no {field}"))?;
    let kb: f64 = line.split_whitespace().nth(1).unwrap_or("0").parse()?;
    Ok(kb / 1024.0)
}

fn planes_pid(state: &Path) -> anyhow::Result<u32> {
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("planes.lock"))?)?;
    Ok(lock["pid"].as_u64().unwrap_or(0) as u32)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let services = bench::arg("--services", 300)? as usize;
    let seconds = bench::arg("--seconds", 60)?;
    let at_once = bench::arg("--at-once", 32)? as usize;
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let v1 = SampleService::start(any, Behaviour::healthy("v1")).await?;
    let v2 = SampleService::start(any, Behaviour::healthy("v2")).await?;
    let dir = tempfile::tempdir()?;
    let (config, state) = (dir.path().join("helmsman.toml"), dir.path().join("state"));
    let mut text = String::from(
        "[defaults.analysis]\ninterval = \"1s\"\n[defaults.health]\ninterval = \"1s\"\n",
    );
    // Fixed ports below Linux's ephemeral range (32768-60999): 1 800 ports
    // picked at random would collide.
    let mut port = 20_000u16;
    let mut last_admin = 0;
    for env in ENVS {
        writeln!(text, "[[environments]]\nname = \"{env}\"")?;
        for i in 0..services {
            let listen = port;
            last_admin = port + 1;
            port += 2;
            let backend = bench::local_backend(
                listen,
                last_admin,
                &[("v1", &[v1.addr()]), ("v2", &[v2.addr()])],
            );
            write!(
                text,
                r#"[[environments.services]]
name = "s{i}"
[environments.services.strategy]
kind = "canary"
steps = [{{ weight = 10 }}, {{ pause = "1h" }}]
{backend}"#
            )?;
        }
    }
    std::fs::write(&config, text)?;
    // Its warnings (the open-file limit) go to this terminal.
    let mut serve = bench::helmsman(&config, &state, &["serve"])
        .stderr(Stdio::inherit())
        .spawn()?;
    let host_pid = serve.id().unwrap_or_default();
    let started = Instant::now();
    bench::serving(&mut serve, &state, last_admin, Duration::from_secs(120)).await?;
    println!(
        "{} data planes up in {:.1} s",
        ENVS.len() * services,
        started.elapsed().as_secs_f64()
    );

    // Every release submitted, AT_ONCE at a time, each followed until it starts.
    let permits = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
    let mut submissions = tokio::task::JoinSet::new();
    for env in ENVS {
        for i in 0..services {
            let (state, config, permits) = (state.clone(), config.clone(), permits.clone());
            submissions.spawn(async move {
                let _permit = permits.acquire().await?;
                let mut host = bench::client(&state).await?;
                host.send(&Request::Release {
                    config,
                    service: format!("s{i}"),
                    version: "v2".into(),
                    envs: vec![env.to_string()],
                    strategy: None,
                    force: false,
                })
                .await?;
                loop {
                    match host.next().await? {
                        Reply::Started { .. } => return anyhow::Ok(()),
                        Reply::Finished { result } => anyhow::bail!("{:?}", result.message),
                        _ => {}
                    }
                }
            });
        }
    }
    let submitting = Instant::now();
    while let Some(done) = submissions.join_next().await {
        done??;
    }
    println!(
        "{} releases started in {:.1} s",
        ENVS.len() * services,
        submitting.elapsed().as_secs_f64()
    );

    // Settle, then measure a window.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let planes = planes_pid(&state)?;
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let (host_before, planes_before) = (cpu_ticks(host_pid)?, cpu_ticks(planes)?);
    let rss_before = memory_mb(host_pid, "VmRSS:")?;
    let planes_rss_before = memory_mb(planes, "VmRSS:")?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (host_after, planes_after) = (cpu_ticks(host_pid)?, cpu_ticks(planes)?);
    let share = |before: u64, after: u64| {
        (after - before) as f64 / ticks_per_second / seconds as f64 * 100.0
    };
    let mut status = bench::client(&state).await?;
    let in_flight = match status
        .ask(&Request::Status {
            env: None,
            service: None,
        })
        .await?
    {
        Reply::Status { releases } => releases.len(),
        other => anyhow::bail!("{other:?}"),
    };
    println!(
        "| process | releases in flight | CPU (share of one core, {seconds} s) | RSS at the window's start | RSS at its end |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| host | {in_flight} | {:.1} % | {rss_before:.1} MB | {:.1} MB |",
        share(host_before, host_after),
        memory_mb(host_pid, "VmRSS:")?
    );
    println!(
        "| data planes | {} planes | {:.1} % | {planes_rss_before:.1} MB | {:.1} MB |",
        ENVS.len() * services,
        share(planes_before, planes_after),
        memory_mb(planes, "VmRSS:")?
    );
    bench::stop(&mut serve, Duration::from_secs(120)).await;
    Ok(())
}
