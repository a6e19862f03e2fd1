//! The blast-radius benchmark: how many requests fail on a bad canary before
//! it is rolled back, and how often a good one is rolled back by mistake,
//! with helmsman's statistical triggers and with two policies configured
//! like Flagger's. A program, not a test; see `docs/blast-radius.md` and
//! `scripts/bench-blast-radius.sh`.
//!
//! Everything runs in virtual time and is seeded, so a seed gives the same
//! tables on any run (`world`): `R` requests/s split between the baseline
//! (stable) and the new version by the canary weight `w`, after ten
//! minutes of the stable version serving everything; requests ~
//! Poisson, errors ~ Binomial, latencies binned over the data plane's
//! buckets from a lognormal (baseline median 50 ms, sigma 0.5). The new
//! version behaves like the baseline except during its fault, `[start,
//! end)`: an error-rate delta and a latency factor.
//!
//! The policies (`policies`) judge the same simulated streams in every run:
//! - helmsman: the engine's real `Release` state machine (`engine`) runs a
//!   canary `[Weight(w), Pause(horizon)]` with the default analysis and
//!   triggers; metrics readings are the cumulative counters at the virtual
//!   time asked.
//! - threshold-only: a check every 60 s over the last 60 s fails when the
//!   new error rate is more than 5 points over the baseline's or the new
//!   p95 more than twice the baseline's; the 5th failed check rolls back.
//! - Flagger built-ins: the same cadence with Flagger's absolute built-in
//!   metrics: success rate >= 99 %, p99 <= 500 ms.
//!
//! The families of scenarios, each reported cell by cell:
//! - `first-step`: a fault from the onset of the weight, 10 minutes.
//! - `healthy`: +0 and +2.5 points (the tolerated edge) over baselines of
//!   0.1, 1 and 5 %, 30-minute releases: rollbacks by mistake.
//! - `late-onset`: +10 points, or a x2 p95, beginning minutes after the
//!   weight is applied.
//! - `spikes`: x3 latency for 60 s or 3 minutes.
//!
//! Usage: `blast_radius [--runs N] [--healthy-runs N] [--seed S]
//! [--only FAMILY,...]`.

mod engine;
mod first_step;
mod healthy;
mod late_onset;
mod policies;
mod runner;
mod spikes;
mod summary;
mod world;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use helmsman::config::defaults;

use crate::policies::{
    CHECK_EVERY_S, CHECK_MAX_ERROR_POINTS, CHECK_MAX_P95_RATIO, FAILED_CHECKS_TO_ROLL_BACK,
    FLAGGER_MAX_P99_MS, FLAGGER_MIN_SUCCESS_PCT, RunResult,
};
use crate::summary::out;
use crate::world::Scenario;

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let load_before = load_average();
    let mut done = Vec::new();
    for family in FAMILIES.into_iter().filter(|f| args.only.contains(f)) {
        let scenarios = family.scenarios();
        let runs = family.runs(&args);
        eprintln!(
            "{}: {} cells x {runs} runs ...",
            family.name(),
            scenarios.len()
        );
        let started = Instant::now();
        let results = runner::run_cells(&scenarios, runs, args.seed, family.first_cell_id());
        let wall = started.elapsed();
        eprintln!("{}: {:.1} s", family.name(), wall.as_secs_f64());
        let mut section = String::new();
        family.report(&scenarios, &results, &mut section);
        done.push(FamilyRun {
            family,
            cells: scenarios.len(),
            runs,
            wall,
            section,
        });
    }
    let load = [load_before, load_average()];
    print!("{}", run_section(&args, &done, &load));
    for run in &done {
        print!("{}", run.section);
    }
    Ok(())
}

// ----- arguments ---------------------------------------------------------------

const USAGE: &str = "usage: blast_radius [--runs N] [--healthy-runs N] [--seed S] \
                     [--only FAMILY,...] (families: first-step, healthy, late-onset, spikes)";

struct Args {
    /// Runs per cell in every family but `healthy`.
    runs: usize,
    /// Runs per cell in `healthy`.
    healthy_runs: usize,
    seed: u64,
    /// The families to run, in any order; reported in `FAMILIES`' order.
    only: Vec<Family>,
}

impl Args {
    fn parse() -> anyhow::Result<Args> {
        let mut parsed = Args {
            runs: 200,
            healthy_runs: 2000,
            seed: 1,
            only: FAMILIES.to_vec(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let value = args
                .next()
                .with_context(|| format!("{arg} needs a value; {USAGE}"))?;
            let number = || -> anyhow::Result<u64> {
                value
                    .parse()
                    .with_context(|| format!("{arg} needs a number, not `{value}`"))
            };
            match arg.as_str() {
                "--runs" => parsed.runs = number()? as usize,
                "--healthy-runs" => parsed.healthy_runs = number()? as usize,
                "--seed" => parsed.seed = number()?,
                "--only" => {
                    parsed.only = value
                        .split(',')
                        .map(|name| {
                            let name = name.trim();
                            FAMILIES
                                .into_iter()
                                .find(|f| f.name() == name)
                                .with_context(|| format!("unknown family `{name}`; {USAGE}"))
                        })
                        .collect::<anyhow::Result<_>>()?;
                }
                _ => bail!("unknown argument `{arg}`; {USAGE}"),
            }
        }
        if parsed.runs == 0 || parsed.healthy_runs == 0 {
            bail!("--runs and --healthy-runs must be at least 1");
        }
        Ok(parsed)
    }

    /// The arguments that reproduce this report.
    fn command(&self) -> String {
        let mut command = format!(
            "cargo run --release --example blast_radius -- --runs {} --healthy-runs {} --seed {}",
            self.runs, self.healthy_runs, self.seed
        );
        if FAMILIES.iter().any(|f| !self.only.contains(f)) {
            let names: Vec<&str> = FAMILIES
                .into_iter()
                .filter(|f| self.only.contains(f))
                .map(Family::name)
                .collect();
            command.push_str(&format!(" --only {}", names.join(",")));
        }
        command
    }
}

// ----- the families -----------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    FirstStep,
    Healthy,
    LateOnset,
    Spikes,
}

