//! The headless demo, run as the real binary: each scenario's exit code and
//! the reason its events give.

use std::process::{Command, Output};

fn demo(args: &[&str]) -> Output {
    let state = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args(["demo", "--headless"])
        .args(args)
        .env("HELMSMAN_STATE_DIR", state.path())
        .env_remove("HELMSMAN_CONFIG")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the exit code, printing the whole run when it differs.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn rolled_back_line(out: &str) -> &str {
    out.lines()
        .find(|l| l.contains("→ Rolling back"))
        .unwrap_or_else(|| panic!("no rollback in:\n{out}"))
}

#[test]
fn good_canary_reaches_every_environment() {
    let output = demo(&["--scenario", "good"]);
    assert_exit(&output, 0);
    let out = stdout(&output);
    for env in ["dev", "staging", "prod"] {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("{env}/checkout")) && l.contains("→ Succeeded")),
            "{env} did not succeed:\n{out}"
        );
    }
    assert!(!out.contains("Rolling back"), "{out}");
    assert!(
        out.contains(", 0 without an answer"),
        "users lost requests:\n{out}"
    );
    // checkout's database moved with the traffic: expand before the first
    // step, the backfill before 50 %, contract after success (prod's waits
    // for a human).
    for env in ["dev", "staging", "prod"] {
        let at = |what: &str| line_index(&out, &format!("{env}/checkout"), what);
        assert!(at("expand passed") < at("set weight 10%"), "{env}:\n{out}");
        assert!(at("set weight 10%") < at("migrate passed"), "{env}:\n{out}");
        assert!(at("migrate passed") < at("set weight 50%"), "{env}:\n{out}");
    }
    for env in ["dev", "staging"] {
        let at = |what: &str| line_index(&out, &format!("{env}/checkout"), what);
        assert!(at("→ Succeeded") < at("contract passed"), "{env}:\n{out}");
    }
    assert!(
        out.contains("contract.sql applied: customers(id, display_name), 6 rows"),
        "{out}"
    );
    assert!(!out.contains("prod/checkout  Succeeded → Succeeded      0 %  contract"));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("prod/checkout: contract pending — it is the point of no return"),
        "{err}"
    );
}

/// The index of the first line of `target` that contains `what`.
fn line_index(out: &str, target: &str, what: &str) -> usize {
    out.lines()
        .position(|l| l.contains(target) && l.contains(what))
        .unwrap_or_else(|| panic!("no `{what}` for {target} in:\n{out}"))
}

#[test]
fn a_failing_backfill_rolls_the_traffic_back_then_runs_down() {
    let output = demo(&["--scenario", "bad-migration"]);
    assert_exit(&output, 3);
    let out = stdout(&output);
    let at = |what: &str| line_index(&out, "dev/checkout", what);
    let failed = &out.lines().nth(at("migrate failed")).unwrap();
    assert!(
        failed.contains("UNIQUE constraint failed: customers.display_name"),
        "{failed}"
    );
    assert!(at("migrate failed") < at("→ Rolling back"), "{out}");
    assert!(at("→ Rolled back") < at("down passed"), "{out}");
    assert!(
        out.contains("down.sql applied: customers(id, name), 6 rows"),
        "{out}"
    );
    assert!(
        !out.lines().any(|l| l.contains("staging/checkout  ")),
        "went on to staging:\n{out}"
    );
    assert!(
        out.contains("dev/checkout: users sent") && out.contains(", 0 without an answer"),
        "{out}"
    );
}

#[test]
fn bad_migration_needs_a_service_with_migrations() {
    let output = demo(&["--scenario", "bad-migration", "--strategy", "rolling"]);
    assert_exit(&output, 2);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(
            "the bad-migration scenario needs a service with migrations, and search has none"
        ),
        "{err}"
    );
}

#[test]
fn bad_errors_is_rolled_back_by_the_error_rate_trigger() {
    let output = demo(&["--scenario", "bad-errors"]);
    assert_exit(&output, 3);
    let out = stdout(&output);
    let line = rolled_back_line(&out);
    assert!(
        line.contains("dev/checkout") && line.contains("error rate"),
        "{line}"
    );
    assert!(out.contains("→ Rolled back"), "{out}");
    assert!(
        !out.lines().any(|l| l.contains("staging/checkout  ")),
        "went on to staging:\n{out}"
    );
}

#[test]
fn bad_latency_is_rolled_back_by_the_latency_trigger() {
    let output = demo(&["--scenario", "bad-latency"]);
    assert_exit(&output, 3);
    let line = stdout(&output);
    assert!(rolled_back_line(&line).contains("p95"), "{line}");
}

#[test]
fn a_new_error_kind_is_rolled_back() {
    let output = demo(&["--scenario", "new-error-kind"]);
    assert_exit(&output, 3);
    let out = stdout(&output);
    let line = rolled_back_line(&out);
    assert!(line.contains("NullPointerException"), "{line}");
}

#[test]
fn unhealthy_new_instances_are_rolled_back_at_once() {
    let output = demo(&["--scenario", "unhealthy"]);
    assert_exit(&output, 3);
    let out = stdout(&output);
    assert!(
        rolled_back_line(&out).contains("new instances failing health checks"),
        "{out}"
    );
}

#[test]
fn good_blue_green_rolling_and_feature_flag_succeed() {
    for strategy in ["blue-green", "rolling", "feature-flag"] {
        let output = demo(&["--scenario", "good", "--strategy", strategy]);
        assert_exit(&output, 0);
        let out = stdout(&output);
        assert!(
            out.contains("prod/") && out.contains("→ Succeeded"),
            "{strategy}:\n{out}"
        );
        assert!(
            out.contains(", 0 without an answer"),
            "{strategy} lost requests:\n{out}"
        );
    }
}

