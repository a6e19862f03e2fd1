//! The blast-radius benchmark: how many requests fail on a bad canary before
//! it is rolled back, with helmsman's statistical triggers and with a
//! threshold-only policy configured like Flagger's defaults. A program, not
//! a test; see `docs/blast-radius.md` and `scripts/bench-blast-radius.sh`.
//!
//! Everything runs in virtual time and is seeded, so a seed gives the same
//! tables on any run:
//!
//! - Traffic: `R` requests/s split between the baseline (stable) and the new
//!   version by the canary weight `w`. Per 1-second slot and per version:
//!   requests ~ Poisson, errors ~ Binomial, latencies binned over
//!   `LATENCY_BUCKETS_MS` as a multinomial (conditional binomials) from a
//!   lognormal (baseline median 50 ms, sigma 0.5; the new version's
//!   latencies are the baseline's times a factor). Baseline error rate
//!   0.1 %, the new version's 0.1 % plus a delta. Every error is `http_500`
//!   on both sides. The fault is there from the onset: the moment weight `w`
//!   is applied.
//! - helmsman: the engine's real `Release` state machine runs a canary
//!   `[Weight(w), Pause(10 min)]` with the default analysis and triggers;
//!   metrics readings are the cumulative counters at the virtual time asked.
//! - threshold-only: one check every 60 s over the last 60 s; a check fails
//!   when the new error rate is more than 5 points over the baseline's or the
//!   new p95 more than twice the baseline's; the 5th failed check rolls back
//!   (Flagger's `interval: 1m`, `threshold: 5`). No minimum sample.
//!
//! Both policies judge the same simulated streams in every run. A run ends
//! at a policy's rollback decision or at the 10-minute horizon; its blast
//! radius is the failed requests on the new version up to then.
//!
//! Usage: `blast_radius [--runs N] [--healthy-runs N] [--seed S]`.

use std::collections::{BTreeMap, VecDeque};
use std::f64::consts::SQRT_2;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Distribution, Poisson};
use statrs::function::erf::erfc;

use helmsman::config::{self, Backend, LocalBackend, Step, Strategy, defaults};
use helmsman::engine::machine::{Effect, Input, Release, ReleaseSpec};
use helmsman::engine::{Actor, Phase, Target, TriggerKind};
use helmsman::metrics::{LATENCY_BUCKETS_MS, LatencyHistogram, Reading, Sample};
use helmsman::providers::{Instance, TrafficState};

const TRAFFIC_RPS: [u32; 3] = [10, 100, 1000];
const WEIGHTS_PCT: [u8; 3] = [5, 10, 25];
const ERROR_DELTAS_PTS: [f64; 5] = [0.0, 1.0, 5.0, 10.0, 20.0];
const LATENCY_FACTORS: [f64; 4] = [1.0, 1.5, 2.0, 3.0];

const BASELINE_ERROR_RATE: f64 = 0.001;
const BASELINE_MEDIAN_MS: f64 = 50.0;
const LATENCY_SIGMA: f64 = 0.5;
const ERROR_KIND: &str = "http_500";
/// A run lasts until the canary's pause is over, at most.
const HORIZON_S: u64 = 600;
const INSTANCES_PER_VERSION: usize = 4;

/// The threshold-only policy: Flagger's default analysis runs a check every
/// `interval` (1m) and rolls back after `threshold` (5) failed checks.
const CHECK_EVERY_S: u64 = 60;
const FAILED_CHECKS_TO_ROLL_BACK: u32 = 5;
const CHECK_MAX_ERROR_POINTS: f64 = 5.0;
const CHECK_MAX_P95_RATIO: f64 = 2.0;

/// The targets' cells and limits.
const TARGET_FAST_RPS: u32 = 100;
const TARGET_FAST_WEIGHT: u8 = 10;
const TARGET_FAST_DELTA_PTS: f64 = 10.0;
const TARGET_FAST_WITHIN_S: u64 = 30;
const TARGET_BLAST_SHARE: f64 = 0.1;
const TARGET_UNDER_THRESHOLD_DELTA_PTS: f64 = 1.0;
const TARGET_MAX_MISTAKES: f64 = 0.01;
const TARGET_MIN_HEALTHY_RUNS: usize = 1000;
const TARGET_P95_FACTOR: f64 = 2.0;
const TARGET_P95_CAUGHT: f64 = 0.99;

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let started = Instant::now();
    let cells = grid();
    let results = run_grid(&cells, &args);
    let wall = started.elapsed();
    print_report(&cells, &results, &args, wall);
    Ok(())
}

