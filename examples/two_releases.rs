//! Two `helmsman release` processes of one service, started together or
//! one a second after the other, with the same version or different ones
//! (issue 13's matrix), each pair both ways releases run: handed to the
//! host that `serve` runs, and driven in-process (`--no-host`). For each pair: whether the second was refused with
//! its holder named, whether the service's weight ever moved backwards (a
//! decrease that is not a rollback to 0 %), and whether the journal ended
//! up saying something the data plane does not serve. A measurement, not a
//! test.
//!
//! Everything is real and on loopback: `helmsman serve` (the release
//! build, `target/release/helmsman`, or `$HELMSMAN_BIN`) in front of sample
//! services v1, v2 and v3, steady load, and the CLI as a user runs it.
//!
//! Usage: `two_releases [--pairs N]` (N pairs per cell, default 5).

#[allow(dead_code)] // each measurement uses a different part of it
#[path = "support/bench.rs"]
mod bench;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bench::{free_port, helmsman};
use helmsman::demo::load::Load;
use helmsman::demo::sample_service::{Behaviour, SampleService};

/// About five seconds of canary.
const CANARY: &str = r#"kind = "canary"
steps = [{ weight = 10 }, { pause = "1s" }, { weight = 25 }, { pause = "1s" }, { weight = 50 }, { pause = "1s" }, { weight = 100 }]"#;

#[derive(Default, Debug)]
struct Pair {
    second_refused_with_holder: bool,
    backwards: u32,
    false_history: u32,
    failed_requests: u64,
}

async fn pair(same_version: bool, staggered: bool, no_host: bool) -> anyhow::Result<Pair> {
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let versions = [
        SampleService::start(any, Behaviour::healthy("v1")).await?,
        SampleService::start(any, Behaviour::healthy("v2")).await?,
        SampleService::start(any, Behaviour::healthy("v3")).await?,
    ];
    let (listen, admin) = (free_port(), free_port());
    let dir = tempfile::tempdir()?;
    let (config, state) = (dir.path().join("helmsman.toml"), dir.path().join("state"));
    let [v1, v2, v3] = versions.each_ref().map(|v| [v.addr()]);
    let backend = bench::local_backend(listen, admin, &[("v1", &v1), ("v2", &v2), ("v3", &v3)]);
    std::fs::write(&config, bench::dev_web(bench::FAST, CANARY, &backend))?;
    let mut serve = helmsman(&config, &state, &["serve"]).spawn()?;
    bench::serving(&mut serve, &state, admin, Duration::from_secs(20)).await?;
    let state_url = format!("http://127.0.0.1:{admin}/api/v1/state");
    let load = Load::start(format!("127.0.0.1:{listen}").parse()?, 100);

    // Watch the weight: a decrease to anything but 0 % moved it backwards.
    let backwards = Arc::new(AtomicU32::new(0));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (backwards, watching, url) = (backwards.clone(), watching.clone(), state_url.clone());
        tokio::spawn(async move {
            let mut last = 0;
            while watching.load(Ordering::Relaxed) {
                if let Ok(r) = reqwest::get(&url).await
                    && let Ok(s) = r.json::<serde_json::Value>().await
                {
                    let weight = s["new_weight"].as_u64().unwrap_or(0);
                    if weight < last && weight > 0 {
                        backwards.fetch_add(1, Ordering::Relaxed);
                    }
                    last = weight;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let release = |version: &str| {
        let mut args = bench::release(version);
        if no_host {
            args.push("--no-host");
        }
        helmsman(&config, &state, &args)
            .stderr(Stdio::piped())
            .spawn()
    };
    let first = release("v2")?;
    if staggered {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let second = release(if same_version { "v2" } else { "v3" })?;
    let (a, b) = (
        first.wait_with_output().await?,
        second.wait_with_output().await?,
    );
    watching.store(false, Ordering::Relaxed);
    watcher.await?;

    // One of the two was refused (started together, either may win).
    let refused = [&a, &b].into_iter().find(|o| o.status.code() == Some(1));
    let second_refused_with_holder = refused.is_some_and(|o| {
        String::from_utf8_lossy(&o.stderr).contains("refused: a release of")
            && String::from_utf8_lossy(&o.stderr).contains("helmsman pid")
    });

    // The journal says what the data plane serves.
    let history = helmsman(&config, &state, &["history", "--output", "json"])
        .stdout(Stdio::piped())
        .output()
        .await?;
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&history.stdout)?;
    let serving: serde_json::Value = reqwest::get(&state_url).await?.json().await?;
    let last_success = entries
        .iter()
        .find(|e| e["result"] == "succeeded")
        .map_or("v1", |e| e["new_version"].as_str().unwrap_or("?"));
    let mut false_history = 0;
    if serving["stable_version"] != last_success {
        false_history += 1;
    }
    if entries.len() != 1 {
        false_history += 1; // the refused release is not in the journal
    }
    let failed_requests = load.stats().failed.load(Ordering::Relaxed);
    load.stop().await;
    serve.kill().await?;
    Ok(Pair {
        second_refused_with_holder,
        backwards: backwards.load(Ordering::Relaxed),
        false_history,
        failed_requests,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pairs = bench::arg("--pairs", 5)? as u32;
    println!(
        "| releases | cell | pairs | second refused, holder named | weight moves backwards | false history entries | failed requests |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (no_host, mode) in [(false, "hosted"), (true, "in-process (`--no-host`)")] {
        for (same, staggered, name) in [
            (true, false, "same version, together"),
            (true, true, "same version, 1 s apart"),
            (false, false, "v2 and v3, together"),
            (false, true, "v2 and v3, 1 s apart"),
        ] {
            let (mut refused, mut backwards, mut false_history, mut failed) = (0, 0, 0, 0);
            for _ in 0..pairs {
                let p = pair(same, staggered, no_host).await?;
                refused += u32::from(p.second_refused_with_holder);
                backwards += p.backwards;
                false_history += p.false_history;
                failed += p.failed_requests;
            }
            println!(
                "| {mode} | {name} | {pairs} | {refused} | {backwards} | {false_history} | {failed} |"
            );
        }
    }
    Ok(())
}
