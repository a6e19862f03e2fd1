//! Runs an environment's checks concurrently, each under its own timeout.

use std::time::Instant;

use futures::future::join_all;

use super::{CheckOutcome, Finding, Report, command, disk, env, http, quota, tcp, tls};
use crate::config::duration::format as fmt_duration;
use crate::config::{CheckSpec, Environment, Probe};

/// Which of an environment's checks to run.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// The gate and every check, the services' included.
    Everything,
    /// What a release of this service must pass: the gate, the
    /// environment's own checks and the service's.
    Release(ReleaseOf<'a>),
    /// The gate alone, for this release (what `helmsman plan` shows).
    Gate(ReleaseOf<'a>),
}

/// The release a check is run for. Commands learn it from their
/// environment, so a gate can ask about this very version ("did CI pass
/// for v1.5.0?") rather than about whatever is newest.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseOf<'a> {
    pub service: &'a str,
    pub version: &'a str,
}

/// Runs the selected checks at once and reports each, in configuration order.
pub async fn run(environment: &Environment, selection: Selection<'_>) -> Report {
    let preflight = &environment.preflight;
    let (checks, release): (Vec<&CheckSpec>, _) = match selection {
        Selection::Everything => (preflight.all().collect(), None),
        Selection::Release(of) => (preflight.for_release(of.service).collect(), Some(of)),
        Selection::Gate(of) => (preflight.gate.iter().collect(), Some(of)),
    };
    let mut vars = vec![("HELMSMAN_ENV".to_string(), environment.name.clone())];
    if let Some(of) = release {
        vars.push(("HELMSMAN_SERVICE".to_string(), of.service.to_string()));
        vars.push(("HELMSMAN_VERSION".to_string(), of.version.to_string()));
    }
    let outcomes = join_all(
        checks
            .into_iter()
            .cloned()
            .map(|spec| quota::in_cluster_of(environment, spec))
            .map(|spec| run_one(spec, vars.clone())),
    )
    .await;
    Report::new(environment.name.clone(), outcomes)
}

/// One check in its own task, so that a panic is reported rather than
/// spread, and so that a timeout can drop it wherever it is (a command's
/// process group is killed when its check is dropped).
async fn run_one(spec: CheckSpec, vars: Vec<(String, String)>) -> CheckOutcome {
    let started = Instant::now();
    let probe = spec.probe.clone();
    let task = tokio::spawn(async move { find(&probe, &vars).await });
    let abort = task.abort_handle();
    let finding = match tokio::time::timeout(spec.timeout, task).await {
        Ok(Ok(finding)) => finding,
        Ok(Err(failed)) => Finding::fail(format!("the check itself failed: {}", why(failed))),
        Err(_) => {
            abort.abort();
            Finding::fail(format!("timed out after {}", fmt_duration(spec.timeout)))
        }
    };
    CheckOutcome {
        kind: spec.kind(),
        name: spec.name,
        scope: spec.scope,
        status: finding.status,
        value: finding.value,
        duration: started.elapsed(),
    }
}

/// `vars`: what a command learns from its environment about the release.
async fn find(probe: &Probe, vars: &[(String, String)]) -> Finding {
    match probe {
        Probe::Http(http) => http::check(http).await,
        Probe::Tcp { address } => tcp::check(address).await,
        Probe::Tls(tls) => tls::check(tls).await,
        Probe::Env { names } => env::check(names),
        Probe::Command { run } => command::check(run, vars).await,
        Probe::Disk(disk) => disk::check(disk).await,
        Probe::Quota(probe) => quota::check(probe).await,
    }
}

/// A panic's message, or why the task ended.
fn why(failed: tokio::task::JoinError) -> String {
    if !failed.is_panic() {
        return failed.to_string();
    }
    let payload = failed.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    format!("panicked: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Preflight, Scope, preflight::defaults};
    use crate::observed::CheckStatus;
    use std::time::Duration;

    fn environment(checks: Vec<CheckSpec>) -> Environment {
        Environment {
            name: "dev".into(),
            requires: vec![],
            services: vec![],
            preflight: Preflight { gate: None, checks },
            watch_after: None,
        }
    }

    fn command(name: &str, script: &str, timeout: Duration) -> CheckSpec {
        CheckSpec {
            name: name.into(),
            scope: Scope::Environment,
            timeout,
            probe: Probe::Command {
                run: vec!["sh".into(), "-c".into(), script.into()],
            },
        }
    }

    #[tokio::test]
    async fn checks_run_at_once_in_order_and_a_slow_one_times_out() {
        let env = environment(vec![
            command("slow", "sleep 30", Duration::from_millis(300)),
            command("quick", "echo fine", defaults::TIMEOUT),
        ]);
        let started = Instant::now();
        let report = run(&env, Selection::Everything).await;
        // Generous: the point is that nobody waits for the 30 s sleep.
        assert!(started.elapsed() < Duration::from_secs(10));
        let names: Vec<_> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["slow", "quick"]);
        assert_eq!(report.checks[0].status, CheckStatus::Fail);
        assert_eq!(report.checks[0].value, "timed out after 300ms");
        assert_eq!(report.checks[1].status, CheckStatus::Pass);
        assert_eq!(report.checks[1].value, "exit 0: fine");
    }

    #[tokio::test]
    async fn a_panic_is_reported_with_its_message() {
        let failed = tokio::spawn(async { panic!("boom") }).await.unwrap_err();
        assert_eq!(why(failed), "panicked: boom");
        let message = String::from("formatted boom");
        let failed = tokio::spawn(async move { panic!("{message}") })
            .await
            .unwrap_err();
        assert_eq!(why(failed), "panicked: formatted boom");
    }
}
