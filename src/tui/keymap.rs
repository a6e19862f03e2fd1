//! The one key table. It both decides what a key does (`lookup`) and lists
//! the hints of the footer and the help overlay (`hints`, `BINDINGS`), so
//! what the screen says a key does can never drift from what it does
//! (gitui's `commands()` idea, as a table instead of a trait).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What the keys act on: the main screen, the detail screen, or an overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Main,
    Detail,
    Help,
    Confirm,
    /// Typing the version of a new release (a service with no version list).
    Version,
}

impl View {
    pub fn name(self) -> &'static str {
        match self {
            View::Main => "main",
            View::Detail => "detail",
            View::Help => "help",
            View::Confirm => "confirm",
            View::Version => "version",
        }
    }
}

/// What a key means, before the model decides what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    PrevEnv,
    NextEnv,
    PrevService,
    NextService,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Advance,
    PauseResume,
    Promote,
    Rollback,
    Details,
    Back,
    Help,
    CloseHelp,
    Confirm,
    Cancel,
    ToggleFocus,
    PressFocused,
    NewRelease,
    NextVersion,
    /// A printable key typed into the version input (see `lookup`).
    TypeChar,
    EraseChar,
    TakeVersion,
    Quit,
}

/// One physical key. Letters match whatever Shift state the terminal
/// reports (`P` arrives as `Char('P')` with or without SHIFT); Ctrl and
/// Alt must match exactly.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    code: KeyCode,
    ctrl: bool,
}

const fn k(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn c(ch: char) -> Key {
    k(KeyCode::Char(ch))
}

const fn ctrl(ch: char) -> Key {
    Key {
        code: KeyCode::Char(ch),
        ctrl: true,
    }
}

impl Key {
    fn matches(&self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        let alt = event.modifiers.contains(KeyModifiers::ALT);
        self.code == event.code && self.ctrl == ctrl && !alt
    }
}

pub struct Binding {
    keys: &'static [Key],
    /// How the keys are written in the help overlay.
    pub keys_label: &'static str,
    /// Short footer hint (key, word); `None` keeps it out of the footer.
    pub hint: Option<(&'static str, &'static str)>,
    pub description: &'static str,
    pub action: KeyAction,
    pub views: &'static [View],
}

use View::{Confirm as VC, Detail as VD, Help as VH, Main as VM, Version as VV};

/// Every key of the cockpit. Order matters: the first binding of a view
/// that matches a key wins, and the footer shows hints in this order.
pub static BINDINGS: &[Binding] = &[
    Binding {
        keys: &[k(KeyCode::Left), c('h'), k(KeyCode::BackTab)],
        keys_label: "← h S-Tab",
        hint: None,
        description: "previous environment",
        action: KeyAction::PrevEnv,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Right), c('l'), k(KeyCode::Tab)],
        keys_label: "→ l Tab",
        hint: Some(("←→", "env")),
        description: "next environment",
        action: KeyAction::NextEnv,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Up), c('k')],
        keys_label: "↑ k",
        hint: None,
        description: "previous service",
        action: KeyAction::PrevService,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Down), c('j')],
        keys_label: "↓ j",
        hint: Some(("↑↓", "svc")),
        description: "next service",
        action: KeyAction::NextService,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Up), c('k')],
        keys_label: "↑ k",
        hint: None,
        description: "scroll up a line",
        action: KeyAction::ScrollUp,
        views: &[VD, VH],
    },
    Binding {
        keys: &[k(KeyCode::Down), c('j')],
        keys_label: "↓ j",
        hint: Some(("↑↓", "scroll")),
        description: "scroll down a line",
        action: KeyAction::ScrollDown,
        views: &[VD, VH],
    },
    Binding {
        keys: &[k(KeyCode::PageUp)],
        keys_label: "PgUp",
        hint: None,
        description: "scroll up a page",
        action: KeyAction::PageUp,
        views: &[VD, VH],
    },
    Binding {
        keys: &[k(KeyCode::PageDown), c(' ')],
        keys_label: "PgDn Space",
        // The scroll marks name it; the footer has no room at 80 columns.
        hint: None,
        description: "scroll down a page",
        action: KeyAction::PageDown,
        views: &[VD, VH],
    },
    Binding {
        keys: &[c('a')],
        keys_label: "a",
        hint: Some(("a", "advance")),
        description: "advance one step (ends a pause or a manual gate)",
        action: KeyAction::Advance,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('p')],
        keys_label: "p",
        hint: Some(("p", "pause")),
        description: "pause a running release, resume a paused one",
        action: KeyAction::PauseResume,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('P')],
        keys_label: "P",
        hint: Some(("P", "promote")),
        description: "promote to 100 % (asks first)",
        action: KeyAction::Promote,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('r')],
        keys_label: "r",
        hint: Some(("r", "rollback")),
        description: "roll back to the stable version (asks first)",
        action: KeyAction::Rollback,
        views: &[VM, VD],
    },
    Binding {
        keys: &[k(KeyCode::Enter)],
        keys_label: "Enter",
        hint: Some(("⏎", "details")),
        description: "details: steps, verdicts, events",
        action: KeyAction::Details,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Esc), k(KeyCode::Enter)],
        keys_label: "Esc Enter",
        hint: Some(("Esc", "back")),
        description: "back to the environments",
        action: KeyAction::Back,
        views: &[VD],
    },
    Binding {
        keys: &[c('n')],
        keys_label: "n",
        // Only in the help overlay: the footer has no room left at 80 columns.
        hint: None,
        description: "new release of the selected service (asks first)",
        action: KeyAction::NewRelease,
        views: &[VM],
    },
    Binding {
        keys: &[c('v')],
        keys_label: "v",
        hint: None,
        description: "new release: pick the next configured version",
        action: KeyAction::NextVersion,
        views: &[VC],
    },
    Binding {
        // Any other printable key: the model types it (no key to list).
        keys: &[],
        keys_label: "a-z 0-9 .",
        hint: Some(("type", "version")),
        description: "new release: type a version (no version list)",
        action: KeyAction::TypeChar,
        views: &[VV],
    },
    Binding {
        keys: &[k(KeyCode::Backspace)],
        keys_label: "Backspace",
        hint: None,
        description: "erase the last character typed",
        action: KeyAction::EraseChar,
        views: &[VV],
    },
    Binding {
        keys: &[k(KeyCode::Enter)],
        keys_label: "Enter",
        hint: Some(("⏎", "ok")),
        description: "take the typed version (asks first)",
        action: KeyAction::TakeVersion,
        views: &[VV],
    },
    Binding {
        keys: &[c('y')],
        keys_label: "y",
        hint: Some(("y", "confirm")),
        description: "confirm: send the command",
        action: KeyAction::Confirm,
        views: &[VC],
    },
    Binding {
        keys: &[c('n'), k(KeyCode::Esc)],
        keys_label: "n Esc",
        hint: Some(("n/Esc", "cancel")),
        description: "cancel: send nothing",
        action: KeyAction::Cancel,
        views: &[VC],
    },
    Binding {
        keys: &[k(KeyCode::Esc)],
        keys_label: "Esc",
        hint: Some(("Esc", "cancel")),
        description: "cancel: start nothing",
        action: KeyAction::Cancel,
        views: &[VV],
    },
    Binding {
        keys: &[
            k(KeyCode::Tab),
            k(KeyCode::BackTab),
            k(KeyCode::Left),
            k(KeyCode::Right),
        ],
        keys_label: "Tab ← →",
        hint: None,
        description: "move the focus between the buttons",
        action: KeyAction::ToggleFocus,
        views: &[VC],
    },
    Binding {
        keys: &[k(KeyCode::Enter)],
        keys_label: "Enter",
        hint: None,
        description: "press the focused button (Cancel at first)",
        action: KeyAction::PressFocused,
        views: &[VC],
    },
    Binding {
        keys: &[c('?')],
        keys_label: "?",
        hint: Some(("?", "help")),
        description: "this help",
        action: KeyAction::Help,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('?'), k(KeyCode::Esc), c('q')],
        keys_label: "? Esc q",
        hint: Some(("Esc", "close")),
        description: "close the help",
        action: KeyAction::CloseHelp,
        views: &[VH],
    },
    Binding {
        keys: &[c('q'), ctrl('c')],
        keys_label: "q Ctrl-C",
        hint: Some(("q", "quit")),
        description: "quit (rolls back releases started here)",
        action: KeyAction::Quit,
        views: &[VM, VD],
    },
    Binding {
        keys: &[ctrl('c')],
        keys_label: "Ctrl-C",
        hint: None,
        description: "quit from anywhere",
        action: KeyAction::Quit,
        views: &[VH, VC],
    },
    Binding {
        keys: &[ctrl('c')],
        keys_label: "Ctrl-C",
        hint: None,
        description: "quit, while typing a version",
        action: KeyAction::Quit,
        views: &[VV],
    },
];

