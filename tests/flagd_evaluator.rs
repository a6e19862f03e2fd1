//! The flag files helmsman writes, judged by flagd's own evaluator: the
//! OpenFeature in-process evaluator `@openfeature/flagd-core` (npm), run by
//! Node.js over 100 000 targeting keys at every step of a release.
//!
//! - each step's share of keys on the new variant is within ±1 point of
//!   the step's percentage;
//! - a key that has the new variant keeps it at every later step
//!   (consistent bucketing), and the cohort has it from the start;
//! - a flag helmsman did not touch evaluates exactly as before, key by key;
//! - the kill switch puts every key, the cohort's too, back on the old one.
//!
//! `.ci/run` installs the evaluator into `target/flagd-core`; elsewhere the
//! test says it was skipped unless `HELMSMAN_FLAGD_CORE` names it.

mod support;

use std::path::{Path, PathBuf};

use helmsman::providers::flagd::file::{Cohort, FlagFile, Rollout};
use serde_json::Value;

const KEYS: usize = 100_000;

const FLAGS: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "dark-mode": {
      "state": "ENABLED",
      "variants": { "dark": "dark", "light": "light" },
      "defaultVariant": "light",
      "targeting": { "fractional": [["dark", 30], ["light", 70]] }
    },
    "new-ranking": {
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off"
    }
  }
}
"#;

/// Where `@openfeature/flagd-core` is installed, if it is.
fn evaluator() -> Option<PathBuf> {
    let dir = std::env::var_os("HELMSMAN_FLAGD_CORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/flagd-core/node_modules/@openfeature/flagd-core")
        });
    dir.join("package.json").is_file().then_some(dir)
}

struct Evaluated {
    on: Vec<bool>,
    other: String,
    alice: bool,
}

/// Each file evaluated by flagd-core, in order.
fn evaluate(core: &Path, files: &[PathBuf]) -> Vec<Evaluated> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flagd/evaluate.js");
    let output = std::process::Command::new("node")
        .arg(script)
        .arg(KEYS.to_string())
        .args(files)
        .env("FLAGD_CORE", core)
        .output()
        .expect("node runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Evaluated {
                on: v["on"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .map(|c| c == '1')
                    .collect(),
                other: v["other"].as_str().unwrap().to_string(),
                alice: v["alice"].as_bool().unwrap(),
            }
        })
        .collect()
}

#[test]
fn every_step_s_file_splits_as_asked_for_flagd_s_own_evaluator() {
    let Some(core) = evaluator() else {
        support::missing_tool("@openfeature/flagd-core (npm) in target/flagd-core");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("flags.json");
    std::fs::write(&live, FLAGS).unwrap();
    let flags = FlagFile::new(&live);
    let cohort = Cohort::Keys(vec!["alice".into()]);
    let steps = [0u8, 1, 5, 10, 25, 50, 75, 100];

    // The untouched file, then one copy of the file as each step wrote it,
    // then the kill switch.
    let mut files = vec![dir.path().join("before.json")];
    std::fs::copy(&live, &files[0]).unwrap();
    for percent in steps {
        let rollout = Rollout {
            old: "off",
            new: "on",
            percent,
            cohort: Some(&cohort),
        };
        flags.set("new-ranking", &rollout).unwrap();
        let copy = dir.path().join(format!("step-{percent}.json"));
        std::fs::copy(&live, &copy).unwrap();
        files.push(copy);
    }
    flags.settle("new-ranking", "off").unwrap();
    let killed = dir.path().join("killed.json");
    std::fs::copy(&live, &killed).unwrap();
    files.push(killed);

    let results = evaluate(&core, &files);
    assert_eq!(results.len(), files.len());
    let (before, rest) = results.split_first().unwrap();
    let (killed, stepped) = rest.split_last().unwrap();
    assert!(before.on.iter().all(|on| !on));

    let mut previous: Option<&Evaluated> = None;
    for (percent, result) in steps.iter().zip(stepped) {
        let share = 100.0 * result.on.iter().filter(|on| **on).count() as f64 / KEYS as f64;
        eprintln!("step {percent:>3} %: {share:.3} % of {KEYS} keys on the new variant");
        assert!(
            (share - f64::from(*percent)).abs() <= 1.0,
            "step {percent} %: {share} %"
        );
        assert!(result.alice, "the cohort has it at {percent} %");
        if let Some(previous) = previous {
            let flipped_back = previous
                .on
                .iter()
                .zip(&result.on)
                .filter(|(was, is)| **was && !**is)
                .count();
            assert_eq!(
                flipped_back, 0,
                "keys back on the old variant at {percent} %"
            );
        }
        assert_eq!(
            result.other, before.other,
            "dark-mode changed at {percent} %"
        );
        previous = Some(result);
    }
    assert!(killed.on.iter().all(|on| !on) && !killed.alice);
    assert_eq!(killed.other, before.other);
}
