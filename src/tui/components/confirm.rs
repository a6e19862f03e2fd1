//! The confirmation of a promote, a rollback, a new release or a database
//! contract: names the
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

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Component, Outcome};
use crate::engine::{Command, Target};
use crate::tui::keymap::{KeyAction, View};
use crate::tui::model::{Cockpit, StartRequest};
use crate::tui::theme::Theme;
use crate::tui::view::{centred, hint_row, modal_block, prod_warning, wrap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Cancel,
    Confirm,
}

/// What a confirmation sends once confirmed.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Command(Command),
    Start(StartRequest),
    /// Run the pending contract of a service's migrations.
    Contract(Target),
}

/// A promote, a rollback, a new release or a contract waiting for `y`.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub request: Request,
    /// "Roll back" / "Promote", the confirm button's label.
    pub verb: &'static str,
    /// "prod/checkout: roll back v1.5.0 → v1.4.2: all traffic to v1.4.2 at once"
    pub text: String,
    pub prod: bool,
    pub focus: Focus,
}

/// The confirmation overlay: shown while it holds a question.
#[derive(Debug, Default)]
pub struct Confirm {
    asking: Option<Confirmation>,
}

impl Confirm {
    /// Asks `request` (replacing any question open), Cancel focused.
    pub fn ask(&mut self, request: Request, verb: &'static str, text: String, prod: bool) {
        self.asking = Some(Confirmation {
            request,
            verb,
            text,
            prod,
            focus: Focus::Cancel,
        });
    }

    /// The open question, if any.
    pub fn asking(&self) -> Option<&Confirmation> {
        self.asking.as_ref()
    }

    fn cancel(&mut self) -> Outcome {
        let note = self.asking.take().map(|c| match c.request {
            Request::Command(command) => {
                format!("cancelled: {} {} not sent", command.kind, command.target)
            }
            Request::Start(start) => format!("cancelled: no release of {} started", start.target),
            Request::Contract(target) => format!("cancelled: no contract run on {target}"),
        });
        Outcome::Closed(note)
    }
}

impl Component for Confirm {
    fn view(&self) -> View {
        View::Confirm
    }

    fn is_visible(&self) -> bool {
        self.asking.is_some()
    }

    fn on_key(&mut self, action: KeyAction, _key: &KeyEvent) -> Outcome {
        let Some(asking) = &mut self.asking else {
            return Outcome::Unhandled(action);
        };
        match action {
            KeyAction::ToggleFocus => {
                asking.focus = match asking.focus {
                    Focus::Cancel => Focus::Confirm,
                    Focus::Confirm => Focus::Cancel,
                };
                Outcome::Redraw
            }
            KeyAction::PressFocused if asking.focus == Focus::Cancel => self.cancel(),
            KeyAction::PressFocused | KeyAction::Confirm => {
                let asked = self.asking.take().expect("asking, above");
                Outcome::Confirmed(asked.request)
            }
            KeyAction::Cancel => self.cancel(),
            KeyAction::NextVersion => match &asking.request {
                Request::Start(start) => Outcome::AnotherVersion(start.version.clone()),
                Request::Command(_) | Request::Contract(_) => Outcome::Redraw,
            },
            other => Outcome::Unhandled(other),
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, _cockpit: &Cockpit, theme: &Theme) {
        let Some(confirm) = &self.asking else {
            return;
        };
        let width = area.width.saturating_sub(8).min(64);
        let inner_w = width.saturating_sub(4) as usize;
        let mut lines: Vec<Line> = wrap(&confirm.text, inner_w, 4)
            .into_iter()
            .map(Line::raw)
            .collect();
        lines.extend(prod_warning(confirm.prod, theme));
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
        lines.push(hint_row(&self.commands(), theme));

        let rect = centred(area, width, lines.len() as u16 + 2);
        let block = modal_block(&format!("{}?", confirm.verb), confirm.prod, theme);
        frame.render_widget(ratatui::widgets::Clear, rect);
        frame.render_widget(Paragraph::new(lines).block(block), rect);
    }
}
