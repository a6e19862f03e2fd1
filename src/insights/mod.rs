//! Delivery insights: how a team's releases go over time, worked out from
//! the journal's deployment reports (so a release counts here exactly as
//! its report describes it). Two sets of figures:
//!
//! - the four a release process should hold at 100 %: deployment success
//!   (ended as intended: succeeded, or rolled back by a trigger and the
//!   stable version verified at 100 %), zero downtime (no failed user
//!   request), rollback readiness (the stable version healthy when the
//!   release began, and every rollback verified) and environment
//!   validation (every environment ran its checks before traffic moved);
//! - DORA's four keys over production releases: deployment frequency, lead
//!   time (the deployment's start to its production success), change
//!   failure rate and time to restore (rollback started → stable verified).
//!
//! Overall, per environment and per service, each with its deployments
//! per period for a small chart. `docs/insights.md` defines every figure.

pub mod text;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::is_prod;
use crate::report::{self, EnvironmentReport, Report, ReportError};
use crate::store::{Filter, Found, History};

/// The version of the JSON output's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// The chart has at most this many bars: a window longer than this many
/// days puts several days in a bar.
pub const MAX_BARS: usize = 30;

#[derive(Debug, Clone, Serialize)]
pub struct Insights {
    pub schema_version: u32,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub env: Option<String>,
    pub service: Option<String>,
    /// Days in one bar of `per_period`.
    pub period_days: i64,
    /// Deployments in the window not counted: still running (or their
    /// driver died), or refused before any check or release ran.
    pub not_counted: NotCounted,
    pub overall: Figures,
    pub environments: Vec<Row>,
    pub services: Vec<Row>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NotCounted {
    pub unfinished: u32,
    pub refused: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub deployments: u32,
    pub success: Rate,
    pub zero_downtime: Rate,
    pub rollback_readiness: Rate,
    pub environment_validation: Rate,
    pub dora: Dora,
    /// Deployments started in each period of `period_days`, oldest first.
    pub per_period: Vec<u32>,
}

/// `count` of `of`; the percentage is none when `of` is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rate {
    pub count: u32,
    pub of: u32,
    pub pct: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Dora {
    /// Production releases that succeeded.
    pub production_successes: u32,
    pub deployments_per_day: f64,
    pub lead_time_median_seconds: Option<f64>,
    /// Production releases that rolled back, were aborted or failed, of
    /// those that started.
    pub change_failure: Rate,
    pub time_to_restore_median_seconds: Option<f64>,
    pub restores: u32,
}

/// What `insights` reads: the window and the scope.
pub struct Window<'a> {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub filter: &'a Filter,
}

/// The insights of every deployment in `window`, from the journal.
pub fn read(history: &History, window: Window<'_>) -> Result<Insights, ReportError> {
    let mut reports = Vec::new();
    for found in history.deployments_since(window.filter, window.since)? {
        let id = match &found {
            Found::Deployment(d) => d.start.id.clone(),
            Found::Release(id) => id.clone(),
        };
        reports.push(report::read(history, report::Which::Id(&id))?);
    }
    Ok(compute(&reports, &window))
}

