//! The state machine with plain values and virtual time: a tiny in-memory
//! "world" answers the machine's effects the way a backend and a metrics
//! provider would, so whole releases run in microseconds.

use std::collections::VecDeque;

use chrono::TimeZone;
use proptest::prelude::{
    Just, ProptestConfig, Strategy as PropStrategy, any, prop_assert, prop_assert_eq, prop_oneof,
    proptest,
};

use super::*;
use crate::config::{Step, Strategy, defaults};
use crate::engine::types::TriggerKind;
use crate::observed::Instance;
use crate::strategy::{BlueGreen, Canary, FeatureFlag, Rolling};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn service(strategy: Strategy) -> config::Service {
    config::Service {
        name: "checkout".into(),
        backend: config::Backend::Local(config::LocalBackend {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: "127.0.0.1:0".parse().unwrap(),
            stable: "v1".into(),
            versions: Default::default(),
            error_kind_header: None,
            variant_header: None,
            admin_token: None,
            limits: Default::default(),
        }),
        strategy,
        analysis: defaults::analysis(),
        triggers: defaults::triggers(),
        bands: defaults::bands(),
        health: defaults::health(),
        metrics: config::MetricsSource::Local,
        migrations: None,
        hooks: Vec::new(),
        workdir: ".".into(),
    }
}

fn target() -> Target {
    Target {
        env: "prod".into(),
        service: "checkout".into(),
    }
}

fn alice() -> Actor {
    Actor::Operator {
        user: "alice".into(),
        origin: None,
    }
}

fn cmd(kind: CommandKind) -> Command {
    Command {
        target: target(),
        kind,
        actor: alice(),
    }
}

fn spec(strategy: Strategy) -> ReleaseSpec {
    ReleaseSpec {
        target: target(),
        release_id: "r-1".into(),
        stable_version: "v1".into(),
        new_version: "v2".into(),
        service: service(strategy),
        started_by: alice(),
    }
}

fn canary(steps: Vec<Step>) -> Strategy {
    Strategy::Canary(Canary { steps })
}

fn blue_green(manual_switch: bool) -> Strategy {
    Strategy::BlueGreen(BlueGreen {
        smoke_path: "/".into(),
        preview_for: secs(30),
        manual_switch,
        scale_down_delay: secs(60),
    })
}

fn rolling() -> Strategy {
    Strategy::Rolling(Rolling {
        max_surge: 1,
        max_unavailable: 0,
        batch_pause: secs(10),
    })
}

/// An in-memory backend plus a metrics source.
#[derive(Debug, Clone)]
struct World {
    stable_n: usize,
    new_m: usize,
    weight: u8,
    flag: u8,
    rotation: (usize, usize),
    staged: bool,
    /// Like a Kubernetes Deployment: prepare stages nothing, each batch
    /// creates its new instances, and the state says how many will come.
    creates_while_rolling: bool,
    /// A version someone else put on the new side.
    foreign_new: Option<String>,
    unhealthy_new: usize,
    /// The next this many writes fail.
    fail_writes: u32,
    /// The next this many writes fail as changes that cannot complete.
    hopeless_writes: u32,
    /// The next this many traffic reads claim 25 % still on the new version.
    disagree_reads: u32,
    metrics_down: bool,
    new_rps: u64,
    new_err_pct: f64,
    new_kind: &'static str,
    new_latency_ms: f64,
    base_latency_ms: f64,
    reading: Reading,
    last_read: Option<DateTime<Utc>>,
    writes: Vec<TrafficWrite>,
    /// The jobs run, each with the weight the new version had then.
    jobs: Vec<(crate::engine::plan::Job, u8)>,
    /// The next this many job runs fail.
    fail_jobs: u32,
}

impl World {
    fn new() -> World {
        World {
            stable_n: 4,
            new_m: 4,
            weight: 0,
            flag: 0,
            rotation: (4, 0),
            staged: false,
            creates_while_rolling: false,
            foreign_new: None,
            unhealthy_new: 0,
            fail_writes: 0,
            hopeless_writes: 0,
            disagree_reads: 0,
            metrics_down: false,
            new_rps: 10,
            new_err_pct: 0.0,
            new_kind: "http_500",
            new_latency_ms: 20.0,
            base_latency_ms: 20.0,
            reading: Reading::default(),
            last_read: None,
            writes: Vec::new(),
            jobs: Vec::new(),
            fail_jobs: 0,
        }
    }

    fn state(&mut self) -> TrafficState {
        let new_count = match (self.creates_while_rolling, self.staged) {
            (true, _) => self.rotation.1,
            (false, true) => self.new_m,
            (false, false) => 0,
        };
        let mut weight = self.weight;
        if self.disagree_reads > 0 {
            self.disagree_reads -= 1;
            weight = 25;
        }
        TrafficState {
            stable_version: "v1".into(),
            new_version: self
                .foreign_new
                .clone()
                .or_else(|| self.staged.then(|| "v2".into())),
            new_weight: weight,
            stable: (0..self.stable_n)
                .map(|i| Instance {
                    name: format!("s{i}"),
                    in_rotation: i < self.rotation.0,
                    healthy: true,
                })
                .collect(),
            new: (0..new_count)
                .map(|i| Instance {
                    name: format!("n{i}"),
                    in_rotation: i < self.rotation.1 || weight > 0,
                    healthy: i >= self.unhealthy_new,
                })
                .collect(),
            flag_percent: Some(self.flag),
            planned_new: self.creates_while_rolling.then_some(self.new_m),
        }
    }

    fn job(&mut self, job: crate::engine::plan::Job, now: DateTime<Utc>) -> crate::jobs::JobRun {
        self.jobs.push((job, self.weight));
        let passed = self.fail_jobs == 0;
        self.fail_jobs = self.fail_jobs.saturating_sub(1);
        crate::jobs::JobRun {
            name: match job {
                crate::engine::plan::Job::Migrate => "migrate".into(),
                crate::engine::plan::Job::Hooks(point) => format!("{point} hook check"),
            },
            passed,
            summary: if passed { "exit 0" } else { "exit 1: no" }.into(),
            output: String::new(),
            started_at: now,
            took: Duration::ZERO,
        }
    }

    fn write(&mut self, write: &TrafficWrite) -> Result<(), WriteError> {
        self.writes.push(write.clone());
        if self.fail_writes > 0 {
            self.fail_writes -= 1;
            return Err(ProviderError::Rejected {
                provider: "test backend".into(),
                detail: "injected failure".into(),
            }
            .into());
        }
        if self.hopeless_writes > 0 {
            self.hopeless_writes -= 1;
            return Err(ProviderError::Failed {
                provider: "test backend".into(),
                detail: "progress deadline exceeded".into(),
            }
            .into());
        }
        match write {
            TrafficWrite::Prepare => self.staged = true,
            TrafficWrite::SetWeight(w) => self.weight = *w,
            TrafficWrite::SetFlag(p) => self.flag = *p,
            TrafficWrite::Switch { to_new } => self.weight = if *to_new { 100 } else { 0 },
            TrafficWrite::SetInstances { stable, new } => {
                self.rotation = (*stable, *new);
                let total = stable + new;
                self.weight = (new * 100).checked_div(total).unwrap_or(0) as u8;
            }
            TrafficWrite::Discard => {
                self.staged = false;
                self.weight = 0;
                self.flag = 0;
                self.rotation = (self.stable_n, 0);
            }
            TrafficWrite::Finish => {
                self.weight = 0;
                self.rotation = (self.new_m, 0);
                self.staged = false;
            }
        }
        Ok(())
    }

