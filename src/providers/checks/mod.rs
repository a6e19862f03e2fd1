//! Validation checks.

pub mod http;
pub mod service_proxy;

use std::time::{Duration, Instant};

use crate::observed::{CheckResult, CheckStatus};

/// The result of check `name`: what `answer` found (its status and detail),
/// or a failure when it found nothing within `timeout`; timed either way.
async fn within(
    name: String,
    timeout: Duration,
    answer: impl Future<Output = (CheckStatus, String)>,
) -> CheckResult {
    let started = Instant::now();
    let (status, detail) = tokio::time::timeout(timeout, answer)
        .await
        .unwrap_or_else(|_| {
            (
                CheckStatus::Fail,
                format!("no answer within {} ms", timeout.as_millis()),
            )
        });
    CheckResult {
        name,
        status,
        detail,
        took: started.elapsed(),
    }
}
