//! The delivery insights screen (`i`): what `helmsman insights` prints for
//! the last 30 days, read from the journal when it opens, as one page that
//! scrolls. Rows wider than the screen are cut; `helmsman insights` in a
//! wider terminal shows them whole.
//!
//! ```text
//! ┌ Delivery insights — ↑↓ scroll · Esc back ─────────────────────────────┐
//! │Delivery insights, 2026-10-31 18:35 → 2026-11-30 18:35 (30 days), …    │
//! │Reflection (target 100 %)                                              │
//! │  deployment success      92.9 %  13 of 14  succeeded, or rolled back …│
//! └───────────────────────────────────────────────── ▼ 12 more ↓ PgDn ───┘
//! ```

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;

use super::{Component, Outcome, Page};
use crate::tui::keymap::{KeyAction, View};
use crate::tui::model::Cockpit;
use crate::tui::theme::Theme;
use crate::tui::view::{fit, scrolled};

/// The insights screen: shown instead of the environments while open.
#[derive(Debug, Default)]
pub struct Insights {
    pub page: Page,
    lines: Vec<String>,
}

impl Insights {
    /// Opens it at the top, showing `lines`.
    pub fn show(&mut self, lines: Vec<String>) {
        self.lines = lines;
        self.page.show();
    }
}

impl Component for Insights {
    fn view(&self) -> View {
        View::Insights
    }

    fn is_visible(&self) -> bool {
        self.page.is_visible()
    }

    fn on_key(&mut self, action: KeyAction, _key: &KeyEvent) -> Outcome {
        self.page.on_key(action, KeyAction::CloseInsights)
    }

    fn draw(&self, frame: &mut Frame, area: Rect, _cockpit: &Cockpit, theme: &Theme) {
        let width = area.width.saturating_sub(2) as usize;
        let rows = self
            .lines
            .iter()
            .map(|line| Line::raw(fit(line, width)))
            .collect();
        let own: Vec<String> = self.commands().iter().map(|h| h.to_string()).collect();
        let block = Block::bordered().title(Span::styled(
            format!(" Delivery insights — {} ", own.join(" · ")),
            theme.title,
        ));
        scrolled::render(frame, area, block, rows, &self.page.scroll, theme);
    }
}
