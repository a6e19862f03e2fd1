//! The help overlay (`?`): every key of the keymap, the views it works
//! in, and the symbols used on screen.
//!
//! ```text
//! ┌ Keys ──────────────────────────────────────────┐
//! │ → l Tab    next environment            main     │
//! │ …                                               │
//! │ gauges: t target · A alert · C critical         │
//! └─────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{centred, fit};
use crate::tui::keymap::BINDINGS;
use crate::tui::theme::Theme;

const LEGEND: [&str; 2] = [
    "gauges: t target  A alert  C critical  ◆ wanted traffic",
    "phases: ▶ moving ‖ paused ◆ waits for you ≈ analysing ✓ done ✗ rolled back",
];

pub fn render(frame: &mut Frame, area: Rect, theme: &Theme) {
    let width = area.width.min(78);
    let inner_w = width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| {
            let views: Vec<&str> = b.views.iter().map(|v| v.name()).collect();
            let desc_w = inner_w.saturating_sub(12 + 15);
            Line::from(vec![
                Span::styled(format!(" {:<11}", b.keys_label), theme.key),
                Span::raw(format!("{:<desc_w$}", fit(b.description, desc_w))),
                Span::styled(format!(" {}", views.join(",")), theme.dim),
            ])
        })
        .collect();
    lines.extend(
        LEGEND
            .iter()
            .map(|l| Line::styled(fit(&format!(" {l}"), inner_w), theme.dim)),
    );
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = centred(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered().title(Span::styled(" Keys — Esc closes ", theme.title));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
