//! An environment's gate and preflight checks in its column, one line each
//! under the services, only where any are configured:
//!
//! ```text
//! │gate ok: exit 0: success │
//! │checks 1 warn: disk, 4 o…│
//! ```

use ratatui::style::Style;
use ratatui::text::Line;

use super::fit;
use crate::preflight::CheckStatus;
use crate::tui::EnvChecks;
use crate::tui::theme::Theme;

pub fn lines(checks: Option<&EnvChecks>, w: usize, theme: &Theme) -> Vec<Line<'static>> {
    let Some(checks) = checks else {
        return Vec::new();
    };
    let summaries: Vec<_> = [checks.gate_summary(), checks.checks_summary()]
        .into_iter()
        .flatten()
        .collect();
    if summaries.is_empty() {
        return if checks.running {
            vec![Line::styled(fit("checks running…", w), theme.dim)]
        } else {
            Vec::new()
        };
    }
    summaries
        .into_iter()
        .map(|(status, text)| Line::styled(fit(&text, w), style(status, theme)))
        .collect()
}

fn style(status: CheckStatus, theme: &Theme) -> Style {
    match status {
        CheckStatus::Pass => theme.ok,
        CheckStatus::Warn => theme.alert,
        CheckStatus::Fail => theme.crit,
    }
}