#[test]
fn bad_blue_green_rolling_and_feature_flag_are_rolled_back() {
    for strategy in ["blue-green", "rolling", "feature-flag"] {
        let output = demo(&["--scenario", "bad-errors", "--strategy", strategy]);
        assert_exit(&output, 3);
        let out = stdout(&output);
        assert!(
            rolled_back_line(&out).contains("error rate"),
            "{strategy}:\n{out}"
        );
    }
}

#[test]
fn json_output_is_one_event_per_line() {
    let output = demo(&["--scenario", "unhealthy", "--output", "json"]);
    assert_exit(&output, 3);
    let out = stdout(&output);
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(events.iter().any(|e| e["to"] == "rolled-back"), "{out}");
    assert!(
        events
            .iter()
            .all(|e| e["env"].is_string() && e["at"].is_string())
    );
}

#[test]
fn without_a_terminal_the_cockpit_demo_points_to_headless() {
    let output = Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .arg("demo")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("--headless"),
        "{err}"
    );
}

#[test]
fn sigterm_mid_release_rolls_back_instead_of_leaving_it_half_way() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args(["demo", "--headless", "--scenario", "good"])
        .env("HELMSMAN_STATE_DIR", state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Wait until the new version takes traffic in dev, then ask the process to stop.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let moving = line.contains("dev/checkout") && line.contains("set weight 10%");
        seen.push(line);
        if moving {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    seen.extend(lines.map(Result::unwrap));
    let status = child.wait().unwrap();
    let out = seen.join("\n");
    assert_eq!(status.code(), Some(3), "{out}");
    let rollback = rolled_back_line(&out);
    assert!(
        !rollback.ends_with("[engine]"),
        "not the operator's: {rollback}"
    );
    assert!(out.contains("→ Rolled back"), "{out}");
    assert!(!out.contains("staging/checkout  "), "went on:\n{out}");
}

#[test]
fn helmsman_config_in_the_environment_does_not_replace_the_demo_world() {
    let state = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args(["demo", "--headless", "--scenario", "unhealthy"])
        .env("HELMSMAN_STATE_DIR", state.path())
        .env("HELMSMAN_CONFIG", "/nonexistent/helmsman.toml")
        .output()
        .unwrap();
    assert_exit(&output, 3);
    // Typed on the command line, it does.
    let typed = Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args([
            "demo",
            "--headless",
            "--config",
            "/nonexistent/helmsman.toml",
        ])
        .env("HELMSMAN_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert_exit(&typed, 2);
    assert!(String::from_utf8_lossy(&typed.stderr).contains("/nonexistent/helmsman.toml"));
}

/// The headless demo's blue-green release with `hooks` given to dev's
/// payments (the service it releases), its configuration written in `dir`,
/// where the hooks run.
fn blue_green_demo_with(hooks: &str, dir: &std::path::Path) -> Output {
    let config = include_str!("../assets/demo.toml").replacen(
        "\n[[environments.services]]\nname = \"search\"",
        &format!("{hooks}\n[[environments.services]]\nname = \"search\""),
        1,
    );
    let file = dir.join("demo.toml");
    std::fs::write(&file, config).unwrap();
    demo(&[
        "--config",
        file.to_str().unwrap(),
        "--strategy",
        "blue-green",
    ])
}

/// A `preview` hook is the team's smoke suite against the blue-green
/// preview: it gets each new instance's address, and what it asks there
/// answers as the new version, before any user does.
#[test]
fn a_preview_hook_smoke_tests_each_new_instance_before_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = r#"
[[environments.services.hooks]]
name = "smoke"
at = "preview"
run = ["bash", "-c", '''
for url in $HELMSMAN_PREVIEW_URLS; do
  hostport=${url#http://}
  exec 3<>/dev/tcp/${hostport%:*}/${hostport#*:} || exit 1
  printf 'GET / HTTP/1.0\r\n\r\n' >&3
  tr -d '\r' <&3 | grep -i '^x-version' >> smoke.log || exit 1
done
echo "smoked $HELMSMAN_PREVIEW_URLS"
''']
"#;
    let output = blue_green_demo_with(smoke, dir.path());
    assert_exit(&output, 0);
    let out = stdout(&output);
    let at = |what: &str| line_index(&out, "dev/payments", what);
    assert!(at("preview hook smoke passed") < at("switch"), "{out}");
    let smoked = std::fs::read_to_string(dir.path().join("smoke.log")).unwrap();
    assert_eq!(smoked, "x-version: v2.1.0\nx-version: v2.1.0\n");
}

/// A `confirm` gate is asked again until the system behind it says yes:
/// here a command that refuses twice. The switch waits for it, and the
/// wait is said once, not at every try.
#[test]
fn a_confirm_gate_holds_the_switch_until_it_passes() {
    let dir = tempfile::tempdir().unwrap();
    let confirm = r#"
[[environments.services.hooks]]
name = "approval"
at = "confirm"
every = "1s"
run = ["sh", "-c", 'n=$(( $(cat tries 2>/dev/null || echo 0) + 1 )); echo $n > tries; [ $n -ge 3 ]']
"#;
    let output = blue_green_demo_with(confirm, dir.path());
    assert_exit(&output, 0);
    let out = stdout(&output);
    let tries = std::fs::read_to_string(dir.path().join("tries")).unwrap();
    assert_eq!(tries.trim(), "3", "{out}");
    assert_eq!(
        out.matches("confirm hook approval failed").count(),
        1,
        "{out}"
    );
    let at = |what: &str| line_index(&out, "dev/payments", what);
    assert!(at("wait until the confirm hooks pass") < at("approval failed"));
    assert!(at("approval failed") < at("approval passed"));
    assert!(at("approval passed") < at("switch all traffic"), "{out}");
}
