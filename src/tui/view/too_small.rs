//! Below 80×24 the layout would break: one line says what is needed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Paragraph, Wrap};

use super::{MIN_HEIGHT, MIN_WIDTH};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, theme: &Theme) {
    let text = format!(
        "helmsman needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}",
        area.width, area.height
    );
    // Wrapped so a very narrow terminal still shows all of it.
    let p = Paragraph::new(text)
        .style(theme.title)
        .wrap(Wrap { trim: true });
    frame.render_widget(p, area);
}
