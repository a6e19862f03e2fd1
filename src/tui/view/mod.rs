//! Drawing the cockpit: one file per screen region.
//!
//! ```text
//! ┌ header.rs ── config · operator · clock ─────────────────────────┐
//! │ what waits for a human                                          │
//! ├ columns.rs ─────────┬─────────────────────┬─────────────────────┤
//! │ dev                 │ staging             │ prod [PROD]         │
//! │ services,           │  (gauge.rs draws    │                     │
//! │ env_checks.rs,      │   the bars)         │                     │
//! │ release,            │                     │                     │
//! │ gauges, sparklines  │                     │                     │
//! │   — or components/detail.rs for the selected release (Enter)    │
//! ├ footer.rs ──────────┴─────────────────────┴─────────────────────┤
//! │ last reply / note                                               │
//! │ key hints from the keymap                                       │
//! └─────────────────────────────────────────────────────────────────┘
//!   overlays (components/): help (?), confirm (P, r, n), version_input;
//!   too_small.rs below 80×24
//! ```

pub(crate) mod columns;
mod env_checks;
mod footer;
pub(crate) mod gauge;
mod header;
pub(crate) mod scrolled;
mod too_small;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Padding};

use super::keymap::KeyHint;
use super::model::Cockpit;
use super::theme::Theme;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn render(frame: &mut Frame, cockpit: &Cockpit, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small::render(frame, area, theme);
        return;
    }
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(2),
    ])
    .areas(area);
    header::render(frame, head, cockpit, theme);
    match cockpit.screen() {
        Some(screen) => screen.draw(frame, body, cockpit, theme),
        None => columns::render(frame, body, cockpit, theme),
    }
    footer::render(frame, foot, cockpit, theme);
    for overlay in cockpit.overlays() {
        if overlay.is_visible() {
            overlay.draw(frame, area, cockpit, theme);
        }
    }
}

/// The box of a question: titled " {title} ", thick and marked [PROD]
/// for a production environment.
pub(crate) fn modal_block(title: &str, prod: bool, theme: &Theme) -> Block<'static> {
    let mut spans = vec![Span::styled(format!(" {title} "), theme.title)];
    let mut block = Block::bordered();
    if prod {
        spans.push(Span::styled("[PROD] ", theme.prod));
        block = block
            .border_type(BorderType::Thick)
            .border_style(theme.prod);
    }
    block
        .title(Line::from(spans))
        .padding(Padding::horizontal(1))
}

/// The line a question about a production environment carries.
pub(crate) fn prod_warning(prod: bool, theme: &Theme) -> Option<Line<'static>> {
    prod.then(|| Line::styled("This is a PRODUCTION environment.", theme.prod))
}

/// A question's own key hints, centred under it: "y confirm  n/Esc cancel".
pub(crate) fn hint_row(hints: &[KeyHint], theme: &Theme) -> Line<'static> {
    let hints: Vec<String> = hints.iter().map(KeyHint::to_string).collect();
    Line::styled(hints.join("  "), theme.dim).alignment(Alignment::Center)
}

/// Cut `text` to `width` characters, ending with "…" when cut. Every
/// symbol the cockpit draws is one column wide, so chars are columns.
pub(crate) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// Word-wrap `text` to `width`, at most `max_lines` lines (the last one
/// ends with "…" if text was left out).
pub(crate) fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let needed = if current.is_empty() {
            word.chars().count()
        } else {
            current.chars().count() + 1 + word.chars().count()
        };
        if needed > width && !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            *last = fit(&format!("{last} …"), width);
            if !last.ends_with('…') {
                last.push('…');
            }
        }
    }
    lines.into_iter().map(|l| fit(&l, width)).collect()
}

/// A `width`×`height` rectangle centred in `area`, clipped to it.
pub(crate) fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// "12s ago", "3m ago", "2h ago".
pub(crate) fn age_words(age: chrono::Duration) -> String {
    let s = age.num_seconds().max(0);
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

/// The text of `line`, every character of its spans, styles dropped: what
/// unit tests of drawn rows compare.
#[cfg(test)]
pub(crate) fn text_of(line: &Line) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_cuts_to_lines_and_marks_what_was_left_out() {
        assert_eq!(wrap("a bb ccc", 4, 3), vec!["a bb", "ccc"]);
        let w = wrap("error rate 7.9 % vs baseline 0.2 % over many", 12, 2);
        assert_eq!(w.len(), 2);
        assert!(w[1].ends_with('…'), "{w:?}");
        assert!(w.iter().all(|l| l.chars().count() <= 12), "{w:?}");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
