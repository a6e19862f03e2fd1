//! The deployment report: what a release manager hands on after a
//! release, read from the journal alone — who released what where, each
//! environment's checks, the timeline, the verdicts and figures it ended
//! with against their thresholds and alert bands, the traffic it served,
//! the rollback if there was one, and the operators' notes.
//!
//! Rendered as Markdown ([`markdown`]) or as JSON: this structure,
//! serialized, with `schema_version` ([`SCHEMA_VERSION`]) raised whenever
//! a field changes meaning or goes away (new fields may appear within a
//! version). `docs/report.md` documents every field.

pub mod markdown;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Band, BandLevel, Bands};
use crate::engine::{Actor, CommandReply, Event, InstanceCounts, Phase, Snapshot, Verdict};
use crate::metrics::{PerVersion, ResourceUse};
use crate::pipeline::result_record::Outcome;
use crate::preflight::{CheckOutcome, CheckStatus};
use crate::store::{Deployment, Entry, Filter, Found, History, Note, StoreError};

/// The version of the JSON report's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// Said where the journal holds no figure: never a guess.
pub const NOT_MEASURED: &str = "not measured";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// The deployment's id, or a release's for one journaled before
    /// deployments were.
    pub deployment: String,
    pub service: String,
    pub strategy: String,
    pub deployer: Actor,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    /// The version that served before, in the first environment released to.
    pub previous_version: Option<String>,
    pub new_version: String,
    /// `succeeded`, `rolled-back`, `aborted`, `refused`, `blocked`,
    /// `interrupted`, `error`, or `unfinished` (running, or its driver died).
    pub outcome: String,
    pub reason: String,
    pub environments: Vec<EnvironmentReport>,
    pub notes: Vec<Note>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentReport {
    pub env: String,
    pub release_id: Option<String>,
    /// Whether its preflight checks passed; none when it has none or never
    /// got to them.
    pub validated: Option<bool>,
    pub checks: Vec<CheckOutcome>,
    pub checks_started_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub previous_version: Option<String>,
    /// How the release ended here, or `not-run`.
    pub outcome: String,
    pub timeline: Vec<Moment>,
    /// Every trigger's last verdict, with its numbers.
    pub verdicts: Vec<Verdict>,
    /// The new version's figures against the service's alert bands.
    pub figures: Vec<Figure>,
    pub traffic: Option<Traffic>,
    pub instances: Option<Instances>,
    /// The stable version's instances when the release first read them,
    /// before traffic moved: its rollback path. None when never read.
    pub stable_at_start: Option<InstanceCounts>,
    pub rollback: Option<Rollback>,
    /// CPU and memory of each version as it ended, in percent of what it
    /// may use, against the resource bands; values are null where the
    /// metrics source could not say (always, for the local data plane).
    pub resources: Vec<Figure>,
    /// Every migration phase and hook run here, in the order they ended,
    /// each with its duration and the end of its output.
    pub jobs: Vec<crate::jobs::JobRun>,
}

/// One line of the timeline: an event of the engine, or a command an
/// operator sent and the engine's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Moment {
    pub at: DateTime<Utc>,
    pub what: String,
    pub by: Actor,
    /// The new version's traffic after it, percent (events only).
    pub weight: Option<u8>,
}

/// A figure of the new version against its baseline and its alert band.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub unit: String,
    pub new: Option<f64>,
    pub baseline: Option<f64>,
    /// `OK`, `ALERT` or `CRIT`; none without a value or bands.
    pub band: Option<String>,
}

/// Requests while the release was observed (from its first reading to its
/// end): what each version served and what failed — answered 5xx or not
/// answered at all (transport failures) — on either version.
#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    pub new_requests: u64,
    pub baseline_requests: u64,
    pub failed_requests: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Instances {
    pub new_healthy: u32,
    pub new_total: u32,
    pub stable_healthy: u32,
    pub stable_total: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    /// The trigger that fired, or the operator who asked.
    pub by: String,
    /// Started by a trigger (the engine), not by a person.
    pub automatic: bool,
    pub reason: String,
    pub started_at: DateTime<Utc>,
    /// When the stable version was verified at 100 %; none if it never was.
    pub verified_at: Option<DateTime<Utc>>,
    pub seconds_to_stable: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no deployment or release `{0}` in the journal; `helmsman history` lists the releases")]
    Unknown(String),
    #[error("no release in the journal{0}; `helmsman history` lists the releases")]
    Empty(String),
}

