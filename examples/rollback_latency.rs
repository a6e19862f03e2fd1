//! How fast a rollback takes effect (issue 2: "stable at 100 % within
//! 100 ms of the operator's command and within one analysis interval of a
//! trigger's threshold being crossed"). A measurement, not a test; see
//! `docs/rollback.md` and `scripts/measure-rollback.sh`.
//!
//! Everything is real and on loopback: the demo configuration's canary
//! service (`checkout` in `dev`), its sample services, its embedded data
//! plane, steady load, and the engine driven through
//! `pipeline::start_release`, exactly as `helmsman release` drives it. Every
//! run starts a fresh world, so no run sees another's counters.
//!
//! 1. Operator rollback: once the new version serves 50 % of the traffic,
//!    send `Rollback` on the release's command channel (T0), then watch the
//!    data plane's state (`GET /api/v1/state`, back to back) and probe the
//!    proxy (a request every 1 ms, answered with `x-version`).
//! 2. Trigger rollback (scenario `bad-errors`): poll `GET /api/v1/counters`
//!    every 10 ms, judge the window with the engine's own error-rate rule
//!    (`analysis::Watch`), note when it first fails, then when the data
//!    plane shows stable at 100 %.
//!
//! Usage: `rollback_latency [--runs N] [--slow-runs N]` (`--slow-runs`: runs
//! with the default 10 s analysis interval; 0 skips them).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use helmsman::analysis;
use helmsman::cli::demo::load_config;
use helmsman::config::{Backend, Config, LocalBackend, Trigger, Triggers, defaults};
use helmsman::demo::scenario::Scenario;
use helmsman::demo::world::{World, WorldPlan, new_version_of};
use helmsman::engine::{Command, CommandKind, CommandReply, ReleaseResult};
use helmsman::metrics::Reading;
use helmsman::observed::TrafficState;
use helmsman::pipeline::{self, ReleaseRequest, StartedRelease};
use helmsman::providers::metrics::local::LocalMetrics;
use helmsman::providers::traffic::local::LocalTraffic;
use helmsman::providers::{Metrics, Traffic};

const ENV: &str = "dev";
const SERVICE: &str = "checkout";
/// Users' requests per second, as `helmsman demo` sends by default.
const LOAD_RATE: u32 = 100;
/// Trigger runs draw their rate from here (see `trigger_run`).
const TRIGGER_RATES: std::ops::RangeInclusive<u32> = 60..=140;
/// The operator rolls back at the canary's 50 % step rather than at 10 %:
/// with every other request on the new version, the probe sees the last
/// one it serves to within ~2 ms.
const ROLLBACK_AT_WEIGHT: u8 = 50;
const STATE_POLL: Duration = Duration::from_millis(1);
const COUNTERS_POLL: Duration = Duration::from_millis(10);
const PROBE_EVERY: Duration = Duration::from_millis(1);
/// Every wait is bounded: a run that takes longer than this fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(15);

fn main() -> anyhow::Result<()> {
    let (runs, slow_runs) = parse_args()?;
    tokio::runtime::Runtime::new()?.block_on(measure(runs, slow_runs))
}

fn parse_args() -> anyhow::Result<(usize, usize)> {
    let (mut runs, mut slow_runs) = (20, 3);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = |name: &str, v: Option<String>| -> anyhow::Result<usize> {
            v.with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--runs" => runs = value("--runs", args.next())?,
            "--slow-runs" => slow_runs = value("--slow-runs", args.next())?,
            _ => bail!(
                "unknown argument `{arg}`; usage: rollback_latency [--runs N] [--slow-runs N]"
            ),
        }
    }
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok((runs, slow_runs))
}

