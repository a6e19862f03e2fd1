//! The real driver in paused tokio time, against in-memory providers
//! defined here: a traffic backend that records every call (and can be told
//! to fail or to disagree on read-back) and a metrics source whose new
//! version behaves as each test scripts it. Two-minute windows run in
//! milliseconds; times are asserted in virtual time, never wall-clock.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use tokio::time::Instant;

use helmsman::cli::ExitCode;
use helmsman::config::{self, Step, Strategy, defaults};
use helmsman::engine::clock::TokioClock;
use helmsman::engine::driver::{Providers, ReleaseHandle, spawn_release};
use helmsman::engine::machine::ReleaseSpec;
use helmsman::engine::{
    Actor, Command, CommandKind, CommandReply, Event, Phase, ReleaseResult, Target, TriggerKind,
};
use helmsman::metrics::Reading;
use helmsman::observed::{Instance, TrafficState};
use helmsman::providers::{Metrics, ProviderError, Rotation, Switch, Traffic, Weights};
use helmsman::strategy::Canary;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// One call the backend received, with its virtual time.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Prepare,
    Weight(u8),
    Switch(bool),
    Instances(usize, usize),
    Finish,
    Discard,
}

#[derive(Default)]
struct BackendState {
    weight: u8,
    staged: bool,
    calls: Vec<(Instant, Call)>,
}

/// An in-memory traffic backend with 4 stable and 4 new instances.
#[derive(Default)]
struct MemTraffic {
    state: Mutex<BackendState>,
    /// The next this many writes fail.
    fail_writes: AtomicU32,
    /// The next this many writes fail as changes that cannot complete.
    hopeless_writes: AtomicU32,
    /// The next this many reads claim 25 % still on the new version.
    disagree_reads: AtomicU32,
    /// Weights above 0 are recorded but never answered (a rollout that
    /// never ends).
    hang_weights: AtomicBool,
}

impl MemTraffic {
    fn record(&self, call: Call) -> Result<(), ProviderError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push((Instant::now(), call.clone()));
        if self
            .fail_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ProviderError::Rejected {
                provider: "memory backend".into(),
                detail: "injected failure".into(),
            });
        }
        if self
            .hopeless_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ProviderError::Failed {
                provider: "memory backend".into(),
                detail: "progress deadline exceeded".into(),
            });
        }
        match call {
            Call::Prepare => s.staged = true,
            Call::Weight(w) => s.weight = w,
            Call::Switch(to_new) => s.weight = if to_new { 100 } else { 0 },
            Call::Instances(stable, new) => {
                s.weight = (new * 100).checked_div(stable + new).unwrap_or(0) as u8
            }
            Call::Finish | Call::Discard => {
                s.weight = 0;
                s.staged = false;
            }
        }
        Ok(())
    }

    fn weight(&self) -> u8 {
        self.state.lock().unwrap().weight
    }

    fn calls(&self) -> Vec<Call> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// When the backend first received `call`.
    fn when(&self, call: &Call) -> Option<Instant> {
        let s = self.state.lock().unwrap();
        s.calls.iter().find(|(_, c)| c == call).map(|(at, _)| *at)
    }
}

#[async_trait]
impl Traffic for MemTraffic {
    fn describe(&self) -> String {
        "memory backend".into()
    }
    /// As long as a Kubernetes backend's, whose writes wait for rollouts.
    fn write_timeout(&self) -> Duration {
        secs(900)
    }
    async fn prepare(&self, _new_version: &str) -> Result<(), ProviderError> {
        self.record(Call::Prepare)
    }
    async fn finish(&self) -> Result<(), ProviderError> {
        self.record(Call::Finish)
    }
    async fn discard(&self) -> Result<(), ProviderError> {
        self.record(Call::Discard)
    }
    fn as_weights(&self) -> Option<&dyn Weights> {
        Some(self)
    }
    fn as_switch(&self) -> Option<&dyn Switch> {
        Some(self)
    }
    fn as_rotation(&self) -> Option<&dyn Rotation> {
        Some(self)
    }
    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let s = self.state.lock().unwrap();
        let mut weight = s.weight;
        if self
            .disagree_reads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            weight = 25;
        }
        let instance = |name: String, in_rotation: bool| Instance {
            name,
            in_rotation,
            healthy: true,
        };
        Ok(TrafficState {
            stable_version: "v1".into(),
            new_version: s.staged.then(|| "v2".into()),
            new_weight: weight,
            stable: (0..4).map(|i| instance(format!("s{i}"), true)).collect(),
            new: if s.staged {
                (0..4)
                    .map(|i| instance(format!("n{i}"), weight > 0))
                    .collect()
            } else {
                Vec::new()
            },
            flag_percent: None,
            planned_new: None,
        })
    }
}