    fn metrics(&mut self, now: DateTime<Utc>) -> Result<Reading, ProviderError> {
        if self.metrics_down {
            return Err(ProviderError::Unreachable {
                provider: "test metrics".into(),
                detail: "connection refused".into(),
            });
        }
        let dt = self
            .last_read
            .map(|at| (now - at).num_seconds().max(0) as u64)
            .unwrap_or(0);
        self.last_read = Some(now);
        let new_gets_traffic = self.weight > 0 || self.flag > 0 || self.rotation.1 > 0;
        let new_reqs = if new_gets_traffic {
            self.new_rps * dt
        } else {
            0
        };
        let errors = (new_reqs as f64 * self.new_err_pct / 100.0).round() as u64;
        let r = &mut self.reading;
        r.new.requests += new_reqs;
        r.new.errors += errors;
        if errors > 0 {
            *r.new
                .errors_by_kind
                .entry(self.new_kind.to_string())
                .or_default() += errors;
        }
        for _ in 0..new_reqs {
            r.new.latency.record_ms(self.new_latency_ms);
        }
        r.baseline.requests += 10 * dt;
        for _ in 0..10 * dt {
            r.baseline.latency.record_ms(self.base_latency_ms);
        }
        // Like the data plane: no new side, no new counters — until it is
        // staged, when whatever it counted before shows up again.
        let mut reading = self.reading.clone();
        if !self.staged {
            reading.new = Default::default();
        }
        Ok(reading)
    }
}

/// The machine, the world, virtual time, and everything emitted.
#[derive(Clone)]
struct Harness {
    r: Release,
    world: World,
    now: DateTime<Utc>,
    pending: VecDeque<Effect>,
    events: Vec<Event>,
    effects: Vec<Effect>,
}

impl Harness {
    fn new(strategy: Strategy) -> Harness {
        Harness::with_spec(spec(strategy))
    }

    fn with_spec(spec: ReleaseSpec) -> Harness {
        Harness {
            r: Release::new(spec, t0()),
            world: World::new(),
            now: t0(),
            pending: VecDeque::new(),
            events: Vec::new(),
            effects: Vec::new(),
        }
    }

    fn start(mut self) -> Harness {
        self.feed(Input::Start);
        self
    }

    fn take(&mut self, effects: Vec<Effect>) {
        for e in effects {
            if let Effect::Emit(ev) = &e {
                self.events.push(ev.clone());
            } else {
                self.effects.push(e.clone());
                self.pending.push_back(e);
            }
        }
    }

    fn feed(&mut self, input: Input) {
        let effects = self.r.handle(input, self.now);
        self.take(effects);
        self.settle();
    }

    fn command(&mut self, kind: CommandKind) -> CommandReply {
        let (reply, effects) = self.r.command(cmd(kind), self.now);
        self.take(effects);
        self.settle();
        reply
    }

    /// Answers every pending effect, as a driver would.
    fn settle(&mut self) {
        let mut guard = 0;
        while let Some(effect) = self.pending.pop_front() {
            guard += 1;
            assert!(guard < 10_000, "effects never settle");
            let input = match &effect {
                Effect::Write(w) => Input::Applied(self.world.write(w)),
                Effect::ReadTraffic => Input::Traffic(Ok(self.world.state())),
                Effect::ReadMetrics => Input::Metrics(self.world.metrics(self.now)),
                Effect::RunSmokeChecks => Input::SmokeChecks(vec![CheckResult {
                    name: "http /".into(),
                    status: CheckStatus::Pass,
                    detail: "HTTP 200 in 3 ms".into(),
                    took: Duration::from_millis(3),
                }]),
                Effect::RunJob { step, job } => Input::JobDone {
                    step: *step,
                    runs: vec![self.world.job(*job, self.now)],
                },
                _ => continue,
            };
            let effects = self.r.handle(input, self.now);
            self.take(effects);
        }
    }

    /// Virtual time passes: ticks at every wake until `d` has passed.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + chrono::Duration::from_std(d).unwrap();
        for _ in 0..100_000 {
            match self.r.next_wake() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.feed(Input::Tick);
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Runs until the release finishes (or `limit` passes).
    fn run_to_end(&mut self, limit: Duration) -> Option<ReleaseResult> {
        let end = self.now + chrono::Duration::from_std(limit).unwrap();
        while self.r.result().is_none() && self.now < end {
            self.run_for(secs(1));
        }
        self.r.result()
    }

    fn phase(&self) -> Phase {
        self.r.snapshot().phase
    }

    fn traffic_writes(&self) -> Vec<TrafficWrite> {
        self.world.writes.clone()
    }

    fn elapsed(&self) -> Duration {
        (self.now - t0()).to_std().unwrap()
    }
}

// ----- strategies through to Succeeded ----------------------------------------

#[test]
fn canary_runs_every_step_to_succeeded() {
    let mut h = Harness::new(canary(Canary::default().steps)).start();
    assert_eq!(h.run_to_end(secs(3600)), Some(ReleaseResult::Succeeded));
    assert_eq!(
        h.traffic_writes(),
        vec![
            TrafficWrite::Prepare,
            TrafficWrite::SetWeight(5),
            TrafficWrite::SetWeight(25),
            TrafficWrite::SetWeight(50),
            TrafficWrite::SetWeight(100),
            TrafficWrite::Finish
        ]
    );
    assert_eq!(h.phase(), Phase::Succeeded);
    assert_eq!(h.r.snapshot().desired_weight, 100);
    // Every dwell ran its full time (60 s + 120 s + 120 s); the evidence
    // for a pass (a few hundred clean requests) came in well within it, so
    // no trigger held a step.
    assert!(h.elapsed() >= secs(300), "{:?}", h.elapsed());
    assert!(h.elapsed() < secs(320), "{:?}", h.elapsed());
    let passed = h
        .events
        .iter()
        .find(|e| e.reason.starts_with("analysis passed"))
        .expect("gate pass event");
    assert!(passed.verdict.is_some());
    let last = h.events.last().unwrap();
    assert_eq!((last.from, last.to), (Phase::Promoting, Phase::Succeeded));
    assert_eq!(last.reason, "v2 is stable now (v1 retired)");
    // Every event names its release and actor.
    assert!(
        h.events
            .iter()
            .all(|e| e.env == "prod" && e.service == "checkout")
    );
    assert_eq!(h.events[0].actor, alice());
}

/// A host that took a canary over resumes it at the step its journal last
/// named: nothing is written before a fresh reading, the weight never goes
/// back, the step's pause starts again, and it runs to the end from there.
#[test]
fn a_resumed_canary_reenters_its_step_after_a_fresh_reading() {
    let steps = vec![
        Step::Weight(10),
        Step::Pause(secs(60)),
        Step::Weight(50),
        Step::Pause(secs(60)),
        Step::Weight(100),
    ];
    let mut h = Harness::new(canary(steps.clone()));
    let pause_after_50 =
        h.r.plan()
            .iter()
            .rposition(|s| *s == PlanStep::Pause(secs(60)))
            .unwrap();
    let fleet = Fleet { stable: 1, new: 1 };
    h.r = Release::resume(spec(canary(steps)), pause_after_50, 50, fleet, t0());
    h.world.staged = true;
    h.world.weight = 50;
    h.world.metrics_down = true;
    let mut h = h.start();
    assert!(h.traffic_writes().is_empty(), "{:?}", h.traffic_writes());
    assert_eq!(h.r.snapshot().desired_weight, 50);
    assert_eq!(h.r.snapshot().step, pause_after_50);

    h.world.metrics_down = false;
    assert_eq!(h.run_to_end(secs(3600)), Some(ReleaseResult::Succeeded));
    assert_eq!(
        h.traffic_writes(),
        vec![TrafficWrite::SetWeight(100), TrafficWrite::Finish]
    );
    // The pause at 50 % ran its full minute again.
    assert!(h.elapsed() >= secs(60), "{:?}", h.elapsed());
}

#[test]
fn canary_ending_below_100_is_promoted_at_the_end() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(30))])).start();
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    assert_eq!(
        h.traffic_writes(),
        vec![
            TrafficWrite::Prepare,
            TrafficWrite::SetWeight(10),
            TrafficWrite::SetWeight(100),
            TrafficWrite::Finish
        ]
    );
}

