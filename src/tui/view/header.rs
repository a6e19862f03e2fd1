//! Two lines: what is running and who is at the keys, then what waits for
//! a human.
//!
//! ```text
//!  helmsman · demo · alice (ssh from 10.0.0.5) · local          14:03:05 UTC
//!  ▶ prod/checkout waits for you at step 3/6
//! ```
//!
//! "local": releases started here run in this process
//! (quitting rolls them back); "attached to host pid 4821": the release
//! host of that pid drives them (quitting detaches).

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
    let driving = match cockpit.header.host {
        Some(pid) => format!("attached to host pid {pid}"),
        None => "local".to_string(),
    };
    let tail = format!(" · {} · {driving}", cockpit.header.operator);
    let read_only = if cockpit.read_only {
        " · READ-ONLY"
    } else {
        ""
    };
    let room = width.saturating_sub(clock.chars().count() + 1);
    // The clock, who is at the keys and where releases run win; the config
    // label is what gets cut, from the left, so its file name stays.
    let fixed = " helmsman · ".chars().count() + tail.chars().count() + read_only.chars().count();
    let label = keep_end(&cockpit.header.config_label, room.saturating_sub(fixed));
    let mut left = vec![
        Span::styled(" helmsman", theme.title),
        Span::raw(format!(" · {label}{tail}")),
    ];
    if cockpit.read_only {
        left.push(Span::raw(" · "));
        left.push(Span::styled("READ-ONLY", theme.alert));
    }
    let used: usize = left.iter().map(|s| s.content.chars().count()).sum();
    if used > room {
        // Too narrow even without the label.
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

/// `text` in `width` columns, its start replaced by `…` when it is longer.
fn keep_end(text: &str, width: usize) -> String {
    let length = text.chars().count();
    if length <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let tail: String = text.chars().skip(length - (width - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::keep_end;

    #[test]
    fn a_long_label_keeps_its_file_name() {
        assert_eq!(
            keep_end("/etc/helmsman/helmsman.toml", 15),
            "…/helmsman.toml"
        );
        assert_eq!(keep_end("demo", 16), "demo");
        assert_eq!(keep_end("demo", 0), "");
    }
}
