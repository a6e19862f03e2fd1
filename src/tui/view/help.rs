//! The help overlay (`?`): every key of the keymap, the views it works
//! in, and the symbols used on screen. Taller than 80×24 leaves room for,
//! it scrolls (its own keys come from the keymap too), and it clears a
//! margin around itself so nothing of the screen beneath shows through.
//!
//! ```text
//! ┌ Keys — Esc closes ──────────────────────────────────────────┐
//! │ → l Tab    next environment            main                  │
//! │ …                                                            │
//! │ gauges: t target · A alert · C critical                      │
//! └───────────────────────────────────────── ▼ 12 more ↓ PgDn ──┘
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear};

use super::{centred, fit, scrolled};
use crate::tui::keymap::{self, BINDINGS, View};
use crate::tui::scroll::Scroll;
use crate::tui::theme::Theme;

const LEGEND: [&str; 3] = [
    "gauges: t target  A alert  C critical  ◆ wanted traffic",
    "phases: ▶ moving ‖ paused ◆ waits for you ≈ analysing ✓ done ✗ rolled back",
    "a timed step shows what is left of it (\"38s left\")",
];

pub fn render(frame: &mut Frame, area: Rect, scroll: &Scroll, theme: &Theme) {
    let width = area.width.min(78);
    let inner_w = width.saturating_sub(2) as usize;
    let desc_w = inner_w.saturating_sub(12 + 15);
    let mut lines: Vec<Line<'static>> = BINDINGS
        .iter()
        .map(|b| {
            let views: Vec<&str> = b.views.iter().map(|v| v.name()).collect();
            Line::from(vec![
                Span::styled(format!(" {:<11}", b.keys_label), theme.key),
                Span::raw(format!("{:<desc_w$}", fit(b.description, desc_w))),
                Span::styled(fit(&format!(" {}", views.join(",")), 15), theme.dim),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.extend(
        LEGEND
            .iter()
            .map(|l| Line::styled(fit(&format!(" {l}"), inner_w), theme.dim)),
    );
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = centred(area, width, height);
    // One cell of margin, cleared: no stray cell of the screen beneath
    // sits against the border.
    frame.render_widget(Clear, margin(rect, area));
    let block = Block::bordered().title(Span::styled(
        format!(" Keys — {} ", keys_hint()),
        theme.title,
    ));
    scrolled::render(frame, rect, block, lines, scroll, theme);
}

/// "↑↓ scroll · Esc close": the help's own footer hints, from the keymap.
fn keys_hint() -> String {
    keymap::hints(View::Help)
        .filter_map(|b| b.hint)
        .map(|(key, word)| format!("{key} {word}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `rect` grown by one cell on every side, within `area`.
fn margin(rect: Rect, area: Rect) -> Rect {
    let x = rect.x.saturating_sub(1).max(area.x);
    let y = rect.y.saturating_sub(1).max(area.y);
    let right = (rect.right() + 1).min(area.right());
    let bottom = (rect.bottom() + 1).min(area.bottom());
    Rect {
        x,
        y,
        width: right - x,
        height: bottom - y,
    }
}