#[test]
fn manual_gate_waits_for_a_human() {
    let mut h = Harness::new(canary(vec![
        Step::Weight(10),
        Step::ManualGate,
        Step::Weight(100),
    ]))
    .start();
    h.run_for(secs(3600));
    assert_eq!(h.phase(), Phase::WaitingForHuman);
    assert!(h.r.snapshot().reason.contains("waiting for a human"));
    assert_eq!(h.command(CommandKind::Advance), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::Succeeded));
    // The step after the gate is credited to the operator who advanced.
    let entered = h
        .events
        .iter()
        .find(|e| e.reason.contains("set weight 100%"))
        .unwrap();
    assert_eq!(entered.actor, alice());
}

#[test]
fn feature_flag_moves_the_flag_not_the_weight() {
    let strategy = Strategy::FeatureFlag(FeatureFlag {
        flag: "new-checkout".into(),
        steps: vec![
            Step::Weight(1),
            Step::Pause(secs(10)),
            Step::Weight(25),
            Step::Pause(secs(10)),
        ],
    });
    let mut h = Harness::new(strategy).start();
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    assert_eq!(
        h.traffic_writes(),
        vec![
            TrafficWrite::Prepare,
            TrafficWrite::SetFlag(1),
            TrafficWrite::SetFlag(25),
            TrafficWrite::SetFlag(100),
            TrafficWrite::Finish
        ]
    );
}

#[test]
fn blue_green_previews_switches_keeps_old_then_scales_down() {
    let mut h = Harness::new(blue_green(false)).start();
    h.run_for(secs(5));
    assert_eq!(h.phase(), Phase::Analysing);
    assert!(h.effects.contains(&Effect::RunSmokeChecks));
    assert_eq!(h.world.weight, 0, "no user traffic during the preview");
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    assert_eq!(
        h.traffic_writes(),
        vec![
            TrafficWrite::Prepare,
            TrafficWrite::Switch { to_new: true },
            TrafficWrite::SetInstances { stable: 0, new: 4 },
            TrafficWrite::Finish
        ]
    );
    // Preview 30 s + old version kept 60 s.
    assert!(h.elapsed() >= secs(90));
}

#[test]
fn blue_green_manual_switch_waits_and_a_failed_smoke_check_rolls_back() {
    let mut h = Harness::new(blue_green(true)).start();
    h.run_for(secs(300));
    assert_eq!(h.phase(), Phase::WaitingForHuman);
    assert_eq!(h.world.weight, 0);
    assert_eq!(h.command(CommandKind::Advance), CommandReply::Accepted);
    assert_eq!(h.world.weight, 100);

    let mut h = Harness::new(blue_green(false)).start();
    h.feed(Input::SmokeChecks(vec![CheckResult {
        name: "http /".into(),
        status: CheckStatus::Fail,
        detail: "HTTP 500".into(),
        took: Duration::from_millis(2),
    }]));
    assert_eq!(h.r.result(), Some(ReleaseResult::RolledBack));
    assert!(
        h.r.snapshot()
            .reason
            .contains("smoke check http / failed (HTTP 500)")
    );
    assert!(
        h.traffic_writes()
            .contains(&TrafficWrite::Switch { to_new: false })
    );
}

#[test]
fn rolling_replaces_instances_in_health_gated_batches() {
    let mut h = Harness::new(rolling()).start();
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    let batches: Vec<_> = h
        .traffic_writes()
        .into_iter()
        .filter_map(|e| match e {
            TrafficWrite::SetInstances { stable, new } => Some((stable, new)),
            _ => None,
        })
        .collect();
    assert_eq!(batches, crate::strategy::BATCHES_OF_FOUR_SURGE_ONE);
    // Eight batches, each healthy for 10 s.
    assert!(h.elapsed() >= secs(80));
    assert_eq!(h.r.snapshot().steps.len(), 1 + 16 + 1);
}

#[test]
fn a_backend_that_creates_instances_while_rolling_plans_from_its_planned_count() {
    let mut h = Harness::new(rolling());
    h.world.creates_while_rolling = true;
    let mut h = h.start();
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    let batches = h
        .traffic_writes()
        .into_iter()
        .filter(|e| matches!(e, TrafficWrite::SetInstances { .. }))
        .count();
    assert_eq!(batches, 8);
}

#[test]
fn rolling_rollback_puts_every_stable_instance_back() {
    let mut h = Harness::new(rolling()).start();
    h.run_for(secs(25));
    assert_eq!(h.command(CommandKind::Rollback), CommandReply::Accepted);
    assert_eq!(h.r.result(), Some(ReleaseResult::RolledBack));
    let writes = h.traffic_writes();
    let n = writes.len();
    assert_eq!(
        &writes[n - 2..],
        &[
            TrafficWrite::SetInstances { stable: 4, new: 0 },
            TrafficWrite::Discard
        ]
    );
}

// ----- triggers ------------------------------------------------------------------

#[test]
fn error_rate_rolls_back_with_its_numbers() {
    let mut h = Harness::new(canary(Canary::default().steps));
    h.world.new_err_pct = 8.0;
    let mut h = h.start();
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::RolledBack));
    // 8 % against a clean baseline of only 10 requests/s: the detector
    // waits for the baseline's own bound to tighten before it is sure.
    assert!(h.elapsed() <= secs(100), "{:?}", h.elapsed());
    let rolled = h
        .events
        .iter()
        .find(|e| e.to == Phase::RollingBack)
        .unwrap();
    let v = rolled.verdict.as_ref().unwrap();
    assert_eq!(v.trigger, TriggerKind::ErrorRate);
    assert!(
        rolled
            .reason
            .starts_with("error rate 8.0 % vs baseline 0.0 % over the last ")
            && rolled
                .reason
                .ends_with("(limit +5.0, tolerated +2.5): rolling back"),
        "{}",
        rolled.reason
    );
    let writes = h.traffic_writes();
    assert_eq!(
        &writes[writes.len() - 2..],
        &[TrafficWrite::SetWeight(0), TrafficWrite::Discard]
    );
    let last = h.events.last().unwrap();
    assert_eq!(last.to, Phase::RolledBack);
    assert!(
        last.reason.contains("rolled back; verified: v1 at 100 %"),
        "{}",
        last.reason
    );
    assert_eq!(last.actor, Actor::Engine);
}

