//! The one key table. It both decides what a key does (`lookup`) and lists
//! the hints of the footer and the help overlay (`hints`, `BINDINGS`); every
//! label on screen is made from the keys themselves (`Key::label`), so what
//! the screen says a key does can never drift from what it does. Each
//! component lists its own hints from here (`components::Component::commands`).

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
    /// The delivery insights screen.
    Insights,
}

impl View {
    pub fn name(self) -> &'static str {
        match self {
            View::Main => "main",
            View::Detail => "detail",
            View::Help => "help",
            View::Confirm => "confirm",
            View::Version => "version",
            View::Insights => "insights",
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
    /// Run the selected service's pending database contract.
    Contract,
    Details,
    /// Write the selected release's deployment report to a file.
    WriteReport,
    /// Show the delivery insights of the journal.
    Insights,
    CloseInsights,
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

/// Stands for every printable key typed into the version input: `lookup`
/// types them, so it matches no key event itself.
const TYPED: Key = k(KeyCode::Null);

impl Key {
    fn matches(&self, event: &KeyEvent) -> bool {
        if self.code == KeyCode::Null {
            return false;
        }
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        let alt = event.modifiers.contains(KeyModifiers::ALT);
        self.code == event.code && self.ctrl == ctrl && !alt
    }

    /// How the help names the key: "Enter", "S-Tab", "Ctrl-C".
    pub fn label(&self) -> String {
        let name = match self.code {
            KeyCode::Null => "a-z 0-9 .".to_string(),
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(ch) => ch.to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::BackTab => "S-Tab".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::Backspace => "Backspace".to_string(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{}", name.to_uppercase())
        } else {
            name
        }
    }

    /// How the footer names it, where room is short: "⏎" for Enter.
    pub fn short_label(&self) -> String {
        match self.code {
            KeyCode::Enter => "⏎".to_string(),
            KeyCode::Null => "type".to_string(),
            _ => self.label(),
        }
    }
}

/// Which of a binding's keys its footer hint names.
#[derive(Debug, Clone, Copy)]
pub enum HintKeys {
    /// Its first key: "a".
    First,
    /// Its key at this index, when another is the one to teach: "Esc" of
    /// "? Esc q".
    Nth(usize),
    /// Its first two keys, as alternatives: "n/Esc".
    FirstTwo,
    /// The first key of the binding just above (the other direction), then
    /// its own: "←→".
    PairedWithAbove,
}

pub struct Binding {
    keys: &'static [Key],
    /// The footer hint: which keys it names, and the word; `None` keeps the
    /// binding out of the footer.
    hint: Option<(HintKeys, &'static str)>,
    pub description: &'static str,
    pub action: KeyAction,
    pub views: &'static [View],
}

use View::{Confirm as VC, Detail as VD, Help as VH, Insights as VI, Main as VM, Version as VV};

/// Every key of the cockpit. Order matters: the first binding of a view
/// that matches a key wins, and the footer shows hints in this order.
pub static BINDINGS: &[Binding] = &[
    Binding {
        keys: &[k(KeyCode::Left), c('h'), k(KeyCode::BackTab)],
        hint: None,
        description: "previous environment",
        action: KeyAction::PrevEnv,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Right), c('l'), k(KeyCode::Tab)],
        hint: Some((HintKeys::PairedWithAbove, "env")),
        description: "next environment",
        action: KeyAction::NextEnv,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Up), c('k')],
        hint: None,
        description: "previous service",
        action: KeyAction::PrevService,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Down), c('j')],
        hint: Some((HintKeys::PairedWithAbove, "svc")),
        description: "next service",
        action: KeyAction::NextService,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Up), c('k')],
        hint: None,
        description: "scroll up a line",
        action: KeyAction::ScrollUp,
        views: &[VD, VH, VI],
    },
    Binding {
        keys: &[k(KeyCode::Down), c('j')],
        hint: Some((HintKeys::PairedWithAbove, "scroll")),
        description: "scroll down a line",
        action: KeyAction::ScrollDown,
        views: &[VD, VH, VI],
    },
    Binding {
        keys: &[k(KeyCode::PageUp)],
        hint: None,
        description: "scroll up a page",
        action: KeyAction::PageUp,
        views: &[VD, VH, VI],
    },
    Binding {
        keys: &[k(KeyCode::PageDown), c(' ')],
        // The scroll marks name it; the footer has no room at 80 columns.
        hint: None,
        description: "scroll down a page",
        action: KeyAction::PageDown,
        views: &[VD, VH, VI],
    },
    Binding {
        keys: &[c('a')],
        hint: Some((HintKeys::First, "advance")),
        description: "advance one step (ends a pause or a manual gate)",
        action: KeyAction::Advance,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('p')],
        hint: Some((HintKeys::First, "pause")),
        description: "pause a running release, resume a paused one",
        action: KeyAction::PauseResume,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('P')],
        hint: Some((HintKeys::First, "promote")),
        description: "promote to 100 % (asks first)",
        action: KeyAction::Promote,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('r')],
        hint: Some((HintKeys::First, "rollback")),
        description: "roll back to the stable version (asks first)",
        action: KeyAction::Rollback,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('C')],
        // Only in the help overlay: the footer has no room left at 80
        // columns; the service's `db:` line names it while it is pending.
        hint: None,
        description: "run a pending database contract (asks first)",
        action: KeyAction::Contract,
        views: &[VM, VD],
    },
    Binding {
        keys: &[k(KeyCode::Enter)],
        hint: Some((HintKeys::First, "details")),
        description: "details: steps, verdicts, events",
        action: KeyAction::Details,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Esc), k(KeyCode::Enter)],
        hint: Some((HintKeys::First, "back")),
        description: "back to the environments",
        action: KeyAction::Back,
        views: &[VD],
    },
    Binding {
        keys: &[c('w')],
        hint: Some((HintKeys::First, "report")),
        description: "write the deployment report to a file",
        action: KeyAction::WriteReport,
        views: &[VD],
    },
    Binding {
        keys: &[c('i')],
        // Only in the help overlay: the footer has no room left at 80 columns.
        hint: None,
        description: "delivery insights of the last 30 days",
        action: KeyAction::Insights,
        views: &[VM],
    },
    Binding {
        keys: &[k(KeyCode::Esc), c('i')],
        hint: Some((HintKeys::First, "back")),
        description: "back to the environments",
        action: KeyAction::CloseInsights,
        views: &[VI],
    },
    Binding {
        keys: &[c('n')],
        // Only in the help overlay: the footer has no room left at 80 columns.
        hint: None,
        description: "new release of the selected service (asks first)",
        action: KeyAction::NewRelease,
        views: &[VM],
    },
    Binding {
        keys: &[c('v')],
        hint: None,
        description: "new release: pick the next configured version",
        action: KeyAction::NextVersion,
        views: &[VC],
    },
    Binding {
        // Any other printable key: `lookup` types it.
        keys: &[TYPED],
        hint: Some((HintKeys::First, "version")),
        description: "new release: type a version (no version list)",
        action: KeyAction::TypeChar,
        views: &[VV],
    },
    Binding {
        keys: &[k(KeyCode::Backspace)],
        hint: None,
        description: "erase the last character typed",
        action: KeyAction::EraseChar,
        views: &[VV],
    },
    Binding {
        keys: &[k(KeyCode::Enter)],
        hint: Some((HintKeys::First, "ok")),
        description: "take the typed version (asks first)",
        action: KeyAction::TakeVersion,
        views: &[VV],
    },
    Binding {
        keys: &[c('y')],
        hint: Some((HintKeys::First, "confirm")),
        description: "confirm: send the command",
        action: KeyAction::Confirm,
        views: &[VC],
    },
    Binding {
        keys: &[c('n'), k(KeyCode::Esc)],
        hint: Some((HintKeys::FirstTwo, "cancel")),
        description: "cancel: send nothing",
        action: KeyAction::Cancel,
        views: &[VC],
    },
    Binding {
        keys: &[k(KeyCode::Esc)],
        hint: Some((HintKeys::First, "cancel")),
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
        hint: None,
        description: "move the focus between the buttons",
        action: KeyAction::ToggleFocus,
        views: &[VC],
    },
    Binding {
        keys: &[k(KeyCode::Enter)],
        hint: None,
        description: "press the focused button (Cancel at first)",
        action: KeyAction::PressFocused,
        views: &[VC],
    },
    Binding {
        keys: &[c('?')],
        hint: Some((HintKeys::First, "help")),
        description: "this help",
        action: KeyAction::Help,
        views: &[VM, VD],
    },
    Binding {
        keys: &[c('?'), k(KeyCode::Esc), c('q')],
        hint: Some((HintKeys::Nth(1), "close")),
        description: "close the help",
        action: KeyAction::CloseHelp,
        views: &[VH],
    },
    Binding {
        keys: &[c('q'), ctrl('c')],
        hint: Some((HintKeys::First, "quit")),
        description: "quit (rolls back releases started here)",
        action: KeyAction::Quit,
        views: &[VM, VD, VI],
    },
    Binding {
        keys: &[ctrl('c')],
        hint: None,
        description: "quit from anywhere",
        action: KeyAction::Quit,
        views: &[VH, VC],
    },
    Binding {
        keys: &[ctrl('c')],
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

impl Binding {
    /// Its keys as the help writes them: "← h S-Tab".
    pub fn keys_label(&self) -> String {
        let labels: Vec<String> = self.keys.iter().map(Key::label).collect();
        labels.join(" ")
    }
}

/// A footer hint: the key to press and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHint {
    pub key: String,
    pub word: &'static str,
    pub action: KeyAction,
}