// ----- arguments ---------------------------------------------------------------

struct Args {
    runs: usize,
    healthy_runs: usize,
    seed: u64,
}

impl Args {
    fn parse() -> anyhow::Result<Args> {
        let mut parsed = Args {
            runs: 200,
            healthy_runs: 1000,
            seed: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{arg} needs a number"))?;
            let number = || -> anyhow::Result<u64> {
                value
                    .parse()
                    .with_context(|| format!("{arg} needs a number, not `{value}`"))
            };
            match arg.as_str() {
                "--runs" => parsed.runs = number()? as usize,
                "--healthy-runs" => parsed.healthy_runs = number()? as usize,
                "--seed" => parsed.seed = number()?,
                _ => bail!(
                    "unknown argument `{arg}`; usage: blast_radius [--runs N] \
                     [--healthy-runs N] [--seed S]"
                ),
            }
        }
        if parsed.runs == 0 || parsed.healthy_runs == 0 {
            bail!("--runs and --healthy-runs must be at least 1");
        }
        Ok(parsed)
    }

    fn runs_for(&self, cell: &Cell) -> usize {
        if cell.is_healthy() {
            self.healthy_runs
        } else {
            self.runs
        }
    }
}

// ----- the grid ----------------------------------------------------------------

/// One scenario of the grid.
#[derive(Debug, Clone, Copy)]
struct Cell {
    rps: u32,
    weight: u8,
    error_delta_pts: f64,
    latency_factor: f64,
}

impl Cell {
    fn is_healthy(&self) -> bool {
        self.error_delta_pts == 0.0 && self.latency_factor == 1.0
    }

    fn new_rps(&self) -> f64 {
        f64::from(self.rps) * f64::from(self.weight) / 100.0
    }

    fn baseline_rps(&self) -> f64 {
        f64::from(self.rps) - self.new_rps()
    }
}

fn grid() -> Vec<Cell> {
    let mut cells = Vec::new();
    for rps in TRAFFIC_RPS {
        for weight in WEIGHTS_PCT {
            for error_delta_pts in ERROR_DELTAS_PTS {
                for latency_factor in LATENCY_FACTORS {
                    cells.push(Cell {
                        rps,
                        weight,
                        error_delta_pts,
                        latency_factor,
                    });
                }
            }
        }
    }
    cells
}

// ----- the simulated traffic ---------------------------------------------------

/// What one version serves each second.
struct Version {
    requests: Poisson<f64>,
    error_rate: f64,
    /// The probability of a latency in each of `LATENCY_BUCKETS_MS`, then
    /// the overflow bucket.
    bucket_shares: Vec<f64>,
}

impl Version {
    fn new(rps: f64, error_rate: f64, median_ms: f64) -> Version {
        Version {
            requests: Poisson::new(rps).expect("a positive request rate"),
            error_rate,
            bucket_shares: lognormal_bucket_shares(median_ms),
        }
    }

    fn serve_one_second(&self, rng: &mut StdRng, counters: &mut Sample) {
        let requests = self.requests.sample(rng) as u64;
        let errors = binomial(requests, self.error_rate, rng);
        counters.requests += requests;
        counters.errors += errors;
        if errors > 0 {
            *counters
                .errors_by_kind
                .entry(ERROR_KIND.to_string())
                .or_default() += errors;
        }
        spread_multinomial(requests, &self.bucket_shares, rng, &mut counters.latency);
    }
}

/// The lognormal's probability mass in each latency bucket (and overflow).
fn lognormal_bucket_shares(median_ms: f64) -> Vec<f64> {
    let cdf = |ms: f64| 0.5 * erfc(-(ms / median_ms).ln() / (LATENCY_SIGMA * SQRT_2));
    let mut below = 0.0;
    let mut shares: Vec<f64> = LATENCY_BUCKETS_MS
        .iter()
        .map(|&bound| {
            let upto = cdf(bound);
            let share = upto - below;
            below = upto;
            share
        })
        .collect();
    shares.push(1.0 - below);
    shares
}

