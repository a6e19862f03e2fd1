//! helmsman's side of a run: the engine's real release state machine
//! (`engine::machine::Release`), its effects answered as a healthy backend
//! and a metrics provider would, in virtual time.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use helmsman::config::{self, Backend, LocalBackend, Step, Strategy, defaults};
use helmsman::engine::machine::{Effect, Input, Release, ReleaseSpec, TrafficWrite};
use helmsman::engine::{Actor, Phase, Target};
use helmsman::metrics::Reading;
use helmsman::observed::{Instance, TrafficState};

use crate::policies::Outcome;
use crate::world::{Scenario, World};
use helmsman::strategy::Canary;

const INSTANCES_PER_VERSION: usize = 4;

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

/// A canary `[Weight(w), Pause(horizon)]` with the default analysis,
/// triggers, bands and health check.
fn release_spec(scenario: &Scenario) -> ReleaseSpec {
    let service = config::Service {
        name: "checkout".into(),
        backend: Backend::Local(LocalBackend {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: "127.0.0.1:0".parse().unwrap(),
            stable: "v1".into(),
            versions: Default::default(),
            error_kind_header: None,
            variant_header: None,
            admin_token: None,
            limits: Default::default(),
        }),
        strategy: Strategy::Canary(Canary {
            steps: vec![
                Step::Weight(scenario.weight),
                Step::Pause(Duration::from_secs(scenario.horizon_s)),
            ],
        }),
        analysis: defaults::analysis(),
        triggers: defaults::triggers(),
        bands: defaults::bands(),
        health: defaults::health(),
        metrics: config::MetricsSource::Local,
        migrations: None,
        hooks: Vec::new(),
        workdir: ".".into(),
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
pub struct EngineDriver<'a, 'w> {
    release: Release,
    world: &'a mut World<'w>,
    now: DateTime<Utc>,
    pending: VecDeque<Effect>,
    staged: bool,
    weight: u8,
    /// When the new version first got traffic: second 0 of the world.
    weight_applied: Option<DateTime<Utc>>,
    /// The trigger named by the rollback, once the machine decided one.
    rollback: Option<String>,
}

impl<'a, 'w> EngineDriver<'a, 'w> {
    pub fn run(scenario: &Scenario, world: &'a mut World<'w>) -> Outcome {
        let now = start_time();
        let mut driver = EngineDriver {
            release: Release::new(release_spec(scenario), now),
            world,
            now,
            pending: VecDeque::new(),
            staged: false,
            weight: 0,
            weight_applied: None,
            rollback: None,
        };
        driver.feed(Input::Start);
        let horizon = now + chrono::Duration::seconds(scenario.horizon_s as i64);
        while driver.rollback.is_none() {
            match driver.release.next_wake() {
                Some(at) if at <= horizon => {
                    driver.now = driver.now.max(at);
                    driver.feed(Input::Tick);
                }
                _ => break,
            }
        }
        driver.outcome(scenario.horizon_s)
    }

    fn outcome(mut self, horizon_s: u64) -> Outcome {
        let applied = self
            .weight_applied
            .expect("the canary's weight was applied");
        let decided_at_s = self
            .rollback
            .is_some()
            .then(|| (self.now - applied).num_seconds() as u64);
        let until = decided_at_s.unwrap_or(horizon_s);
        Outcome {
            decided_at_s,
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
            Effect::Write(write) => {
                self.apply(write);
                Some(Input::Applied(Ok(())))
            }
            Effect::ReadTraffic => Some(Input::Traffic(Ok(self.traffic_state()))),
            Effect::ReadMetrics => Some(Input::Metrics(Ok(self.reading()))),
            _ => None,
        }
    }

    fn apply(&mut self, write: &TrafficWrite) {
        match write {
            TrafficWrite::Prepare => self.staged = true,
            TrafficWrite::SetWeight(w) => {
                self.weight = *w;
                if *w > 0 && self.weight_applied.is_none() {
                    self.weight_applied = Some(self.now);
                }
            }
            _ => {}
        }
    }

    /// The counters now; before the weight is applied, the stable
    /// version's traffic from before the release.
    fn reading(&mut self) -> Reading {
        let second = self
            .weight_applied
            .map_or(0, |applied| (self.now - applied).num_seconds() as u64);
        self.world.reading_at(second).clone()
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
    let reverted = effects.contains(&Effect::Write(TrafficWrite::SetWeight(0)));
    if event.is_none() && !reverted {
        return None;
    }
    Some(
        event
            .and_then(|ev| ev.verdict.as_ref())
            .map_or_else(|| "no verdict".to_string(), |v| v.trigger.to_string()),
    )
}
