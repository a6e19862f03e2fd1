//! `helmsman insights` through the real binary, over a journal with known
//! deployments written through the journal's own API, against figures
//! worked out by hand below.
//!
//! Seven deployments, two services (checkout, cart), environments staging
//! then prod, in a 30-day window that ends now:
//!
//! | | days ago | staging | prod | outcome |
//! |---|---|---|---|---|
//! | D1 checkout v2 | 19.5 | checked, succeeded at +11m | checked, succeeded at +42m | succeeded |
//! | D2 checkout v3 | 10 | checked, succeeded | checked, a trigger rolled back, verified in 8 s; 12 failed requests | rolled-back |
//! | D3 cart v2 | 5 | no checks, succeeded at +20m | checked, succeeded at +1h | succeeded |
//! | D4 cart v3 | 2.5 | a check failed: blocked | not run | blocked |
//! | D5 cart v4 | 1.5 | checked, stable 0/2 healthy at start, rolled back by an operator in 5 s | not run | rolled-back |
//! | D6 checkout v4 | 0.5 | running | | unfinished |
//! | D7 cart v5 | 0.2 | refused before anything ran | | refused |
//! | D0 checkout v1 | 40 | (outside the window) | | succeeded |

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use helmsman::config::{Band, Bands};
use helmsman::engine::{Actor, Event, InstanceCounts, Phase, ReleaseResult, Snapshot, Target};
use helmsman::preflight::{CheckStatus, Report};
use helmsman::store::{DeploymentStart, History, PreflightRun, ReleaseRecord, ReleaseStart};
use serde_json::{Value, json};

fn alice() -> Actor {
    Actor::Operator {
        user: "alice".into(),
        origin: None,
    }
}

/// A deployment being written into the journal.
struct Writer<'a> {
    history: &'a mut History,
    id: String,
    service: String,
    version: String,
    at: DateTime<Utc>,
}

/// How one environment's release went.
struct Release {
    env: &'static str,
    checks: Option<CheckStatus>,
    /// Minutes after the deployment's start it began and ended.
    began: i64,
    ended: i64,
    result: Option<ReleaseResult>,
    stable: InstanceCounts,
    new_requests: u64,
    new_error_pct: f64,
    /// Who started a rollback, and how many seconds to stable at 100 %.
    rollback: Option<(Actor, f64)>,
}

impl Release {
    fn ok(env: &'static str, began: i64, ended: i64) -> Release {
        Release {
            env,
            checks: Some(CheckStatus::Pass),
            began,
            ended,
            result: Some(ReleaseResult::Succeeded),
            stable: InstanceCounts {
                healthy: 3,
                total: 3,
            },
            new_requests: 1000,
            new_error_pct: 0.0,
            rollback: None,
        }
    }
}