fn binomial(n: u64, p: f64, rng: &mut StdRng) -> u64 {
    Binomial::new(n, p.clamp(0.0, 1.0))
        .expect("a probability in [0, 1]")
        .sample(rng)
}

/// Adds `n` requests to the histogram as one multinomial draw: each bucket
/// takes a binomial share of what the buckets before it left over.
fn spread_multinomial(n: u64, shares: &[f64], rng: &mut StdRng, into: &mut LatencyHistogram) {
    let mut left = n;
    let mut mass_left = 1.0;
    for (i, &share) in shares.iter().enumerate() {
        if left == 0 {
            return;
        }
        let last = i + 1 == shares.len();
        let taken = if last || share >= mass_left {
            left
        } else {
            binomial(left, share / mass_left, rng)
        };
        into.counts[i] += taken;
        left -= taken;
        mass_left -= share;
    }
}

/// Both versions' cumulative counters from the onset on, one second at a
/// time: the same streams for both policies, whatever either decides.
struct World {
    new: Version,
    baseline: Version,
    rng: StdRng,
    elapsed_s: u64,
    cumulative: Reading,
    /// The cumulative reading at every check of the threshold-only policy
    /// (index k: after k checks' worth of seconds).
    check_marks: Vec<Reading>,
}

impl World {
    fn new(cell: &Cell, seed: u64) -> World {
        World {
            new: Version::new(
                cell.new_rps(),
                BASELINE_ERROR_RATE + cell.error_delta_pts / 100.0,
                BASELINE_MEDIAN_MS * cell.latency_factor,
            ),
            baseline: Version::new(cell.baseline_rps(), BASELINE_ERROR_RATE, BASELINE_MEDIAN_MS),
            rng: StdRng::seed_from_u64(seed),
            elapsed_s: 0,
            cumulative: Reading::default(),
            check_marks: vec![Reading::default()],
        }
    }

    /// The cumulative counters `second` seconds after the onset, the
    /// streams generated up to there on first use. Never rewound: an earlier
    /// reading would silently include later traffic.
    fn reading_at(&mut self, second: u64) -> &Reading {
        assert!(
            second >= self.elapsed_s,
            "reading at {second} s after the world reached {} s",
            self.elapsed_s
        );
        while self.elapsed_s < second {
            self.new
                .serve_one_second(&mut self.rng, &mut self.cumulative.new);
            self.baseline
                .serve_one_second(&mut self.rng, &mut self.cumulative.baseline);
            self.elapsed_s += 1;
            if self.elapsed_s % CHECK_EVERY_S == 0 {
                self.check_marks.push(self.cumulative.clone());
            }
        }
        &self.cumulative
    }

    /// The cumulative counters at the `check`-th threshold-only check, kept
    /// for when the engine's run already took the world past it.
    fn at_check(&mut self, check: u64) -> &Reading {
        let k = check as usize;
        if k >= self.check_marks.len() {
            self.reading_at(check * CHECK_EVERY_S);
        }
        &self.check_marks[k]
    }
}

// ----- one run -----------------------------------------------------------------

/// What one policy did in one run.
#[derive(Debug)]
struct Outcome {
    /// Seconds from the onset to the rollback decision; `None`: no rollback
    /// within the horizon.
    rolled_back_after_s: Option<u64>,
    /// What decided the rollback.
    trigger: Option<String>,
    /// Failed requests on the new version until the decision (or the horizon).
    failed_requests: u64,
}

struct RunResult {
    engine: Outcome,
    threshold_only: Outcome,
}

fn run_once(cell: &Cell, seed: u64) -> RunResult {
    let mut world = World::new(cell, seed);
    // The engine first: the world is generated lazily and only forward, and
    // the threshold-only policy reads it back from its per-check marks.
    let engine = EngineDriver::run(cell, &mut world);
    let threshold_only = threshold_only(&mut world);
    RunResult {
        engine,
        threshold_only,
    }
}

