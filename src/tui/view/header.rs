//! Two lines: what is running and who is at the keys, then what waits for
//! a human.
//!
//! ```text
//!  helmsman · demo · alice (ssh from 10.0.0.5)              14:03:05 UTC
//!  ▶ prod/checkout waits for you at step 3/6
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::model::Cockpit;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, cockpit: &Cockpit, theme: &Theme) {
    let width = area.width as usize;
    let clock = cockpit
        .now
        .map(|t| t.format("%H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "--:--:-- UTC".into());
    let mut left = vec![
        Span::styled(" helmsman", theme.title),
        Span::raw(format!(
            " · {} · {}",
            cockpit.header.config_label, cockpit.header.operator
        )),
    ];
    if cockpit.read_only {
        left.push(Span::raw(" · "));
        left.push(Span::styled("READ-ONLY", theme.alert));
    }
    let used: usize = left.iter().map(|s| s.content.chars().count()).sum();
    let room = width.saturating_sub(clock.chars().count() + 1);
    if used > room {
        // The clock wins; the config label is what gets cut.
        let text: String = left.iter().map(|s| s.content.as_ref()).collect();
        left = vec![Span::raw(super::fit(&text, room))];
    }
    let used: usize = left.iter().map(|s| s.content.chars().count()).sum();
    left.push(Span::raw(" ".repeat(room.saturating_sub(used) + 1)));
    left.push(Span::styled(clock, theme.title));

    let waiting = cockpit.waiting_summary();
    let second = if waiting.is_empty() {
        Line::from(Span::styled(" nothing waits for you", theme.dim))
    } else {
        let text = format!(" ▶ {}", waiting.join("; "));
        Line::from(Span::styled(super::fit(&text, width), theme.waiting))
    };
    frame.render_widget(Paragraph::new(vec![Line::from(left), second]), area);
}
