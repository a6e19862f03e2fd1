//! Running the hooks of one point of a release, in the order configured:
//! a command with the release's `HELMSMAN_*` variables, or an HTTP POST of
//! the same context as JSON (a 2xx passes). Each try is bounded by the
//! hook's timeout; a failed one is tried again `retries` times, after a
//! doubling wait. At a point that can stop the release the first hook
//! that fails ends the run; after the fact (post_step, post_release,
//! on_rollback) every hook runs.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use super::{Context, JobRun};
use crate::config::hooks::{Hook, HookAction, HookPoint};
use crate::observed::CheckStatus;
use crate::preflight::command;

const FIRST_WAIT: Duration = Duration::from_millis(500);

/// Runs every hook of `hooks` at `point`; empty when none is there.
pub async fn run(hooks: &[Hook], point: HookPoint, context: &Context, dir: &Path) -> Vec<JobRun> {
    let mut runs = Vec::new();
    for hook in hooks.iter().filter(|h| h.at == point) {
        let run = run_one(hook, context, dir).await;
        let failed = !run.passed;
        runs.push(run);
        if failed && stops_at_failure(point) {
            break;
        }
    }
    runs
}

/// Whether a failure at `point` keeps the release from going on, so the
/// hooks after it need not run.
fn stops_at_failure(point: HookPoint) -> bool {
    matches!(
        point,
        HookPoint::PreRelease | HookPoint::PreStep | HookPoint::Confirm | HookPoint::Preview
    )
}

/// One hook, with its retries.
pub async fn run_one(hook: &Hook, context: &Context, dir: &Path) -> JobRun {
    let started_at = Utc::now();
    let mut wait = FIRST_WAIT;
    let mut tries = 0;
    loop {
        tries += 1;
        let (passed, summary, output) = try_once(hook, context, dir).await;
        if passed || tries > hook.retries {
            let summary = if tries > 1 {
                format!("{summary} (try {tries})")
            } else {
                summary
            };
            return JobRun::ended(
                format!("{} hook {}", hook.at, hook.name),
                started_at,
                passed,
                summary,
                &output,
            );
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

async fn try_once(hook: &Hook, context: &Context, dir: &Path) -> (bool, String, String) {
    let phase = hook.at.name();
    let attempt = async {
        match &hook.action {
            HookAction::Command { run } => {
                let ran = command::execute(run, &context.vars(phase), None, Some(dir)).await;
                (
                    ran.finding.status == CheckStatus::Pass,
                    ran.finding.value,
                    ran.output,
                )
            }
            HookAction::Http { url } => post(url.expose(), context, phase).await,
        }
    };
    match tokio::time::timeout(hook.timeout, attempt).await {
        Ok(done) => done,
        Err(_) => (
            false,
            format!(
                "no answer within {}",
                crate::config::duration::format(hook.timeout)
            ),
            String::new(),
        ),
    }
}

/// POSTs the context, with `phase`, as JSON; a 2xx passes. What a failure
/// says never holds the URL (it may carry a token).
async fn post(url: &str, context: &Context, phase: &str) -> (bool, String, String) {
    let mut body = serde_json::to_value(context).expect("a context serializes");
    body["phase"] = phase.into();
    let client = reqwest::Client::new();
    match client.post(url).json(&body).send().await {
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let said = crate::redact::excerpt(text.as_bytes());
            (
                status.is_success(),
                format!("HTTP {}", status.as_u16()),
                said,
            )
        }
        Err(e) => (
            false,
            crate::redact::redact(&e.without_url().to_string()).into_owned(),
            String::new(),
        ),
    }
}
