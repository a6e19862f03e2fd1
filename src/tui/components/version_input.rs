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

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Component, Outcome};
use crate::engine::Target;
use crate::tui::keymap::{KeyAction, View};
use crate::tui::model::Cockpit;
use crate::tui::theme::Theme;
use crate::tui::view::{centred, fit, hint_row, modal_block, prod_warning};

/// What is being typed, and for which release.
#[derive(Debug, Clone, PartialEq)]
pub struct Typing {
    pub target: Target,
    /// The version running now, which cannot be released again.
    pub running: String,
    pub typed: String,
    pub prod: bool,
}

/// The version input overlay: shown while a version is being typed.
#[derive(Debug, Default)]
pub struct VersionInput {
    typing: Option<Typing>,
}

impl VersionInput {
    /// Asks for the version of a new release of `target`, which runs `running`.
    pub fn ask(&mut self, target: Target, running: String, prod: bool) {
        self.typing = Some(Typing {
            target,
            running,
            typed: String::new(),
            prod,
        });
    }

    /// Enter: the typed version, to be asked about like any release.
    fn take(&mut self) -> Outcome {
        let Some(typing) = &self.typing else {
            return Outcome::Redraw;
        };
        let version = typing.typed.trim().to_string();
        if version.is_empty() {
            return Outcome::Note("type a version first".into());
        }
        if version == typing.running {
            return Outcome::Note(format!(
                "{} runs {version} already: type another version",
                typing.target
            ));
        }
        let typing = self.typing.take().expect("typing, above");
        Outcome::Release {
            target: typing.target,
            running: typing.running,
            version,
        }
    }
}

impl Component for VersionInput {
    fn view(&self) -> View {
        View::Version
    }

    fn is_visible(&self) -> bool {
        self.typing.is_some()
    }

    fn on_key(&mut self, action: KeyAction, key: &KeyEvent) -> Outcome {
        let Some(typing) = &mut self.typing else {
            return Outcome::Unhandled(action);
        };
        match (action, key.code) {
            (KeyAction::TypeChar, KeyCode::Char(ch)) => {
                typing.typed.push(ch);
                Outcome::Redraw
            }
            (KeyAction::EraseChar, _) => {
                typing.typed.pop();
                Outcome::Redraw
            }
            (KeyAction::TakeVersion, _) => self.take(),
            (KeyAction::Cancel, _) => {
                let note = format!("cancelled: no release of {} started", typing.target);
                self.typing = None;
                Outcome::Closed(Some(note))
            }
            (other, _) => Outcome::Unhandled(other),
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, _cockpit: &Cockpit, theme: &Theme) {
        let Some(input) = &self.typing else {
            return;
        };
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
        lines.extend(prod_warning(input.prod, theme));
        lines.push(Line::default());
        lines.push(hint_row(&self.commands(), theme));

        let rect = centred(area, width, lines.len() as u16 + 2);
        let block = modal_block("Release?", input.prod, theme);
        frame.render_widget(Clear, rect);
        frame.render_widget(Paragraph::new(lines).block(block), rect);
    }
}