/// A distinct, well-mixed seed per run (SplitMix64), so results do not
/// depend on which thread ran which cell.
fn run_seed(seed: u64, cell: usize, run: usize) -> u64 {
    let mut z = seed ^ ((cell as u64) << 32 | run as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ----- helmsman's engine --------------------------------------------------------

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn release_spec(cell: &Cell) -> ReleaseSpec {
    let service = config::Service {
        name: "checkout".into(),
        backend: Backend::Local(LocalBackend {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: "127.0.0.1:0".parse().unwrap(),
            stable: "v1".into(),
            versions: Default::default(),
            error_kind_header: None,
            admin_token: None,
            limits: Default::default(),
        }),
        strategy: Strategy::Canary {
            steps: vec![
                Step::Weight(cell.weight),
                Step::Pause(Duration::from_secs(HORIZON_S)),
            ],
        },
        analysis: defaults::analysis(),
        triggers: defaults::triggers(),
        bands: defaults::bands(),
        health: defaults::health(),
        metrics: config::MetricsSource::Local,
    };
    ReleaseSpec {
        target: Target {
            env: "prod".into(),
            service: "checkout".into(),
        },
        release_id: "blast-radius".into(),
        stable_version: "v1".into(),
        new_version: "v2".into(),
        service,
        started_by: Actor::Engine,
    }
}

/// Runs the release state machine against the world, answering its effects
/// as a healthy backend and a metrics provider would, in virtual time.
struct EngineDriver<'w> {
    release: Release,
    world: &'w mut World,
    now: DateTime<Utc>,
    pending: VecDeque<Effect>,
    staged: bool,
    weight: u8,
    /// When the new version first got traffic.
    onset: Option<DateTime<Utc>>,
    /// The trigger named by the rollback, once the machine decided one.
    rollback: Option<String>,
}

impl EngineDriver<'_> {
    fn run(cell: &Cell, world: &mut World) -> Outcome {
        let now = start_time();
        let mut driver = EngineDriver {
            release: Release::new(release_spec(cell), now),
            world,
            now,
            pending: VecDeque::new(),
            staged: false,
            weight: 0,
            onset: None,
            rollback: None,
        };
        driver.feed(Input::Start);
        let horizon = now + chrono::Duration::seconds(HORIZON_S as i64);
        while driver.rollback.is_none() {
            match driver.release.next_wake() {
                Some(at) if at <= horizon => {
                    driver.now = driver.now.max(at);
                    driver.feed(Input::Tick);
                }
                _ => break,
            }
        }
        driver.outcome()
    }

    fn outcome(mut self) -> Outcome {
        let onset = self.onset.expect("the canary's weight was applied");
        let decided_after_s = self
            .rollback
            .is_some()
            .then(|| (self.now - onset).num_seconds() as u64);
        let until = decided_after_s.unwrap_or(HORIZON_S);
        Outcome {
            rolled_back_after_s: decided_after_s,
            trigger: self.rollback.take(),
            failed_requests: self.world.reading_at(until).new.errors,
        }
    }

    /// Feeds one input and answers every effect it leads to, stopping at
    /// the rollback decision.
    fn feed(&mut self, input: Input) {
        let effects = self.release.handle(input, self.now);
        self.take(effects);
        while self.rollback.is_none() {
            let Some(effect) = self.pending.pop_front() else {
                return;
            };
            let Some(answer) = self.answer(&effect) else {
                continue;
            };
            let effects = self.release.handle(answer, self.now);
            self.take(effects);
        }
    }

    fn take(&mut self, effects: Vec<Effect>) {
        if let Some(trigger) = rollback_in(&effects) {
            self.rollback = Some(trigger);
        }
        self.pending.extend(
            effects
                .into_iter()
                .filter(|e| !matches!(e, Effect::Emit(_))),
        );
    }

    fn answer(&mut self, effect: &Effect) -> Option<Input> {
        match effect {
            e if e.is_traffic_write() => {
                self.apply(e);
                Some(Input::Applied(Ok(())))
            }
            Effect::ReadTraffic => Some(Input::Traffic(Ok(self.traffic_state()))),
            Effect::ReadMetrics => Some(Input::Metrics(Ok(self.reading()))),
            _ => None,
        }
    }

    fn apply(&mut self, write: &Effect) {
        match write {
            Effect::Prepare => self.staged = true,
            Effect::SetWeight(w) => {
                self.weight = *w;
                if *w > 0 && self.onset.is_none() {
                    self.onset = Some(self.now);
                }
            }
            _ => {}
        }
    }

    fn reading(&mut self) -> Reading {
        match self.onset {
            Some(onset) => {
                let second = (self.now - onset).num_seconds() as u64;
                self.world.reading_at(second).clone()
            }
            None => Reading::default(),
        }
    }

    /// Every instance healthy: the instance-health trigger must never be
    /// what fires here.
    fn traffic_state(&self) -> TrafficState {
        let instances = |prefix: &str, in_rotation: bool| {
            (0..INSTANCES_PER_VERSION)
                .map(|i| Instance {
                    name: format!("{prefix}-{i}"),
                    in_rotation,
                    healthy: true,
                })
                .collect()
        };
        TrafficState {
            stable_version: "v1".into(),
            new_version: self.staged.then(|| "v2".into()),
            new_weight: self.weight,
            stable: instances("stable", true),
            new: if self.staged {
                instances("new", self.weight > 0)
            } else {
                Vec::new()
            },
            flag_percent: None,
            planned_new: None,
        }
    }
}

