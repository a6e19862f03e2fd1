//! Shell completions and manual pages, through the real binary: bash
//! completes subcommands and the configuration's environment and service
//! names by asking helmsman itself, and `docs/man/` is what `helmsman man`
//! writes today.

use std::path::{Path, PathBuf};
use std::process::Command;

fn helmsman() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_helmsman"));
    command.env_remove("HELMSMAN_CONFIG");
    command
}

/// What bash offers for the last of `words` (the word being typed), with
/// helmsman's registration script sourced and `config` in use.
fn bash_completes(words: &[&str], config: &Path) -> Vec<String> {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_helmsman")).parent().unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        r#"source <(helmsman completions bash) || exit 9
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_TYPE=9
_clap_complete_helmsman helmsman '{current}' '{previous}'
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = quoted.join(" "),
        cword = words.len() - 1,
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
        )
        .env("HELMSMAN_CONFIG", config)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn demo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo.toml")
}

#[test]
fn bash_completes_subcommands_and_the_configuration_s_names() {
    let config = demo_config();
    assert_eq!(bash_completes(&["helmsman", "rel"], &config), ["release"]);
    assert_eq!(
        bash_completes(&["helmsman", "release", "--env", ""], &config),
        ["dev", "staging", "prod"]
    );
    assert_eq!(
        bash_completes(&["helmsman", "plan", "--env", "st"], &config),
        ["staging"]
    );
    assert_eq!(
        bash_completes(&["helmsman", "advance", "--service", "p"], &config),
        ["payments"]
    );
    // No configuration: no names, and no error typed into the line.
    let none = Path::new("/nonexistent/helmsman.toml");
    assert!(bash_completes(&["helmsman", "release", "--env", ""], none).is_empty());
}

#[test]
fn every_shell_gets_a_registration_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = helmsman().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains("COMPLETE"), "{shell}:\n{script}");
        assert!(script.contains("helmsman"), "{shell}:\n{script}");
    }
    let output = helmsman().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_manual_pages_in_docs_are_current() {
    let dir = tempfile::tempdir().unwrap();
    let output = helmsman()
        .env_remove("HELMSMAN_STATE_DIR")
        .args(["man"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    let names = |d: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let fresh = names(dir.path());
    assert!(fresh.contains(&"helmsman.1".to_string()));
    assert!(fresh.contains(&"helmsman-release.1".to_string()));
    assert!(
        !fresh.iter().any(|n| n.contains("demo-db")),
        "hidden: {fresh:?}"
    );
    let stale = "docs/man is out of date: run `cargo run -- man docs/man` and commit it";
    assert_eq!(names(&kept), fresh, "{stale}");
    for name in fresh {
        let now = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let then = std::fs::read_to_string(kept.join(&name)).unwrap();
        assert!(now == then, "{name}: {stale}");
    }
}