#[test]
fn an_earlier_release_of_the_same_version_is_not_evidence() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(60))]));
    // A previous, rolled-back release of v2 left these on the data plane.
    h.world.reading.new.requests = 100;
    h.world.reading.new.errors = 60;
    h.world
        .reading
        .new
        .errors_by_kind
        .insert("http_500".into(), 60);
    let mut h = h.start();
    assert_eq!(
        h.run_to_end(secs(600)),
        Some(ReleaseResult::Succeeded),
        "{:#?}",
        h.events.iter().map(|e| &e.reason).collect::<Vec<_>>()
    );
}

#[test]
fn finishing_waits_for_a_fresh_reading_taken_after_the_last_step() {
    // Readings every 10 s; the last pause ends at 55 s, five seconds after
    // the last periodic reading. The new version breaks at 52 s.
    let mut h = Harness::new(canary(vec![Step::Weight(100), Step::Pause(secs(55))]));
    h.world.new_rps = 10;
    let mut h = h.start();
    h.run_for(secs(52));
    h.world.new_err_pct = 100.0;
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::RolledBack));
    assert!(
        !h.traffic_writes().contains(&TrafficWrite::Finish),
        "{:?}",
        h.traffic_writes()
    );
}

#[test]
fn a_fault_that_begins_twenty_minutes_in_is_rolled_back_within_readings() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(3600))])).start();
    h.run_for(secs(1200));
    assert_eq!(h.phase(), Phase::Progressing);
    // From now on 10 % of the new version's requests fail. Judged from the
    // first step, that would take minutes to show through twenty clean ones.
    h.world.new_err_pct = 10.0;
    let onset = h.now;
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::RolledBack));
    let rolled = h
        .events
        .iter()
        .find(|e| e.to == Phase::RollingBack)
        .unwrap();
    let after_onset = (rolled.at - onset).num_seconds();
    assert!(
        after_onset <= 40,
        "rolled back {after_onset} s after the onset"
    );
    let v = rolled.verdict.as_ref().unwrap();
    assert_eq!(v.trigger, TriggerKind::ErrorRate);
    // The numbers are the recent window's, not the diluted whole's.
    assert!(v.new_value.unwrap() > 8.0, "{}", rolled.reason);
    assert!(
        rolled.reason.contains("over the last 0:"),
        "{}",
        rolled.reason
    );
}

#[test]
fn p95_rolls_back_only_after_its_two_minute_window() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(3600))]));
    h.world.new_latency_ms = 300.0;
    h.world.base_latency_ms = 100.0;
    let mut h = h.start();
    h.run_for(secs(119));
    assert_eq!(h.phase(), Phase::Progressing);
    let p95 =
        h.r.snapshot()
            .verdicts
            .iter()
            .find(|v| v.trigger == TriggerKind::P95Latency)
            .unwrap()
            .clone();
    assert_eq!(p95.outcome, Outcome::NotEnoughEvidence);
    assert!(
        p95.summary.ends_with("rolls back if it holds for 2:00"),
        "{}",
        p95.summary
    );
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::RolledBack));
    let rolled = h
        .events
        .iter()
        .find(|e| e.to == Phase::RollingBack)
        .unwrap();
    assert_eq!(
        rolled.verdict.as_ref().unwrap().trigger,
        TriggerKind::P95Latency
    );
    // Observation began at t0; the reading at 120 s is the first to judge.
    assert_eq!((rolled.at - t0()).num_seconds(), 120);
}

#[test]
fn unhealthy_instances_roll_back_at_once() {
    let mut h = Harness::new(canary(Canary::default().steps));
    h.world.unhealthy_new = 1;
    let mut h = h.start();
    // The first traffic read after the 5 % step sees 1 of 4 failing.
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::RolledBack));
    assert!(h.elapsed() <= secs(11), "{:?}", h.elapsed());
    let rolled = h
        .events
        .iter()
        .find(|e| e.to == Phase::RollingBack)
        .unwrap();
    assert_eq!(
        rolled.verdict.as_ref().unwrap().trigger,
        TriggerKind::UnhealthyInstances
    );
}

#[test]
fn new_error_kind_rolls_back_after_five_minutes() {
    let mut h = Harness::new(canary(vec![Step::Weight(50), Step::Pause(secs(3600))]));
    h.world.new_err_pct = 2.0;
    h.world.new_kind = "TimeoutException";
    let mut h = h.start();
    h.run_for(secs(299));
    assert_eq!(h.phase(), Phase::Progressing);
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::RolledBack));
    let rolled = h
        .events
        .iter()
        .find(|e| e.to == Phase::RollingBack)
        .unwrap();
    assert_eq!(
        rolled.verdict.as_ref().unwrap().trigger,
        TriggerKind::NewErrorKind
    );
    assert!(
        rolled.reason.contains("`TimeoutException`"),
        "{}",
        rolled.reason
    );
    assert_eq!((rolled.at - t0()).num_seconds(), 300);
}

#[test]
fn thin_evidence_holds_the_analysis_gate_and_says_so() {
    let mut h = Harness::new(canary(vec![
        Step::Weight(5),
        Step::Analysis(secs(60)),
        Step::Weight(100),
    ]));
    h.world.new_rps = 0; // nobody reaches the new version
    let mut h = h.start();
    h.run_for(secs(1800));
    assert_eq!(h.phase(), Phase::Analysing);
    assert!(
        h.r.snapshot().reason.contains("0 of 100 requests"),
        "{}",
        h.r.snapshot().reason
    );
    assert!(!h.traffic_writes().contains(&TrafficWrite::SetWeight(100)));
    // An operator may override the gate…
    assert_eq!(h.command(CommandKind::Advance), CommandReply::Accepted);
    h.run_for(secs(60));
    assert!(h.traffic_writes().contains(&TrafficWrite::SetWeight(100)));
    // …but the engine still will not make it stable on no evidence…
    assert_eq!(h.r.result(), None);
    let reason = h.r.snapshot().reason.clone();
    assert!(
        reason.contains("held until every trigger passes"),
        "{reason}"
    );
    // …until a human promotes it.
    assert_eq!(h.command(CommandKind::Promote), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::Succeeded));
}

#[test]
fn a_pause_ends_only_when_every_trigger_passes() {
    let mut h = Harness::new(canary(vec![
        Step::Weight(5),
        Step::Pause(secs(10)),
        Step::Weight(100),
    ]));
    h.world.new_rps = 2; // a trickle: evidence comes slowly
    let mut h = h.start();
    h.run_for(secs(30));
    // The pause is over, but 60 requests are not evidence.
    assert_eq!(h.world.weight, 5);
    let reason = h.r.snapshot().reason.clone();
    assert!(
        reason.starts_with("step 3 of 5 held until every trigger passes: ")
            && reason.contains("not enough evidence yet (60 of 100 requests)"),
        "{reason}"
    );
    let holds: Vec<_> = h
        .events
        .iter()
        .filter(|e| e.reason.contains("held until every trigger passes"))
        .map(|e| e.verdict.as_ref().map(|v| v.trigger))
        .collect();
    assert!(!holds.is_empty());
    assert!(
        holds.windows(2).all(|w| w[0] != w[1]),
        "one event per change of what holds the step: {holds:?}"
    );
    // Clean requests keep coming; the step moves on by itself once the
    // bounds clear the limits (the error rate's needs ~165 requests).
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    assert!(h.elapsed() >= secs(80), "{:?}", h.elapsed());
    let moved = h
        .traffic_writes()
        .iter()
        .position(|e| *e == TrafficWrite::SetWeight(100));
    assert!(moved.is_some());
}

