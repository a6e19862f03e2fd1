//! A bordered box of rows that may not all fit: it shows the rows from the
//! scroll position and marks in its border how many are hidden above and
//! below, so a person at 80×24 knows there is more and how to reach it.
//!
//! ```text
//! ┌ Keys — Esc closes ─────────────────────────── ▲ 4 more ┐
//! │ …                                                      │
//! └──────────────────────────────────── ▼ 12 more ↓ PgDn ─┘
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::tui::scroll::Scroll;
use crate::tui::theme::Theme;

/// Draws `block` over `area` and, inside it, the `rows` (one screen row
/// each: see [`wrap_line`]) from the scroll position.
pub fn render(
    frame: &mut Frame,
    area: Rect,
    block: Block<'_>,
    rows: Vec<Line<'static>>,
    scroll: &Scroll,
    theme: &Theme,
) {
    let inner = block.inner(area);
    let visible = inner.height as usize;
    let window = scroll.fit(rows.len(), visible);
    // How many rows are hidden, at the right of the border they are beyond.
    let mark = |words: String| Line::from(Span::styled(words, theme.key)).right_aligned();
    let mut block = block;
    if window.above > 0 {
        block = block.title(mark(format!(" ▲ {} more ", window.above)));
    }
    if window.below > 0 {
        block = block.title_bottom(mark(format!(" ▼ {} more ↓ PgDn ", window.below)));
    }
    frame.render_widget(block, area);
    let shown: Vec<Line> = rows.into_iter().skip(window.offset).take(visible).collect();
    frame.render_widget(Paragraph::new(shown), inner);
}

/// Word-wraps a styled line to `width` columns, keeping each character's
/// style; rows after the first start with `indent` spaces. A word longer
/// than a row is cut across rows.
pub fn wrap_line(line: &Line<'_>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let indent = indent.min(width / 2);
    let chars: Vec<(char, Style)> = line
        .spans
        .iter()
        .flat_map(|s| {
            let style = line.style.patch(s.style);
            s.content.chars().map(move |c| (c, style))
        })
        .collect();
    let mut rows: Vec<Vec<(char, Style)>> = vec![Vec::new()];
    for word in chars.split(|(c, _)| *c == ' ') {
        let row = rows.last_mut().expect("never empty");
        let room = width.saturating_sub(row.len());
        if word.is_empty() {
            // Two spaces in a row (or a leading one) are kept where they fit.
            if room > 0 {
                row.push((' ', Style::default()));
            }
            continue;
        }
        let needs_space = !row.is_empty() && row.iter().any(|(c, _)| *c != ' ');
        let fits = word.len() + usize::from(needs_space) <= room;
        if fits {
            if needs_space {
                row.push((' ', Style::default()));
            }
            row.extend_from_slice(word);
            continue;
        }
        let mut rest = word;
        if needs_space {
            rows.push(vec![(' ', Style::default()); indent]);
        }
        loop {
            let row = rows.last_mut().expect("never empty");
            let room = width - row.len();
            if rest.len() <= room {
                row.extend_from_slice(rest);
                break;
            }
            row.extend_from_slice(&rest[..room]);
            rest = &rest[room..];
            rows.push(vec![(' ', Style::default()); indent]);
        }
    }
    rows.into_iter().map(spans_of).collect()
}

/// Characters with their styles, merged back into spans.
fn spans_of(row: Vec<(char, Style)>) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut current: Option<Style> = None;
    for (c, style) in row {
        if current.is_some_and(|s| s != style) {
            spans.push(Span::styled(std::mem::take(&mut text), current.unwrap()));
        }
        current = Some(style);
        text.push(c);
    }
    if let Some(style) = current {
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::view::text_of;
    use ratatui::style::Stylize;

    #[test]
    fn wraps_at_words_keeps_styles_and_indents_what_follows() {
        let line = Line::from(vec![
            Span::raw("13:50:00 "),
            Span::raw("waits").bold(),
            Span::raw(" for analysis of the new version"),
        ]);
        let rows = wrap_line(&line, 16, 2);
        let texts: Vec<String> = rows.iter().map(text_of).collect();
        assert_eq!(
            texts,
            vec![
                "13:50:00 waits",
                "  for analysis",
                "  of the new",
                "  version"
            ]
        );
        assert!(rows.iter().all(|r| r.width() <= 16));
        let bold = rows[0].spans.iter().find(|s| s.content == "waits");
        assert!(
            bold.is_some_and(|s| s.style == Style::new().bold()),
            "{rows:?}"
        );
    }

    #[test]
    fn a_word_longer_than_a_row_is_cut_across_rows() {
        let rows = wrap_line(&Line::raw("abcdefghij"), 4, 0);
        let texts: Vec<String> = rows.iter().map(text_of).collect();
        assert_eq!(texts, vec!["abcd", "efgh", "ij"]);
        assert_eq!(
            wrap_line(&Line::raw(""), 4, 0).len(),
            1,
            "an empty line stays a row"
        );
    }
}