impl std::fmt::Display for KeyHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.key, self.word)
    }
}

/// The footer hints of a view, in table order.
pub fn hints(view: View) -> Vec<KeyHint> {
    let mut hints = Vec::new();
    let mut above: Option<&Binding> = None;
    for binding in BINDINGS.iter().filter(|b| b.views.contains(&view)) {
        if let Some((keys, word)) = binding.hint {
            let first = |b: &Binding| b.keys.first().map(Key::short_label).unwrap_or_default();
            let key = match keys {
                HintKeys::First => first(binding),
                HintKeys::Nth(i) => binding
                    .keys
                    .get(i)
                    .map(Key::short_label)
                    .unwrap_or_default(),
                HintKeys::FirstTwo => {
                    let two: Vec<String> =
                        binding.keys.iter().take(2).map(Key::short_label).collect();
                    two.join("/")
                }
                HintKeys::PairedWithAbove => {
                    format!("{}{}", above.map(first).unwrap_or_default(), first(binding))
                }
            };
            hints.push(KeyHint {
                key,
                word,
                action: binding.action,
            });
        }
        above = Some(binding);
    }
    hints
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
        for view in [View::Help, View::Detail, View::Insights] {
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
        let help_hints: Vec<_> = hints(View::Help)
            .into_iter()
            .map(|h| (h.key, h.word))
            .collect();
        assert_eq!(
            help_hints,
            vec![("↑↓".to_string(), "scroll"), ("Esc".to_string(), "close")]
        );
    }

    #[test]
    fn every_view_can_quit_and_every_action_is_listed() {
        for view in [
            View::Main,
            View::Detail,
            View::Help,
            View::Confirm,
            View::Version,
            View::Insights,
        ] {
            assert_eq!(
                lookup(view, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
                Some(KeyAction::Quit),
                "{view:?}"
            );
            assert!(!hints(view).is_empty(), "{view:?} has no hints");
        }
    }
}
