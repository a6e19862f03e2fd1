//! What opens over the environments (the help, a confirmation, the version
//! input) and the detail and insights screens, as components in the style of gitui's
//! `src/components`: each owns its state, what its keys do, the hints it
//! lists (`commands`) and its drawing. The cockpit holds one of each, shown
//! or hidden, gives the keys to the topmost one shown, and carries out
//! what a component cannot do alone (`Outcome`).
//!
//! A new overlay is a file here, a field of the cockpit listed in its
//! `overlays`, and its rows in the key table.

mod confirm;
mod detail;
mod help;
mod insights;
mod version_input;

pub use confirm::{Confirm, Confirmation, Focus, Request};
pub use detail::Detail;
pub use help::Help;
pub use insights::Insights;
pub use version_input::VersionInput;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::keymap::{self, KeyAction, KeyHint, View};
use super::model::Cockpit;
use super::scroll::Scroll;
use super::theme::Theme;
use crate::engine::Target;

/// A page that scrolls, shown or hidden: the help and the detail screen.
#[derive(Debug, Default)]
pub struct Page {
    visible: bool,
    pub scroll: Scroll,
}

impl Page {
    /// Opens it at the top.
    pub fn show(&mut self) {
        self.scroll.reset();
        self.visible = true;
    }

    pub fn is_visible(&self) -> bool {
        self.visible
    }

    /// The scroll keys move it, `close` hides it; other keys are not its own.
    fn on_key(&mut self, action: KeyAction, close: KeyAction) -> Outcome {
        match action {
            KeyAction::ScrollUp => self.scroll.up(1),
            KeyAction::ScrollDown => self.scroll.down(1),
            KeyAction::PageUp => self.scroll.page_up(),
            KeyAction::PageDown => self.scroll.page_down(),
            _ if action == close => {
                self.visible = false;
                return Outcome::Closed(None);
            }
            other => return Outcome::Unhandled(other),
        }
        Outcome::Redraw
    }
}

pub trait Component {
    /// The part of the key table in force while it has the keys.
    fn view(&self) -> View;

    /// Its key hints, from the key table (gitui's `commands()`): what the
    /// footer, and an overlay itself, show.
    fn commands(&self) -> Vec<KeyHint> {
        keymap::hints(self.view())
    }

    fn is_visible(&self) -> bool;

    /// What `action` (the meaning of `key` in its view) does to it.
    fn on_key(&mut self, action: KeyAction, key: &KeyEvent) -> Outcome;

    /// Draws it over `area` (the whole screen for an overlay).
    fn draw(&self, frame: &mut Frame, area: Rect, cockpit: &Cockpit, theme: &Theme);
}

/// What a key did to a component, for the cockpit to finish.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Handled inside: draw again.
    Redraw,
    /// It closed, leaving this in the status line, if anything.
    Closed(Option<String>),
    /// It stays open, and this goes in the status line.
    Note(String),
    /// Confirmed: send or start what it asked about.
    Confirmed(Request),
    /// Offer the release of the configured version after this one.
    AnotherVersion(String),
    /// Ask about releasing `version` of `target`, which runs `running`.
    Release {
        target: Target,
        running: String,
        version: String,
    },
    /// Not its key: the cockpit's (quitting, the release commands).
    Unhandled(KeyAction),
}