/// What a key means in a view, if anything. In the version input every
/// other printable key is typed.
pub fn lookup(view: View, key: &KeyEvent) -> Option<KeyAction> {
    let bound = BINDINGS
        .iter()
        .filter(|b| b.views.contains(&view))
        .find(|b| b.keys.iter().any(|k| k.matches(key)))
        .map(|b| b.action);
    let plain = !key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Char(ch)
            if bound.is_none() && view == View::Version && plain && !ch.is_whitespace() =>
        {
            Some(KeyAction::TypeChar)
        }
        _ => bound,
    }
}

/// The footer hints of a view, in table order.
pub fn hints(view: View) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |b| b.views.contains(&view) && b.hint.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEventKind, KeyEventState};

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    #[test]
    fn shifted_letters_match_with_or_without_the_shift_flag() {
        for m in [KeyModifiers::NONE, KeyModifiers::SHIFT] {
            assert_eq!(
                lookup(View::Main, &key(KeyCode::Char('P'), m)),
                Some(KeyAction::Promote)
            );
        }
        assert_eq!(
            lookup(View::Main, &key(KeyCode::Char('c'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn the_help_and_the_detail_view_scroll_by_line_and_page() {
        let none = KeyModifiers::NONE;
        for view in [View::Help, View::Detail] {
            for (code, action) in [
                (KeyCode::Up, KeyAction::ScrollUp),
                (KeyCode::Char('k'), KeyAction::ScrollUp),
                (KeyCode::Down, KeyAction::ScrollDown),
                (KeyCode::Char('j'), KeyAction::ScrollDown),
                (KeyCode::PageUp, KeyAction::PageUp),
                (KeyCode::PageDown, KeyAction::PageDown),
            ] {
                assert_eq!(lookup(view, &key(code, none)), Some(action), "{code}");
            }
        }
        let help_hints: Vec<_> = hints(View::Help).filter_map(|b| b.hint).collect();
        assert_eq!(help_hints, vec![("↑↓", "scroll"), ("Esc", "close")]);
    }

    #[test]
    fn every_view_can_quit_and_every_action_is_listed() {
        for view in [
            View::Main,
            View::Detail,
            View::Help,
            View::Confirm,
            View::Version,
        ] {
            assert_eq!(
                lookup(view, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
                Some(KeyAction::Quit),
                "{view:?}"
            );
            assert!(hints(view).count() >= 1, "{view:?} has no hints");
        }
    }
}
