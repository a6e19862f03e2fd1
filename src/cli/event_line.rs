//! How a headless release prints its events and its preflight checks: one
//! line each, as text for people or JSON for machines.

use super::OutputFormat;
use crate::config::Scope;
use crate::engine::Event;
use crate::pipeline::Watcher;
use crate::preflight::{CheckOutcome, Report};

/// Prints every event of a release, and each of its preflight checks, as a
/// line. A line that cannot be written stops the release (see `output`).
pub struct Printer(pub OutputFormat);

impl Watcher for Printer {
    fn event(&mut self, event: &Event) {
        crate::outln!("{}", event_line(event, self.0));
    }

    fn preflight(&mut self, report: &Report) {
        let at = chrono::Utc::now();
        for check in &report.checks {
            crate::outln!("{}", check_line(at, &report.env, check, self.0));
        }
    }

    /// On stderr: standard output keeps to events (one JSON object a line).
    fn notice(&mut self, text: &str) {
        crate::errln!("warning: {text}");
    }
}

/// `14:03:05.123 dev/checkout  Progressing → Analysing  step 4/6  50 %  reason  [engine]`
pub fn event_line(event: &Event, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => serde_json::to_string(event).expect("events always serialize"),
        OutputFormat::Text => {
            let step = if event.steps > 0 {
                format!("step {}/{}", (event.step + 1).min(event.steps), event.steps)
            } else {
                String::new()
            };
            format!(
                "{} {}/{}  {} → {}  {}  {:>3} %  {}  [{}]",
                event.at.format("%H:%M:%S%.3f"),
                event.env,
                event.service,
                event.from,
                event.to,
                step,
                event.weight,
                event.reason,
                event.actor,
            )
        }
    }
}

/// `14:03:05.123 prod  preflight FAIL  tcp db:5432: cannot connect to …  [3 ms]`;
/// a service's check names the service, the gate says so. As JSON:
/// `{"preflight": {"env": "prod", "name": "db", "status": "fail", …}}`.
pub fn check_line(
    at: chrono::DateTime<chrono::Utc>,
    env: &str,
    check: &CheckOutcome,
    format: OutputFormat,
) -> String {
    match format {
        OutputFormat::Json => {
            let mut fields = serde_json::to_value(check).expect("outcomes always serialize");
            fields["env"] = env.into();
            serde_json::json!({ "preflight": fields }).to_string()
        }
        OutputFormat::Text => {
            let whose = match &check.scope {
                Scope::Gate => "gate ".to_string(),
                Scope::Environment => String::new(),
                Scope::Service(service) => format!("{service}: "),
            };
            format!(
                "{} {env}  preflight {:<4}  {whose}{} {}: {}  [{} ms]",
                at.format("%H:%M:%S%.3f"),
                check.status.word(),
                check.kind,
                check.name,
                check.value,
                check.duration.as_millis()
            )
        }
    }
}

/// PASS, WARN, FAIL: the status as people scan for it.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Actor, Phase};

    #[test]
    fn text_lines_name_the_transition_and_who() {
        let event = Event {
            at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            env: "prod".into(),
            service: "checkout".into(),
            from: Phase::Progressing,
            to: Phase::RollingBack,
            step: 2,
            steps: 6,
            weight: 25,
            reason: "error rate 7.9 % vs baseline 0.2 %".into(),
            actor: Actor::Engine,
            verdict: None,
            job: None,
        };
        let line = event_line(&event, OutputFormat::Text);
        assert!(
            line.contains("prod/checkout  Progressing → Rolling back  step 3/6   25 %"),
            "{line}"
        );
        assert!(line.ends_with("[engine]"), "{line}");
        let json: serde_json::Value =
            serde_json::from_str(&event_line(&event, OutputFormat::Json)).unwrap();
        assert_eq!(json["to"], "rolling-back");
    }

    #[test]
    fn check_lines_name_the_check_its_status_and_value() {
        let check = CheckOutcome {
            name: "db".into(),
            scope: Scope::Service("web".into()),
            kind: crate::config::CheckKind::Tcp,
            status: crate::preflight::CheckStatus::Fail,
            value: "cannot connect to 127.0.0.1:5432: Connection refused".into(),
            duration: std::time::Duration::from_millis(3),
        };
        let at = chrono::DateTime::from_timestamp(0, 0).unwrap();
        assert_eq!(
            check_line(at, "prod", &check, OutputFormat::Text),
            "00:00:00.000 prod  preflight FAIL  web: tcp db: \
             cannot connect to 127.0.0.1:5432: Connection refused  [3 ms]"
        );
        let json: serde_json::Value =
            serde_json::from_str(&check_line(at, "prod", &check, OutputFormat::Json)).unwrap();
        assert_eq!(json["preflight"]["env"], "prod");
        assert_eq!(json["preflight"]["service"], "web");
        assert_eq!(json["preflight"]["status"], "fail");
    }
}
