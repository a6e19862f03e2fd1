//! Two lines: the last command reply or note, then the key hints of the
//! current view, generated from the keymap.
//!
//! ```text
//!  accepted: rollback prod/checkout
//!  ←→ env  ↑↓ service  a advance  p pause  P promote  r rollback  …
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::engine::CommandKind;
use crate::tui::keymap::KeyAction;
use crate::tui::model::{Cockpit, StatusKind};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, cockpit: &Cockpit, theme: &Theme) {
    let width = area.width as usize;
    let status = match &cockpit.status {
        Some(s) => {
            let style = match s.kind {
                StatusKind::Accepted => theme.ok,
                StatusKind::Refused => theme.crit,
                StatusKind::Note => theme.alert,
            };
            Line::from(Span::styled(
                super::fit(&format!(" {}", s.text), width),
                style,
            ))
        }
        None => Line::default(),
    };
    frame.render_widget(
        Paragraph::new(vec![status, hint_line(cockpit, theme, width)]),
        area,
    );
}

/// The hints of the component that has the keys, with `p` saying what it
/// would do now.
pub(crate) fn hint_line(cockpit: &Cockpit, theme: &Theme, width: usize) -> Line<'static> {
    let hints = cockpit.commands();
    let pairs: Vec<(&str, &str)> = hints
        .iter()
        .map(|hint| {
            let word = match (hint.action, cockpit.pause_or_resume()) {
                (KeyAction::PauseResume, CommandKind::Resume) => "resume",
                _ => hint.word,
            };
            (hint.key.as_str(), word)
        })
        .collect();
    let total = |gap: usize| -> usize {
        pairs
            .iter()
            .map(|(k, w)| k.chars().count() + 1 + w.chars().count() + gap)
            .sum::<usize>()
            + 1
    };
    // Two spaces between hints when they fit, one when they would not.
    let gap = if total(2) <= width { 2 } else { 1 };
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for (key, word) in pairs {
        let len = key.chars().count() + 1 + word.chars().count() + gap;
        if used + len > width + gap {
            break;
        }
        used += len;
        spans.push(Span::styled(key.to_string(), theme.key));
        spans.push(Span::raw(format!(" {word}{}", " ".repeat(gap))));
    }
    Line::from(spans)
}