/// The figures of `reports` (deployments that started in the window).
pub fn compute(reports: &[Report], window: &Window<'_>) -> Insights {
    let span = (window.until - window.since).max(Duration::seconds(1));
    let days = (span.num_seconds() + 86_399) / 86_400;
    let period_days = (days + MAX_BARS as i64 - 1) / MAX_BARS as i64;
    let periods = ((days + period_days - 1) / period_days) as usize;
    let chart = Chart {
        since: window.since,
        period: Duration::days(period_days),
        periods,
    };
    let mut not_counted = NotCounted::default();
    let mut units = Vec::new();
    for report in reports {
        match Unit::of(report, window.filter.env.as_deref()) {
            Ok(unit) => units.push(unit),
            Err(Skipped::Unfinished) => not_counted.unfinished += 1,
            Err(Skipped::NothingRan) => not_counted.refused += 1,
        }
    }
    let days = span.as_seconds_f64() / 86_400.0;
    let figures = |units: &[&Unit]| figures(units, days, &chart);
    let all: Vec<&Unit> = units.iter().collect();
    let overall = figures(&all);
    // Environments in the order deployments go through them.
    let mut by_env: Vec<(&str, Vec<Unit>)> = Vec::new();
    for report in reports {
        for e in &report.environments {
            if !by_env.iter().any(|(env, _)| *env == e.env) {
                by_env.push((e.env.as_str(), Vec::new()));
            }
        }
    }
    for unit in &units {
        for release in &unit.releases {
            if let Some((_, units)) = by_env.iter_mut().find(|(env, _)| *env == release.env) {
                units.push(unit.only(release));
            }
        }
    }
    by_env.retain(|(_, units)| !units.is_empty());
    let environments = by_env
        .iter()
        .map(|(env, units)| Row {
            name: env.to_string(),
            figures: figures(&units.iter().collect::<Vec<_>>()),
        })
        .collect();
    let mut by_service: BTreeMap<&str, Vec<&Unit>> = BTreeMap::new();
    for unit in &units {
        by_service
            .entry(unit.service.as_str())
            .or_default()
            .push(unit);
    }
    let services = by_service
        .iter()
        .map(|(service, units)| Row {
            name: service.to_string(),
            figures: figures(units),
        })
        .collect();
    Insights {
        schema_version: SCHEMA_VERSION,
        since: window.since,
        until: window.until,
        env: window.filter.env.clone(),
        service: window.filter.service.clone(),
        period_days,
        not_counted,
        overall,
        environments,
        services,
    }
}

/// A counted deployment, narrowed to the environments that ran something.
#[derive(Debug, Clone)]
struct Unit {
    service: String,
    started_at: DateTime<Utc>,
    /// The deployment as a whole ended succeeded or rolled back (not
    /// blocked, refused or failed later on); true for one environment's view.
    ended_as_asked: bool,
    releases: Vec<Judged>,
    /// The release DORA's keys read: the production environment's (named
    /// `prod` or `production`), else the last one the deployment asked for.
    production: Option<usize>,
}

enum Skipped {
    Unfinished,
    NothingRan,
}

/// One environment of a deployment, judged.
#[derive(Debug, Clone)]
struct Judged {
    env: String,
    /// A release started (a blocked environment never got that far).
    released: bool,
    succeeded: bool,
    intended: bool,
    /// Rolled back, aborted or failed after it started.
    failed: bool,
    failed_requests: Option<u64>,
    ready: Option<bool>,
    validated: bool,
    lead_seconds: Option<f64>,
    restore_seconds: Option<f64>,
}

impl Unit {
    fn of(report: &Report, only_env: Option<&str>) -> Result<Unit, Skipped> {
        if report.outcome == "unfinished" {
            return Err(Skipped::Unfinished);
        }
        let releases: Vec<Judged> = report
            .environments
            .iter()
            .filter(|e| only_env.is_none_or(|env| e.env == env))
            .filter_map(|e| Judged::of(e, report.started_at))
            .collect();
        if releases.is_empty() {
            return Err(Skipped::NothingRan);
        }
        let last_asked = report.environments.last().map(|e| e.env.as_str());
        let production = releases
            .iter()
            .position(|r| is_prod(&r.env))
            .or_else(|| match only_env {
                Some(_) => Some(0),
                None => releases
                    .iter()
                    .position(|r| Some(r.env.as_str()) == last_asked),
            });
        Ok(Unit {
            service: report.service.clone(),
            started_at: report.started_at,
            ended_as_asked: only_env.is_some()
                || matches!(report.outcome.as_str(), "succeeded" | "rolled-back"),
            releases,
            production,
        })
    }

    /// This deployment as seen from one of its environments.
    fn only(&self, release: &Judged) -> Unit {
        Unit {
            service: self.service.clone(),
            started_at: self.started_at,
            ended_as_asked: true,
            releases: vec![release.clone()],
            production: Some(0),
        }
    }

    fn production(&self) -> Option<&Judged> {
        self.production.map(|i| &self.releases[i])
    }

    fn intended(&self) -> bool {
        self.ended_as_asked && self.releases.iter().all(|r| r.intended)
    }

    /// Whether no user request failed; none when no release measured it.
    fn zero_downtime(&self) -> Option<bool> {
        all_measured(
            self.releases
                .iter()
                .map(|r| r.failed_requests.map(|n| n == 0)),
        )
    }

    fn ready(&self) -> Option<bool> {
        all_measured(self.releases.iter().map(|r| r.ready))
    }