/// The trigger a batch of effects rolls back on, if it starts a rollback:
/// the machine moves to RollingBack (naming the verdict) and sends the
/// canary's weight to 0.
fn rollback_in(effects: &[Effect]) -> Option<String> {
    let event = effects.iter().find_map(|e| match e {
        Effect::Emit(ev) if matches!(ev.to, Phase::RollingBack | Phase::RolledBack) => Some(ev),
        _ => None,
    });
    let reverted = effects.contains(&Effect::SetWeight(0));
    if event.is_none() && !reverted {
        return None;
    }
    Some(
        event
            .and_then(|ev| ev.verdict.as_ref())
            .map_or_else(|| "no verdict".to_string(), |v| v.trigger.to_string()),
    )
}

// ----- the threshold-only policy ----------------------------------------------

fn threshold_only(world: &mut World) -> Outcome {
    let mut failed = 0;
    for check in 1..=HORIZON_S / CHECK_EVERY_S {
        let end = world.at_check(check).clone();
        let window = end.since(world.at_check(check - 1));
        let Some(reason) = failed_check(&window) else {
            continue;
        };
        failed += 1;
        if failed == FAILED_CHECKS_TO_ROLL_BACK {
            return Outcome {
                rolled_back_after_s: Some(check * CHECK_EVERY_S),
                trigger: Some(reason.to_string()),
                failed_requests: end.new.errors,
            };
        }
    }
    Outcome {
        rolled_back_after_s: None,
        trigger: None,
        failed_requests: world.reading_at(HORIZON_S).new.errors,
    }
}

/// Why one check over `window` fails, if it does. A window without
/// requests on the new version has nothing to fail on.
fn failed_check(window: &Reading) -> Option<&'static str> {
    let (new, base) = (&window.new, &window.baseline);
    let errors = new
        .error_rate_pct()
        .is_some_and(|rate| rate - base.error_rate_pct().unwrap_or(0.0) > CHECK_MAX_ERROR_POINTS);
    let latency = match (new.p95_ms(), base.p95_ms()) {
        (Some(n), Some(b)) => n > CHECK_MAX_P95_RATIO * b,
        _ => false,
    };
    match (errors, latency) {
        (true, true) => Some("error rate + p95"),
        (true, false) => Some("error rate"),
        (false, true) => Some("p95 latency"),
        (false, false) => None,
    }
}

// ----- running the grid ----------------------------------------------------------

/// Runs of one cell handed to a thread at a time: small enough that the
/// threads finish together, large enough that handing out is free.
const RUNS_PER_CHUNK: usize = 25;

/// A slice of one cell's runs.
struct Chunk {
    cell: usize,
    runs: Range<usize>,
}

/// Every cell's runs in chunks, in grid order.
fn chunks(cells: &[Cell], args: &Args) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for (cell, c) in cells.iter().enumerate() {
        let runs = args.runs_for(c);
        for start in (0..runs).step_by(RUNS_PER_CHUNK) {
            chunks.push(Chunk {
                cell,
                runs: start..(start + RUNS_PER_CHUNK).min(runs),
            });
        }
    }
    chunks
}