// ----- provider trouble ------------------------------------------------------------

#[test]
fn a_metrics_outage_holds_the_step_and_resumes_by_itself() {
    let mut spec = spec(canary(vec![Step::Weight(10), Step::Pause(secs(60))]));
    spec.service.analysis.max_failed_reads = 1000; // this outage stays a hold
    let mut h = Harness::with_spec(spec).start();
    h.run_for(secs(20));
    h.world.metrics_down = true;
    h.run_for(secs(10)); // next periodic read fails
    assert_eq!(h.phase(), Phase::Paused);
    let reason = h.r.snapshot().reason.clone();
    assert!(reason.contains("test metrics is unreachable"), "{reason}");
    assert!(
        h.r.snapshot()
            .provider_error
            .as_deref()
            .unwrap()
            .starts_with("metrics:")
    );
    // A long outage never lets the pause run out.
    h.run_for(secs(600));
    assert_eq!(h.phase(), Phase::Paused);
    assert!(!h.traffic_writes().contains(&TrafficWrite::SetWeight(100)));
    // Readings come back: it continues by itself, with the pause's
    // remaining time still to run (20–30 s counted before the outage).
    h.world.metrics_down = false;
    h.run_for(secs(10));
    assert_eq!(h.phase(), Phase::Progressing);
    assert!(h.r.snapshot().provider_error.is_none());
    h.run_for(secs(20));
    assert!(!h.traffic_writes().contains(&TrafficWrite::SetWeight(100)));
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::Succeeded));
}

#[test]
fn metrics_gone_for_good_roll_back_after_the_limit_of_failed_reads() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(600))])).start();
    h.run_for(secs(20));
    // Four failed reads in a row (one each 10 s interval) only hold…
    h.world.metrics_down = true;
    h.run_for(secs(40));
    assert_eq!(h.phase(), Phase::Paused);
    assert!(
        h.r.snapshot()
            .reason
            .contains("rolls back after 4 more failed reads")
    );
    // …and readings that come back start the count again.
    h.world.metrics_down = false;
    h.run_for(secs(10));
    assert_eq!(h.phase(), Phase::Progressing);
    h.world.metrics_down = true;
    h.run_for(secs(40));
    assert_eq!(h.phase(), Phase::Paused, "a new outage starts a new count");
    // The fifth failed read in a row rolls back, saying why.
    h.run_for(secs(10));
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::RolledBack));
    let rollback = h
        .events
        .iter()
        .find(|e| e.to == Phase::RollingBack)
        .expect("a rollback event");
    assert!(
        rollback
            .reason
            .contains("metrics unreadable 5 times in a row (limit 4): test metrics is unreachable"),
        "{}",
        rollback.reason
    );
    assert_eq!(rollback.actor, Actor::Engine);
    assert_eq!(h.world.weight, 0);
}

#[test]
fn an_operator_pause_outlives_a_metrics_outage() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(60))])).start();
    h.world.metrics_down = true;
    h.run_for(secs(10));
    assert_eq!(h.phase(), Phase::Paused);
    assert_eq!(h.command(CommandKind::Pause), CommandReply::Accepted);
    h.world.metrics_down = false;
    h.run_for(secs(20));
    assert_eq!(h.phase(), Phase::Paused);
    assert!(h.r.snapshot().reason.contains("still paused by alice"));
    h.run_for(secs(600));
    assert_eq!(h.phase(), Phase::Paused);
    assert_eq!(h.command(CommandKind::Resume), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(120)), Some(ReleaseResult::Succeeded));
}

#[test]
fn a_failed_write_is_retried_with_the_reason_visible() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(5))])).start();
    h.run_for(secs(2));
    h.world.fail_writes = 1; // SetWeight(100) fails once
    h.run_for(secs(60));
    assert!(
        h.events.iter().any(|e| e.reason
            == "could not set weight 100%: test backend refused: injected failure — retrying"),
        "{:#?}",
        h.events.iter().map(|e| &e.reason).collect::<Vec<_>>()
    );
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::Succeeded));
    let hundreds = h
        .traffic_writes()
        .iter()
        .filter(|e| **e == TrafficWrite::SetWeight(100))
        .count();
    assert_eq!(hundreds, 2);
}

#[test]
fn rollback_is_verified_and_retried_loudly_until_the_backend_agrees() {
    let mut h = Harness::new(canary(Canary::default().steps)).start();
    h.run_for(secs(5));
    h.world.disagree_reads = 2;
    assert_eq!(h.command(CommandKind::Rollback), CommandReply::Accepted);
    assert_eq!(h.phase(), Phase::RollingBack);
    assert!(
        h.events
            .iter()
            .any(|e| e.reason == "backend still sends 25 % to v2 after rollback — retrying")
    );
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::RolledBack));
    let reverts = h
        .traffic_writes()
        .iter()
        .filter(|e| **e == TrafficWrite::SetWeight(0))
        .count();
    assert_eq!(reverts, 3, "the first rollback and two retries");
    assert_eq!(h.world.weight, 0);
    assert_eq!(h.r.snapshot().desired_weight, 0);
}

#[test]
fn a_failing_rollback_write_is_retried_until_it_lands() {
    let mut h = Harness::new(canary(Canary::default().steps)).start();
    h.run_for(secs(5));
    h.world.fail_writes = 3;
    assert_eq!(h.command(CommandKind::Rollback), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::RolledBack));
    assert_eq!(h.world.weight, 0);
    assert!(!h.world.staged);
}

#[test]
fn an_operator_rollback_moves_traffic_in_the_same_call() {
    let mut h = Harness::new(canary(Canary::default().steps)).start();
    h.run_for(secs(70));
    let (reply, effects) = h.r.command(cmd(CommandKind::Rollback), h.now);
    assert_eq!(reply, CommandReply::Accepted);
    assert_eq!(effects[0], Effect::Write(TrafficWrite::SetWeight(0)));
    let ev = effects.iter().find_map(|e| match e {
        Effect::Emit(ev) => Some(ev.clone()),
        _ => None,
    });
    let ev = ev.unwrap();
    assert_eq!(ev.to, Phase::RollingBack);
    assert_eq!(ev.actor, alice());
    assert_eq!(ev.weight, 0);
}

#[test]
fn a_prepare_that_keeps_failing_aborts_and_retry_starts_again() {
    let mut h = Harness::new(canary(Canary::default().steps));
    h.world.fail_writes = 3;
    let mut h = h.start();
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::Aborted));
    assert!(
        h.r.snapshot()
            .reason
            .contains("could not prepare v2 after 3 attempts")
    );
    assert_eq!(h.command(CommandKind::Retry), CommandReply::Accepted);
    assert_eq!(h.r.result(), None);
    assert_eq!(h.run_to_end(secs(3600)), Some(ReleaseResult::Succeeded));
}

