//! How soon a command sent by one client of the release host is seen by
//! another: one client watches every hosted release (as a cockpit does),
//! another pauses and resumes a release in turn; each sample is the time
//! from sending the command to the watcher reading the engine's event for
//! it. A measurement, not a test.
//!
//! Everything is real and on loopback: `helmsman serve` (the release build,
//! `target/release/helmsman`, or `$HELMSMAN_BIN`) in front of sample
//! services, load, a release at a manual gate, and the control socket.
//!
//! Usage: `host_latency [--commands N]` (default 400).

#[allow(dead_code)] // each measurement uses a different part of it
#[path = "support/bench.rs"]
mod bench;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bench::{free_port, helmsman};
use helmsman::demo::load::Load;
use helmsman::demo::sample_service::{Behaviour, SampleService};
use helmsman::engine::CommandKind;
use helmsman::host::protocol::{Reply, Request};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let commands = bench::arg("--commands", 400)? as usize;
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let v1 = SampleService::start(any, Behaviour::healthy("v1")).await?;
    let v2 = SampleService::start(any, Behaviour::healthy("v2")).await?;
    let (listen, admin) = (free_port(), free_port());
    let dir = tempfile::tempdir()?;
    let (config, state) = (dir.path().join("helmsman.toml"), dir.path().join("state"));
    let (v1, v2) = ([v1.addr()], [v2.addr()]);
    let backend = bench::local_backend(listen, admin, &[("v1", &v1), ("v2", &v2)]);
    let gated = r#"kind = "canary"
steps = [{ weight = 25 }, { gate = "manual" }, { weight = 100 }]"#;
    std::fs::write(
        &config,
        bench::dev_web("[defaults.analysis]\ninterval = \"1s\"", gated, &backend),
    )?;
    let mut serve = helmsman(&config, &state, &["serve"]).spawn()?;
    bench::serving(&mut serve, &state, admin, Duration::from_secs(20)).await?;
    let load = Load::start(format!("127.0.0.1:{listen}").parse()?, 100);
    let mut release = bench::release("v2");
    release.push("--detach");
    let released = helmsman(&config, &state, &release).status().await?;
    anyhow::ensure!(released.success(), "the release did not start");

    let mut watcher = bench::client(&state).await?;
    watcher.send(&Request::Watch).await?;
    let mut steerer = bench::client(&state).await?;
    // At the gate before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut samples = Vec::with_capacity(commands);
    for i in 0..commands {
        let (kind, word) = match i % 2 {
            0 => (CommandKind::Pause, "paused by bench"),
            _ => (CommandKind::Resume, "resumed by bench"),
        };
        let sent = Instant::now();
        let request = Request::Command {
            env: "dev".into(),
            service: "web".into(),
            kind,
        };
        match steerer.ask(&request).await? {
            Reply::Answer { answer, .. } => {
                anyhow::ensure!(
                    answer == helmsman::engine::CommandReply::Accepted,
                    "{kind}: {answer:?}"
                )
            }
            other => anyhow::bail!("{other:?}"),
        }
        loop {
            if let Reply::Event { event } = watcher.next().await?
                && event.reason.contains(word)
            {
                break;
            }
        }
        samples.push(sent.elapsed());
    }
    load.stop().await;
    bench::stop(&mut serve, Duration::from_secs(30)).await;

    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!("| commands | p50 | p95 | p99 | max | mean |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {} |",
        samples.len(),
        ms(at(0.50)),
        ms(at(0.95)),
        ms(at(0.99)),
        ms(*samples.last().unwrap()),
        ms(mean)
    );
    Ok(())
}