/// Every run of every cell, spread over the CPUs in chunks, the busiest
/// traffic first so no thread is left with a long chunk at the end. Each
/// run's seed depends only on its cell and number, so the threads' order
/// changes nothing.
fn run_grid(cells: &[Cell], args: &Args) -> Vec<Vec<RunResult>> {
    let chunks = chunks(cells, args);
    let mut order: Vec<usize> = (0..chunks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cells[chunks[i].cell].rps));
    let done: Vec<OnceLock<Vec<RunResult>>> = chunks.iter().map(|_| OnceLock::new()).collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Chunk { cell, runs } = &chunks[i];
                    let results = runs
                        .clone()
                        .map(|run| run_once(&cells[*cell], run_seed(args.seed, *cell, run)))
                        .collect();
                    let _ = done[i].set(results);
                }
            });
        }
    });
    let mut per_cell: Vec<Vec<RunResult>> = cells.iter().map(|_| Vec::new()).collect();
    for (chunk, results) in chunks.iter().zip(done) {
        per_cell[chunk.cell].extend(results.into_inner().expect("every chunk ran"));
    }
    per_cell
}

// ----- summaries -------------------------------------------------------------------

/// One policy's figures over one cell's runs.
struct Summary {
    runs: usize,
    rolled_back: usize,
    /// Over the rolled-back runs.
    time_s: Option<(u64, u64)>,
    /// Median and p95 over every run.
    failed_requests: (u64, u64),
    top_trigger: Option<String>,
}

impl Summary {
    fn of<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Summary {
        let outcomes: Vec<&Outcome> = outcomes.collect();
        let times: Vec<u64> = outcomes
            .iter()
            .filter_map(|o| o.rolled_back_after_s)
            .collect();
        let failed: Vec<u64> = outcomes.iter().map(|o| o.failed_requests).collect();
        Summary {
            runs: outcomes.len(),
            rolled_back: times.len(),
            time_s: median_and_p95(times),
            failed_requests: median_and_p95(failed).unwrap_or((0, 0)),
            top_trigger: most_frequent(outcomes.iter().filter_map(|o| o.trigger.clone())),
        }
    }

    fn rolled_back_share(&self) -> f64 {
        self.rolled_back as f64 / self.runs as f64
    }
}

fn median_and_p95(mut values: Vec<u64>) -> Option<(u64, u64)> {
    values.sort_unstable();
    Some((nearest_rank(&values, 0.5)?, nearest_rank(&values, 0.95)?))
}

/// The nearest-rank `q` quantile of sorted values.
fn nearest_rank(sorted: &[u64], q: f64) -> Option<u64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

fn most_frequent(items: impl Iterator<Item = String>) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(name, _)| name)
}

fn share_of(runs: &[RunResult], pick: impl Fn(&RunResult) -> bool) -> f64 {
    runs.iter().filter(|r| pick(r)).count() as f64 / runs.len() as f64
}

fn rolled_back_by(outcome: &Outcome, trigger: TriggerKind) -> bool {
    outcome.trigger.as_deref() == Some(trigger.to_string().as_str())
}

// ----- the report ------------------------------------------------------------------

