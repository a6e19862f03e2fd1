//! The version input of a new release when the configuration lists no
//! versions (a Kubernetes service releases any image tag): the operator
//! types it, Enter takes it to the usual confirmation.
//!
//! ```text
//! ┌ Release? ─────────────────────────────────────────┐
//! │ prod/checkout runs v1.4.2. Version to release:     │
//! │ > v1.5.0▏                                          │
//! │                                                    │
//! │ type version  ⏎ ok  Esc cancel                     │
//! └────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Padding, Paragraph};

use super::{centred, fit};
use crate::tui::keymap::{self, View};
use crate::tui::model::VersionInput;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, input: &VersionInput, theme: &Theme) {
    let width = area.width.saturating_sub(8).min(64);
    let inner_w = width.saturating_sub(4) as usize;
    let mut lines = vec![Line::raw(fit(
        &format!(
            "{} runs {}. Version to release:",
            input.target, input.running
        ),
        inner_w,
    ))];
    lines.push(Line::from(vec![
        Span::styled("> ", theme.key),
        Span::raw(fit(&input.typed, inner_w.saturating_sub(3))),
        Span::styled("▏", theme.key),
    ]));
    if input.prod {
        lines.push(Line::styled(
            "This is a PRODUCTION environment.",
            theme.prod,
        ));
    }
    lines.push(Line::default());
    let hints: Vec<String> = keymap::hints(View::Version)
        .filter_map(|b| b.hint.map(|(k, w)| format!("{k} {w}")))
        .collect();
    lines.push(Line::styled(hints.join("  "), theme.dim).alignment(Alignment::Center));

    let height = lines.len() as u16 + 2;
    let rect = centred(area, width, height);
    let mut title = vec![Span::styled(" Release? ", theme.title)];
    let mut block = Block::bordered();
    if input.prod {
        title.push(Span::styled("[PROD] ", theme.prod));
        block = block
            .border_type(BorderType::Thick)
            .border_style(theme.prod);
    }
    let block = block
        .title(Line::from(title))
        .padding(Padding::horizontal(1));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