#[test]
fn a_change_that_cannot_complete_rolls_back_instead_of_retrying() {
    let mut h = Harness::new(rolling()).start();
    h.run_for(secs(25));
    let before = h.world.writes.len();
    h.world.hopeless_writes = 1;
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::RolledBack));
    let failed = h.world.writes[before].clone();
    assert!(matches!(failed, TrafficWrite::SetInstances { new, .. } if new > 0));
    assert_eq!(
        h.world.writes[before + 1],
        TrafficWrite::SetInstances { stable: 4, new: 0 },
        "no retry of the hopeless batch"
    );
    let reason = &h.r.snapshot().reason;
    assert!(reason.contains("progress deadline exceeded"), "{reason}");
}

#[test]
fn a_prepare_that_cannot_complete_aborts_at_once() {
    let mut h = Harness::new(canary(Canary::default().steps));
    h.world.hopeless_writes = 1;
    let mut h = h.start();
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::Aborted));
    assert_eq!(
        h.world.writes,
        vec![TrafficWrite::Prepare, TrafficWrite::Discard]
    );
    assert!(
        h.r.snapshot()
            .reason
            .contains("could not prepare v2: test backend failed"),
        "{}",
        h.r.snapshot().reason
    );
}

#[test]
fn a_version_changed_by_someone_else_holds_until_it_is_back() {
    let mut h = Harness::new(canary(vec![
        Step::Weight(10),
        Step::Pause(secs(30)),
        Step::Weight(50),
    ]))
    .start();
    h.run_for(secs(5));
    h.world.foreign_new = Some("v3".into());
    h.run_for(secs(120));
    assert_eq!(h.r.snapshot().phase, Phase::Paused);
    assert_eq!(h.world.weight, 10, "held at the step it was on");
    assert!(
        h.r.snapshot()
            .reason
            .contains("drift: the backend's new side runs v3, not v2"),
        "{}",
        h.r.snapshot().reason
    );
    h.world.foreign_new = None;
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
}

#[test]
fn drift_never_holds_a_rollback() {
    let mut h = Harness::new(canary(Canary::default().steps)).start();
    h.run_for(secs(5));
    h.world.foreign_new = Some("v3".into());
    h.run_for(secs(30));
    assert_eq!(h.r.snapshot().phase, Phase::Paused);
    assert_eq!(h.command(CommandKind::Rollback), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(60)), Some(ReleaseResult::RolledBack));
    assert_eq!(h.world.weight, 0);
}

#[test]
fn retry_after_a_rollback_starts_from_the_first_step() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(30))])).start();
    h.run_for(secs(5));
    assert_eq!(h.command(CommandKind::Rollback), CommandReply::Accepted);
    assert_eq!(h.r.result(), Some(ReleaseResult::RolledBack));
    h.world.writes.clear();
    assert_eq!(h.command(CommandKind::Retry), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    assert_eq!(
        h.traffic_writes(),
        vec![
            TrafficWrite::Prepare,
            TrafficWrite::SetWeight(10),
            TrafficWrite::SetWeight(100),
            TrafficWrite::Finish
        ]
    );
}

#[test]
fn promote_goes_straight_to_100() {
    let mut h = Harness::new(canary(Canary::default().steps)).start();
    h.run_for(secs(5));
    assert_eq!(h.command(CommandKind::Promote), CommandReply::Accepted);
    assert_eq!(h.r.result(), Some(ReleaseResult::Succeeded));
    assert_eq!(
        h.traffic_writes(),
        vec![
            TrafficWrite::Prepare,
            TrafficWrite::SetWeight(5),
            TrafficWrite::SetWeight(100),
            TrafficWrite::Finish
        ]
    );
    let mut h = Harness::new(blue_green(true)).start();
    h.run_for(secs(5));
    assert_eq!(h.command(CommandKind::Promote), CommandReply::Accepted);
    assert_eq!(h.r.result(), Some(ReleaseResult::Succeeded));
    assert_eq!(
        h.traffic_writes(),
        vec![
            TrafficWrite::Prepare,
            TrafficWrite::Switch { to_new: true },
            TrafficWrite::SetInstances { stable: 0, new: 4 },
            TrafficWrite::Finish
        ]
    );
}

// ----- every command in every phase ---------------------------------------------------

/// A release brought into a named state.
fn in_state(name: &str) -> Harness {
    let steps = vec![
        Step::Weight(10),
        Step::Pause(secs(60)),
        Step::ManualGate,
        Step::Analysis(secs(60)),
        Step::Weight(100),
    ];
    let h = Harness::new(canary(steps));
    match name {
        "not started" => h,
        "preparing" => {
            // Start without answering: the prepare is still in flight.
            let mut h = h;
            let effects = h.r.handle(Input::Start, h.now);
            assert!(effects.contains(&Effect::Write(TrafficWrite::Prepare)));
            h
        }
        "pausing" => {
            let mut h = h.start();
            h.run_for(secs(5));
            assert_eq!(h.phase(), Phase::Progressing);
            h
        }
        "writing" => {
            let mut h = h.start();
            h.run_for(secs(65));
            h.world.fail_writes = 0;
            // Enter the promotion step by hand without answering its write.
            let mut g = h.clone();
            assert_eq!(g.phase(), Phase::WaitingForHuman);
            let (_, effects) = g.r.command(cmd(CommandKind::Promote), g.now);
            assert!(effects.contains(&Effect::Write(TrafficWrite::SetWeight(100))));
            g.pending.clear();
            g
        }
        "at manual gate" => {
            let mut h = h.start();
            h.run_for(secs(65));
            assert_eq!(h.phase(), Phase::WaitingForHuman);
            h
        }
        "analysing" => {
            let mut h = in_state("at manual gate");
            assert_eq!(h.command(CommandKind::Advance), CommandReply::Accepted);
            assert_eq!(h.phase(), Phase::Analysing);
            h
        }
        "paused by alice" => {
            let mut h = in_state("pausing");
            assert_eq!(h.command(CommandKind::Pause), CommandReply::Accepted);
            h
        }
        "held" => {
            let mut h = in_state("pausing");
            h.world.metrics_down = true;
            h.run_for(secs(10));
            assert_eq!(h.phase(), Phase::Paused);
            h
        }
        "rolling back" => {
            let mut h = in_state("pausing");
            let (_, effects) = h.r.command(cmd(CommandKind::Rollback), h.now);
            assert!(effects.contains(&Effect::Write(TrafficWrite::SetWeight(0))));
            h
        }
        "rolled back" => {
            let mut h = in_state("pausing");
            h.command(CommandKind::Rollback);
            assert_eq!(h.phase(), Phase::RolledBack);
            h
        }
        "succeeded" => {
            let mut h = in_state("at manual gate");
            h.command(CommandKind::Promote);
            assert_eq!(h.phase(), Phase::Succeeded);
            h
        }
        "aborted" => {
            let mut h = h;
            h.world.fail_writes = 3;
            let mut h = h.start();
            h.run_to_end(secs(60));
            assert_eq!(h.phase(), Phase::Aborted);
            h
        }
        other => panic!("no state {other}"),
    }
}

