//! The help overlay (`?`): every key of the key table, the views it works
//! in, and the symbols used on screen. Taller than 80×24 leaves room for,
//! it scrolls, and it clears a margin around itself so nothing of the
//! screen beneath shows through.
//!
//! ```text
//! ┌ Keys — ↑↓ scroll · Esc close ───────────────────────────────┐
//! │ → l Tab    next environment            main                  │
//! │ …                                                            │
//! │ gauges: t target · A alert · C critical                      │
//! └───────────────────────────────────────── ▼ 12 more ↓ PgDn ──┘
//! ```

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear};

use super::{Component, Outcome, Page};
use crate::tui::keymap::{BINDINGS, KeyAction, View};
use crate::tui::model::Cockpit;
use crate::tui::theme::Theme;
use crate::tui::view::{centred, fit, scrolled};

const LEGEND: [&str; 3] = [
    "gauges: t target  A alert  C critical  ◆ wanted traffic",
    "phases: ▶ moving ‖ paused ◆ waits for you ≈ analysing ✓ done ✗ rolled back",
    "a timed step shows what is left of it (\"38s left\")",
];

/// The box is this wide where the terminal allows: room for the longest
/// description and the longest list of views.
const WIDEST: u16 = 84;
/// The views column at 80 columns.
const VIEWS_WIDTH: usize = 15;

/// The help overlay: shown while open.
#[derive(Debug, Default)]
pub struct Help {
    pub page: Page,
}

impl Component for Help {
    fn view(&self) -> View {
        View::Help
    }

    fn is_visible(&self) -> bool {
        self.page.is_visible()
    }

    fn on_key(&mut self, action: KeyAction, _key: &KeyEvent) -> Outcome {
        self.page.on_key(action, KeyAction::CloseHelp)
    }

    fn draw(&self, frame: &mut Frame, area: Rect, _cockpit: &Cockpit, theme: &Theme) {
        let width = area.width.min(WIDEST);
        let inner_w = width.saturating_sub(2) as usize;
        // The views column takes what the widest box has beyond 78
        // columns; at 80 columns a long list of views is cut ("…").
        let views_w = VIEWS_WIDTH + inner_w.saturating_sub(76);
        let desc_w = inner_w.saturating_sub(12 + views_w);
        let mut lines: Vec<Line<'static>> = BINDINGS
            .iter()
            .map(|b| {
                let views: Vec<&str> = b.views.iter().map(|v| v.name()).collect();
                // A longer list of keys takes its room from the description,
                // so the views stay in their column.
                let keys = format!(" {:<10} ", b.keys_label());
                let desc_w = desc_w.saturating_sub(keys.chars().count() - 12);
                Line::from(vec![
                    Span::styled(keys, theme.key),
                    Span::raw(format!("{:<desc_w$}", fit(b.description, desc_w))),
                    Span::styled(fit(&format!(" {}", views.join(",")), views_w), theme.dim),
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
        let own: Vec<String> = self.commands().iter().map(|h| h.to_string()).collect();
        let block = Block::bordered().title(Span::styled(
            format!(" Keys — {} ", own.join(" · ")),
            theme.title,
        ));
        scrolled::render(frame, rect, block, lines, &self.page.scroll, theme);
    }
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
