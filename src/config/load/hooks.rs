//! Reading a service's `[[environments.services.hooks]]`.

use super::*;
use crate::config::hooks::{Hook, HookAction, HookPoint, OnFailure, defaults};

const KEYS: &[&str] = &[
    "name",
    "at",
    "run",
    "url",
    "timeout",
    "retries",
    "on_failure",
    "every",
];
const ON_FAILURE: [&str; 2] = ["refuse", "hold"];

impl Walker<'_, '_> {
    /// Every hook of service `who`.
    pub(super) fn hooks(&mut self, value: &Value, who: &str) -> Option<Vec<Hook>> {
        let items = as_array(self.errors, "hooks", value)?;
        let mut hooks = Vec::new();
        let mut seen: Vec<(String, Span)> = Vec::new();
        let mut complete = true;
        for item in items {
            let Some(table) = as_table(self.errors, "hooks", item) else {
                complete = false;
                continue;
            };
            match self.hook(table, &item.span(), who) {
                Some(hook) => {
                    // Only names given are held unique: two `sh` hooks may share theirs.
                    if let Some(name) = get(table, "name") {
                        complete &=
                            self.first_of_its_name(&mut seen, &hook.name, name.span(), "hook");
                    }
                    hooks.push(hook);
                }
                None => complete = false,
            }
        }
        complete.then_some(hooks)
    }

    fn hook(&mut self, table: &Table, span: &Span, who: &str) -> Option<Hook> {
        check_keys(
            self.errors,
            table,
            KEYS,
            "an `[[environments.services.hooks]]` table",
        );
        let at = self.required(
            table,
            span,
            "at",
            "this hook",
            &format!(
                "add `at = \"pre_step\"`; hooks run at {}",
                quoted_list(&HookPoint::NAMES)
            ),
        );
        let at = at.and_then(|v| {
            let name = as_str(self.errors, "at", v)?;
            let point = HookPoint::from_name(name);
            if point.is_none() {
                self.errors.add_hint(
                    &v.span(),
                    format!("unknown hook point `{name}`"),
                    suggestion(name, &HookPoint::NAMES, "hook points"),
                );
            }
            point
        });
        let action = match (get(table, "run"), get(table, "url")) {
            (Some(run), None) => self
                .argv(
                    "run",
                    run,
                    "write the command as an argv array, e.g. run = [\"./smoke.sh\", \"--suite\", \"checkout\"]",
                )
                .map(|run| HookAction::Command { run }),
            (None, Some(url)) => self
                .secret_url(
                    url,
                    &format!("url of a hook of {who}"),
                    "set it to the full URL helmsman POSTs the release's context to, e.g. https://ci.internal/hooks/release",
                )
                .map(|url| HookAction::Http { url }),
            (Some(_), Some(url)) => {
                self.errors.add_hint(
                    &url.span(),
                    "a hook has `run` or `url`, not both",
                    "keep `run` for a command, or `url` for an HTTP POST",
                );
                None
            }
            (None, None) => {
                self.errors.add_hint(
                    span,
                    "this hook has neither `run` nor `url`",
                    "add `run = [\"./smoke.sh\"]` (a command) or `url = \"https://…\"` (an HTTP POST)",
                );
                None
            }
        };
        let mut hook = Hook {
            name: String::new(),
            at: at.unwrap_or(HookPoint::PreStep),
            action: action
                .clone()
                .unwrap_or(HookAction::Command { run: Vec::new() }),
            timeout: defaults::TIMEOUT,
            retries: 0,
            on_failure: OnFailure::Refuse,
            every: defaults::EVERY,
        };
        let mut complete = at.is_some() && action.is_some();
        complete &= self.optional(table, "timeout", as_positive_duration, &mut hook.timeout);
        complete &= self.optional(table, "every", as_positive_duration, &mut hook.every);
        if let Some(v) = get(table, "retries") {
            match as_int_in(
                self.errors,
                "retries",
                v,
                0,
                10,
                "tries after a failed one, 0 to 10",
            ) {
                Some(n) => hook.retries = n as u32,
                None => complete = false,
            }
        }
        if let Some(v) = get(table, "on_failure") {
            let word = as_str(self.errors, "on_failure", v);
            match word {
                Some("refuse") => hook.on_failure = OnFailure::Refuse,
                Some("hold") if hook.at == HookPoint::PreStep => hook.on_failure = OnFailure::Hold,
                Some("hold") => {
                    self.errors.add_hint(
                        &v.span(),
                        format!("a `{}` hook cannot hold", hook.at),
                        "only a `pre_step` hook holds a release (it pauses before the step); remove `on_failure`",
                    );
                    complete = false;
                }
                Some(other) => {
                    self.errors.add_hint(
                        &v.span(),
                        format!("unknown `on_failure` `{other}`"),
                        suggestion(other, &ON_FAILURE, "choices"),
                    );
                    complete = false;
                }
                None => complete = false,
            }
        }
        hook.name = match get(table, "name") {
            Some(v) => as_name(self.errors, "name", v)?,
            None => default_name(&hook.action),
        };
        complete.then_some(hook)
    }
}

/// A hook's name when it has none: its program's file name, or its URL's host.
fn default_name(action: &HookAction) -> String {
    match action {
        HookAction::Command { run } => run
            .first()
            .map(|program| {
                std::path::Path::new(program)
                    .file_name()
                    .map_or(program.clone(), |f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_default(),
        HookAction::Http { url } => reqwest::Url::parse(url.expose())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "http".to_string()),
    }
}