#[test]
fn every_command_in_every_state() {
    use CommandKind::*;
    // (state, command, accepted?, words the refusal must contain)
    let table: &[(&str, CommandKind, bool, &str)] = &[
        ("not started", Advance, false, "has not started yet"),
        ("not started", Pause, false, "has not started yet"),
        ("not started", Resume, false, "has not started yet"),
        ("not started", Promote, false, "has not started yet"),
        ("not started", Rollback, false, "has not started yet"),
        ("not started", Retry, false, "has not started yet"),
        ("preparing", Advance, false, "still being prepared"),
        ("preparing", Pause, true, ""),
        ("preparing", Resume, false, "not paused"),
        ("preparing", Promote, false, "still being prepared"),
        ("preparing", Rollback, true, ""),
        ("preparing", Retry, false, "still running"),
        ("pausing", Advance, true, ""),
        ("pausing", Pause, true, ""),
        ("pausing", Resume, false, "not paused"),
        ("pausing", Promote, true, ""),
        ("pausing", Rollback, true, ""),
        ("pausing", Retry, false, "roll it back first"),
        ("writing", Advance, false, "is being applied"),
        ("writing", Pause, true, ""),
        ("writing", Resume, false, "not paused"),
        ("writing", Promote, false, "already going to 100 %"),
        ("writing", Rollback, true, ""),
        ("writing", Retry, false, "still running"),
        ("at manual gate", Advance, true, ""),
        ("at manual gate", Pause, true, ""),
        ("at manual gate", Resume, false, "not paused"),
        ("at manual gate", Promote, true, ""),
        ("at manual gate", Rollback, true, ""),
        ("at manual gate", Retry, false, "still running"),
        ("analysing", Advance, true, ""),
        ("analysing", Pause, true, ""),
        ("analysing", Resume, false, "not paused"),
        ("analysing", Promote, true, ""),
        ("analysing", Rollback, true, ""),
        ("analysing", Retry, false, "still running"),
        (
            "paused by alice",
            Advance,
            false,
            "paused by alice — resume it first",
        ),
        ("paused by alice", Pause, false, "already paused by alice"),
        ("paused by alice", Resume, true, ""),
        (
            "paused by alice",
            Promote,
            false,
            "paused by alice — resume it first",
        ),
        ("paused by alice", Rollback, true, ""),
        ("paused by alice", Retry, false, "still running"),
        ("held", Advance, false, "metrics unavailable"),
        ("held", Pause, true, ""),
        (
            "held",
            Resume,
            false,
            "continues by itself when readings return",
        ),
        ("held", Promote, false, "metrics unavailable"),
        ("held", Rollback, true, ""),
        ("held", Retry, false, "still running"),
        ("rolling back", Advance, false, "is rolling back"),
        ("rolling back", Pause, false, "is rolling back"),
        ("rolling back", Resume, false, "is rolling back"),
        ("rolling back", Promote, false, "is rolling back"),
        ("rolling back", Rollback, false, "already rolling back"),
        ("rolling back", Retry, false, "rollback is still running"),
        ("rolled back", Advance, false, "was rolled back"),
        ("rolled back", Pause, false, "was rolled back"),
        ("rolled back", Resume, false, "was rolled back"),
        ("rolled back", Promote, false, "was rolled back"),
        ("rolled back", Rollback, false, "nothing to roll back"),
        ("rolled back", Retry, true, ""),
        ("succeeded", Advance, false, "already succeeded"),
        ("succeeded", Pause, false, "already succeeded"),
        ("succeeded", Resume, false, "already succeeded"),
        ("succeeded", Promote, false, "already succeeded"),
        ("succeeded", Rollback, false, "release v1 again"),
        ("succeeded", Retry, false, "already succeeded"),
        ("aborted", Advance, false, "was aborted"),
        ("aborted", Pause, false, "was aborted"),
        ("aborted", Resume, false, "was aborted"),
        ("aborted", Promote, false, "was aborted"),
        ("aborted", Rollback, false, "nothing to roll back"),
        ("aborted", Retry, true, ""),
    ];
    for (state, kind, accepted, words) in table {
        let mut h = in_state(state);
        let before = h.events.len();
        let (reply, effects) = h.r.command(cmd(*kind), h.now);
        let emitted = effects.iter().any(|e| matches!(e, Effect::Emit(_)));
        assert!(emitted, "{state} / {kind}: no event (before {before})");
        match reply {
            CommandReply::Accepted => assert!(accepted, "{state} / {kind}: accepted"),
            CommandReply::Refused { reason } => {
                assert!(!accepted, "{state} / {kind}: refused: {reason}");
                assert!(reason.contains(words), "{state} / {kind}: {reason}");
                assert!(reason.starts_with(&format!("alice asked to {kind}: refused — ")));
            }
        }
    }
}

#[test]
fn a_command_for_another_release_is_refused() {
    let mut h = in_state("pausing");
    let mut c = cmd(CommandKind::Rollback);
    c.target.env = "staging".into();
    let (reply, _) = h.r.command(c, h.now);
    let CommandReply::Refused { reason } = reply else {
        panic!("accepted")
    };
    assert!(reason.contains("this release is prod/checkout, not staging/checkout"));
    assert_eq!(h.phase(), Phase::Progressing);
}

#[test]
fn a_pause_stops_the_timer_and_resume_restarts_it() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(60))])).start();
    h.run_for(secs(30));
    assert_eq!(h.command(CommandKind::Pause), CommandReply::Accepted);
    h.run_for(secs(3600));
    assert!(!h.traffic_writes().contains(&TrafficWrite::SetWeight(100)));
    assert_eq!(h.command(CommandKind::Resume), CommandReply::Accepted);
    h.run_for(secs(29));
    assert!(!h.traffic_writes().contains(&TrafficWrite::SetWeight(100)));
    h.run_for(secs(2));
    assert!(h.traffic_writes().contains(&TrafficWrite::SetWeight(100)));
}

#[test]
fn a_timed_step_publishes_what_is_left_of_it() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(60))])).start();
    h.run_for(secs(20));
    let timer = h.r.snapshot().step_timer.expect("a pause is timed");
    assert!(timer.running);
    // Readings come every 10 s: the last one was at 20 s at most.
    let left_now = timer.left_at(h.r.snapshot().updated_at, h.now);
    assert!(left_now <= secs(41) && left_now >= secs(39), "{left_now:?}");
    h.command(CommandKind::Pause);
    let timer = h.r.snapshot().step_timer.unwrap();
    assert!(!timer.running, "paused: the clock stops");
    h.run_for(secs(600));
    assert_eq!(h.r.snapshot().step_timer.unwrap().left, timer.left);
}

