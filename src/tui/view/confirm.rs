//! The confirmation modal for promote and rollback: names the
//! environment, service, versions and what will change; Cancel is focused.
//!
//! ```text
//! ┏ Roll back? [PROD] ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
//! ┃ prod/checkout: roll back v1.5.0 → v1.4.2: all traffic to ┃
//! ┃ v1.4.2 at once                                           ┃
//! ┃ This is a PRODUCTION environment.                        ┃
//! ┃            ▸[ Cancel ]◂      [ Roll back ]               ┃
//! ┃ y confirm  n/Esc cancel                                  ┃
//! ┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛
//! ```

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::{centred, wrap};
use crate::tui::keymap::{self, View};
use crate::tui::model::{Confirmation, Focus};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, confirm: &Confirmation, theme: &Theme) {
    let width = area.width.saturating_sub(8).min(64);
    let inner_w = width.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = wrap(&confirm.text, inner_w, 4)
        .into_iter()
        .map(Line::raw)
        .collect();
    if confirm.prod {
        lines.push(Line::styled(
            "This is a PRODUCTION environment.",
            theme.prod,
        ));
    }
    lines.push(Line::default());
    let button = |label: &str, focused: bool| {
        if focused {
            Span::styled(format!("▸[ {label} ]◂"), theme.button_focused)
        } else {
            Span::styled(format!(" [ {label} ] "), theme.button)
        }
    };
    lines.push(
        Line::from(vec![
            button("Cancel", confirm.focus == Focus::Cancel),
            Span::raw("    "),
            button(confirm.verb, confirm.focus == Focus::Confirm),
        ])
        .alignment(Alignment::Center),
    );
    let hints: Vec<String> = keymap::hints(View::Confirm)
        .filter_map(|b| b.hint.map(|(k, w)| format!("{k} {w}")))
        .collect();
    lines.push(Line::styled(hints.join("  "), theme.dim).alignment(Alignment::Center));

    let height = lines.len() as u16 + 2;
    let rect = centred(area, width, height);
    let mut title = vec![Span::styled(format!(" {}? ", confirm.verb), theme.title)];
    let mut block = Block::bordered();
    if confirm.prod {
        title.push(Span::styled("[PROD] ", theme.prod));
        block = block
            .border_type(BorderType::Thick)
            .border_style(theme.prod);
    }
    let block = block
        .title(Line::from(title))
        .padding(ratatui::widgets::Padding::horizontal(1));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
