//! Reading `[[notify]]` targets.

use super::*;
use crate::config::notify::{NotifyEvent, NotifyTarget, Sink, defaults as notify_defaults};

const KEYS: &[&str] = &[
    "name",
    "type",
    "url",
    "run",
    "events",
    "environments",
    "timeout",
    "retries",
];

impl Walker<'_, '_> {
    /// Every `[[notify]]` table; `envs` are the environments defined.
    pub(super) fn notify(&mut self, value: &Value, envs: &[&str]) -> Vec<NotifyTarget> {
        let Some(items) = as_array(self.errors, "notify", value) else {
            return Vec::new();
        };
        let mut targets: Vec<NotifyTarget> = Vec::new();
        let mut seen: Vec<(String, Span)> = Vec::new();
        for item in items {
            let Some(table) = as_table(self.errors, "notify", item) else {
                continue;
            };
            let Some(target) = self.notify_target(table, &item.span(), envs) else {
                continue;
            };
            let span = get(table, "name").map_or(item.span(), |v| v.span());
            if self.first_of_its_name(&mut seen, &target.name, span, "notify target") {
                targets.push(target);
            }
        }
        targets
    }

    fn notify_target(&mut self, table: &Table, span: &Span, envs: &[&str]) -> Option<NotifyTarget> {
        check_keys(self.errors, table, KEYS, "a `[[notify]]` table");
        let Some(kind) = get(table, "type") else {
            self.errors.add_hint(
                span,
                "missing key `type` in this notify target",
                format!(
                    "add `type = \"slack\"`; types: {}",
                    quoted_list(&Sink::TYPES)
                ),
            );
            return None;
        };
        let kind_name = as_str(self.errors, "type", kind)?;
        if !Sink::TYPES.contains(&kind_name) {
            self.errors.add_hint(
                &kind.span(),
                format!("unknown notify type `{kind_name}`"),
                suggestion(kind_name, &Sink::TYPES, "notify types"),
            );
            return None;
        }
        let name = match get(table, "name") {
            None => Some(kind_name.to_string()),
            Some(v) => as_name(self.errors, "name", v),
        };
        let sink = match kind_name {
            "command" => self.notify_command(table, span),
            _ => self
                .notify_url(table, span, name.as_deref().unwrap_or(kind_name))
                .map(|url| match kind_name {
                    "slack" => Sink::Slack { url },
                    _ => Sink::Webhook { url },
                }),
        };
        let events = match get(table, "events") {
            None => Some(NotifyEvent::defaults()),
            Some(v) => self.notify_events(v),
        };
        let environments = match get(table, "environments") {
            None => Some(Vec::new()),
            Some(v) => self.notify_environments(v, envs),
        };
        let timeout = match get(table, "timeout") {
            None => Some(notify_defaults::TIMEOUT),
            Some(v) => as_positive_duration(self.errors, "timeout", v),
        };
        let retries = match get(table, "retries") {
            None => Some(notify_defaults::RETRIES),
            Some(v) => as_int_in(
                self.errors,
                "retries",
                v,
                0,
                10,
                "deliveries tried again after a failure, 0 to 10",
            )
            .map(|n| n as u32),
        };
        Some(NotifyTarget {
            name: name?,
            sink: sink?,
            events: events?,
            environments: environments?,
            timeout: timeout?,
            retries: retries?,
        })
    }

    /// A webhook's URL: a secret (`${VAR}` resolved, and masked wherever
    /// it could be printed even when written literally), checked to be
    /// http(s) without ever quoting it.
    fn notify_url(&mut self, table: &Table, span: &Span, name: &str) -> Option<Secret> {
        let value = self.required(
            table,
            span,
            "url",
            "this notify target",
            "add `url = \"${SLACK_WEBHOOK_URL}\"`: the webhook to POST to, from an environment variable",
        )?;
        self.secret_url(
            value,
            &format!("url of notify target {name}"),
            "set it to the webhook's full URL, e.g. https://hooks.slack.com/services/…",
        )
    }

    /// `url`, found at `value`: its `${VAR}`s resolved, registered with
    /// the redactor as `label`, and an http(s) URL with a host.
    pub(super) fn secret_url(&mut self, value: &Value, label: &str, hint: &str) -> Option<Secret> {
        let text = as_str(self.errors, "url", value)?;
        let url = self.resolve_secret("`url`", text.trim(), value)?;
        crate::redact::register(label, url.expose());
        let parsed = reqwest::Url::parse(url.expose());
        if matches!(&parsed, Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host()) {
            return Some(url);
        }
        self.errors.add_hint(
            &value.span(),
            format!("`url` ({url}) is not an http(s) URL"),
            hint,
        );
        None
    }

    fn notify_command(&mut self, table: &Table, span: &Span) -> Option<Sink> {
        let hint = "write the command as an argv array, e.g. run = [\"/usr/local/bin/page-oncall\", \"--team\", \"payments\"]; it reads the message's JSON on stdin";
        let value = self.required(table, span, "run", "this command target", hint)?;
        self.argv("run", value, hint)
            .map(|run| Sink::Command { run })
    }

    fn notify_events(&mut self, value: &Value) -> Option<Vec<NotifyEvent>> {
        let names: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.name()).collect();
        let items = as_array(self.errors, "events", value)?;
        let mut chosen = Vec::new();
        let mut complete = true;
        for item in items {
            let Some(name) = as_str(self.errors, "events", item) else {
                complete = false;
                continue;
            };
            match NotifyEvent::named(name) {
                Some(event) => chosen.push(event),
                None => {
                    complete = false;
                    self.errors.add_hint(
                        &item.span(),
                        format!("unknown notify event `{name}`"),
                        suggestion(name, &names, "events"),
                    );
                }
            }
        }
        if complete && chosen.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "`events` is empty: this target would never hear anything",
                format!("list what it should hear of: {}", quoted_list(&names)),
            );
            return None;
        }
        complete.then(|| {
            NotifyEvent::ALL
                .into_iter()
                .filter(|e| chosen.contains(e))
                .collect()
        })
    }

    fn notify_environments(&mut self, value: &Value, envs: &[&str]) -> Option<Vec<String>> {
        let items = as_array(self.errors, "environments", value)?;
        let mut chosen = Vec::new();
        for item in items {
            let Some(name) = as_str(self.errors, "environments", item) else {
                continue;
            };
            if envs.contains(&name) {
                chosen.push(name.to_string());
            } else {
                self.errors.add_hint(
                    &item.span(),
                    format!("unknown environment `{name}` in `environments`"),
                    suggestion(name, envs, "environments"),
                );
            }
        }
        (chosen.len() == items.len()).then_some(chosen)
    }
}
