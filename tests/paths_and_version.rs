//! `helmsman paths` and `helmsman --version` through the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn helmsman(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("HELMSMAN_CONFIG")
        .env_remove("HELMSMAN_STATE_DIR")
        .output()
        .expect("the binary runs")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn paths_follow_the_xdg_directories_and_state_dir_keeps_everything_in_one() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let paths = json(&helmsman(home, &["paths", "--output", "json"]));
    assert_eq!(paths["config"], serde_json::Value::Null);
    assert_eq!(
        paths["config_candidates"],
        serde_json::json!([
            home.join("helmsman.toml"),
            home.join("config/helmsman/helmsman.toml")
        ])
    );
    assert_eq!(paths["data"], serde_json::json!(home.join("data/helmsman")));
    assert_eq!(
        paths["logs"],
        serde_json::json!(home.join("state/helmsman/logs"))
    );
    // Every run logs there, and nothing of the logs goes beside the journal.
    assert!(home.join("state/helmsman/logs").is_dir());
    assert!(!home.join("data/helmsman/logs").exists());

    std::fs::create_dir_all(home.join("config/helmsman")).unwrap();
    std::fs::write(home.join("config/helmsman/helmsman.toml"), "").unwrap();
    let text = helmsman(home, &["--state-dir", "one", "paths"]);
    let text = String::from_utf8_lossy(&text.stdout);
    let config = home.join("config/helmsman/helmsman.toml");
    assert!(
        text.contains(&format!("config  {}\n", config.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("data    {}  (", home.join("one").display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("logs    {}\n", home.join("one/logs").display())),
        "{text}"
    );
}

#[test]
fn version_names_the_commit_the_build_day_and_the_backends() {
    let home = tempfile::tempdir().unwrap();
    let version = json(&helmsman(home.path(), &["--version", "--output", "json"]));
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        version["backends"],
        serde_json::json!(["local", "kubernetes", "haproxy", "flagd"])
    );
    assert_eq!(
        version["metrics"],
        serde_json::json!(["local", "prometheus"])
    );
    let built = version["built"].as_str().unwrap();
    assert!(
        chrono::NaiveDate::parse_from_str(built, "%Y-%m-%d").is_ok(),
        "{built}"
    );
    let commit = version["commit"].as_str().unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(head) if head.status.success() => {
            assert_eq!(commit, String::from_utf8_lossy(&head.stdout).trim());
        }
        _ => assert_eq!(commit, "unknown"),
    }

    let text = helmsman(home.path(), &["-V"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with(&format!(
            "helmsman {}\ncommit    {commit}\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(
        text.contains("backends  local, kubernetes, haproxy, flagd\n"),
        "{text}"
    );
}
