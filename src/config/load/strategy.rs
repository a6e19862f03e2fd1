//! Reading a service's strategy and its steps.

use super::*;
use crate::strategy::{BlueGreen, Canary, FeatureFlag, Rolling, StrategyKind};

impl Walker<'_, '_> {
    /// The strategy of a service (or of `[defaults]`): a bare kind
    /// (`strategy = "rolling"`) or a table. `owner` locates errors about an
    /// inherited strategy; `require_flag` is false only for `[defaults]`.
    pub(super) fn strategy(
        &mut self,
        value: Option<&Value>,
        inherited: Option<&Strategy>,
        owner: &Span,
        require_flag: bool,
    ) -> Option<Strategy> {
        let base_for = |kind: &str| match inherited {
            Some(s) if s.name() == kind => s.clone(),
            _ => builtin_strategy(kind),
        };
        let (strategy, span) = match value {
            None => (
                inherited
                    .cloned()
                    .unwrap_or_else(|| builtin_strategy("canary")),
                owner.clone(),
            ),
            Some(value) => match value.get_ref() {
                DeValue::String(kind) => (base_for(self.kind(kind, &value.span())?), value.span()),
                DeValue::Table(table) => {
                    let kind = match get(table, "kind") {
                        Some(k) => {
                            let kind = as_str(self.errors, "kind", k)?;
                            self.kind(kind, &k.span())?
                        }
                        None => inherited.map(Strategy::name).unwrap_or("canary"),
                    };
                    let base = base_for(kind);
                    (self.strategy_table(table, base)?, value.span())
                }
                other => {
                    self.errors.add_hint(
                        &value.span(),
                        format!(
                            "`strategy`: expected a string or a table, found {}",
                            crate::config::schema::type_name(other)
                        ),
                        "write `strategy = \"canary\"` or a `[environments.services.strategy]` table",
                    );
                    return None;
                }
            },
        };
        if let Strategy::FeatureFlag(FeatureFlag { flag, .. }) = &strategy
            && require_flag
            && flag.is_empty()
        {
            self.errors.add_hint(
                &span,
                "missing key `flag` for the feature-flag strategy",
                "add `flag = \"new-checkout\"`: the flag whose percentage the release moves",
            );
            return None;
        }
        Some(strategy)
    }