fn print_report(cells: &[Cell], results: &[Vec<RunResult>], args: &Args, wall: Duration) {
    let analysis = defaults::analysis();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("## Run");
    println!();
    println!(
        "Seed {}, {} runs per cell ({} in the healthy cells: +0 points, x1), {} runs in all; \
         wall time {:.1} s on {} CPU(s), {build} build.",
        args.seed,
        args.runs,
        args.healthy_runs,
        results.iter().map(Vec::len).sum::<usize>(),
        wall.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    println!();
    println!(
        "Per cell: **rb** share of runs rolled back within {} min; **time** seconds from the \
         onset to the rollback decision, median / p95 over the rolled-back runs; **failed** \
         failed requests on the new version until the decision (or the horizon), median / p95 \
         over all runs; **by** the trigger that decided most rollbacks. helmsman: analysis \
         every {} s, at least {} requests, {} % confidence, tolerance {}. threshold-only: a \
         check every {CHECK_EVERY_S} s, rollback at the {FAILED_CHECKS_TO_ROLL_BACK}th failed \
         check.",
        HORIZON_S / 60,
        analysis.interval.as_secs(),
        analysis.min_requests,
        analysis.confidence * 100.0,
        analysis.tolerance,
    );
    for rps in TRAFFIC_RPS {
        print_traffic_table(rps, cells, results);
    }
    println!();
    println!("## Targets");
    println!();
    print_fast_rollback_target(cells, results);
    print_under_threshold_target(cells, results);
    print_healthy_target(cells, results);
    print_p95_target(cells, results);
}

fn print_traffic_table(rps: u32, cells: &[Cell], results: &[Vec<RunResult>]) {
    println!();
    println!("## {rps} requests/s");
    println!();
    println!(
        "| w | error | latency | helmsman rb | time | failed | by | threshold-only rb | time | failed | by |"
    );
    println!("|--:|--:|--:|--:|--:|--:|:--|--:|--:|--:|:--|");
    for (cell, runs) in cells.iter().zip(results).filter(|(c, _)| c.rps == rps) {
        let engine = Summary::of(runs.iter().map(|r| &r.engine));
        let threshold = Summary::of(runs.iter().map(|r| &r.threshold_only));
        println!(
            "| {} % | +{} | x{} | {} | {} |",
            cell.weight,
            cell.error_delta_pts,
            cell.latency_factor,
            summary_columns(&engine),
            summary_columns(&threshold),
        );
    }
}

fn summary_columns(s: &Summary) -> String {
    let time = s.time_s.map_or_else(
        || "—".to_string(),
        |(median, p95)| format!("{median} / {p95}"),
    );
    format!(
        "{} | {time} | {} / {} | {}",
        percent(s.rolled_back_share()),
        s.failed_requests.0,
        s.failed_requests.1,
        s.top_trigger.as_deref().unwrap_or("—"),
    )
}

fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 1.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn find_cell<'r>(
    cells: &[Cell],
    results: &'r [Vec<RunResult>],
    pick: impl Fn(&Cell) -> bool,
) -> Vec<(Cell, &'r [RunResult])> {
    cells
        .iter()
        .zip(results)
        .filter(|(c, _)| pick(c))
        .map(|(c, r)| (*c, r.as_slice()))
        .collect()
}

fn print_fast_rollback_target(cells: &[Cell], results: &[Vec<RunResult>]) {
    let found = find_cell(cells, results, |c| {
        c.rps == TARGET_FAST_RPS
            && c.weight == TARGET_FAST_WEIGHT
            && c.error_delta_pts == TARGET_FAST_DELTA_PTS
            && c.latency_factor == 1.0
    });
    let Some(&(_, runs)) = found.first() else {
        return;
    };
    let engine = Summary::of(runs.iter().map(|r| &r.engine));
    let threshold = Summary::of(runs.iter().map(|r| &r.threshold_only));
    let within = share_of(runs, |r| {
        r.engine
            .rolled_back_after_s
            .is_some_and(|s| s <= TARGET_FAST_WITHIN_S)
    });
    let (median, p95) = engine.time_s.unwrap_or((u64::MAX, u64::MAX));
    println!(
        "- {TARGET_FAST_RPS} requests/s, {TARGET_FAST_WEIGHT} %, +{TARGET_FAST_DELTA_PTS} points, \
         x1 ({} runs): rollback within {TARGET_FAST_WITHIN_S} s of the onset: median {median} s, \
         p95 {p95} s, {} of runs within {TARGET_FAST_WITHIN_S} s — **{}** (criterion: every \
         run rolled back, p95 <= {TARGET_FAST_WITHIN_S} s)",
        runs.len(),
        percent(within),
        met(p95 <= TARGET_FAST_WITHIN_S && engine.rolled_back == runs.len()),
    );
    let (ours, theirs) = (engine.failed_requests.0, threshold.failed_requests.0);
    println!(
        "- same cell: blast radius under a tenth of the threshold-only policy's: median {ours} \
         vs {theirs} failed requests ({:.3} of it) — **{}**",
        ours as f64 / theirs.max(1) as f64,
        met((ours as f64) < TARGET_BLAST_SHARE * theirs as f64),
    );
}