#[test]
fn a_tick_that_only_asks_for_a_reading_says_nothing_new_to_watchers() {
    let mut h = Harness::new(canary(vec![Step::Weight(10), Step::Pause(secs(60))])).start();
    h.run_for(secs(20));
    let before = h.r.snapshot().clone();
    h.now = h.r.next_wake().expect("readings are due");
    let effects = h.r.handle(Input::Tick, h.now);
    assert!(
        effects
            .iter()
            .all(|e| matches!(e, Effect::ReadTraffic | Effect::ReadMetrics))
    );
    let ticked = h.r.snapshot().clone();
    assert!(ticked.updated_at > before.updated_at);
    assert!(ticked.only_later_than(&before), "{before:?}\n{ticked:?}");

    // The reading it asked for is news.
    h.take(effects);
    h.settle();
    assert!(!h.r.snapshot().only_later_than(&ticked));
    // So is a command; and a stopped clock that has not moved is not.
    let read = h.r.snapshot().clone();
    h.command(CommandKind::Pause);
    let paused = h.r.snapshot().clone();
    assert!(!paused.only_later_than(&read));
    h.now = h.r.next_wake().expect("readings go on while paused");
    h.r.handle(Input::Tick, h.now);
    assert!(h.r.snapshot().only_later_than(&paused));
}

#[test]
fn a_configured_fleet_gives_the_plan_its_length_from_the_start() {
    for strategy in [blue_green(false), rolling()] {
        let mut spec = spec(strategy);
        if let config::Backend::Local(local) = &mut spec.service.backend {
            for version in ["v1", "v2"] {
                let instances = vec!["127.0.0.1:0".parse().unwrap(); 4];
                local.versions.insert(version.into(), instances);
            }
        }
        let mut h = Harness::with_spec(spec);
        let before = h.r.snapshot().steps.clone();
        h = h.start();
        h.run_for(secs(1));
        assert!(h.r.snapshot().step >= 1, "prepared");
        assert_eq!(h.r.snapshot().steps, before);
    }
}

// ----- properties -------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Action {
    Wait(u64),
    Command(CommandKind),
    MetricsDown(bool),
    ErrorPct(f64),
    FailWrites(u32),
    Disagree(u32),
}

fn action() -> impl PropStrategy<Value = Action> {
    prop_oneof![
        4 => (1u64..90).prop_map(Action::Wait),
        3 => prop_oneof![
            Just(CommandKind::Advance),
            Just(CommandKind::Pause),
            Just(CommandKind::Resume),
            Just(CommandKind::Promote),
            Just(CommandKind::Rollback),
            Just(CommandKind::Retry),
        ]
        .prop_map(Action::Command),
        1 => any::<bool>().prop_map(Action::MetricsDown),
        1 => prop_oneof![Just(0.0), Just(1.0), Just(9.0)].prop_map(Action::ErrorPct),
        1 => (0u32..3).prop_map(Action::FailWrites),
        1 => (0u32..3).prop_map(Action::Disagree),
    ]
}

fn steps_strategy() -> impl PropStrategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![
            (1u8..=100).prop_map(Step::Weight),
            (1u64..120).prop_map(|s| Step::Pause(secs(s))),
            Just(Step::ManualGate),
            (1u64..120).prop_map(|s| Step::Analysis(secs(s))),
        ],
        1..8,
    )
    .prop_map(|steps| {
        // Validation guarantees weights that only go up.
        let mut last = 0;
        steps
            .into_iter()
            .filter(|s| match s {
                Step::Weight(w) if *w > last => {
                    last = *w;
                    true
                }
                Step::Weight(_) => false,
                _ => true,
            })
            .collect()
    })
}

/// Mirrors `Strategy` and `Release::handle` into a property over a run.
fn run_actions(steps: Vec<Step>, actions: &[Action]) -> Harness {
    let mut h = Harness::new(canary(steps));
    h.world.new_rps = 20;
    let mut h = h.start();
    let mut weight = 0u8;
    let check = |h: &Harness, weight: &mut u8| {
        let snap = h.r.snapshot();
        if matches!(
            snap.phase,
            Phase::RollingBack | Phase::RolledBack | Phase::Aborted
        ) {
            *weight = 0; // a rollback (or a retry after it) starts over
        } else if snap.phase == Phase::Pending {
            *weight = snap.desired_weight.min(*weight);
        } else {
            assert!(
                snap.desired_weight >= *weight,
                "desired weight went down from {weight} to {} in {:?}",
                snap.desired_weight,
                snap.phase
            );
            *weight = snap.desired_weight;
        }
    };
    for action in actions {
        match action {
            Action::Wait(s) => {
                for _ in 0..*s {
                    h.run_for(secs(1));
                    check(&h, &mut weight);
                }
            }
            Action::Command(kind) => {
                h.command(*kind);
            }
            Action::MetricsDown(down) => h.world.metrics_down = *down,
            Action::ErrorPct(p) => h.world.new_err_pct = *p,
            Action::FailWrites(n) => h.world.fail_writes = *n,
            Action::Disagree(n) => h.world.disagree_reads = *n,
        }
        check(&h, &mut weight);
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_canary_weight_never_goes_down_until_a_rollback(
        steps in steps_strategy(),
        actions in proptest::collection::vec(action(), 0..25),
    ) {
        let _ = run_actions(steps, &actions);
    }

    #[test]
    fn every_rollback_ends_with_stable_at_100(
        steps in steps_strategy(),
        actions in proptest::collection::vec(action(), 0..25),
    ) {
        let mut h = run_actions(steps, &actions);
        if h.phase() != Phase::Succeeded && h.phase() != Phase::Aborted {
            let mut expected = ReleaseResult::RolledBack;
            if h.phase() != Phase::RolledBack && h.phase() != Phase::RollingBack {
                h.command(CommandKind::Resume);
                // A finish already under way (or completed by the resume) is not undone.
                if h.command(CommandKind::Rollback) != CommandReply::Accepted {
                    let finish = h.r.current() == Some(&PlanStep::Finish);
                    prop_assert!(finish || h.phase() == Phase::Succeeded, "refused in {:?}", h.phase());
                    expected = ReleaseResult::Succeeded;
                }
            }
            // The backend stops disagreeing and failing eventually.
            h.world.fail_writes = 0;
            h.world.disagree_reads = 0;
            prop_assert_eq!(h.run_to_end(secs(600)), Some(expected));
        }
        if h.phase() == Phase::RolledBack {
            prop_assert_eq!(h.r.snapshot().desired_weight, 0);
            prop_assert_eq!(h.world.weight, 0);
            prop_assert!(!h.world.staged);
            let writes = h.traffic_writes();
            let last_revert = writes.iter().rposition(|e| *e == TrafficWrite::SetWeight(0));
            let last_discard = writes.iter().rposition(|e| *e == TrafficWrite::Discard);
            prop_assert!(last_revert.is_some() && last_discard > last_revert);
        }
    }
}

/// What a front end tells from the snapshot of an ended release is what the
/// engine answers, word for word.
#[test]
fn an_ended_release_refuses_from_its_snapshot_as_the_engine_does() {
    use CommandKind::*;
    for state in ["rolled back", "succeeded", "aborted"] {
        for kind in [Advance, Pause, Resume, Promote, Rollback, Retry] {
            let mut h = in_state(state);
            let told = super::refusal_after_end(h.r.snapshot(), kind);
            let (reply, _) = h.r.command(cmd(kind), h.now);
            let expected = match reply {
                CommandReply::Accepted => None,
                CommandReply::Refused { reason } => Some(reason),
            };
            let told = told.map(|r| format!("alice asked to {kind}: refused — {r}"));
            assert_eq!(told, expected, "{state} / {kind}");
        }
    }
}

mod accepted_configs;
mod jobs;
