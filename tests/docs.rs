//! The documentation a user reads points only at files of the project.

use std::path::Path;

const DOCUMENTS: [&str; 2] = ["README.md", "config.example.toml"];

/// Every relative path a text names: the targets of Markdown links
/// (`[x](path)`) and every word ending in `.md`.
fn named_paths(text: &str) -> Vec<String> {
    let mut paths: Vec<String> = text
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|target| !target.starts_with('#') && !target.contains("://"))
        .map(|target| target.split('#').next().unwrap_or(target).to_string())
        .collect();
    let path_char = |c: char| c.is_ascii_alphanumeric() || "_-./".contains(c);
    paths.extend(
        text.split(|c: char| !path_char(c))
            .map(|word| word.trim_end_matches('.'))
            .filter(|word| word.len() > 3 && word.ends_with(".md") && !word.starts_with("//"))
            .map(str::to_string),
    );
    paths
}

#[test]
fn every_file_the_documentation_names_is_in_the_project() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(root.join(document)).unwrap();
        let paths = named_paths(&text);
        assert!(
            !paths.is_empty() || document.ends_with(".toml"),
            "{document}"
        );
        for path in paths {
            assert!(
                root.join(&path).exists(),
                "{document} names `{path}`, which is not in the project"
            );
        }
    }
}

#[test]
fn links_and_markdown_names_are_found() {
    let paths = named_paths("see [the guide](docs/a.md#top), [site](https://x.io/b.md), NOTES.md.");
    assert_eq!(paths, ["docs/a.md", "docs/a.md", "NOTES.md"]);
}

/// The systemd unit starts a command this helmsman has: its ExecStart,
/// with `--help` added, is accepted by the real binary.
#[test]
fn the_systemd_unit_runs_a_command_helmsman_has() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("assets/helmsman.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut args = exec.split_whitespace().skip(1).collect::<Vec<_>>();
    assert_eq!(args.last(), Some(&"serve"), "{exec}");
    args.push("--help");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args(&args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{exec}: {output:?}");
    assert!(
        unit.contains("Environment=HELMSMAN_STATE_DIR=/var/lib/helmsman")
            && unit.contains("StateDirectory=helmsman"),
        "the state directory systemd creates is the one helmsman uses"
    );
}