impl<'a> Writer<'a> {
    fn start(
        history: &'a mut History,
        n: u32,
        service: &str,
        version: &str,
        at: DateTime<Utc>,
    ) -> Writer<'a> {
        let id = format!("D{n}");
        history
            .deployment_begin(&DeploymentStart {
                id: id.clone(),
                service: service.into(),
                version: version.into(),
                envs: vec!["staging".into(), "prod".into()],
                strategy: None,
                started_by: alice(),
                started_at: at,
            })
            .unwrap();
        Writer {
            history,
            id,
            service: service.into(),
            version: version.into(),
            at,
        }
    }

    fn checks(&mut self, env: &str, status: CheckStatus, minute: i64) {
        let at = self.at + Duration::minutes(minute);
        let report = Report {
            env: env.into(),
            status,
            checks: Vec::new(),
        };
        let run = PreflightRun {
            started_at: at,
            finished_at: at,
            report,
        };
        self.history.preflight(&self.id, &run).unwrap();
    }

    fn release(&mut self, r: Release) {
        if let Some(status) = r.checks {
            self.checks(r.env, status, r.began);
        }
        let id = format!("{}-{}", self.id, r.env);
        let target = Target {
            env: r.env.into(),
            service: self.service.clone(),
        };
        let began = self.at + Duration::minutes(r.began);
        let ended = self.at + Duration::minutes(r.ended);
        self.history
            .begin(&ReleaseStart {
                id: id.clone(),
                deployment: Some(self.id.clone()),
                target: target.clone(),
                strategy: "canary".into(),
                stable_version: "v1".into(),
                new_version: self.version.clone(),
                started_by: alice(),
                started_at: began,
            })
            .unwrap();
        self.history.stable_at_start(&id, &r.stable).unwrap();
        if let Some((actor, seconds)) = &r.rollback {
            let at = ended - Duration::milliseconds((seconds * 1000.0) as i64);
            let event = |at, from, to| Event {
                at,
                env: r.env.into(),
                service: self.service.clone(),
                from,
                to,
                step: 1,
                steps: 3,
                weight: 0,
                reason: "error rate too high".into(),
                actor: actor.clone(),
                verdict: None,
                job: None,
            };
            let verified = at + Duration::milliseconds((seconds * 1000.0) as i64);
            self.history
                .event(&id, &event(at, Phase::Progressing, Phase::RollingBack))
                .unwrap();
            self.history
                .event(&id, &event(verified, Phase::RollingBack, Phase::RolledBack))
                .unwrap();
        }
        let Some(result) = r.result else { return };
        let snapshot: Snapshot = serde_json::from_value(json!({
            "target": { "env": r.env, "service": self.service },
            "release_id": id,
            "stable_version": "v1",
            "new_version": self.version,
            "strategy": "canary",
            "phase": "succeeded",
            "reason": "",
            "step": 2,
            "steps": ["25 %", "50 %", "100 %"],
            "desired_weight": 100,
            "actual_weight": 100,
            "new_error_rate_pct": r.new_error_pct,
            "baseline_error_rate_pct": 0.0,
            "new_p95_ms": 20.0,
            "baseline_p95_ms": 20.0,
            "new_requests": r.new_requests,
            "baseline_requests": 1000,
            "new_instances": { "healthy": 3, "total": 3 },
            "stable_instances": r.stable,
            "verdicts": [],
            "metrics_at": null,
            "provider_error": null,
            "started_at": began,
            "updated_at": ended,
        }))
        .unwrap();
        let band = |alert| Band {
            target: alert / 2.0,
            alert,
            critical: alert * 2.0,
        };
        let bands = Bands {
            error_rate: band(1.0),
            p95_ms: band(300.0),
        };
        self.history
            .last_state(&id, &snapshot, &bands, &Default::default())
            .unwrap();
        self.history
            .record(ReleaseRecord {
                id,
                target,
                strategy: "canary".into(),
                stable_version: "v1".into(),
                new_version: self.version.clone(),
                result,
                reason: String::new(),
                started_by: alice(),
                started_at: began,
                finished_at: ended,
            })
            .unwrap();
    }

    fn end(self, outcome: &str, minute: i64) {
        let at = self.at + Duration::minutes(minute);
        self.history
            .deployment_end(&self.id, outcome, "", at)
            .unwrap();
    }
}

