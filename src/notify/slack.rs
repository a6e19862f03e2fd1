//! A Slack incoming webhook's payload: `text` (the notification's summary,
//! what a phone's notification shows) and `blocks` (the summary, then the
//! release's id and numbers in a context line).

use serde_json::{Value, json};

use super::message::Message;

pub fn payload(message: &Message) -> Value {
    let mut context = vec![format!("deployment `{}`", message.deployment)];
    if let Some(id) = &message.release_id {
        context.push(format!("release `{id}`"));
    }
    if let Some(f) = &message.figures {
        if let (Some(new), Some(base)) = (f.new_error_rate_pct, f.baseline_error_rate_pct) {
            context.push(format!("errors {new:.2} % vs {base:.2} %"));
        }
        if let (Some(new), Some(base)) = (f.new_p95_ms, f.baseline_p95_ms) {
            context.push(format!("p95 {new:.0} ms vs {base:.0} ms"));
        }
        context.push(format!(
            "{} / {} requests",
            f.new_requests, f.baseline_requests
        ));
    }
    if let Some(report) = &message.report {
        context.push(format!("report: `{report}`"));
    }
    json!({
        "text": message.summary,
        "blocks": [
            {
                "type": "section",
                "text": { "type": "mrkdwn", "text": format!("{} *{}*", icon(message), message.summary) },
            },
            {
                "type": "context",
                "elements": [{ "type": "mrkdwn", "text": context.join(" · ") }],
            },
        ],
    })
}

fn icon(message: &Message) -> &'static str {
    use crate::config::notify::NotifyEvent as E;
    match message.event {
        E::Started | E::Step => ":arrow_forward:",
        E::Waiting => ":raised_hand:",
        E::Succeeded => ":white_check_mark:",
        E::RolledBack | E::Failed | E::CheckFailed => ":x:",
        E::Alert => ":warning:",
    }
}