async fn measure(runs: usize, slow_runs: usize) -> anyhow::Result<()> {
    let config = demo_config()?;
    let service = config.service(ENV, SERVICE).context("no dev/checkout")?;
    let interval = service.analysis.interval;
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());

    let mut operator = Vec::new();
    for run in 1..=runs {
        let sample = operator_run(&config)
            .await
            .with_context(|| format!("operator run {run}"))?;
        eprintln!(
            "operator {run:>2}/{runs}: reply {:.2} ms, last new {:.2} ms, 0 % {:.2} ms, \
             stable 100 % {:.2} ms, verified {:.2} ms",
            sample.reply, sample.last_new, sample.weight_zero, sample.stable, sample.verified
        );
        operator.push(sample);
    }

    let mut triggered = vec![(interval, trigger_runs(&config, interval, runs).await?)];
    let default_interval = defaults::analysis().interval;
    if slow_runs > 0 {
        let mut slow = config.clone();
        for_every_service(&mut slow, |s| s.analysis.interval = default_interval);
        triggered.push((
            default_interval,
            trigger_runs(&slow, default_interval, slow_runs).await?,
        ));
    }

    println!(
        "helmsman rollback latency: {build} build, {cpus} CPU(s) shared with the load, the \
         sample services and the data plane; {LOAD_RATE} user requests/s"
    );
    println!();
    println!(
        "Operator rollback: {runs} runs, canary {ENV}/{SERVICE} at {ROLLBACK_AT_WEIGHT} %, \
         milliseconds from the command (T0) to ..."
    );
    println!();
    println!("| from the command to ...                      | median |    p95 |    max |");
    println!("|----------------------------------------------|-------:|-------:|-------:|");
    let row = |what: &str, values: Vec<f64>| {
        let s = Stats::of(values);
        println!(
            "| {what:<44} | {:>6.2} | {:>6.2} | {:>6.2} |",
            s.median, s.p95, s.max
        );
        s
    };
    row(
        "the engine's reply (accepted)",
        operator.iter().map(|s| s.reply).collect(),
    );
    let last_new = row(
        "the last user request served by the new one",
        operator.iter().map(|s| s.last_new).collect(),
    );
    row(
        "the data plane shows the new one at 0 %",
        operator.iter().map(|s| s.weight_zero).collect(),
    );
    let stable = row(
        "the data plane shows stable at 100 %",
        operator.iter().map(|s| s.stable).collect(),
    );
    row(
        "the engine verified it (release rolled back)",
        operator.iter().map(|s| s.verified).collect(),
    );
    let unanswered: u64 = operator.iter().map(|s| s.unanswered).sum();
    println!();
    println!(
        "target: stable at 100 % within 100 ms of the command: {} (max {:.2} ms; last request \
         on the new version at most {:.2} ms after the command); user and probe requests without \
         an answer: {unanswered}",
        verdict(stable.max <= 100.0),
        stable.max,
        last_new.max
    );

    println!();
    println!(
        "Trigger rollback: scenario bad-errors (new version 8 % 5xx), {}-{} user requests/s, \
         error-rate trigger +{:.1} points over at least {} requests; milliseconds from the \
         threshold being crossed to the data plane showing stable at 100 %, measured from the \
         last counters poll before the crossing (polls every {} ms; the last column: from the \
         first poll that saw it)",
        TRIGGER_RATES.start(),
        TRIGGER_RATES.end(),
        service.triggers.error_rate.threshold,
        service.analysis.min_requests,
        COUNTERS_POLL.as_millis()
    );
    println!();
    println!(
        "| analysis interval | runs | median |    p95 |    max | max, from the poll that saw it | within one interval |"
    );
    println!(
        "|------------------:|-----:|-------:|-------:|-------:|-------------------------------:|---------------------|"
    );
    for (interval, samples) in &triggered {
        let limit = interval.as_secs_f64() * 1000.0;
        let within = samples.iter().filter(|s| s.delay.0 <= limit).count();
        let high = Stats::of(samples.iter().map(|s| s.delay.0).collect());
        let low = Stats::of(samples.iter().map(|s| s.delay.1).collect());
        let unseen = samples.iter().filter(|s| !s.seen).count();
        println!(
            "| {:>17} | {:>4} | {:>6.0} | {:>6.0} | {:>6.0} | {:>30.0} | {within} of {}{} |",
            helmsman::config::duration::format(*interval),
            samples.len(),
            high.median,
            high.p95,
            high.max,
            low.max,
            samples.len(),
            if unseen > 0 {
                format!(" ({unseen} rolled back before a poll saw the crossing)")
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// The built-in demo configuration with only the measured service in it,
/// so no other service's data plane or health checks share the CPUs.
fn demo_config() -> anyhow::Result<Config> {
    let mut config = load_config(None).map_err(anyhow::Error::msg)?;
    config.environments.retain(|e| e.name == ENV);
    for env in &mut config.environments {
        env.services.retain(|s| s.name == SERVICE);
    }
    Ok(config)
}

fn for_every_service(config: &mut Config, change: impl Fn(&mut helmsman::config::Service)) {
    for env in &mut config.environments {
        env.services.iter_mut().for_each(&change);
    }
}

/// A fresh world running `scenario`, and the release of its new version
/// started in it.
struct Run {
    world: World,
    backend: LocalBackend,
    new_version: String,
    traffic: LocalTraffic,
    metrics: LocalMetrics,
}

impl Run {
    async fn start_world(config: &Config, scenario: Scenario, rate: u32) -> anyhow::Result<Run> {
        let plan = WorldPlan {
            scenario,
            released_service: SERVICE.to_string(),
            rate,
            load_every_service: false,
        };
        let world = World::start(config.clone(), &plan).await?;
        let service = world
            .config
            .service(ENV, SERVICE)
            .context("no dev/checkout")?;
        let Backend::Local(backend) = &service.backend else {
            bail!("the demo's checkout has a local backend");
        };
        let backend = backend.clone();
        let new_version = new_version_of(&backend)
            .context("checkout has no new version")?
            .to_string();
        Ok(Run {
            traffic: LocalTraffic::new(backend.admin, backend.admin_token.clone(), &backend.limits),
            metrics: LocalMetrics::new(backend.admin, &backend.limits),
            world,
            backend,
            new_version,
        })
    }

    async fn release(&self) -> anyhow::Result<StartedRelease> {
        let service = self
            .world
            .config
            .service(ENV, SERVICE)
            .context("no service")?;
        let request = ReleaseRequest {
            service: SERVICE.to_string(),
            version: self.new_version.clone(),
            envs: vec![ENV.to_string()],
            strategy: None,
            actor: helmsman::cli::operator::current(),
            force: false,
        };
        Ok(pipeline::start_release(ENV, service, &request).await?)
    }

    /// Stops the world; the number of user requests that got no answer.
    async fn stop(self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.world
            .stop()
            .await
            .iter()
            .map(|(_, stats)| stats.failed.load(Relaxed))
            .sum()
    }
}

/// Stable at 100 %: no traffic share and no instance in rotation left on
/// the new version (the rule the engine verifies a rollback with).
fn stable_at_100(state: &TrafficState) -> bool {
    state.new_weight == 0 && !state.new.iter().any(|i| i.in_rotation)
}

/// Waits for the release task and notes when it ended.
fn watch_end(
    task: JoinHandle<ReleaseResult>,
) -> JoinHandle<(Result<ReleaseResult, tokio::task::JoinError>, Instant)> {
    tokio::spawn(async move {
        let result = task.await;
        (result, Instant::now())
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ----- operator rollback ----------------------------------------------------

struct OperatorSample {
    reply: f64,
    /// The data plane shows the new version's weight at 0 (its instances
    /// may still be in rotation).
    weight_zero: f64,
    stable: f64,
    /// When the last probe request the new version answered was sent
    /// (negative: none was sent after the command).
    last_new: f64,
    verified: f64,
    unanswered: u64,
}

async fn operator_run(config: &Config) -> anyhow::Result<OperatorSample> {
    let run = Run::start_world(config, Scenario::Good, LOAD_RATE).await?;
    let started = run.release().await?;
    let deadline = Instant::now() + RUN_TIMEOUT;

    // The new version really receives traffic: the weight is there and
    // its request counter moves.
    loop {
        let state = run.traffic.state().await?;
        if state.new_weight >= ROLLBACK_AT_WEIGHT {
            break;
        }
        if Instant::now() > deadline {
            bail!("the canary never reached {ROLLBACK_AT_WEIGHT} %: {state:?}");
        }
        tokio::time::sleep(COUNTERS_POLL).await;
    }
    let before = run.metrics.read().await?.new.requests;
    while run.metrics.read().await?.new.requests <= before {
        if Instant::now() > deadline {
            bail!("the new version's request counter does not move");
        }
        tokio::time::sleep(COUNTERS_POLL).await;
    }

    let probe = Probe::start(run.backend.listen, run.new_version.clone())?;
    probe.until_new_answered(20).await?;
    let ended = watch_end(started.handle.task);

    let t0 = Instant::now();
    let command = Command {
        target: started.spec.target.clone(),
        kind: CommandKind::Rollback,
        actor: helmsman::cli::operator::current(),
    };
    let reply = tokio::time::timeout(
        ROLLBACK_TIMEOUT,
        helmsman::engine::driver::send_command(&started.handle.commands, command),
    )
    .await
    .context("no reply to the rollback")?;
    let reply_at = t0.elapsed();
    if reply != Some(CommandReply::Accepted) {
        bail!("rollback not accepted: {reply:?}");
    }
    let mut weight_zero_at = None;
    let stable_at = loop {
        let state = run.traffic.state().await?;
        if state.new_weight == 0 {
            weight_zero_at.get_or_insert_with(|| t0.elapsed());
        }
        if stable_at_100(&state) {
            break t0.elapsed();
        }
        if t0.elapsed() > ROLLBACK_TIMEOUT {
            bail!("not stable at 100 % {ROLLBACK_TIMEOUT:?} after the rollback: {state:?}");
        }
    };
    // Keep probing a little: a request the new version still answers
    // after this would show up.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let probes = probe.stop().await?;
    let (result, ended_at) = tokio::time::timeout(ROLLBACK_TIMEOUT, ended)
        .await
        .context("the release did not end after the rollback")??;
    if result? != ReleaseResult::RolledBack {
        bail!("the release did not end rolled back");
    }
    let last_new = probes
        .answers
        .iter()
        .filter(|(_, new)| *new)
        .map(|(sent, _)| signed_ms(*sent, t0))
        .fold(f64::NEG_INFINITY, f64::max);
    let unanswered = probes.unanswered + run.stop().await;
    Ok(OperatorSample {
        reply: ms(reply_at),
        weight_zero: ms(weight_zero_at.unwrap_or(stable_at)),
        stable: ms(stable_at),
        last_new,
        verified: ms(ended_at - t0),
        unanswered,
    })
}

fn signed_ms(at: Instant, t0: Instant) -> f64 {
    if at >= t0 { ms(at - t0) } else { -ms(t0 - at) }
}

/// Users' requests through the proxy, one every [`PROBE_EVERY`] (open
/// loop: each in its own task), noting when each was sent and whether the
/// new version answered it.
struct Probe {
    stop: watch::Sender<bool>,
    /// Answers from the new version so far.
    new_answers: Arc<AtomicU64>,
    task: JoinHandle<anyhow::Result<ProbeResult>>,
}

#[derive(Default)]
struct ProbeResult {
    answers: Vec<(Instant, bool)>,
    unanswered: u64,
}

impl Probe {
    fn start(listen: SocketAddr, new_version: String) -> anyhow::Result<Probe> {
        // Built here, not in the task: building a client takes a while.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()?;
        let (stop, mut stopped) = watch::channel(false);
        let new_answers = Arc::new(AtomicU64::new(0));
        let counted = new_answers.clone();
        let task = tokio::spawn(async move {
            let url = format!("http://{listen}/");
            let mut ticks = tokio::time::interval(PROBE_EVERY);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut requests = tokio::task::JoinSet::new();
            let limit = Instant::now() + ROLLBACK_TIMEOUT;
            while Instant::now() < limit {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopped.changed() => break,
                }
                let (client, url) = (client.clone(), url.clone());
                let (new_version, counted) = (new_version.clone(), counted.clone());
                requests.spawn(async move {
                    let sent = Instant::now();
                    let response = client.get(&url).send().await.ok()?;
                    let new = response
                        .headers()
                        .get("x-version")
                        .is_some_and(|v| v.as_bytes() == new_version.as_bytes());
                    response.bytes().await.ok()?;
                    if new {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    Some((sent, new))
                });
            }
            let mut result = ProbeResult::default();
            while let Some(answer) = requests.join_next().await {
                match answer? {
                    Some(a) => result.answers.push(a),
                    None => result.unanswered += 1,
                }
            }
            Ok(result)
        });
        Ok(Probe {
            stop,
            new_answers,
            task,
        })
    }

    /// Waits until the new version has answered `n` probe requests.
    async fn until_new_answered(&self, n: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + ROLLBACK_TIMEOUT;
        while self.new_answers.load(Ordering::Relaxed) < n {
            if Instant::now() > deadline {
                bail!("the new version answered no probe request");
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
        Ok(())
    }

    async fn stop(self) -> anyhow::Result<ProbeResult> {
        let _ = self.stop.send(true);
        tokio::time::timeout(ROLLBACK_TIMEOUT, self.task)
            .await
            .context("the probe's requests did not finish")??
    }
}

// ----- trigger rollback -----------------------------------------------------

struct TriggerSample {
    /// Crossing → stable at 100 %, from the last poll before the crossing
    /// (an upper bound) and from the first poll that saw it (a lower
    /// bound, 0 when the engine was faster than the poll).
    delay: (f64, f64),
    /// The poll saw the crossing before the rollback.
    seen: bool,
}

async fn trigger_runs(
    config: &Config,
    interval: Duration,
    runs: usize,
) -> anyhow::Result<Vec<TriggerSample>> {
    let label = helmsman::config::duration::format(interval);
    let mut samples = Vec::new();
    for run in 1..=runs {
        let sample = trigger_run(config, &format!("trigger {label} {run:>2}/{runs}"))
            .await
            .with_context(|| format!("trigger run {run} (interval {label})"))?;
        samples.push(sample);
    }
    Ok(samples)
}

/// The engine's triggers with only the error-rate one left enabled.
fn error_rate_only(triggers: &Triggers) -> Triggers {
    let off = |t: &Trigger| Trigger {
        enabled: false,
        ..t.clone()
    };
    Triggers {
        error_rate: triggers.error_rate.clone(),
        p95_latency: off(&triggers.p95_latency),
        unhealthy_instances: off(&triggers.unhealthy_instances),
        new_error_kind: off(&triggers.new_error_kind),
    }
}

async fn trigger_run(config: &Config, label: &str) -> anyhow::Result<TriggerSample> {
    // The engine reads every interval from the release's start, and the
    // sample service fails every 12.5th request exactly, so at a fixed
    // rate every run would cross the threshold at the same point of the
    // reading cycle. A rate drawn per run spreads the crossings over it.
    let rate = rand::random_range(TRIGGER_RATES);
    let run = Run::start_world(config, Scenario::BadErrors, rate).await?;
    let service = run
        .world
        .config
        .service(ENV, SERVICE)
        .context("no service")?;
    let triggers = error_rate_only(&service.triggers);
    let analysis_rules = service.analysis.clone();

    let started = run.release().await?;
    let ended = watch_end(started.handle.task);
    let deadline = Instant::now() + RUN_TIMEOUT;
    // Observation starts at the first poll that sees the new version get
    // traffic; the window is the counters since then.
    let mut observation: Option<(Reading, analysis::Watch)> = None;
    // When the rule first failed: bracketed by the last poll that did not
    // fail yet (`last_pass`) and the first one that did.
    let mut last_pass = Instant::now();
    let mut crossed: Option<(Instant, Instant)> = None;
    let mut verdict_words = String::new();
    let mut next_counters = Instant::now();
    let stable_at = loop {
        if Instant::now() > deadline {
            bail!("no rollback within {RUN_TIMEOUT:?}");
        }
        let state = run.traffic.state().await?;
        let now = Instant::now();
        match &mut observation {
            None if state.new_weight > 0 => {
                let base = run.metrics.read().await?;
                let before = base.baseline.clone();
                let watch = analysis::Watch::new(chrono::Utc::now(), &triggers, before);
                observation = Some((base, watch));
                last_pass = now;
            }
            None => {}
            Some(_) if stable_at_100(&state) => break now,
            Some((base, watch)) if crossed.is_none() && now >= next_counters => {
                next_counters = now + COUNTERS_POLL;
                let polled = Instant::now();
                let window = run.metrics.read().await?.since(base);
                let verdicts = watch.judge(
                    &triggers,
                    &analysis_rules,
                    chrono::Utc::now(),
                    &window,
                    None,
                );
                match analysis::first_failure(&verdicts) {
                    Some(failed) => {
                        crossed = Some((last_pass, polled));
                        verdict_words = failed.summary.clone();
                    }
                    None => last_pass = polled,
                }
            }
            Some(_) => {}
        }
        // Between crossing and rollback the state is watched closely.
        let pause = if crossed.is_some() {
            STATE_POLL
        } else {
            COUNTERS_POLL
        };
        tokio::time::sleep(pause).await;
    };
    let (result, _) = tokio::time::timeout(ROLLBACK_TIMEOUT, ended)
        .await
        .context("the release did not end after the rollback")??;
    let result = result?;
    let engine_said = started.handle.snapshots.borrow().reason.clone();
    let unanswered = run.stop().await;
    if result != ReleaseResult::RolledBack {
        bail!("the release ended {result:?}, not rolled back: {engine_said}");
    }
    // The engine may judge between two polls and roll back before the
    // next one: the crossing was then after the last poll, and the delay
    // at most the time since.
    let (high, low) = match crossed {
        Some((before, seen)) => (ms(stable_at - before), ms(stable_at - seen)),
        None => (ms(stable_at - last_pass), 0.0),
    };
    if crossed.is_none() {
        verdict_words = "nothing yet: the engine rolled back before the next poll".to_string();
    }
    eprintln!(
        "{label}: {rate} req/s, crossing → stable {low:.0}..{high:.0} ms; the poll saw \
         `{verdict_words}`; the engine: `{engine_said}`; {unanswered} user requests unanswered"
    );
    Ok(TriggerSample {
        delay: (high, low),
        seen: crossed.is_some(),
    })
}

// ----- statistics -------------------------------------------------------------

struct Stats {
    median: f64,
    p95: f64,
    max: f64,
}

impl Stats {
    /// Nearest-rank percentiles; NaN when there is nothing to summarise.
    fn of(mut values: Vec<f64>) -> Stats {
        values.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len().max(1));
            values.get(i - 1).copied().unwrap_or(f64::NAN)
        };
        Stats {
            median: rank(0.5),
            p95: rank(0.95),
            max: values.last().copied().unwrap_or(f64::NAN),
        }
    }
}
