//! The environments side by side, in configuration order, and one
//! environment's column.
//!
//! ```text
//! ┌ staging ──────────────┐┏ prod [PROD] ━━━━━━━━━━┓
//! │▸checkout      ▶ 25%   │┃▸checkout      ◆ 25%   ┃
//! │ cart           v2.1.0 │┃ cart           v2.1.0 ┃
//! │gate ok: exit 0: green │┃checks 1 FAIL: db, 3 ok┃
//! │───────────────────────│┃───────────────────────┃
//! │v1.4.2 → v1.5.0        │┃ …                     ┃
//! │canary · step 3/6      │┃                       ┃
//! │Progressing — reason   │┃                       ┃
//! │traffic 25% (actual 25%)┃                       ┃
//! │██████·················│┃                       ┃
//! │err 0.32% ALERT b 0.10%│┃                       ┃
//! │██t█████·A········C····│┃                       ┃
//! │p95 210ms OK b 190ms   │┃                       ┃
//! │██████t··A········C····│┃                       ┃
//! │healthy 2/2 · 12s ago  │┃                       ┃
//! │err ▁▂▃▅▆▇             │┃                       ┃
//! │p95 ▁▁▂▂▃▃             │┃                       ┃
//! └───────────────────────┘┗━━━━━━━━━━━━━━━━━━━━━━━┛
//! ```
//! Prod gets a thick border and "[PROD]"; the selected environment's title
//! is reversed and starts with "▸".

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};

use super::env_checks;
use super::gauge::{self, Level};
use super::{age_words, fit, wrap};
use crate::engine::{Phase, Snapshot, Target};
use crate::tui::model::{Cockpit, EnvInfo, ServiceInfo, is_prod, step_of};
use crate::tui::theme::Theme;

/// Narrower than this a column cannot hold its gauges: fewer columns are
/// shown, a window around the selected environment.
const MIN_COLUMN: u16 = 24;

pub fn render(frame: &mut Frame, area: Rect, cockpit: &Cockpit, theme: &Theme) {
    let n = cockpit.envs.len();
    if n == 0 {
        let p = Paragraph::new(" no environments configured").style(theme.dim);
        frame.render_widget(p, area);
        return;
    }
    let fits = ((area.width / MIN_COLUMN) as usize).clamp(1, n);
    let start = cockpit.selected_env.saturating_sub(fits / 2).min(n - fits);
    let shown = start..start + fits;
    let areas = Layout::horizontal(vec![Constraint::Fill(1); fits]).split(area);
    for (slot, i) in shown.clone().enumerate() {
        let more_left = slot == 0 && start > 0;
        let more_right = slot + 1 == fits && shown.end < n;
        render_env(
            frame,
            areas[slot],
            cockpit,
            i,
            (more_left, more_right),
            theme,
        );
    }
}

