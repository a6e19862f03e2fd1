//! Every option of every subcommand says what it is for in `--help`, and
//! every subcommand's help ends with an example that parses.

use std::process::Command;

/// The subcommands `helmsman --help` lists, nested ones (`migrations
/// status`) included, so a new one is held to the same rules.
fn subcommands() -> Vec<String> {
    let mut all = Vec::new();
    for name in listed(&run(&["--help"])) {
        let nested = listed(&run(&[&name, "--help"]));
        all.extend(nested.iter().map(|sub| format!("{name} {sub}")));
        all.push(name);
    }
    assert!(all.len() >= 20, "{all:?}");
    all
}

/// The names under a help text's `Commands:` heading (`help` aside).
fn listed(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

fn run(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args(args)
        .env_remove("HELMSMAN_CONFIG")
        .env_remove("HELMSMAN_STATE_DIR")
        .output()
        .expect("run helmsman");
    assert_eq!(
        output.status.code(),
        Some(0),
        "helmsman {args:?}: {output:?}"
    );
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

fn help(subcommand: &str) -> String {
    let mut args: Vec<&str> = subcommand.split(' ').collect();
    args.push("--help");
    run(&args)
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
    for subcommand in subcommands() {
        let text = help(&subcommand);
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

#[test]
fn every_subcommand_shows_an_example_that_parses() {
    for subcommand in subcommands() {
        let text = help(&subcommand);
        let examples: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "Example:")
            .skip(1)
            .map(str::trim)
            .collect();
        assert!(
            !examples.is_empty(),
            "`helmsman {subcommand} --help` has no example:\n{text}"
        );
        for example in examples {
            assert!(
                example.starts_with(&format!("helmsman {subcommand}")),
                "{subcommand}: {example}"
            );
            // Parsed, not run: the same line with --help prints the help
            // only if everything before it is an argument clap accepts.
            let line = example.split(" > ").next().unwrap();
            let mut args: Vec<&str> = line.split_whitespace().skip(1).collect();
            args.push("--help");
            run(&args);
        }
    }
}
