//! `http`: a GET that must answer one of the expected statuses (2xx by
//! default). Redirects are not followed: a check reports what the URL
//! itself answers. An `application/health+json` answer (the IETF draft
//! "Health Check Response Format for HTTP APIs") is read further: its
//! `status` says pass, warn or fail, and its `output` says why.

use std::time::Instant;

use reqwest::header::CONTENT_TYPE;

use super::{Finding, shorten};
use crate::config::preflight::{HttpProbe, StatusMatch};
use crate::observed::CheckStatus;

/// More of a health document than this is not read.
const BODY_LIMIT: usize = 64 * 1024;
/// A health document's `output` is cut to this many characters.
const OUTPUT_LIMIT: usize = 120;

pub async fn check(probe: &HttpProbe) -> Finding {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => return Finding::fail(format!("cannot make an HTTP client: {e}")),
    };
    let mut request = client.get(&probe.url);
    for (name, value) in &probe.headers {
        request = request.header(name, value.expose());
    }
    let started = Instant::now();
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return Finding::fail(failure(&e)),
    };
    let code = response.status().as_u16();
    let mut value = format!("HTTP {code} in {} ms", started.elapsed().as_millis());
    let expected = probe.expect_status.iter().any(|s| s.matches(code));
    if !expected {
        value.push_str(&format!(", expected {}", statuses(&probe.expect_status)));
    }
    let mut status = if expected {
        CheckStatus::Pass
    } else {
        CheckStatus::Fail
    };
    if is_health_json(&response) {
        let body = read_capped(&mut response).await;
        let (health, words) = health_status(&body);
        value.push_str(&format!(", {words}"));
        // An unexpected status fails whatever the document says.
        status = status.max(health);
    }
    Finding { status, value }
}

fn statuses(expected: &[StatusMatch]) -> String {
    let all: Vec<String> = expected.iter().map(ToString::to_string).collect();
    all.join(" or ")
}

fn is_health_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/health+json"))
}

async fn read_capped(response: &mut reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body
}

/// The document's `status` as a check status, and in words with its `output`.
fn health_status(body: &[u8]) -> (CheckStatus, String) {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (
            CheckStatus::Fail,
            "the health document is not JSON".to_string(),
        );
    };
    let said = document.get("status").and_then(|s| s.as_str());
    let status = match said.map(str::to_ascii_lowercase).as_deref() {
        Some("pass" | "ok" | "up") => CheckStatus::Pass,
        Some("warn") => CheckStatus::Warn,
        Some("fail" | "error" | "down") => CheckStatus::Fail,
        Some(other) => {
            return (
                CheckStatus::Fail,
                format!("health status `{other}` is not pass, warn or fail"),
            );
        }
        None => {
            return (
                CheckStatus::Fail,
                "the health document has no `status`".to_string(),
            );
        }
    };
    let mut words = format!("health {}", said.unwrap_or_default());
    if let Some(output) = document.get("output").and_then(|o| o.as_str())
        && !output.trim().is_empty()
    {
        words.push_str(": ");
        words.push_str(&shorten(output, OUTPUT_LIMIT));
    }
    (status, words)
}

/// Why a request got no answer, in the words of the deepest cause
/// ("Connection refused (os error 111)") rather than reqwest's layers.
fn failure(error: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = error;
    while let Some(cause) = root.source() {
        root = cause;
    }
    match error.url().filter(|_| error.is_connect()) {
        Some(url) => format!(
            "cannot connect to {}:{}: {root}",
            url.host_str().unwrap_or("?"),
            url.port_or_known_default().unwrap_or(0)
        ),
        None => format!("request failed: {root}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_documents_map_to_pass_warn_and_fail() {
        let cases = [
            (r#"{"status":"pass"}"#, CheckStatus::Pass, "health pass"),
            (r#"{"status":"UP"}"#, CheckStatus::Pass, "health UP"),
            (
                r#"{"status":"warn","output":"disk 85 % full"}"#,
                CheckStatus::Warn,
                "health warn: disk 85 % full",
            ),
            (r#"{"status":"down"}"#, CheckStatus::Fail, "health down"),
            (
                r#"{"status":"maybe"}"#,
                CheckStatus::Fail,
                "health status `maybe` is not pass, warn or fail",
            ),
            (
                r#"{"checks":{}}"#,
                CheckStatus::Fail,
                "the health document has no `status`",
            ),
            (
                "<html>",
                CheckStatus::Fail,
                "the health document is not JSON",
            ),
        ];
        for (body, status, words) in cases {
            assert_eq!(
                health_status(body.as_bytes()),
                (status, words.to_string()),
                "{body}"
            );
        }
    }
}
