//! How long the release journal takes to write one event, as a release
//! writes them: each its own transaction, synced to disk (WAL,
//! `synchronous = FULL`) before the next. A measurement, not a test.
//!
//! Usage: `journal_latency [--events N] [--dir DIR]` (DIR: where the
//! journal file goes, default a new folder under the system's temp dir; put
//! it on the disk the state directory lives on to measure that disk).

use std::time::Instant;

use chrono::Utc;
use hdrhistogram::Histogram;
use helmsman::engine::{Actor, Event, Phase, Target};
use helmsman::store::{History, ReleaseStart};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let events: u64 = value("--events").map_or(Ok(2000), |n| n.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = value("--dir").map_or_else(|| temp.path().to_path_buf(), Into::into);

    let mut history = History::open(&dir)?;
    let target = Target {
        env: "prod".into(),
        service: "checkout".into(),
    };
    let id = format!("bench-{}", Utc::now().format("%Y%m%dT%H%M%S%.3f"));
    history.begin(&ReleaseStart {
        deployment: None,
        id: id.clone(),
        target: target.clone(),
        strategy: "canary".into(),
        stable_version: "v1".into(),
        new_version: "v2".into(),
        started_by: Actor::Engine,
        started_at: Utc::now(),
    })?;
    let mut micros = Histogram::<u64>::new(3)?;
    for step in 0..events {
        let event = Event {
            at: Utc::now(),
            env: target.env.clone(),
            service: target.service.clone(),
            from: Phase::Progressing,
            to: Phase::Progressing,
            step: step as usize % 7,
            steps: 7,
            weight: 25,
            reason: "error rate PASS: 0.1 % vs baseline 0.1 % over 1 240 requests".into(),
            actor: Actor::Engine,
            verdict: None,
            job: None,
        };
        let start = Instant::now();
        history.event(&id, &event)?;
        micros.record(start.elapsed().as_micros() as u64)?;
    }
    println!(
        "journal write per event, {events} events, {}:",
        dir.join(helmsman::store::FILE).display()
    );
    for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999)] {
        println!("  {label:>5}: {} µs", micros.value_at_quantile(q));
    }
    println!("    max: {} µs", micros.max());
    println!("   mean: {:.0} µs", micros.mean());
    Ok(())
}
