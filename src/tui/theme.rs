//! Styles of the cockpit. Colour only ever repeats what words and symbols
//! already say (OK / ALERT / CRIT, PROD, ▸), so the monochrome theme for
//! `NO_COLOR` swaps colours for modifiers and loses no meaning.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub monochrome: bool,
    pub title: Style,
    pub dim: Style,
    pub prod: Style,
    pub selected: Style,
    pub ok: Style,
    pub alert: Style,
    pub crit: Style,
    pub waiting: Style,
    pub key: Style,
    pub traffic: Style,
    pub gauge_empty: Style,
    pub mark: Style,
    pub button: Style,
    pub button_focused: Style,
}

impl Theme {
    /// Monochrome when `NO_COLOR` is set and not empty (no-color.org).
    pub fn from_env() -> Theme {
        Theme::for_no_color(std::env::var("NO_COLOR").ok().as_deref())
    }

    /// `from_env` without reading the environment, for tests.
    pub fn for_no_color(no_color: Option<&str>) -> Theme {
        match no_color {
            Some(v) if !v.is_empty() => Theme::monochrome(),
            _ => Theme::colored(),
        }
    }

    /// 16 named colours only: they follow the terminal's palette.
    pub fn colored() -> Theme {
        let bold = Modifier::BOLD;
        Theme {
            monochrome: false,
            title: Style::new().add_modifier(bold),
            dim: Style::new().fg(Color::DarkGray),
            prod: Style::new().fg(Color::LightRed).add_modifier(bold),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            ok: Style::new().fg(Color::Green),
            alert: Style::new().fg(Color::Yellow).add_modifier(bold),
            crit: Style::new().fg(Color::Red).add_modifier(bold),
            waiting: Style::new().fg(Color::Magenta).add_modifier(bold),
            key: Style::new().fg(Color::Cyan).add_modifier(bold),
            traffic: Style::new().fg(Color::Cyan),
            gauge_empty: Style::new().fg(Color::DarkGray),
            mark: Style::new().fg(Color::White).add_modifier(bold),
            button: Style::new(),
            button_focused: Style::new().add_modifier(Modifier::REVERSED | bold),
        }
    }

    /// No colour at all: bold, reversed and underlined carry the emphasis.
    pub fn monochrome() -> Theme {
        let bold = Modifier::BOLD;
        Theme {
            monochrome: true,
            title: Style::new().add_modifier(bold),
            dim: Style::new(),
            prod: Style::new().add_modifier(bold | Modifier::UNDERLINED),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            ok: Style::new(),
            alert: Style::new().add_modifier(bold),
            crit: Style::new().add_modifier(bold | Modifier::REVERSED),
            waiting: Style::new().add_modifier(bold | Modifier::UNDERLINED),
            key: Style::new().add_modifier(bold),
            traffic: Style::new(),
            gauge_empty: Style::new(),
            mark: Style::new().add_modifier(bold),
            button: Style::new(),
            button_focused: Style::new().add_modifier(Modifier::REVERSED | bold),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_set_and_not_empty_means_monochrome() {
        assert!(Theme::for_no_color(Some("1")).monochrome);
        assert!(!Theme::for_no_color(Some("")).monochrome);
        assert!(!Theme::for_no_color(None).monochrome);
    }
}
