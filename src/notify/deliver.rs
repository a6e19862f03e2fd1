//! Delivering one message to one target: a POST (the message's JSON, or
//! Slack's payload) or a command reading it on stdin, each try bounded by
//! the target's timeout, tried again after a failure with a doubling wait.
//! What a failure says never holds the target's URL.

use std::time::Duration;

use crate::config::notify::{NotifyTarget, Sink};
use crate::observed::CheckStatus;

use super::message::Message;
use super::slack;

/// The wait before the first retry; each later one doubles, up to [`MAX_WAIT`].
pub const FIRST_WAIT: Duration = Duration::from_millis(500);
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Why a try failed, and whether another may succeed.
struct Failed {
    why: String,
    again: bool,
}

/// Delivers `message`, trying again up to the target's `retries`; the
/// error says why the last try failed and how many were made.
pub async fn deliver(
    client: &reqwest::Client,
    target: &NotifyTarget,
    message: &Message,
) -> Result<(), String> {
    let mut wait = FIRST_WAIT;
    let mut tries = 0;
    loop {
        tries += 1;
        let attempt = tokio::time::timeout(target.timeout, once(client, target, message)).await;
        let failed = match attempt {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(failed)) => failed,
            Err(_) => Failed {
                why: format!("no answer within {:?}", target.timeout),
                again: true,
            },
        };
        if !failed.again || tries > target.retries {
            let why = crate::redact::redact(&failed.why).into_owned();
            return Err(format!(
                "{why} ({tries} {})",
                if tries == 1 { "try" } else { "tries" }
            ));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_WAIT);
    }
}

async fn once(
    client: &reqwest::Client,
    target: &NotifyTarget,
    message: &Message,
) -> Result<(), Failed> {
    match &target.sink {
        Sink::Webhook { url } => {
            post(
                client,
                url.expose(),
                &serde_json::to_value(message).expect("a message serializes"),
            )
            .await
        }
        Sink::Slack { url } => post(client, url.expose(), &slack::payload(message)).await,
        Sink::Command { run } => {
            let input = serde_json::to_vec(message).expect("a message serializes");
            let vars = [
                (
                    "HELMSMAN_EVENT".to_string(),
                    message.event.name().to_string(),
                ),
                ("HELMSMAN_ENV".to_string(), message.env.clone()),
                ("HELMSMAN_SERVICE".to_string(), message.service.clone()),
                ("HELMSMAN_VERSION".to_string(), message.new_version.clone()),
            ];
            let finding = crate::preflight::command::run_with_input(run, &vars, Some(input)).await;
            match finding.status {
                CheckStatus::Pass => Ok(()),
                _ => Err(Failed {
                    why: format!("`{}`: {}", run[0], finding.value),
                    again: true,
                }),
            }
        }
    }
}

/// A 2xx is delivered; a 429 or 5xx may be on a retry; any other status
/// will not be (the URL or the payload is wrong).
async fn post(client: &reqwest::Client, url: &str, body: &serde_json::Value) -> Result<(), Failed> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| Failed {
            // reqwest names the URL in its errors: never repeated.
            why: with_causes(&e.without_url()),
            again: true,
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.bytes().await.unwrap_or_default();
    Err(Failed {
        why: format!(
            "HTTP {}: {}",
            status.as_u16(),
            crate::redact::excerpt(&body)
        ),
        again: status.as_u16() == 429 || status.is_server_error(),
    })
}

/// "error sending request: tcp connect error: Connection refused".
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let said = e.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = e.source();
    }
    text
}