fn write_journal(state: &Path, now: DateTime<Utc>) {
    let mut history = History::open(state).unwrap();
    let ago = |days: f64| now - Duration::seconds((days * 86_400.0) as i64);
    let h = &mut history;

    let mut d = Writer::start(h, 0, "checkout", "v1", ago(40.0));
    d.release(Release::ok("staging", 1, 10));
    d.release(Release::ok("prod", 12, 30));
    d.end("succeeded", 30);

    let mut d = Writer::start(h, 1, "checkout", "v2", ago(19.5));
    d.release(Release::ok("staging", 1, 11));
    d.release(Release::ok("prod", 12, 42));
    d.end("succeeded", 42);

    let mut d = Writer::start(h, 2, "checkout", "v3", ago(10.0));
    d.release(Release::ok("staging", 1, 11));
    d.release(Release {
        result: Some(ReleaseResult::RolledBack),
        new_requests: 1200,
        new_error_pct: 1.0,
        rollback: Some((Actor::Engine, 8.0)),
        ..Release::ok("prod", 12, 30)
    });
    d.end("rolled-back", 30);

    let mut d = Writer::start(h, 3, "cart", "v2", ago(5.0));
    d.release(Release {
        checks: None,
        ..Release::ok("staging", 1, 20)
    });
    d.release(Release::ok("prod", 21, 60));
    d.end("succeeded", 60);

    let mut d = Writer::start(h, 4, "cart", "v3", ago(2.5));
    d.checks("staging", CheckStatus::Fail, 1);
    d.end("blocked", 1);

    let mut d = Writer::start(h, 5, "cart", "v4", ago(1.5));
    d.release(Release {
        result: Some(ReleaseResult::RolledBack),
        stable: InstanceCounts {
            healthy: 0,
            total: 2,
        },
        rollback: Some((alice(), 5.0)),
        ..Release::ok("staging", 1, 9)
    });
    d.end("rolled-back", 9);

    let mut d = Writer::start(h, 6, "checkout", "v4", ago(0.5));
    d.release(Release {
        result: None,
        ..Release::ok("staging", 1, 2)
    });

    let d = Writer::start(h, 7, "cart", "v5", ago(0.2));
    d.end("refused", 0);
}

fn insights(state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .arg("insights")
        .args(args)
        .env("HELMSMAN_STATE_DIR", state)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_insights(state: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let (code, out, err) = insights(state, &all);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `count of of`, and the percentage.
fn rate(value: &Value, count: u64, of: u64) {
    assert_eq!(value["count"], count, "{value}");
    assert_eq!(value["of"], of, "{value}");
    let pct = value["pct"].as_f64().unwrap();
    assert!(
        (pct - count as f64 * 100.0 / of as f64).abs() < 1e-9,
        "{value}"
    );
}

fn close(value: &Value, expected: f64) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    assert!((got - expected).abs() < 1e-6, "{got} != {expected}");
}

fn row<'v>(rows: &'v Value, name: &str) -> &'v Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows}"))
}