/// What to report on: a deployment or release id, or the newest one.
pub enum Which<'a> {
    Id(&'a str),
    Last(&'a Filter),
}

/// The report of a deployment, read from the journal.
pub fn read(history: &History, which: Which<'_>) -> Result<Report, ReportError> {
    let found = match which {
        Which::Id(id) => history
            .find_deployment(id)?
            .ok_or_else(|| ReportError::Unknown(id.to_string()))?,
        Which::Last(filter) => history
            .last_deployment(filter)?
            .ok_or_else(|| ReportError::Empty(filter.scope()))?,
    };
    match found {
        Found::Deployment(deployment) => of_deployment(history, *deployment),
        Found::Release(id) => {
            let entry = history
                .release(&id)?
                .ok_or_else(|| ReportError::Unknown(id.clone()))?;
            of_release_alone(history, entry)
        }
    }
}

/// The deployment whose report `id` names, for a note to go to.
pub fn deployment_id(history: &History, which: Which<'_>) -> Result<String, ReportError> {
    Ok(read(history, which)?.deployment)
}

fn of_deployment(history: &History, deployment: Deployment) -> Result<Report, ReportError> {
    let releases = history.releases_of(&deployment.start.id)?;
    let preflights = history.preflights(&deployment.start.id)?;
    let jobs = history.jobs(&deployment.start.id)?;
    let mut environments = Vec::new();
    for env in &deployment.start.envs {
        let release = releases.iter().rev().find(|r| &r.start.target.env == env);
        let checks = preflights.iter().rev().find(|p| &p.report.env == env);
        let mut report = match release {
            Some(release) => environment(history, release)?,
            None => EnvironmentReport::not_run(env),
        };
        if let Some(run) = checks {
            report.validated = Some(run.report.status != CheckStatus::Fail);
            report.checks = run.report.checks.clone();
            report.checks_started_at = Some(run.started_at);
            if release.is_none() && run.report.status == CheckStatus::Fail {
                report.outcome = "blocked".into();
            }
        }
        report.jobs = jobs
            .iter()
            .filter(|j| &j.env == env)
            .map(|j| j.run.clone())
            .collect();
        environments.push(report);
    }
    let first = releases.first();
    let outcome = deployment
        .outcome
        .clone()
        .unwrap_or_else(|| "unfinished".into());
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        deployment: deployment.start.id.clone(),
        service: deployment.start.service.clone(),
        strategy: first
            .map(|r| r.start.strategy.clone())
            .or(deployment.start.strategy.clone())
            .unwrap_or_else(|| "-".into()),
        deployer: deployment.start.started_by.clone(),
        started_at: deployment.start.started_at,
        finished_at: deployment.finished_at,
        duration_seconds: deployment
            .finished_at
            .map(|end| (end - deployment.start.started_at).num_seconds()),
        previous_version: first.map(|r| r.start.stable_version.clone()),
        new_version: deployment.start.version.clone(),
        outcome,
        reason: deployment.reason.clone(),
        environments,
        notes: history.notes(&deployment.start.id)?,
    })
}

/// A release journaled before deployments were: a deployment of its own.
fn of_release_alone(history: &History, entry: Entry) -> Result<Report, ReportError> {
    let env = environment(history, &entry)?;
    let start = &entry.start;
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        deployment: start.id.clone(),
        service: start.target.service.clone(),
        strategy: start.strategy.clone(),
        deployer: start.started_by.clone(),
        started_at: start.started_at,
        finished_at: entry.finished_at,
        duration_seconds: entry
            .finished_at
            .map(|end| (end - start.started_at).num_seconds()),
        previous_version: Some(start.stable_version.clone()),
        new_version: start.new_version.clone(),
        outcome: env.outcome.clone(),
        reason: entry.reason.clone(),
        environments: vec![env],
        notes: history.notes(&start.id)?,
    })
}

impl EnvironmentReport {
    fn not_run(env: &str) -> EnvironmentReport {
        EnvironmentReport {
            env: env.to_string(),
            release_id: None,
            validated: None,
            checks: Vec::new(),
            checks_started_at: None,
            started_at: None,
            finished_at: None,
            previous_version: None,
            outcome: "not-run".into(),
            timeline: Vec::new(),
            verdicts: Vec::new(),
            figures: Vec::new(),
            traffic: None,
            instances: None,
            stable_at_start: None,
            rollback: None,
            resources: resources(&ResourceUse::default()),
            jobs: Vec::new(),
        }
    }
}

