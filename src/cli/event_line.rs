//! How a headless release prints its events: one line each, as text for
//! people or JSON for machines.

use super::OutputFormat;
use crate::engine::Event;

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
}