fn render_env(
    frame: &mut Frame,
    area: Rect,
    cockpit: &Cockpit,
    index: usize,
    (more_left, more_right): (bool, bool),
    theme: &Theme,
) {
    let env = &cockpit.envs[index];
    let selected = index == cockpit.selected_env;
    let prod = is_prod(&env.name);
    let mut title = vec![Span::raw(if more_left { "◀ " } else { " " })];
    let name = if selected {
        format!("▸{}", env.name)
    } else {
        env.name.clone()
    };
    title.push(Span::styled(
        name,
        if selected {
            theme.selected
        } else {
            theme.title
        },
    ));
    if prod {
        title.push(Span::raw(" "));
        title.push(Span::styled("[PROD]", theme.prod));
    }
    title.push(Span::raw(if more_right { " ▶" } else { " " }));
    let mut block = Block::bordered().title(Line::from(title));
    if prod {
        block = block
            .border_type(BorderType::Thick)
            .border_style(theme.prod);
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = env_lines(cockpit, env, index, inner, theme);
    frame.render_widget(Paragraph::new(lines), inner);
}

fn env_lines(
    cockpit: &Cockpit,
    env: &EnvInfo,
    index: usize,
    area: Rect,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let w = area.width as usize;
    let mut lines = Vec::new();
    let selected_service = cockpit.selected_service[index];
    for (i, service) in env.services.iter().enumerate() {
        let target = Target {
            env: env.name.clone(),
            service: service.name.clone(),
        };
        let right = match cockpit.snapshot(&target) {
            Some(s) => format!("{} {:>3}%", phase_symbol(s.phase), s.desired_weight),
            None => service.stable_version.clone(),
        };
        let marker = if i == selected_service { "▸" } else { " " };
        let name = fit(&service.name, w.saturating_sub(right.chars().count() + 2));
        let pad = w.saturating_sub(1 + name.chars().count() + right.chars().count());
        let text = format!("{marker}{name}{}{right}", " ".repeat(pad));
        let style = if i == selected_service && cockpit.selected_env == index {
            theme.selected
        } else {
            theme.title
        };
        lines.push(Line::from(Span::styled(fit(&text, w), style)));
    }
    lines.extend(env_checks::lines(cockpit.checks.get(&env.name), w, theme));
    if let Some(note) = cockpit.env_notes.get(&env.name) {
        lines.push(Line::styled(fit(note, w), theme.dim));
    }
    if env.services.is_empty() {
        lines.push(Line::styled("no services", theme.dim));
        return lines;
    }
    lines.push(Line::styled("─".repeat(w), theme.dim));
    let service = &env.services[selected_service.min(env.services.len() - 1)];
    let target = Target {
        env: env.name.clone(),
        service: service.name.clone(),
    };
    if let Some(migrations) = &service.migrations {
        let style = match migrations.phase.as_str() {
            "contract pending" => theme.waiting,
            phase if phase.ends_with("failed") => theme.crit,
            _ => theme.dim,
        };
        lines.push(Line::styled(fit(&migrations.line(), w), style));
    }
    match cockpit.snapshot(&target) {
        None => {
            lines.push(Line::raw(fit(
                &format!("{} · no release", service.stable_version),
                w,
            )));
            lines.push(Line::styled(
                fit(&format!("strategy {}", service.strategy), w),
                theme.dim,
            ));
        }
        Some(snap) => {
            // Taller terminals get more of the reason.
            let reason_lines = if area.height >= 30 { 4 } else { 2 };
            release_lines(&mut lines, cockpit, service, snap, w, reason_lines, theme);
        }
    }
    lines
}

fn release_lines(
    lines: &mut Vec<Line<'static>>,
    cockpit: &Cockpit,
    service: &ServiceInfo,
    snap: &Snapshot,
    w: usize,
    reason_lines: usize,
    theme: &Theme,
) {
    lines.push(Line::raw(fit(
        &format!("{} → {}", snap.stable_version, snap.new_version),
        w,
    )));
    lines.push(Line::raw(step_line(cockpit, snap, w)));
    let phase_text = if snap.reason.is_empty() {
        snap.phase.words().to_string()
    } else {
        format!("{} — {}", snap.phase.words(), snap.reason)
    };
    let phase_style = phase_style(snap.phase, theme);
    for (i, l) in wrap(&phase_text, w, reason_lines).into_iter().enumerate() {
        lines.push(if i == 0 {
            Line::styled(l, phase_style)
        } else {
            Line::raw(l)
        });
    }
    // A finished release is read no more: it shows what it verified last
    // (a rollback reads the traffic back; a success ends on the backend
    // acknowledging the new version as stable, after a last look at the
    // metrics), never readings taken before its final step as if live.
    // One the host still watches after its success is read live again.
    let finished = snap.phase.is_finished() && snap.watching_until.is_none();
    let (traffic, actual) = if let Some(until) = snap.watching_until {
        // In UTC, as the header's clock.
        (format!("watching until {}", until.format("%H:%M")), None)
    } else if snap.phase == Phase::Succeeded {
        (format!("traffic {}% · finished", snap.desired_weight), None)
    } else {
        let actual = snap
            .actual_weight
            .map_or("?".to_string(), |a| format!("{a}%"));
        (
            format!("traffic {}% actual {actual}", snap.desired_weight),
            snap.actual_weight,
        )
    };
    lines.push(Line::raw(fit(&traffic, w)));
    lines.push(gauge::traffic_bar(snap.desired_weight, actual, w, theme));
    let stale = !finished && cockpit.is_stale(snap);
    let bands = &service.bands;
    lines.push(metric_label(
        "err",
        snap.new_error_rate_pct,
        snap.baseline_error_rate_pct,
        "%",
        2,
        bands.error_rate,
        stale,
        w,
        theme,
    ));
    lines.push(gauge::band_bar(
        snap.new_error_rate_pct,
        bands.error_rate,
        w,
        theme,
    ));
    lines.push(metric_label(
        "p95",
        snap.new_p95_ms,
        snap.baseline_p95_ms,
        "ms",
        0,
        bands.p95_ms,
        stale,
        w,
        theme,
    ));
    lines.push(gauge::band_bar(snap.new_p95_ms, bands.p95_ms, w, theme));

    let health = format!(
        "healthy {}/{}",
        snap.new_instances.healthy, snap.new_instances.total
    );
    let mut spans = vec![Span::raw(health)];
    match cockpit.data_age(snap) {
        // Instances of a finished release are retired or drained: what
        // counts is when its numbers were taken.
        Some(age) if finished => {
            spans = vec![Span::styled(
                format!("final reading {} ago", age_words(age)),
                theme.dim,
            )];
        }
        None => spans.push(Span::styled(" · no numbers yet", theme.dim)),
        Some(age) if stale => {
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(
                format!("STALE {}", age_words(age)),
                theme.crit,
            ));
        }
        Some(age) => spans.push(Span::styled(
            format!(" · {} ago", age_words(age)),
            theme.dim,
        )),
    }
    lines.push(Line::from(spans));
    if let Some(state) = cockpit.state(&snap.target) {
        let spark_w = w.saturating_sub(4);
        lines.push(Line::raw(format!(
            "err {}",
            gauge::sparkline(&state.error_history, bands.error_rate.alert, spark_w)
        )));
        lines.push(Line::raw(format!(
            "p95 {}",
            gauge::sparkline(&state.p95_history, bands.p95_ms.alert, spark_w)
        )));
    }
    if let Some(err) = &snap.provider_error {
        for l in wrap(&format!("! {err}"), w, 2) {
            lines.push(Line::styled(l, theme.crit));
        }
    }
}

