//! Every option of every subcommand says what it is for in `--help`.

use std::process::Command;

const SUBCOMMANDS: [&str; 18] = [
    "tui",
    "demo",
    "check-config",
    "plan",
    "release",
    "validate",
    "serve",
    "status",
    "history",
    "report",
    "insights",
    "attach",
    "advance",
    "pause",
    "resume",
    "promote",
    "rollback",
    "retry",
];

fn help(subcommand: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args([subcommand, "--help"])
        .env_remove("HELMSMAN_CONFIG")
        .env_remove("HELMSMAN_STATE_DIR")
        .output()
        .expect("run helmsman");
    assert_eq!(output.status.code(), Some(0));
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// Each option of a help text with the first line of its description
/// (empty when it has none): on the option's line, or on the next one.
fn described_options(help: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = help.lines().collect();
    let mut options = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        // Options are indented 2 (`  -h, --help`) or 6 (`      --env`);
        // the deeper `- json: …` lines list an option's values.
        let indent = line.len() - trimmed.len();
        if !trimmed.starts_with('-') || !(2..=6).contains(&indent) {
            continue;
        }
        let (flags, same_line) = match trimmed.split_once("  ") {
            Some((flags, rest)) => (flags, rest.trim()),
            None => (trimmed, ""),
        };
        let description = if same_line.is_empty() {
            lines.get(i + 1).map_or("", |next| next.trim())
        } else {
            same_line
        };
        options.push((flags.to_string(), description.to_string()));
    }
    options
}

#[test]
fn every_option_has_a_description() {
    for subcommand in SUBCOMMANDS {
        let text = help(subcommand);
        let options = described_options(&text);
        assert!(
            options.len() >= 3,
            "{subcommand}: no options found in:\n{text}"
        );
        for (flags, description) in options {
            // A bare list of values (`[possible values: …]`, `Possible
            // values:`) says what may be typed, not what the option does.
            let says_something = !description.is_empty()
                && !description.starts_with('[')
                && !description.starts_with("Possible values");
            assert!(
                says_something,
                "`helmsman {subcommand} --help`: {flags} has no description:\n{text}"
            );
        }
    }
}
