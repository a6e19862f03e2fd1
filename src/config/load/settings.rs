//! Reading the per-service settings that `[defaults]` can also hold: analysis, triggers, bands, health
//! (and the secret request headers health and HTTP checks share).

use super::*;
use crate::config::model::Secret;

/// More failed reads in a row than this is no longer a short outage.
const MAX_FAILED_READS: u32 = 1000;

impl Walker<'_, '_> {
    pub(super) fn analysis(&mut self, value: &Value, analysis: &mut Analysis) {
        let Some(table) = as_table(self.errors, "analysis", value) else {
            return;
        };
        check_keys(self.errors, table, ANALYSIS_KEYS, "`analysis`");
        self.optional(
            table,
            "interval",
            as_positive_duration,
            &mut analysis.interval,
        );
        if let Some(v) = get(table, "min_requests")
            && let Some(n) = as_integer(self.errors, "min_requests", v)
        {
            match u64::try_from(n) {
                Ok(n) if n >= 1 => analysis.min_requests = n,
                _ => self.errors.add_hint(
                    &v.span(),
                    format!("`min_requests` is {n}, it must be at least 1"),
                    "below this many requests a trigger reports \"not enough evidence\" instead of judging; 100 is the default",
                ),
            }
        }
        if let Some(v) = get(table, "max_failed_reads")
            && let Some(n) = as_integer(self.errors, "max_failed_reads", v)
        {
            match u32::try_from(n) {
                Ok(n) if n <= MAX_FAILED_READS => analysis.max_failed_reads = n,
                _ => self.errors.add_hint(
                    &v.span(),
                    format!("`max_failed_reads` is {n}, it must be between 0 and {MAX_FAILED_READS}"),
                    "failed metrics reads in a row that hold a release before the next one rolls it back; 4 is the default",
                ),
            }
        }
        for (key, field, hint) in [
            (
                "confidence",
                &mut analysis.confidence,
                "the probability each bound a verdict acts on holds, e.g. 0.99",
            ),
            (
                "tolerance",
                &mut analysis.tolerance,
                "the share of a trigger's threshold tolerated without a rollback, e.g. 0.5",
            ),
        ] {
            let Some(v) = get(table, key) else { continue };
            let Some(x) = as_non_negative(self.errors, key, v) else {
                continue;
            };
            let (low, high) = if key == "confidence" {
                (0.5, 1.0)
            } else {
                (0.0, 1.0)
            };
            if x > low && x < high {
                *field = x;
            } else {
                self.errors.add_hint(
                    &v.span(),
                    format!("`{key}` is {x}, it must be between {low} and {high} (exclusive)"),
                    hint,
                );
            }
        }
    }

    pub(super) fn triggers(&mut self, value: &Value, triggers: &mut Triggers) {
        let Some(table) = as_table(self.errors, "triggers", value) else {
            return;
        };
        check_keys(self.errors, table, TRIGGER_NAMES, "`triggers`");
        for (name, trigger) in [
            ("error_rate", &mut triggers.error_rate),
            ("p95_latency", &mut triggers.p95_latency),
            ("unhealthy_instances", &mut triggers.unhealthy_instances),
            ("new_error_kind", &mut triggers.new_error_kind),
        ] {
            let Some(v) = get(table, name) else { continue };
            let Some(t) = as_table(self.errors, name, v) else {
                continue;
            };
            let keys = if name == "p95_latency" {
                P95_TRIGGER_KEYS
            } else {
                TRIGGER_KEYS
            };
            check_keys(self.errors, t, keys, &format!("`triggers.{name}`"));
            self.optional(t, "threshold", as_non_negative, &mut trigger.threshold);
            self.optional(t, "after", as_duration, &mut trigger.after);
            self.optional(t, "enabled", as_bool, &mut trigger.enabled);
            if let Some(v) = get(t, "tolerance")
                && let Some(x) = as_non_negative(self.errors, "tolerance", v)
            {
                if x > 0.0 && x < 1.0 {
                    trigger.tolerance = Some(x);
                } else {
                    self.errors.add_hint(
                        &v.span(),
                        format!("`tolerance` is {x}, it must be between 0 and 1 (exclusive)"),
                        "this trigger's share of its threshold tolerated without a rollback, e.g. 0.5",
                    );
                }
            }
            self.optional(t, "min_increase", as_duration, &mut trigger.min_increase);
        }
    }

    pub(super) fn bands(&mut self, value: &Value, bands: &mut Bands) {
        let Some(table) = as_table(self.errors, "bands", value) else {
            return;
        };
        check_keys(self.errors, table, BAND_NAMES, "`bands`");
        for (name, band) in [
            ("error_rate", &mut bands.error_rate),
            ("p95_ms", &mut bands.p95_ms),
        ] {
            let Some(v) = get(table, name) else { continue };
            let Some(t) = as_table(self.errors, name, v) else {
                continue;
            };
            check_keys(self.errors, t, BAND_KEYS, &format!("`bands.{name}`"));
            let mut valid = true;
            for (key, field) in [
                ("target", &mut band.target),
                ("alert", &mut band.alert),
                ("critical", &mut band.critical),
            ] {
                if let Some(v) = get(t, key) {
                    match as_non_negative(self.errors, key, v) {
                        Some(x) => *field = x,
                        None => valid = false,
                    }
                }
            }
            // Checked on the merged band, where this layer touched it, so an
            // override that breaks the inherited order is caught here.
            if valid && !(band.target <= band.alert && band.alert <= band.critical) {
                self.errors.add_hint(
                    &v.span(),
                    format!(
                        "`bands.{name}` out of order: target {}, alert {}, critical {}",
                        band.target, band.alert, band.critical
                    ),
                    "bands must satisfy target ≤ alert ≤ critical (values not given here are inherited)",
                );
            }
        }
    }

    pub(super) fn health(&mut self, value: &Value, health: &mut HealthCheck) {
        let Some(table) = as_table(self.errors, "health", value) else {
            return;
        };
        check_keys(self.errors, table, HEALTH_KEYS, "`health`");
        self.optional(table, "path", as_path, &mut health.path);
        self.optional(
            table,
            "interval",
            as_positive_duration,
            &mut health.interval,
        );
        self.optional(table, "timeout", as_positive_duration, &mut health.timeout);
        if let Some(v) = get(table, "headers") {
            self.headers(v, &mut health.headers);
        }
    }

    /// Request headers whose values are secrets (health checks, HTTP preflight checks).
    pub(super) fn headers(&mut self, value: &Value, into: &mut BTreeMap<String, Secret>) {
        let Some(headers) = as_table(self.errors, "headers", value) else {
            return;
        };
        for (key, v) in headers.iter() {
            let name = key.get_ref().as_ref();
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.errors.add_hint(
                    &key.span(),
                    format!("`{name}` is not a valid HTTP header name"),
                    "write a header name such as \"Authorization\"",
                );
                continue;
            }
            // The value is a secret: messages name the header and the
            // variable, never the text.
            let Some(text) = as_str(self.errors, name, v) else {
                continue;
            };
            if let Some(secret) = self.resolve_secret(&format!("header `{name}`"), text, v) {
                into.insert(name.to_string(), secret);
            }
        }
    }
}