#[async_trait]
impl Weights for MemTraffic {
    async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError> {
        if new_percent > 0 && self.hang_weights.load(Ordering::SeqCst) {
            self.state
                .lock()
                .unwrap()
                .calls
                .push((Instant::now(), Call::Weight(new_percent)));
            return std::future::pending().await;
        }
        self.record(Call::Weight(new_percent))
    }
}

#[async_trait]
impl Switch for MemTraffic {
    async fn switch(&self, to_new: bool) -> Result<(), ProviderError> {
        self.record(Call::Switch(to_new))
    }
}

#[async_trait]
impl Rotation for MemTraffic {
    async fn set_instances(&self, stable: usize, new: usize) -> Result<(), ProviderError> {
        self.record(Call::Instances(stable, new))
    }
}

/// Metrics for the new version and its baseline, accumulated in virtual
/// time from the backend's weight: 20 requests/s reach the new version
/// while it has any traffic, 20/s the baseline.
struct ScriptedMetrics {
    traffic: Arc<MemTraffic>,
    state: Mutex<(Reading, Option<Instant>)>,
    new_error_pct: Mutex<f64>,
    new_latency_ms: Mutex<f64>,
    fail: AtomicBool,
    hang: AtomicBool,
}

impl ScriptedMetrics {
    fn new(traffic: Arc<MemTraffic>) -> Self {
        Self {
            traffic,
            state: Mutex::new((Reading::default(), None)),
            new_error_pct: Mutex::new(0.0),
            new_latency_ms: Mutex::new(20.0),
            fail: AtomicBool::new(false),
            hang: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl Metrics for ScriptedMetrics {
    fn describe(&self) -> String {
        "scripted metrics".into()
    }
    async fn read(&self) -> Result<Reading, ProviderError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(ProviderError::Unreachable {
                provider: "scripted metrics".into(),
                detail: "connection refused".into(),
            });
        }
        let weight = self.traffic.weight();
        let error_pct = *self.new_error_pct.lock().unwrap();
        let latency = *self.new_latency_ms.lock().unwrap();
        let mut guard = self.state.lock().unwrap();
        let (reading, last) = &mut *guard;
        let now = Instant::now();
        let dt = last.map(|at| (now - at).as_secs_f64()).unwrap_or(0.0);
        *last = Some(now);
        let new = if weight > 0 { (20.0 * dt) as u64 } else { 0 };
        let errors = (new as f64 * error_pct / 100.0).round() as u64;
        reading.new.requests += new;
        reading.new.errors += errors;
        if errors > 0 {
            *reading
                .new
                .errors_by_kind
                .entry("http_500".into())
                .or_default() += errors;
        }
        for _ in 0..new {
            reading.new.latency.record_ms(latency);
        }
        let base = (20.0 * dt) as u64;
        reading.baseline.requests += base;
        for _ in 0..base {
            reading.baseline.latency.record_ms(20.0);
        }
        Ok(reading.clone())
    }
}

struct World {
    traffic: Arc<MemTraffic>,
    metrics: Arc<ScriptedMetrics>,
}

impl World {
    fn new() -> World {
        let traffic = Arc::new(MemTraffic::default());
        let metrics = Arc::new(ScriptedMetrics::new(traffic.clone()));
        World { traffic, metrics }
    }