fn print_under_threshold_target(cells: &[Cell], results: &[Vec<RunResult>]) {
    let found = find_cell(cells, results, |c| {
        c.error_delta_pts == TARGET_UNDER_THRESHOLD_DELTA_PTS && c.latency_factor == 1.0
    });
    let mut worst: f64 = 0.0;
    let mut lines = Vec::new();
    for (cell, runs) in &found {
        let by_errors = share_of(runs, |r| rolled_back_by(&r.engine, TriggerKind::ErrorRate));
        let by_any = share_of(runs, |r| r.engine.rolled_back_after_s.is_some());
        worst = worst.max(by_errors);
        lines.push(format!(
            "  - {} requests/s, {} %: {} by the error-rate trigger ({} by any trigger)",
            cell.rps,
            cell.weight,
            percent(by_errors),
            percent(by_any),
        ));
    }
    println!(
        "- +{TARGET_UNDER_THRESHOLD_DELTA_PTS} point (x1), below the threshold: share rolled back \
         by the error-rate trigger, worst cell {} (expected ~0; criterion < {}) — **{}**",
        percent(worst),
        percent(TARGET_MAX_MISTAKES),
        met(worst < TARGET_MAX_MISTAKES),
    );
    for line in lines {
        println!("{line}");
    }
}

fn print_healthy_target(cells: &[Cell], results: &[Vec<RunResult>]) {
    let found = find_cell(cells, results, Cell::is_healthy);
    let mut all_met = true;
    let mut lines = Vec::new();
    for (cell, runs) in &found {
        let mistakes = share_of(runs, |r| r.engine.rolled_back_after_s.is_some());
        let threshold_mistakes = share_of(runs, |r| r.threshold_only.rolled_back_after_s.is_some());
        all_met &= mistakes < TARGET_MAX_MISTAKES && runs.len() >= TARGET_MIN_HEALTHY_RUNS;
        lines.push(format!(
            "  - {} requests/s, {} %: {} of {} runs (threshold-only: {})",
            cell.rps,
            cell.weight,
            percent(mistakes),
            runs.len(),
            percent(threshold_mistakes),
        ));
    }
    println!(
        "- healthy cells (+0, x1): share rolled back by mistake, target < {} over >= \
         {TARGET_MIN_HEALTHY_RUNS} runs each — **{}**",
        percent(TARGET_MAX_MISTAKES),
        met(all_met),
    );
    for line in lines {
        println!("{line}");
    }
}

fn print_p95_target(cells: &[Cell], results: &[Vec<RunResult>]) {
    let triggers = defaults::triggers();
    let deadline_s = (triggers.p95_latency.after + defaults::analysis().interval).as_secs();
    let found = find_cell(cells, results, |c| {
        c.error_delta_pts == 0.0 && c.latency_factor == TARGET_P95_FACTOR
    });
    let mut target_met = false;
    let mut lines = Vec::new();
    for (cell, runs) in &found {
        let caught = share_of(runs, |r| {
            rolled_back_by(&r.engine, TriggerKind::P95Latency)
                && r.engine
                    .rolled_back_after_s
                    .is_some_and(|s| s <= deadline_s)
        });
        let ever = share_of(runs, |r| rolled_back_by(&r.engine, TriggerKind::P95Latency));
        if cell.rps == TARGET_FAST_RPS && cell.weight == TARGET_FAST_WEIGHT {
            target_met = caught >= TARGET_P95_CAUGHT;
        }
        lines.push(format!(
            "  - {} requests/s, {} %: {} by {deadline_s} s ({} within {} min)",
            cell.rps,
            cell.weight,
            percent(caught),
            percent(ever),
            HORIZON_S / 60,
        ));
    }
    println!(
        "- x{TARGET_P95_FACTOR} latency (+0): share caught by the p95 trigger by the end of its \
         {}-s window (decision at <= {deadline_s} s), target >= {} at {TARGET_FAST_RPS} \
         requests/s and {TARGET_FAST_WEIGHT} % — **{}**",
        triggers.p95_latency.after.as_secs(),
        percent(TARGET_P95_CAUGHT),
        met(target_met),
    );
    for line in lines {
        println!("{line}");
    }
}