#[test]
fn figures_match_those_worked_out_by_hand() {
    let state = tempfile::tempdir().unwrap();
    write_journal(state.path(), Utc::now());
    let all = json_insights(state.path(), &[]);
    assert_eq!(all["schema_version"], 1);
    assert_eq!(all["period_days"], 1);
    // D6 runs, D7 was refused before anything ran, D0 is older.
    assert_eq!(all["not_counted"]["unfinished"], 1);
    assert_eq!(all["not_counted"]["refused"], 1);

    let overall = &all["overall"];
    assert_eq!(overall["deployments"], 5);
    // D1, D2 (a trigger rolled back, verified), D3; not D4 (blocked) nor
    // D5 (an operator rolled back).
    rate(&overall["success"], 3, 5);
    // D4 served nothing; D2 failed 1 % of 1 200 requests in prod.
    rate(&overall["zero_downtime"], 3, 4);
    // D5's stable version had no healthy instance when it began.
    rate(&overall["rollback_readiness"], 3, 4);
    // D3's staging ran no checks.
    rate(&overall["environment_validation"], 4, 5);
    let dora = &overall["dora"];
    // Prod succeeded for D1 and D3 in 30 days.
    assert_eq!(dora["production_successes"], 2);
    close(&dora["deployments_per_day"], 2.0 / 30.0);
    // 42 and 60 minutes from the deployment's start.
    close(
        &dora["lead_time_median_seconds"],
        (42.0 * 60.0 + 60.0 * 60.0) / 2.0,
    );
    rate(&dora["change_failure"], 1, 3);
    close(&dora["time_to_restore_median_seconds"], 8.0);
    assert_eq!(dora["restores"], 1);
    // One bar a day for 30 days: D1 19.5 days ago … D5 1.5 days ago.
    let bars: Vec<u64> = overall["per_period"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(bars.len(), 30);
    assert_eq!(bars.iter().sum::<u64>(), 5);
    assert_eq!(bars[10], 1, "D1: {bars:?}");
    assert_eq!(bars[28], 1, "D5: {bars:?}");

    let staging = row(&all["environments"], "staging");
    assert_eq!(staging["deployments"], 5);
    rate(&staging["success"], 3, 5);
    rate(&staging["zero_downtime"], 4, 4);
    rate(&staging["rollback_readiness"], 3, 4);
    rate(&staging["environment_validation"], 4, 5);
    assert_eq!(staging["dora"]["production_successes"], 3);
    // D1 and D2 at 11 minutes, D3 at 20.
    close(&staging["dora"]["lead_time_median_seconds"], 11.0 * 60.0);
    rate(&staging["dora"]["change_failure"], 1, 4);
    close(&staging["dora"]["time_to_restore_median_seconds"], 5.0);

    let prod = row(&all["environments"], "prod");
    assert_eq!(prod["deployments"], 3);
    rate(&prod["success"], 3, 3);
    rate(&prod["zero_downtime"], 2, 3);
    rate(&prod["environment_validation"], 3, 3);
    rate(&prod["dora"]["change_failure"], 1, 3);

    let checkout = row(&all["services"], "checkout");
    assert_eq!(checkout["deployments"], 2);
    rate(&checkout["success"], 2, 2);
    rate(&checkout["zero_downtime"], 1, 2);
    let cart = row(&all["services"], "cart");
    assert_eq!(cart["deployments"], 3);
    rate(&cart["success"], 1, 3);
    rate(&cart["rollback_readiness"], 1, 2);
    // Cart's one production release (D3) succeeded.
    rate(&cart["dora"]["change_failure"], 0, 1);
}

#[test]
fn the_window_and_the_scope_narrow_what_counts() {
    let state = tempfile::tempdir().unwrap();
    write_journal(state.path(), Utc::now());
    // The last week: D3, D4, D5.
    let week = json_insights(state.path(), &["--since", "7d"]);
    assert_eq!(week["overall"]["deployments"], 3);
    rate(&week["overall"]["success"], 1, 3);
    // Prod only: D1, D2, D3's prod releases; each its own production.
    let prod = json_insights(state.path(), &["--env", "prod"]);
    assert_eq!(prod["overall"]["deployments"], 3);
    rate(&prod["overall"]["success"], 3, 3);
    assert_eq!(prod["environments"].as_array().unwrap().len(), 1);
    // Sixty days take in D0 too, two days to a bar.
    let two_months = json_insights(state.path(), &["--since", "60d", "--service", "checkout"]);
    assert_eq!(two_months["overall"]["deployments"], 3);
    assert_eq!(two_months["period_days"], 2);
    assert_eq!(
        two_months["overall"]["per_period"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
}

#[test]
fn text_shows_each_figure_a_row_per_scope_and_a_chart() {
    let state = tempfile::tempdir().unwrap();
    write_journal(state.path(), Utc::now());
    let (code, out, err) = insights(state.path(), &[]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "5 deployments counted; not counted: 1 unfinished, 1 refused before anything ran",
        "deployment success",
        "60.0 %",
        "3 of 5",
        "change failure rate",
        "33.3 % (1 of 3)",
        "median 51m00s",
        "median 8.0s (1 rollback)",
        "ENVIRONMENT",
        "SERVICE",
    ] {
        assert!(out.contains(expected), "no `{expected}` in:\n{out}");
    }
    let staging = out
        .lines()
        .find(|l| l.starts_with("staging"))
        .unwrap_or_else(|| panic!("no staging row:\n{out}"));
    assert!(staging.contains('█'), "no chart: {staging}");
}

#[test]
fn a_bad_since_is_a_usage_error() {
    let state = tempfile::tempdir().unwrap();
    let (code, _, err) = insights(state.path(), &["--since", "last tuesday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`last tuesday` is neither a span"), "{err}");
}

#[test]
fn an_empty_journal_says_so() {
    let state = tempfile::tempdir().unwrap();
    let (code, out, err) = insights(state.path(), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 deployments counted"), "{out}");
}