    fn start(&self, steps: Vec<Step>) -> ReleaseHandle {
        let service = config::Service {
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
            strategy: Strategy::Canary(Canary { steps }),
            analysis: defaults::analysis(),
            triggers: defaults::triggers(),
            bands: defaults::bands(),
            health: defaults::health(),
            metrics: config::MetricsSource::Local,
            migrations: None,
            hooks: Vec::new(),
            workdir: ".".into(),
        };
        let spec = ReleaseSpec {
            target: target(),
            release_id: "r-42".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
            service,
            started_by: alice(),
        };
        let providers = Providers {
            traffic: self.traffic.clone(),
            metrics: self.metrics.clone(),
            smoke_checks: Vec::new(),
        };
        let clock = TokioClock::anchored_at(Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap());
        spawn_release(spec, providers, Arc::new(clock))
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
        origin: Some("10.0.0.7".into()),
    }
}

fn command(kind: CommandKind) -> Command {
    Command {
        target: target(),
        kind,
        actor: alice(),
    }
}

/// Waits (in virtual time, bounded) until the snapshot satisfies `f`.
async fn wait_for(handle: &mut ReleaseHandle, f: impl Fn(&helmsman::engine::Snapshot) -> bool) {
    tokio::time::timeout(secs(3600), handle.snapshots.wait_for(|s| f(s)))
        .await
        .expect("condition reached within an hour of virtual time")
        .expect("driver alive");
}

fn drain(events: &mut tokio::sync::mpsc::UnboundedReceiver<Arc<Event>>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.push(Event::clone(&e));
    }
    out
}

fn steps() -> Vec<Step> {
    vec![
        Step::Weight(10),
        Step::Pause(secs(60)),
        Step::Weight(50),
        Step::Analysis(secs(60)),
        Step::Weight(100),
    ]
}