    fn validated(&self) -> bool {
        self.releases.iter().all(|r| r.validated)
    }
}

/// All of the measured ones true; none when none was measured.
fn all_measured(values: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    values
        .flatten()
        .fold(None, |all, one| Some(all.unwrap_or(true) && one))
}

impl Judged {
    /// None for an environment that ran nothing (not reached).
    fn of(e: &EnvironmentReport, deployment_start: DateTime<Utc>) -> Option<Judged> {
        let released = e.release_id.is_some();
        if !released && e.outcome != "blocked" {
            return None;
        }
        if e.outcome == "unfinished" {
            return None;
        }
        let succeeded = e.outcome == "succeeded";
        let rollback = e.rollback.as_ref();
        let verified = rollback.is_none_or(|r| r.verified_at.is_some());
        let automatic_and_verified =
            rollback.is_some_and(|r| r.automatic && r.verified_at.is_some());
        Some(Judged {
            env: e.env.clone(),
            released,
            succeeded,
            intended: succeeded || (e.outcome == "rolled-back" && automatic_and_verified),
            failed: released && !succeeded,
            failed_requests: e.traffic.as_ref().map(|t| t.failed_requests),
            ready: released
                .then(|| e.stable_at_start.map(|s| s.healthy > 0 && verified))
                .flatten(),
            validated: e.checks_started_at.is_some(),
            lead_seconds: succeeded
                .then(|| {
                    e.finished_at
                        .map(|end| (end - deployment_start).as_seconds_f64())
                })
                .flatten(),
            restore_seconds: rollback.and_then(|r| r.seconds_to_stable),
        })
    }
}

struct Chart {
    since: DateTime<Utc>,
    period: Duration,
    periods: usize,
}

impl Chart {
    fn counts(&self, units: &[&Unit]) -> Vec<u32> {
        let mut counts = vec![0; self.periods];
        for unit in units {
            let offset = (unit.started_at - self.since).num_seconds().max(0);
            let i = (offset / self.period.num_seconds().max(1)) as usize;
            if let Some(count) = counts.get_mut(i.min(self.periods.saturating_sub(1))) {
                *count += 1;
            }
        }
        counts
    }
}

fn figures(units: &[&Unit], days: f64, chart: &Chart) -> Figures {
    let rate = |flags: &mut dyn Iterator<Item = bool>| {
        let (count, of) = flags.fold((0, 0), |(c, o), f| (c + u32::from(f), o + 1));
        Rate::new(count, of)
    };
    let production: Vec<&Judged> = units.iter().filter_map(|u| u.production()).collect();
    let successes: Vec<&Judged> = production.iter().copied().filter(|r| r.succeeded).collect();
    let started: Vec<&Judged> = production.iter().copied().filter(|r| r.released).collect();
    let restores: Vec<f64> = production
        .iter()
        .filter_map(|r| r.restore_seconds)
        .collect();
    Figures {
        deployments: units.len() as u32,
        success: rate(&mut units.iter().map(|u| u.intended())),
        zero_downtime: rate(&mut units.iter().filter_map(|u| u.zero_downtime())),
        rollback_readiness: rate(&mut units.iter().filter_map(|u| u.ready())),
        environment_validation: rate(&mut units.iter().map(|u| u.validated())),
        dora: Dora {
            production_successes: successes.len() as u32,
            deployments_per_day: successes.len() as f64 / days,
            lead_time_median_seconds: median(successes.iter().filter_map(|r| r.lead_seconds)),
            change_failure: rate(&mut started.iter().map(|r| r.failed)),
            time_to_restore_median_seconds: median(restores.iter().copied()),
            restores: restores.len() as u32,
        },
        per_period: chart.counts(units),
    }
}

impl Rate {
    fn new(count: u32, of: u32) -> Rate {
        Rate {
            count,
            of,
            pct: (of > 0).then(|| f64::from(count) * 100.0 / f64::from(of)),
        }
    }
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
    }

    #[test]
    fn unmeasured_releases_do_not_count() {
        assert_eq!(all_measured([None, None].into_iter()), None);
        assert_eq!(all_measured([None, Some(true)].into_iter()), Some(true));
        assert_eq!(
            all_measured([Some(true), Some(false)].into_iter()),
            Some(false)
        );
    }
}
