//! The selected release in full (Enter): steps, verdicts, events.
//!
//! ```text
//! ┌ prod/checkout · canary v1.4.2 → v1.5.0 · Waiting for you ────────┐
//! │ Steps                 │ Verdicts                                 │
//! │ ✓ 1 set weight 5%     │ ✓ error rate PASS: 0.1 % vs 0.08 % …      │
//! │ ▶ 3 manual gate       │   limit +5 points                        │
//! │ Events, newest first ───────────────────────────────────────────  │
//! │ 14:03:05 Progressing → Waiting for you step 3/6 25% … [engine]    │
//! └──────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};

use super::columns::phase_style;
use super::fit;
use crate::engine::{Event, Outcome, Snapshot};
use crate::tui::model::{Cockpit, is_prod, step_of};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, cockpit: &Cockpit, theme: &Theme) {
    let Some(target) = cockpit.selected() else {
        frame.render_widget(Paragraph::new(" no service selected"), area);
        return;
    };
    let snap = cockpit.snapshot(&target);
    let mut title = vec![Span::styled(format!(" {target}"), theme.title)];
    if is_prod(&target.env) {
        title.push(Span::raw(" "));
        title.push(Span::styled("[PROD]", theme.prod));
    }
    match snap {
        Some(s) => {
            title.push(Span::raw(format!(
                " · {} {} → {} · ",
                s.strategy, s.stable_version, s.new_version
            )));
            title.push(Span::styled(s.phase.words(), phase_style(s.phase, theme)));
            title.push(Span::raw(" "));
        }
        None => title.push(Span::raw(" · no release ")),
    }
    let mut block = Block::bordered().title(Line::from(title));
    if is_prod(&target.env) {
        block = block
            .border_type(BorderType::Thick)
            .border_style(theme.prod);
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let events: Vec<&Event> = cockpit
        .state(&target)
        .map(|s| s.events.iter().rev().skip(cockpit.event_scroll).collect())
        .unwrap_or_default();
    let Some(snap) = snap else {
        let stable = cockpit
            .service_info(&target)
            .map_or("?", |s| s.stable_version.as_str());
        let mut lines = vec![
            Line::raw(format!(" stable {stable} · no release")),
            Line::default(),
        ];
        lines.extend(event_lines(&events, theme));
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    };

    let top = (snap.steps.len().max(snap.verdicts.len() * 2) as u16 + 1).clamp(3, inner.height / 2);
    let [upper, lower] =
        Layout::vertical([Constraint::Length(top), Constraint::Fill(1)]).areas(inner);
    let [steps, verdicts] =
        Layout::horizontal([Constraint::Percentage(36), Constraint::Fill(1)]).areas(upper);
    frame.render_widget(
        Paragraph::new(step_lines(snap, steps.width as usize, theme)),
        steps,
    );
    frame.render_widget(
        Paragraph::new(verdict_lines(snap, theme)).wrap(Wrap { trim: false }),
        verdicts,
    );
    let mut lines = vec![Line::styled(
        fit(
            &format!("Events, newest first {}", "─".repeat(lower.width as usize)),
            lower.width as usize,
        ),
        theme.title,
    )];
    lines.extend(event_lines(&events, theme));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), lower);
}

fn step_lines(snap: &Snapshot, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        format!("Steps {}", step_of(snap.step, snap.steps.len())),
        theme.title,
    )];
    for (i, step) in snap.steps.iter().enumerate() {
        let (mark, style) = if i < snap.step || (i == snap.step && snap.phase.is_finished()) {
            ("✓", theme.dim)
        } else if i == snap.step {
            ("▶", theme.selected)
        } else {
            (" ", theme.title)
        };
        lines.push(Line::styled(
            fit(&format!("{mark} {} {step}", i + 1), width),
            style,
        ));
    }
    lines
}

fn verdict_lines(snap: &Snapshot, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("Verdicts", theme.title)];
    if snap.verdicts.is_empty() {
        lines.push(Line::styled("none yet", theme.dim));
    }
    for v in &snap.verdicts {
        let (mark, word, style) = match v.outcome {
            Outcome::Pass => ("✓", "PASS", theme.ok),
            Outcome::Fail => ("✗", "FAIL", theme.crit),
            Outcome::NotEnoughEvidence => ("?", "TOO FEW", theme.alert),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} {} {word}", v.trigger), style),
            Span::raw(format!(": {}", v.summary)),
        ]));
    }
    lines
}

fn event_lines(events: &[&Event], theme: &Theme) -> Vec<Line<'static>> {
    if events.is_empty() {
        return vec![Line::styled("no events yet", theme.dim)];
    }
    events
        .iter()
        .map(|e| {
            Line::from(vec![
                Span::styled(e.at.format("%H:%M:%S ").to_string(), theme.dim),
                Span::raw(format!("{} → ", e.from)),
                Span::styled(e.to.words(), phase_style(e.to, theme)),
                Span::raw(format!(
                    " step {} {}% {} ",
                    step_of(e.step, e.steps),
                    e.weight,
                    e.reason
                )),
                Span::styled(format!("[{}]", e.actor), theme.key),
            ])
        })
        .collect()
}