/// "canary · step 4/8 · 38s left", shortened to "canary 4/8 · 38s left"
/// when the column is narrow (a stopped clock's ", stopped" goes last: the
/// phase line says Paused).
fn step_line(cockpit: &Cockpit, snap: &Snapshot, w: usize) -> String {
    let (strategy, of) = (&snap.strategy, step_of(snap.step, snap.steps.len()));
    let candidates = match cockpit.time_left(snap) {
        Some(left) => {
            let bare = left.strip_suffix(", stopped").unwrap_or(&left).to_string();
            vec![
                format!("{strategy} · step {of} · {left}"),
                format!("{strategy} {of} · {left}"),
                format!("{strategy} {of} · {bare}"),
            ]
        }
        None => vec![
            format!("{strategy} · step {of}"),
            format!("{strategy} {of}"),
        ],
    };
    let shortest = candidates.last().cloned().unwrap_or_default();
    candidates
        .into_iter()
        .find(|c| c.chars().count() <= w)
        .unwrap_or_else(|| fit(&shortest, w))
}

/// "err 0.32% ALERT b 0.10%": the value, its band state in a word, the
/// baseline beside it ("base" when there is room).
#[allow(clippy::too_many_arguments)]
fn metric_label(
    name: &str,
    value: Option<f64>,
    baseline: Option<f64>,
    unit: &str,
    decimals: usize,
    band: crate::config::Band,
    stale: bool,
    w: usize,
    theme: &Theme,
) -> Line<'static> {
    let show = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.decimals$}{unit}"));
    let (word, style) = match value {
        None => ("no data".to_string(), theme.dim),
        Some(_) if stale => ("STALE".to_string(), theme.crit),
        Some(v) => {
            let level = Level::of(v, band);
            (level.word().to_string(), level.style(theme))
        }
    };
    let head = format!("{name} {} ", show(value));
    let base_long = format!(" base {}", show(baseline));
    let base_short = format!(" b {}", show(baseline));
    let len = head.chars().count() + word.chars().count();
    let base = if len + base_long.chars().count() <= w {
        base_long
    } else {
        base_short
    };
    let line = Line::from(vec![
        Span::raw(head),
        Span::styled(word, style),
        Span::styled(base, theme.dim),
    ]);
    if line.width() > w {
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        return Line::raw(fit(&text, w));
    }
    line
}

/// A one-column symbol per phase for the service list.
fn phase_symbol(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "…",
        Phase::Progressing => "▶",
        Phase::Paused => "‖",
        Phase::WaitingForHuman => "◆",
        Phase::Analysing => "≈",
        Phase::Promoting => "▲",
        Phase::Succeeded => "✓",
        Phase::RollingBack => "▼",
        Phase::RolledBack => "✗",
        Phase::Aborted => "✗",
    }
}

pub(crate) fn phase_style(phase: Phase, theme: &Theme) -> ratatui::style::Style {
    match phase {
        Phase::WaitingForHuman => theme.waiting,
        Phase::Paused => theme.alert,
        Phase::RollingBack | Phase::RolledBack | Phase::Aborted => theme.crit,
        Phase::Succeeded => theme.ok,
        _ => theme.title,
    }
}
