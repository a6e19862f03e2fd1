//! Running what a team configured around its releases: the phases of its
//! database migrations (`migrations`) and its lifecycle hooks (`hooks`).
//! Each run says what it did in a [`JobRun`], which the journal, the
//! events and the report carry.

pub mod hooks;
pub mod migrations;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Output kept of a run for the journal and the report.
const OUTPUT_TAIL: usize = 2000;

/// The release a job runs for: what its command reads from
/// `HELMSMAN_*` variables and what an HTTP hook receives as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Context {
    pub env: String,
    pub service: String,
    pub version: String,
    pub previous_version: String,
    /// The blue-green preview's instances (`http://host:port`), for the
    /// `preview` hooks: what a smoke suite is pointed at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preview_urls: Vec<String>,
}

impl Context {
    /// The variables a command runs with, `phase` naming the job
    /// (`expand`, `pre_step`…).
    pub fn vars(&self, phase: &str) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = [
            ("HELMSMAN_ENV", self.env.as_str()),
            ("HELMSMAN_SERVICE", self.service.as_str()),
            ("HELMSMAN_VERSION", self.version.as_str()),
            ("HELMSMAN_PREVIOUS_VERSION", self.previous_version.as_str()),
            ("HELMSMAN_PHASE", phase),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if !self.preview_urls.is_empty() {
            vars.push((
                "HELMSMAN_PREVIEW_URLS".to_string(),
                self.preview_urls.join(" "),
            ));
        }
        vars
    }
}

/// Where the new version's instances answer before any user reaches them,
/// as the configuration lists them: a local data plane's upstreams. Other
/// backends name no address helmsman could hand on (HAProxy knows its
/// servers' addresses, Kubernetes its preview Service).
pub fn preview_urls(service: &crate::config::Service, version: &str) -> Vec<String> {
    let Some(plane) = service.backend.plane() else {
        return Vec::new();
    };
    plane
        .versions
        .get(version)
        .into_iter()
        .flatten()
        .map(|addr| format!("http://{addr}"))
        .collect()
}

/// One job, run: a migration phase or a hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    /// `expand`, `migrate`…, or `pre_step hook smoke`.
    pub name: String,
    pub passed: bool,
    /// Why, in one line: "exit 0: 12 rows", "HTTP 503".
    pub summary: String,
    /// The end of what it printed.
    pub output: String,
    pub started_at: DateTime<Utc>,
    #[serde(with = "millis")]
    pub took: Duration,
}

impl JobRun {
    /// `name` started at `started_at` ends now.
    fn ended(
        name: String,
        started_at: DateTime<Utc>,
        passed: bool,
        summary: String,
        output: &str,
    ) -> JobRun {
        JobRun {
            name,
            passed,
            summary,
            output: tail(output),
            started_at,
            took: (Utc::now() - started_at).to_std().unwrap_or_default(),
        }
    }

    /// "expand passed in 1.2 s: exit 0".
    pub fn describe(&self) -> String {
        format!(
            "{} {} in {:.1} s: {}",
            self.name,
            if self.passed { "passed" } else { "failed" },
            self.took.as_secs_f64(),
            self.summary
        )
    }
}

/// The last [`OUTPUT_TAIL`] bytes of `text`, cut at a character.
fn tail(text: &str) -> String {
    let text = text.trim_end();
    let mut start = text.len().saturating_sub(OUTPUT_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A preview hook learns the preview's addresses from the variable and
    /// the JSON body; every other job sees neither.
    #[test]
    fn only_a_job_given_preview_addresses_carries_them() {
        let mut context = Context {
            env: "dev".into(),
            service: "web".into(),
            version: "v2".into(),
            previous_version: "v1".into(),
            preview_urls: Vec::new(),
        };
        let named = |c: &Context| {
            c.vars("preview")
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert!(!named(&context).contains(&"HELMSMAN_PREVIEW_URLS".to_string()));
        assert!(
            serde_json::to_value(&context)
                .unwrap()
                .get("preview_urls")
                .is_none()
        );

        context.preview_urls = vec![
            "http://127.0.0.1:9001".into(),
            "http://127.0.0.1:9002".into(),
        ];
        let vars = context.vars("preview");
        assert!(vars.contains(&(
            "HELMSMAN_PREVIEW_URLS".to_string(),
            "http://127.0.0.1:9001 http://127.0.0.1:9002".to_string()
        )));
        assert_eq!(
            serde_json::to_value(&context).unwrap()["preview_urls"],
            serde_json::json!(["http://127.0.0.1:9001", "http://127.0.0.1:9002"])
        );
    }
}
