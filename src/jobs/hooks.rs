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
            crate::redact::redact(&crate::notify::deliver::with_causes(&e.without_url()))
                .into_owned(),
            String::new(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::hooks::OnFailure;

    fn context() -> Context {
        Context {
            env: "prod".into(),
            service: "web".into(),
            version: "v2".into(),
            previous_version: "v1".into(),
            preview_urls: Vec::new(),
        }
    }

    fn hook(at: HookPoint, action: HookAction, retries: u32) -> Hook {
        Hook {
            name: "h".into(),
            at,
            action,
            timeout: Duration::from_secs(2),
            retries,
            on_failure: OnFailure::Refuse,
            every: Duration::from_secs(1),
        }
    }

    /// One HTTP server on loopback answering `status` to every request,
    /// and what it was sent.
    async fn answering(status: u16) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/release", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut bodies = Vec::new();
            while let Ok(Ok((mut stream, _))) =
                tokio::time::timeout(Duration::from_secs(2), listener.accept()).await
            {
                let mut request = vec![0u8; 8192];
                let n = stream.read(&mut request).await.unwrap();
                let text = String::from_utf8_lossy(&request[..n]).into_owned();
                bodies.push(text.split("\r\n\r\n").nth(1).unwrap_or("").to_string());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"
                );
                stream.write_all(reply.as_bytes()).await.unwrap();
            }
            bodies
        });
        (url, task)
    }

    #[tokio::test]
    async fn an_http_hook_posts_the_release_s_context_and_a_2xx_passes() {
        let (url, server) = answering(200).await;
        let action = HookAction::Http {
            url: crate::config::Secret::new(url, None),
        };
        let runs = run(
            &[hook(HookPoint::Confirm, action, 0)],
            HookPoint::Confirm,
            &context(),
            Path::new("."),
        )
        .await;
        assert_eq!(runs.len(), 1);
        assert!(runs[0].passed, "{:?}", runs[0]);
        assert_eq!(runs[0].summary, "HTTP 200");
        let bodies = server.await.unwrap();
        let sent: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"env": "prod", "service": "web", "version": "v2",
                               "previous_version": "v1", "phase": "confirm"})
        );
    }

    #[tokio::test]
    async fn a_failing_hook_is_tried_again_and_a_pre_point_stops_at_the_first_failure() {
        let (url, server) = answering(503).await;
        let http = HookAction::Http {
            url: crate::config::Secret::new(url, None),
        };
        let never = HookAction::Command {
            run: vec!["sh".into(), "-c".into(), "exit 0".into()],
        };
        let runs = run(
            &[
                hook(HookPoint::PreStep, http, 1),
                hook(HookPoint::PreStep, never, 0),
            ],
            HookPoint::PreStep,
            &context(),
            Path::new("."),
        )
        .await;
        assert_eq!(runs.len(), 1, "the second pre_step hook never ran");
        assert!(!runs[0].passed);
        assert_eq!(runs[0].summary, "HTTP 503 (try 2)");
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_command_hook_learns_the_release_and_a_slow_one_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let echo = HookAction::Command {
            run: vec![
                "sh".into(),
                "-c".into(),
                "echo \"$HELMSMAN_PHASE $HELMSMAN_ENV $HELMSMAN_VERSION\" > said; cat said".into(),
            ],
        };
        let slow = HookAction::Command {
            run: vec!["sleep".into(), "30".into()],
        };
        let mut slow = hook(HookPoint::PostRelease, slow, 0);
        slow.timeout = Duration::from_millis(200);
        let runs = run(
            &[hook(HookPoint::PostRelease, echo, 0), slow],
            HookPoint::PostRelease,
            &context(),
            dir.path(),
        )
        .await;
        // After the fact every hook runs, the failed one included.
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].summary, "exit 0: post_release prod v2");
        assert_eq!(runs[0].output, "post_release prod v2");
        assert!(
            dir.path().join("said").is_file(),
            "it ran in the directory given"
        );
        assert!(!runs[1].passed);
        assert_eq!(runs[1].summary, "no answer within 200ms");
    }
}