#[tokio::test(start_paused = true)]
async fn a_full_canary_succeeds() {
    let world = World::new();
    let mut handle = world.start(steps());
    let started = Instant::now();
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::Succeeded);
    assert_eq!(ExitCode::from(result).code(), 0);
    assert_eq!(
        world.traffic.calls(),
        vec![
            Call::Prepare,
            Call::Weight(10),
            Call::Weight(50),
            Call::Weight(100),
            Call::Finish
        ]
    );
    // Both dwells run their full minute; clean traffic gives every
    // trigger its pass within them, so nothing waits longer.
    assert!(started.elapsed() >= secs(120), "{:?}", started.elapsed());
    assert!(started.elapsed() < secs(140), "{:?}", started.elapsed());
    let events = drain(&mut handle.events);
    assert_eq!(events.first().unwrap().actor, alice());
    assert_eq!(events.last().unwrap().to, Phase::Succeeded);
    assert!(
        events
            .iter()
            .any(|e| e.reason.starts_with("analysis passed"))
    );
    assert_eq!(handle.snapshots.borrow().phase, Phase::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn an_error_rate_rolls_back_once_the_evidence_is_in() {
    let world = World::new();
    *world.metrics.new_error_pct.lock().unwrap() = 8.0;
    let mut handle = world.start(steps());
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    assert_eq!(ExitCode::from(result).code(), 3);
    // 20 requests/s reach v2, 20/s its clean baseline: 8 % errors are
    // judged against the baseline's upper bound plus the tolerated +2.5
    // points, so the detector is sure once a few hundred baseline requests
    // have tightened that bound — judged by the next reading.
    let shifted = world.traffic.when(&Call::Weight(10)).unwrap();
    let rolled = world.traffic.when(&Call::Weight(0)).unwrap();
    let took = rolled - shifted;
    assert!(took <= secs(40) + secs(10), "{took:?}");
    let events = drain(&mut handle.events);
    let rollback = events.iter().find(|e| e.to == Phase::RollingBack).unwrap();
    let verdict = rollback.verdict.as_ref().unwrap();
    assert_eq!(verdict.trigger, TriggerKind::ErrorRate);
    assert!(
        rollback
            .reason
            .contains("error rate 8.0 % vs baseline 0.0 %"),
        "{}",
        rollback.reason
    );
    assert_eq!(world.traffic.weight(), 0);
    assert_eq!(events.last().unwrap().to, Phase::RolledBack);
}

#[tokio::test(start_paused = true)]
async fn a_p95_regression_rolls_back_right_after_its_two_minute_window() {
    let world = World::new();
    // ×5 the baseline and +80 ms: past the 50 ms minimum increase too.
    *world.metrics.new_latency_ms.lock().unwrap() = 100.0;
    let mut handle = world.start(vec![Step::Weight(10), Step::Pause(secs(3600))]);
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    let shifted = world.traffic.when(&Call::Weight(10)).unwrap();
    let rolled = world.traffic.when(&Call::Weight(0)).unwrap();
    let took = rolled - shifted;
    assert!(took >= secs(120), "fired before its window: {took:?}");
    assert!(took <= secs(130), "more than one interval late: {took:?}");
    let events = drain(&mut handle.events);
    let rollback = events.iter().find(|e| e.to == Phase::RollingBack).unwrap();
    assert_eq!(
        rollback.verdict.as_ref().unwrap().trigger,
        TriggerKind::P95Latency
    );
}

#[tokio::test(start_paused = true)]
async fn an_operator_rollback_takes_effect_at_once() {
    let world = World::new();
    let mut handle = world.start(steps());
    wait_for(&mut handle, |s| {
        s.desired_weight == 10 && s.phase == Phase::Progressing
    })
    .await;
    tokio::time::sleep(secs(20)).await;
    let asked = Instant::now();
    let reply = handle.send(command(CommandKind::Rollback)).await;
    assert_eq!(reply, Some(CommandReply::Accepted));
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    let reverted = world.traffic.when(&Call::Weight(0)).unwrap();
    assert!(
        reverted - asked < Duration::from_millis(100),
        "{:?}",
        reverted - asked
    );
    let calls = world.traffic.calls();
    assert_eq!(&calls[calls.len() - 2..], &[Call::Weight(0), Call::Discard]);
    let events = drain(&mut handle.events);
    let rollback = events.iter().find(|e| e.to == Phase::RollingBack).unwrap();
    assert_eq!(rollback.actor, alice());
    assert!(
        events
            .last()
            .unwrap()
            .reason
            .contains("verified: v1 at 100 %")
    );
}

#[tokio::test(start_paused = true)]
async fn a_rollback_does_not_wait_behind_a_write_still_in_flight() {
    let world = World::new();
    let mut handle = world.start(steps());
    wait_for(&mut handle, |s| s.desired_weight == 10).await;
    world.traffic.hang_weights.store(true, Ordering::SeqCst);
    let reply = handle.send(command(CommandKind::Advance)).await;
    assert_eq!(reply, Some(CommandReply::Accepted));
    tokio::time::sleep(secs(30)).await;
    assert_eq!(world.traffic.calls().last(), Some(&Call::Weight(50)));
    let asked = Instant::now();
    let reply = handle.send(command(CommandKind::Rollback)).await;
    assert_eq!(reply, Some(CommandReply::Accepted));
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    let reverted = world.traffic.when(&Call::Weight(0)).unwrap();
    assert!(
        reverted - asked < Duration::from_millis(100),
        "the rollback waited {:?} behind the hung write",
        reverted - asked
    );
    assert_eq!(world.traffic.weight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_change_the_backend_cannot_complete_rolls_back() {
    let world = World::new();
    let mut handle = world.start(steps());
    wait_for(&mut handle, |s| s.desired_weight == 10).await;
    world.traffic.hopeless_writes.store(1, Ordering::SeqCst);
    let reply = handle.send(command(CommandKind::Advance)).await;
    assert_eq!(reply, Some(CommandReply::Accepted));
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    let calls = world.traffic.calls();
    assert_eq!(
        &calls[calls.len() - 3..],
        &[Call::Weight(50), Call::Weight(0), Call::Discard]
    );
    let events = drain(&mut handle.events);
    let rollback = events.iter().find(|e| e.to == Phase::RollingBack).unwrap();
    assert!(
        rollback
            .reason
            .contains("memory backend failed: progress deadline exceeded"),
        "{}",
        rollback.reason
    );
}

#[tokio::test(start_paused = true)]
async fn a_command_that_makes_no_sense_is_refused_with_its_reason() {
    let world = World::new();
    let mut handle = world.start(steps());
    wait_for(&mut handle, |s| s.phase == Phase::Progressing).await;
    let reply = handle.send(command(CommandKind::Resume)).await;
    assert_eq!(
        reply,
        Some(CommandReply::Refused {
            reason: "alice (ssh from 10.0.0.7) asked to resume: refused — cannot resume: the release is not paused"
                .into()
        })
    );
    assert_eq!(
        handle.send(command(CommandKind::Pause)).await,
        Some(CommandReply::Accepted)
    );
    let reply = handle.send(command(CommandKind::Advance)).await;
    let Some(CommandReply::Refused { reason }) = reply else {
        panic!("advance while paused was accepted")
    };
    assert!(
        reason.contains("paused by alice (ssh from 10.0.0.7) — resume it first"),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_metrics_provider_does_not_delay_a_rollback() {
    let world = World::new();
    let mut handle = world.start(steps());
    wait_for(&mut handle, |s| s.desired_weight == 10).await;
    world.metrics.hang.store(true, Ordering::SeqCst);
    // Let reads start hanging (one interval), then roll back mid-hang.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let asked = Instant::now();
    let reply = handle.send(command(CommandKind::Rollback)).await;
    assert_eq!(reply, Some(CommandReply::Accepted));
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    let reverted = world.traffic.when(&Call::Weight(0)).unwrap();
    assert!(
        reverted - asked < Duration::from_millis(100),
        "{:?}",
        reverted - asked
    );
}

#[tokio::test(start_paused = true)]
async fn a_metrics_outage_pauses_the_release_until_readings_return() {
    let world = World::new();
    let mut handle = world.start(steps());
    wait_for(&mut handle, |s| s.desired_weight == 10).await;
    world.metrics.fail.store(true, Ordering::SeqCst);
    wait_for(&mut handle, |s| s.phase == Phase::Paused).await;
    {
        let snap = handle.snapshots.borrow();
        assert!(
            snap.reason
                .contains("scripted metrics is unreachable: connection refused"),
            "{}",
            snap.reason
        );
        assert!(
            snap.provider_error
                .as_deref()
                .unwrap()
                .starts_with("metrics:")
        );
    }
    // An outage of three more reads (10 s apart), within the limit of four
    // failed reads in a row: the 60 s pause does not run on through it.
    tokio::time::sleep(secs(35)).await;
    assert_eq!(handle.snapshots.borrow().phase, Phase::Paused);
    assert!(!world.traffic.calls().contains(&Call::Weight(50)));
    world.metrics.fail.store(false, Ordering::SeqCst);
    wait_for(&mut handle, |s| s.phase == Phase::Progressing).await;
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn metrics_gone_for_good_roll_the_release_back() {
    let world = World::new();
    let mut handle = world.start(steps());
    wait_for(&mut handle, |s| s.desired_weight == 10).await;
    world.metrics.fail.store(true, Ordering::SeqCst);
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    let events = drain(&mut handle.events);
    assert!(
        events.iter().any(|e| e.to == Phase::RollingBack
            && e.reason
                .contains("metrics unreadable 5 times in a row (limit 4)")),
        "{events:#?}"
    );
    assert_eq!(world.traffic.calls().last(), Some(&Call::Discard));
}

#[tokio::test(start_paused = true)]
async fn a_rollback_the_backend_disagrees_with_is_retried_until_it_agrees() {
    let world = World::new();
    let mut handle = world.start(steps());
    wait_for(&mut handle, |s| s.desired_weight == 10).await;
    world.traffic.disagree_reads.store(2, Ordering::SeqCst);
    world.traffic.fail_writes.store(1, Ordering::SeqCst);
    assert_eq!(
        handle.send(command(CommandKind::Rollback)).await,
        Some(CommandReply::Accepted)
    );
    let result = (&mut handle.task).await.unwrap();
    assert_eq!(result, ReleaseResult::RolledBack);
    let events = drain(&mut handle.events);
    assert!(
        events
            .iter()
            .any(|e| e.reason == "backend still sends 25 % to v2 after rollback — retrying")
    );
    assert!(
        events
            .iter()
            .any(|e| e.reason.starts_with("could not set weight 0%"))
    );
    assert_eq!(world.traffic.weight(), 0);
}

/// The journal (and the report built from it) reads every event, however
/// far behind it falls: a reader that looks only once the release ended
/// still finds each of its steps.
#[tokio::test(start_paused = true)]
async fn a_reader_that_falls_behind_loses_no_event() {
    let world = World::new();
    // Each step says it began: 300 steps, more than any buffer held.
    let steps: Vec<Step> = (1..=100)
        .flat_map(|k| [Step::Weight(k), Step::Pause(secs(1)), Step::Pause(secs(1))])
        .collect();
    let mut handle = world.start(steps);
    assert_eq!((&mut handle.task).await.unwrap(), ReleaseResult::Succeeded);
    let events = drain(&mut handle.events);
    assert!(events.len() > 256, "only {} events", events.len());
    for k in 1..=100 {
        let step = format!("set weight {k}%");
        assert!(
            events.iter().any(|e| e.reason.ends_with(&step)),
            "no `{step}` among {} events",
            events.len()
        );
    }
    assert_eq!(events.last().unwrap().to, Phase::Succeeded);
}