    pub(super) fn kind(&mut self, kind: &str, span: &Span) -> Option<&'static str> {
        if let Some(k) = STRATEGY_KINDS.iter().find(|k| **k == kind) {
            return Some(k);
        }
        self.errors.add_hint(
            span,
            format!("unknown strategy kind `{kind}`"),
            suggestion(kind, STRATEGY_KINDS, "strategy kinds"),
        );
        None
    }

    /// Overlays the keys of a strategy table on `base` (same kind).
    pub(super) fn strategy_table(&mut self, table: &Table, mut base: Strategy) -> Option<Strategy> {
        let allowed = strategy_keys(base.name());
        for key in table.keys() {
            let key_name = key.get_ref().as_ref();
            if allowed.contains(&key_name) {
                continue;
            }
            let owner = STRATEGY_KINDS
                .iter()
                .find(|k| strategy_keys(k).contains(&key_name));
            let hint = match owner {
                Some(owner) => format!(
                    "`{key_name}` belongs to the {owner} strategy; a {} strategy takes {}",
                    base.name(),
                    quoted_list(allowed)
                ),
                None => suggestion(key_name, allowed, "allowed keys here"),
            };
            self.errors.add_hint(
                &key.span(),
                format!("unknown key `{key_name}` for a {} strategy", base.name()),
                hint,
            );
        }
        let mut complete = true;
        match &mut base {
            Strategy::Canary(Canary { steps }) => {
                if let Some(v) = get(table, "steps") {
                    match self.steps(v) {
                        Some(s) => *steps = s,
                        None => complete = false,
                    }
                }
            }
            Strategy::FeatureFlag(FeatureFlag { flag, steps }) => {
                complete &= self.optional(table, "flag", as_name, flag);
                if let Some(v) = get(table, "steps") {
                    match self.steps(v) {
                        Some(s) => *steps = s,
                        None => complete = false,
                    }
                }
            }
            Strategy::BlueGreen(BlueGreen {
                smoke_path,
                preview_for,
                manual_switch,
                scale_down_delay,
            }) => {
                complete &= self.optional(table, "smoke_path", as_path, smoke_path);
                complete &= self.optional(table, "preview_for", as_duration, preview_for);
                complete &= self.optional(table, "manual_switch", as_bool, manual_switch);
                complete &= self.optional(table, "scale_down_delay", as_duration, scale_down_delay);
            }
            Strategy::Rolling(Rolling {
                max_surge,
                max_unavailable,
                batch_pause,
            }) => {
                let count = |errors: &mut Errors, key: &str, v: &Value| {
                    as_int_in(
                        errors,
                        key,
                        v,
                        0,
                        u32::MAX.into(),
                        "use a small whole number of instances, e.g. 1",
                    )
                    .map(|n| n as u32)
                };
                complete &= self.optional(table, "max_surge", count, max_surge);
                complete &= self.optional(table, "max_unavailable", count, max_unavailable);
                complete &= self.optional(table, "batch_pause", as_duration, batch_pause);
                if complete && *max_surge == 0 && *max_unavailable == 0 {
                    let span = get(table, "max_surge")
                        .or_else(|| get(table, "max_unavailable"))
                        .map(|v| v.span())
                        .unwrap_or(0..0);
                    self.errors.add_hint(
                        &span,
                        "`max_surge` and `max_unavailable` are both 0: no instance could ever be replaced",
                        "allow at least one: e.g. max_surge = 1, max_unavailable = 0",
                    );
                    complete = false;
                }
            }
        }
        complete.then_some(base)
    }

    /// Canary or feature-flag steps: each step does one thing, weights are
    /// percentages and never go down (only a rollback lowers them).
    pub(super) fn steps(&mut self, value: &Value) -> Option<Vec<Step>> {
        let items = as_array(self.errors, "steps", value)?;
        if items.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "`steps` is empty",
                format!("add at least one step; {STEP_FORMS}"),
            );
            return None;
        }
        let mut steps = Vec::new();
        let mut complete = true;
        let mut highest: Option<(u8, Span)> = None;
        for item in items {
            let Some(table) = as_table(self.errors, "steps", item) else {
                complete = false;
                continue;
            };
            check_keys(self.errors, table, STEP_KEYS, "a step");
            let actions: Vec<_> = table
                .iter()
                .filter(|(k, _)| STEP_KEYS.contains(&k.get_ref().as_ref()))
                .collect();
            let (key, v) = match actions.as_slice() {
                [one] => *one,
                [] => {
                    if table.is_empty() {
                        self.errors
                            .add_hint(&item.span(), "empty step", STEP_FORMS.to_string());
                    }
                    complete = false;
                    continue;
                }
                [first, second, ..] => {
                    let (a, b) = if first.0.span().start <= second.0.span().start {
                        (first, second)
                    } else {
                        (second, first)
                    };
                    self.errors.add_hint(
                        &b.0.span(),
                        format!(
                            "a step does one thing, but this one has both `{}` and `{}`",
                            a.0.get_ref(),
                            b.0.get_ref()
                        ),
                        format!("split it into two steps; {STEP_FORMS}"),
                    );
                    complete = false;
                    continue;
                }
            };
            let step = match key.get_ref().as_ref() {
                "weight" => as_int_in(
                    self.errors,
                    "weight",
                    v,
                    0,
                    100,
                    "a weight is the percentage of traffic for the new version, 0 to 100",
                )
                .and_then(|w| {
                    let w = w as u8;
                    if let Some((previous, span)) = &highest
                        && w < *previous
                    {
                        let line = self.errors.line_of(span);
                        self.errors.add_hint(
                            &v.span(),
                            format!("weight {w}% is lower than the {previous}% of an earlier step (line {line})"),
                            "weights only go up during a release; lowering traffic is what a rollback does",
                        );
                        return None;
                    }
                    highest = Some((w, v.span()));
                    Some(Step::Weight(w))
                }),
                "pause" => as_duration(self.errors, "pause", v).map(Step::Pause),
                "analysis" => as_positive_duration(self.errors, "analysis", v).map(Step::Analysis),
                _ => as_str(self.errors, "gate", v).and_then(|gate| {
                    if gate == "manual" {
                        Some(Step::ManualGate)
                    } else {
                        self.errors.add_hint(
                            &v.span(),
                            format!("unknown gate `{gate}`"),
                            "the only gate is \"manual\" (waits for a human); for a metrics gate write { analysis = \"1m\" }",
                        );
                        None
                    }
                }),
            };
            match step {
                Some(step) => steps.push(step),
                None => complete = false,
            }
        }
        complete.then_some(steps)
    }

    /// A strategy needs its backend to do certain things to traffic (a
    /// feature flag needs a flag backend); a backend that cannot is
    /// refused here, at the strategy, not when a release starts.
    pub(super) fn check_capabilities(
        &mut self,
        backend: &Backend,
        strategy: &Strategy,
        strategy_at: &Span,
        who: &str,
    ) {
        let Some(missing) = backend.lacks(strategy) else {
            return;
        };
        let runs: Vec<&str> = <StrategyKind as clap::ValueEnum>::value_variants()
            .iter()
            .map(|kind| strategy.of_kind(*kind, who))
            .filter(|other| backend.lacks(other).is_none())
            .map(|other| other.name())
            .collect();
        self.errors.add_hint(
            strategy_at,
            format!(
                "`{who}` runs on {}, which cannot {}, and a {} release needs to",
                backend.words(),
                missing.words(),
                strategy.name()
            ),
            format!(
                "choose a strategy {} runs: {}",
                backend.words(),
                runs.join(", ")
            ),
        );
    }
}