fn environment(history: &History, release: &Entry) -> Result<EnvironmentReport, ReportError> {
    let id = &release.start.id;
    let events = history.events(id)?;
    let commands = history.commands(id)?;
    let last = history.last_state_of(id)?;
    let mut timeline: Vec<Moment> = events.iter().map(moment).collect();
    timeline.extend(commands.iter().map(|c| Moment {
        at: c.at,
        what: match &c.reply {
            CommandReply::Accepted => format!("{} (accepted)", c.kind),
            CommandReply::Refused { reason } => format!("{} (refused: {reason})", c.kind),
        },
        by: c.actor.clone(),
        weight: None,
    }));
    timeline.sort_by_key(|m| m.at);
    let mut report = EnvironmentReport::not_run(&release.start.target.env);
    report.release_id = Some(id.clone());
    report.started_at = Some(release.start.started_at);
    report.finished_at = release.finished_at;
    report.previous_version = Some(release.start.stable_version.clone());
    report.outcome = match release.result {
        Some(result) => Outcome::of_result(result).word().to_string(),
        None => "unfinished".into(),
    };
    report.timeline = timeline;
    report.rollback = rollback(&events);
    report.stable_at_start = history.stable_at_start_of(id)?;
    if let Some(last) = last {
        report.figures = figures(&last.snapshot, last.bands.as_ref());
        report.traffic = Some(traffic(&last.snapshot));
        report.instances = Some(Instances {
            new_healthy: last.snapshot.new_instances.healthy,
            new_total: last.snapshot.new_instances.total,
            stable_healthy: last.snapshot.stable_instances.healthy,
            stable_total: last.snapshot.stable_instances.total,
        });
        report.verdicts = last.snapshot.verdicts.to_vec();
        report.resources = resources(&last.resources);
    }
    Ok(report)
}

fn moment(event: &Event) -> Moment {
    let what = if event.from == event.to {
        event.reason.clone()
    } else {
        format!("{} → {}: {}", event.from, event.to, event.reason)
    };
    Moment {
        at: event.at,
        what,
        by: event.actor.clone(),
        weight: Some(event.weight),
    }
}

/// The first rollback of a release, timed from its start to the stable
/// version verified at 100 % (the engine's `rolled-back` event says so).
fn rollback(events: &[Event]) -> Option<Rollback> {
    let began = events.iter().find(|e| e.to == Phase::RollingBack)?;
    let verified = events
        .iter()
        .find(|e| e.to == Phase::RolledBack && e.at >= began.at);
    let by = match (&began.actor, &began.verdict) {
        (Actor::Engine, Some(verdict)) => format!("the {} trigger", verdict.trigger),
        (actor, _) => actor.to_string(),
    };
    Some(Rollback {
        by,
        automatic: began.actor == Actor::Engine,
        reason: began.reason.clone(),
        started_at: began.at,
        verified_at: verified.map(|e| e.at),
        seconds_to_stable: verified.map(|e| (e.at - began.at).as_seconds_f64()),
    })
}

fn figures(last: &Snapshot, bands: Option<&Bands>) -> Vec<Figure> {
    let band = |value: Option<f64>, band: Option<crate::config::Band>| {
        Some(BandLevel::of(value?, band?).word().to_string())
    };
    vec![
        Figure {
            name: "error rate".into(),
            unit: "%".into(),
            new: last.new_error_rate_pct,
            baseline: last.baseline_error_rate_pct,
            band: band(last.new_error_rate_pct, bands.map(|b| b.error_rate)),
        },
        Figure {
            name: "p95 latency".into(),
            unit: "ms".into(),
            new: last.new_p95_ms,
            baseline: last.baseline_p95_ms,
            band: band(last.new_p95_ms, bands.map(|b| b.p95_ms)),
        },
    ]
}

/// Resource use above `target` percent is in the ALERT band, above
/// `critical` in CRIT: CPU 70 / 90 %, memory 80 / 95 %.
const CPU_BAND: Band = Band {
    target: 70.0,
    alert: 70.0,
    critical: 90.0,
};
const MEMORY_BAND: Band = Band {
    target: 80.0,
    alert: 80.0,
    critical: 95.0,
};

fn resources(used: &ResourceUse) -> Vec<Figure> {
    let figure = |name: &str, of: PerVersion, band: Band| Figure {
        name: name.into(),
        unit: "%".into(),
        new: of.new,
        baseline: of.stable,
        band: of.new.map(|v| BandLevel::of(v, band).word().to_string()),
    };
    vec![
        figure("cpu", used.cpu_pct, CPU_BAND),
        figure("memory", used.memory_pct, MEMORY_BAND),
    ]
}

/// The failed requests are worked back from each version's error rate and
/// request count, which the engine computed from those two counts.
fn traffic(last: &Snapshot) -> Traffic {
    let failed = |rate: Option<f64>, requests: u64| {
        rate.map_or(0, |pct| (pct * requests as f64 / 100.0).round() as u64)
    };
    Traffic {
        new_requests: last.new_requests,
        baseline_requests: last.baseline_requests,
        failed_requests: failed(last.new_error_rate_pct, last.new_requests)
            + failed(last.baseline_error_rate_pct, last.baseline_requests),
    }
}
