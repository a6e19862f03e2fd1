//! The selected release in full (Enter): steps, verdicts, events and the
//! plan of a release started here, as one page that scrolls (↑↓ j k, PgUp PgDn) when it is taller than the screen.
//!
//! ```text
//! ┏ prod/checkout [PROD] · canary v1.4.2 → v1.5.0 · Waiting for you ━━━━━┓
//! ┃Steps 5/6                                                             ┃
//! ┃✓ 1 set weight 5%                                                     ┃
//! ┃▶ 5 pause 1m30s — 38s left                                            ┃
//! ┃                                                                      ┃
//! ┃Verdicts                                                              ┃
//! ┃✓ error rate PASS: error rate 0.1 % vs baseline 0.1 % over 1 240 …    ┃
//! ┃                                                                      ┃
//! ┃Events, newest first                                                  ┃
//! ┃14:03:05 Progressing → Waiting for you step 3/6 25% … [engine]        ┃
//! ┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ ▼ 12 more ↓ PgDn ━━┛
//! ```

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

use super::{Component, Outcome, Page};
use crate::engine::{self, Event, Snapshot, Target};
use crate::pipeline::plan;
use crate::tui::keymap::{KeyAction, View};
use crate::tui::model::{Cockpit, is_prod, step_of};
use crate::tui::theme::Theme;
use crate::tui::view::columns::phase_style;
use crate::tui::view::scrolled::{self, wrap_line};

/// Continuation rows of an event start under its text, after the time.
const EVENT_INDENT: usize = 9;

/// The detail screen: shown instead of the environments while open.
#[derive(Debug, Default)]
pub struct Detail {
    pub page: Page,
}

impl Component for Detail {
    fn view(&self) -> View {
        View::Detail
    }

    fn is_visible(&self) -> bool {
        self.page.is_visible()
    }

    fn on_key(&mut self, action: KeyAction, _key: &KeyEvent) -> Outcome {
        // The release commands are not its own: they work here as on the
        // environments.
        self.page.on_key(action, KeyAction::Back)
    }

    fn draw(&self, frame: &mut Frame, area: Rect, cockpit: &Cockpit, theme: &Theme) {
        let Some(target) = cockpit.selected() else {
            frame.render_widget(
                ratatui::widgets::Paragraph::new(" no service selected"),
                area,
            );
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
        let width = block.inner(area).width as usize;
        let rows = page(cockpit, &target, snap, width, theme);
        scrolled::render(frame, area, block, rows, &self.page.scroll, theme);
    }
}

/// Every row of the page, wrapped to `width`.
fn page(
    cockpit: &Cockpit,
    target: &Target,
    snap: Option<&Snapshot>,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let mut rows = Vec::new();
    match snap {
        None => {
            let stable = cockpit
                .service_info(target)
                .map_or("?", |s| s.stable_version.as_str());
            rows.push(Line::raw(format!(" stable {stable} · no release")));
        }
        Some(snap) => {
            let left = cockpit.time_left(snap);
            for line in step_lines(snap, left.as_deref(), theme) {
                rows.extend(wrap_line(&line, width, 4));
            }
            rows.push(Line::default());
            for line in verdict_lines(snap, theme) {
                rows.extend(wrap_line(&line, width, 2));
            }
        }
    }
    rows.push(Line::default());
    rows.push(Line::styled("Events, newest first", theme.title));
    let events: Vec<&Event> = cockpit
        .state(target)
        .map(|s| s.events.iter().rev().collect())
        .unwrap_or_default();
    for line in event_lines(&events, theme) {
        rows.extend(wrap_line(&line, width, EVENT_INDENT));
    }
    if let Some(plan) = cockpit.state(target).and_then(|s| s.plan.as_deref()) {
        rows.push(Line::default());
        rows.push(Line::styled(
            "Plan, as `helmsman plan` prints it",
            theme.title,
        ));
        for line in plan::render(plan).lines() {
            rows.extend(wrap_line(&Line::raw(line.to_string()), width, 4));
        }
    }
    rows
}

fn step_lines(snap: &Snapshot, left: Option<&str>, theme: &Theme) -> Vec<Line<'static>> {
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
        let mut spans = vec![Span::styled(format!("{mark} {} {step}", i + 1), style)];
        if let (true, Some(left)) = (i == snap.step, left) {
            spans.push(Span::styled(format!(" — {left}"), theme.key));
        }
        lines.push(Line::from(spans));
    }
    lines
}

fn verdict_lines(snap: &Snapshot, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("Verdicts", theme.title)];
    if snap.verdicts.is_empty() {
        lines.push(Line::styled("none yet", theme.dim));
    }
    for v in snap.verdicts.iter() {
        let (mark, word, style) = match v.outcome {
            engine::Outcome::Pass => ("✓", "PASS", theme.ok),
            engine::Outcome::Fail => ("✗", "FAIL", theme.crit),
            engine::Outcome::NotEnoughEvidence => ("?", "TOO FEW", theme.alert),
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