const FAMILIES: [Family; 4] = [
    Family::FirstStep,
    Family::Healthy,
    Family::LateOnset,
    Family::Spikes,
];

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::FirstStep => "first-step",
            Family::Healthy => "healthy",
            Family::LateOnset => "late-onset",
            Family::Spikes => "spikes",
        }
    }

    fn scenarios(self) -> Vec<Scenario> {
        match self {
            Family::FirstStep => first_step::scenarios(),
            Family::Healthy => healthy::scenarios(),
            Family::LateOnset => late_onset::scenarios(),
            Family::Spikes => spikes::scenarios(),
        }
    }

    fn runs(self, args: &Args) -> usize {
        match self {
            Family::Healthy => args.healthy_runs,
            _ => args.runs,
        }
    }

    /// Cell `i` of the family has id `first_cell_id() + i` in its runs'
    /// seeds: a run's stream depends on its family, cell and number only,
    /// whichever families are run with it.
    fn first_cell_id(self) -> u64 {
        self as u64 * 10_000
    }

    fn report(self, scenarios: &[Scenario], results: &[Vec<RunResult>], out: &mut String) {
        match self {
            Family::FirstStep => first_step::report(scenarios, results, out),
            Family::Healthy => healthy::report(scenarios, results, out),
            Family::LateOnset => late_onset::report(scenarios, results, out),
            Family::Spikes => spikes::report(scenarios, results, out),
        }
    }
}

struct FamilyRun {
    family: Family,
    cells: usize,
    runs: usize,
    wall: Duration,
    section: String,
}

// ----- the report ------------------------------------------------------------------

/// The 1-, 5- and 15-minute load averages, where the system tells them: the
/// wall times mean little on a busy machine.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(" "))
}

fn run_section(args: &Args, done: &[FamilyRun], load: &[Option<String>; 2]) -> String {
    let analysis = defaults::analysis();
    let triggers = defaults::triggers();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut s = String::new();
    out!(s, "## Run");
    out!(s);
    out!(
        s,
        "Seed {}, {build} build, {cpus} CPU(s). Reproduce these tables with",
        args.seed
    );
    out!(s);
    out!(s, "```sh");
    out!(s, "{}", args.command());
    out!(s, "```");
    out!(s);
    out!(
        s,
        "Each run's stream depends only on the seed, its family, its cell and its number: \
         any subset of families (`--only`) gives the same tables for those families. Only \
         the wall times differ between runs."
    );
    out!(s);
    out!(s, "| family | cells | runs per cell | runs | wall time |");
    out!(s, "|:--|--:|--:|--:|--:|");
    let mut total = Duration::ZERO;
    for run in done {
        total += run.wall;
        out!(
            s,
            "| {} | {} | {} | {} | {:.1} s |",
            run.family.name(),
            run.cells,
            run.runs,
            run.cells * run.runs,
            run.wall.as_secs_f64()
        );
    }
    out!(
        s,
        "| all | {} | | {} | {:.1} s |",
        done.iter().map(|r| r.cells).sum::<usize>(),
        done.iter().map(|r| r.cells * r.runs).sum::<usize>(),
        total.as_secs_f64()
    );
    if let [Some(before), Some(after)] = load {
        out!(s);
        out!(
            s,
            "Load average (1, 5, 15 min) before the runs: {before}; after them: {after}."
        );
    }
    out!(s);
    out!(
        s,
        "Policies, judging the same simulated streams in every run. **helmsman**: the engine's \
         release state machine with the default analysis (a reading every {} s, at least {} \
         requests, {} % confidence, tolerance {}) and triggers (error rate +{} points after {} \
         s, p95 x{} after {} s, new error kind > {} % after {} s). **threshold-only**: a check \
         every {CHECK_EVERY_S} s over the last {CHECK_EVERY_S} s fails when the new error rate \
         is more than {CHECK_MAX_ERROR_POINTS} points over the baseline's or the new p95 more \
         than x{CHECK_MAX_P95_RATIO} the baseline's. **Flagger built-ins**: the same cadence; a \
         check fails when the new version's success rate is under {FLAGGER_MIN_SUCCESS_PCT} % \
         or its p99 over {FLAGGER_MAX_P99_MS} ms. Both comparison policies roll back at the \
         {FAILED_CHECKS_TO_ROLL_BACK}th failed check; a window without requests on the new \
         version does not fail.",
        analysis.interval.as_secs(),
        analysis.min_requests,
        analysis.confidence * 100.0,
        analysis.tolerance,
        triggers.error_rate.threshold,
        triggers.error_rate.after.as_secs(),
        triggers.p95_latency.threshold,
        triggers.p95_latency.after.as_secs(),
        triggers.new_error_kind.threshold,
        triggers.new_error_kind.after.as_secs(),
    );
    s
}
