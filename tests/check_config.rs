//! `helmsman check-config` through the real binary: the example passes, and
//! each invalid configuration exits 2 naming FILE:LINE:COL and the problem.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXAMPLE: &str = include_str!("../config.example.toml");

/// One environment with one valid service; cases substitute or append.
const BASE: &str = r#"[[environments]]
name = "dev"

[[environments.services]]
name = "checkout"
[environments.services.backend]
type = "local"
listen = "127.0.0.1:18080"
admin = "127.0.0.1:19080"
stable = "v1"
versions = { v1 = ["127.0.0.1:18181"], v2 = ["127.0.0.1:18281"] }
"#;

fn helmsman() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_helmsman"));
    // Keep the developer's own settings out of the tests.
    cmd.env_remove("HELMSMAN_CONFIG").env_remove("API_TOKEN");
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

fn check(path: &Path) -> Output {
    helmsman()
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run helmsman")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs check-config on `text` and requires exit 2 with `FILE:LINE:COL:`
/// followed by an error containing `message`.
fn assert_invalid(text: &str, line: usize, col: usize, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "helmsman.toml", text);
    let output = check(&path);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{err}");
    let location = format!("{}:{line}:{col}: error: ", path.display());
    assert!(
        err.lines()
            .any(|l| l.starts_with(&location) && l.contains(message)),
        "expected `{location}…{message}` in:\n{err}"
    );
    assert!(
        err.trim_end().ends_with(&format!("in {}", path.display())),
        "missing the `N errors in FILE` line:\n{err}"
    );
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout for an invalid file"
    );
}

fn with_strategy(lines: &str) -> String {
    format!("{BASE}[environments.services.strategy]\n{lines}\n")
}

#[test]
fn the_example_passes_and_fits_one_screen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let output = check(&root);
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    assert!(out.lines().count() < 40, "{out}");
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
    }
    for expected in [
        "3 environments, 8 services",
        "staging (requires dev)",
        "prod (requires staging)",
        "checkout  canary",
        "catalog  blue-green",
        "catalog  rolling",
        "recommendations  canary",
        "payments  canary  kubernetes shop, context prod, HTTPRoute payments",
        "quality gate: command · 6 preflight checks: tcp, tls, env, disk, command, http",
        "5% → pause 30s → 25% → analysis 1m → gate → 50% → pause 1m → 100%",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
}

#[test]
fn json_output_serialises_the_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let output = helmsman()
        .args(["check-config", "--output", "json"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let envs = json["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 3);
    assert_eq!(envs[2]["requires"][0], "staging");
    assert_eq!(envs[0]["services"][0]["strategy"]["kind"], "canary");
    assert_eq!(envs[0]["services"][0]["backend"]["type"], "local");
}

#[test]
fn the_global_config_option_and_env_var_choose_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "custom.toml", BASE);
    let by_flag = helmsman()
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(by_flag.status.code(), Some(0), "{}", stderr(&by_flag));
    let by_env = helmsman()
        .env("HELMSMAN_CONFIG", &path)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(by_env.status.code(), Some(0), "{}", stderr(&by_env));
    assert!(String::from_utf8_lossy(&by_env.stdout).contains("custom.toml"));
}

#[test]
fn a_missing_file_says_where_it_looked_and_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    // No --config and no ./helmsman.toml: the default locations are tried.
    let output = helmsman()
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .arg("check-config")
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("helmsman.toml"), "{err}");
    assert!(err.contains("xdg/helmsman/helmsman.toml"), "{err}");
    assert!(
        err.contains("`helmsman init` writes a commented one"),
        "{err}"
    );

    let output = check(&dir.path().join("nope.toml"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nope.toml"));
}

#[test]
fn every_error_is_listed_with_a_count() {
    let text = BASE
        .replace("\"127.0.0.1:18080\"", "18080")
        .replace("stable = \"v1\"", "stable = \"v9\"");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h.toml", &text);
    let output = check(&path);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2));
    let file = path.display();
    assert!(
        err.contains(&format!(
            "{file}:8:10: error: `listen`: expected a string, found an integer"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:10:10: error: `stable` version `v9` is not among `versions`"
        )),
        "{err}"
    );
    assert!(err.contains("  hint: "), "{err}");
    assert!(
        err.trim_end().ends_with(&format!("2 errors in {file}")),
        "{err}"
    );
}

#[test]
fn secret_values_never_appear_in_any_output() {
    let text = format!(
        "{BASE}[environments.services.health]\nheaders = {{ Authorization = \"Bearer ${{API_TOKEN}}\" }}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.toml", &text);
    let bad = write(
        dir.path(),
        "bad.toml",
        &text.replace("stable = \"v1\"", "stable = 1"),
    );
    for (path, args) in [
        (&good, vec![]),
        (&good, vec!["--output", "json"]),
        (&bad, vec![]),
    ] {
        let output = helmsman()
            .env("API_TOKEN", "s3cr3t-value")
            .arg("check-config")
            .args(&args)
            .arg(path)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
        assert!(!all.contains("s3cr3t"), "secret leaked: {all}");
    }
    let json = helmsman()
        .env("API_TOKEN", "s3cr3t-value")
        .args(["check-config", "--output", "json"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    assert!(String::from_utf8_lossy(&json.stdout).contains("${API_TOKEN} (redacted)"));
}

// ----- invalid configurations: exit 2, FILE:LINE:COL and the message -----

#[test]
fn toml_syntax_error() {
    assert_invalid(
        "[[environments]]\nname = \"dev\nrequires = []\n",
        2,
        12,
        "invalid TOML",
    );
}

#[test]
fn unknown_top_level_key_with_suggestion() {
    assert_invalid(
        &format!("enviroments = []\n{BASE}"),
        1,
        1,
        "unknown key `enviroments`",
    );
}

#[test]
fn unknown_backend_key_with_suggestion() {
    assert_invalid(
        &BASE.replace("listen =", "lisen = \"x\"\nlisten ="),
        8,
        1,
        "unknown key `lisen`",
    );
}

#[test]
fn unknown_trigger_key() {
    assert_invalid(
        &format!("{BASE}[environments.services.triggers]\nerror_rate = {{ treshold = 1.0 }}\n"),
        13,
        16,
        "unknown key `treshold` in `triggers.error_rate`",
    );
}

#[test]
fn wrong_type() {
    assert_invalid(
        &BASE.replace("\"127.0.0.1:19080\"", "19080"),
        9,
        9,
        "`admin`: expected a string, found an integer",
    );
}

#[test]
fn weight_above_100() {
    assert_invalid(
        &with_strategy("steps = [{ weight = 150 }]"),
        13,
        21,
        "`weight` is 150, outside 0..=100",
    );
}

#[test]
fn weights_going_down() {
    assert_invalid(
        &with_strategy("steps = [{ weight = 50 }, { weight = 10 }]"),
        13,
        38,
        "weight 10% is lower than the 50% of an earlier step",
    );
}

#[test]
fn feature_flag_weights_going_down() {
    assert_invalid(
        &with_strategy(
            "kind = \"feature-flag\"\nflag = \"f\"\nsteps = [{ weight = 5 }, { weight = 1 }]",
        ),
        15,
        37,
        "weight 1% is lower than the 5%",
    );
}

#[test]
fn step_with_two_actions() {
    assert_invalid(
        &with_strategy("steps = [{ weight = 5, pause = \"1m\" }]"),
        13,
        24,
        "this one has both `weight` and `pause`",
    );
}

#[test]
fn step_with_no_action() {
    assert_invalid(
        &with_strategy("steps = [{ weight = 5 }, {}]"),
        13,
        26,
        "empty step",
    );
}

#[test]
fn unknown_strategy_kind() {
    assert_invalid(
        &with_strategy("kind = \"blue_green\""),
        13,
        8,
        "unknown strategy kind `blue_green`",
    );
}

#[test]
fn unknown_backend_type() {
    assert_invalid(
        &BASE.replace("\"local\"", "\"nginx\""),
        7,
        8,
        "unknown backend type `nginx`",
    );
}

#[test]
fn requires_unknown_environment() {
    assert_invalid(
        &format!("{BASE}[[environments]]\nname = \"prod\"\nrequires = [\"deev\"]\n"),
        14,
        13,
        "`requires` names unknown environment `deev`",
    );
}

#[test]
fn requires_itself() {
    assert_invalid(
        &BASE.replace("name = \"dev\"", "name = \"dev\"\nrequires = [\"dev\"]"),
        3,
        13,
        "environment `dev` requires itself",
    );
}

#[test]
fn requires_cycle() {
    let text = BASE.replace("name = \"dev\"", "name = \"dev\"\nrequires = [\"prod\"]")
        + "[[environments]]\nname = \"prod\"\nrequires = [\"dev\"]\n";
    assert_invalid(&text, 15, 13, "`requires` forms a cycle: dev → prod → dev");
}

#[test]
fn duplicate_environment() {
    assert_invalid(
        &format!("{BASE}[[environments]]\nname = \"dev\"\n"),
        13,
        8,
        "duplicate environment `dev`",
    );
}

#[test]
fn duplicate_service() {
    let text = format!(
        "{BASE}[[environments.services]]\nname = \"checkout\"\n[environments.services.backend]\nlisten = \"127.0.0.1:1\"\nadmin = \"127.0.0.1:2\"\nstable = \"a\"\nversions = {{ a = [\"127.0.0.1:3\"] }}\n"
    );
    assert_invalid(
        &text,
        13,
        8,
        "duplicate service `checkout` in environment `dev`",
    );
}

#[test]
fn bad_duration() {
    assert_invalid(
        &with_strategy("steps = [{ pause = \"5 min\" }]"),
        13,
        20,
        "`pause`: `5 min` contains a space",
    );
}

#[test]
fn unset_secret_variable() {
    assert_invalid(
        &format!(
            "{BASE}[environments.services.health]\nheaders = {{ Authorization = \"Bearer ${{API_TOKEN}}\" }}\n"
        ),
        13,
        29,
        "header `Authorization` uses `${API_TOKEN}`, which is not set",
    );
}

#[test]
fn bad_socket_address() {
    assert_invalid(
        &BASE.replace("\"127.0.0.1:18080\"", "\"localhost:18080\""),
        8,
        10,
        "`localhost:18080` is not a socket address",
    );
}

#[test]
fn stable_not_among_versions() {
    assert_invalid(
        &BASE.replace("stable = \"v1\"", "stable = \"v3\""),
        10,
        10,
        "`stable` version `v3` is not among `versions`",
    );
}

#[test]
fn version_without_upstreams() {
    assert_invalid(
        &BASE.replace("v2 = [\"127.0.0.1:18281\"]", "v2 = []"),
        11,
        40,
        "version `v2` has no upstreams",
    );
}

#[test]
fn shared_listen_address() {
    let text = format!(
        "{BASE}[[environments.services]]\nname = \"cart\"\n[environments.services.backend]\nlisten = \"127.0.0.1:18080\"\nadmin = \"127.0.0.1:2\"\nstable = \"a\"\nversions = {{ a = [\"127.0.0.1:3\"] }}\n"
    );
    assert_invalid(
        &text,
        15,
        10,
        "`listen` address 127.0.0.1:18080 is already the listen address of `dev/checkout`",
    );
}

#[test]
fn bands_out_of_order() {
    assert_invalid(
        &format!("{BASE}[environments.services.bands]\np95_ms = {{ target = 800 }}\n"),
        13,
        10,
        "`bands.p95_ms` out of order",
    );
}

#[test]
fn negative_threshold() {
    assert_invalid(
        &format!("{BASE}[environments.services.triggers]\np95_latency = {{ threshold = -2.0 }}\n"),
        13,
        29,
        "`threshold` is -2, it must not be negative",
    );
}

#[test]
fn confidence_and_tolerance_must_be_inside_their_range() {
    assert_invalid(
        &format!("{BASE}[environments.services.analysis]\nconfidence = 1.0\n"),
        13,
        14,
        "`confidence` is 1, it must be between 0.5 and 1 (exclusive)",
    );
    assert_invalid(
        &format!("{BASE}[environments.services.analysis]\ntolerance = 0\n"),
        13,
        13,
        "`tolerance` is 0, it must be between 0 and 1 (exclusive)",
    );
}

#[test]
fn zero_min_requests() {
    assert_invalid(
        &format!("{BASE}[environments.services.analysis]\nmin_requests = 0\n"),
        13,
        16,
        "`min_requests` is 0, it must be at least 1",
    );
}

#[test]
fn zero_interval() {
    assert_invalid(
        &format!("[defaults.analysis]\ninterval = \"0s\"\n{BASE}"),
        2,
        12,
        "`interval` must be longer than zero",
    );
}

#[test]
fn no_environments() {
    assert_invalid("# nothing here\n", 1, 1, "no environments are defined");
}

#[test]
fn missing_required_key() {
    assert_invalid(
        &BASE.replace("stable = \"v1\"\n", ""),
        6,
        1,
        "missing key `stable`",
    );
}

#[test]
fn feature_flag_without_flag() {
    assert_invalid(
        &with_strategy("kind = \"feature-flag\""),
        12,
        1,
        "missing key `flag` for the feature-flag strategy",
    );
}

#[test]
fn a_strategy_the_backend_cannot_run_is_refused_at_the_strategy() {
    // The local data plane cannot move a feature flag: refused here, with
    // the strategies it does run, rather than when a release starts.
    assert_invalid(
        &with_strategy("kind = \"feature-flag\"\nflag = \"new-ranking\""),
        12,
        1,
        "runs on the local data plane, which cannot move a feature flag's percentage, and a \
         feature-flag release needs to",
    );
    let output = check(&write(
        tempfile::tempdir().unwrap().path(),
        "h.toml",
        &with_strategy("kind = \"feature-flag\"\nflag = \"f\""),
    ));
    assert!(
        stderr(&output).contains(
            "hint: choose a strategy the local data plane runs: canary, blue-green, rolling"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn example_mutation_is_caught_with_its_location() {
    // A realistic typo in the documented example itself.
    let text = EXAMPLE.replacen("kind = \"rolling\"", "kind = \"rollin\"", 1);
    let line = text
        .lines()
        .position(|l| l.contains("kind = \"rollin\""))
        .unwrap()
        + 1;
    assert_invalid(&text, line, 8, "unknown strategy kind `rollin`");
}

// ----- metrics from Prometheus ---------------------------------------------

fn with_metrics(lines: &str) -> String {
    format!(
        "{BASE}[environments.services.metrics]\ntype = \"prometheus\"\nurl = \"http://127.0.0.1:9090\"\n\
         requests = 'sum(r{{version=\"{{version}}\"}})'\n\
         errors_by_kind = 'sum by (kind) (e{{version=\"{{version}}\"}})'\n\
         latency_buckets = 'sum by (le) (b{{version=\"{{version}}\"}})'\n{lines}\n"
    )
}

#[test]
fn prometheus_metrics_pass_and_are_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h.toml", &with_metrics(""));
    let output = check(&path);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("metrics: Prometheus http://127.0.0.1:9090 (timeout 5s, 4 queries at once)"),
        "{out}"
    );
}

#[test]
fn metrics_unknown_key_with_suggestion() {
    assert_invalid(
        &with_metrics("timout = \"1s\""),
        18,
        1,
        "unknown key `timout` in `metrics`",
    );
}

#[test]
fn metrics_url_that_does_not_parse() {
    assert_invalid(
        &with_metrics("").replace("http://127.0.0.1:9090", "http://[::1"),
        14,
        7,
        "`url`: `http://[::1` is not a URL",
    );
}

#[test]
fn metrics_template_with_an_unknown_placeholder() {
    assert_invalid(
        &with_metrics("").replace("sum(r{version", "sum(r{env=\"{environment}\",version"),
        15,
        12,
        "`requests`: unknown placeholder `{environment}`",
    );
}

#[test]
fn metrics_required_template_missing() {
    let text = with_metrics("").replace("latency_buckets = ", "# latency_buckets = ");
    assert_invalid(
        &text,
        12,
        1,
        "`dev/checkout` reads metrics from Prometheus but no `latency_buckets` is set",
    );
}

#[test]
fn metrics_token_is_a_secret_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.toml",
        &with_metrics("token = \"${PROM_TOKEN}\""),
    );
    for args in [vec![], vec!["--output", "json"]] {
        let output = helmsman()
            .env("PROM_TOKEN", "s3cr3t-value")
            .arg("check-config")
            .args(&args)
            .arg(&good)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
        assert!(!all.contains("s3cr3t"), "secret leaked: {all}");
    }
    let unset = helmsman()
        .env_remove("PROM_TOKEN")
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(unset.status.code(), Some(2));
    assert!(stderr(&unset).contains("`token` uses `${PROM_TOKEN}`, which is not set"));
}

#[test]
fn preflight_checks_and_gates() {
    // BASE ends on line 11; an appended check starts on line 12.
    assert_invalid(
        &format!("{BASE}[[environments.services.checks]]\ntype = \"htpp\"\n"),
        13,
        8,
        "unknown check type `htpp`",
    );
    assert_invalid(
        &format!("{BASE}[[environments.services.checks]]\ntype = \"tcp\"\naddress = \"db\"\n"),
        14,
        11,
        "`address`: `db` is not host:port",
    );
    assert_invalid(
        &format!("{BASE}[[environments.services.checks]]\ntype = \"http\"\n"),
        12,
        1,
        "missing key `url` in this http check",
    );
    let gate = BASE.replacen(
        "name = \"dev\"\n",
        "name = \"dev\"\n[environments.gate]\ntype = \"disk\"\npath = \"/\"\n",
        1,
    );
    assert_invalid(
        &gate,
        4,
        8,
        "a gate is a `command` or `http` check, not `disk`",
    );
}

#[test]
fn the_example_documents_every_check_type() {
    for kind in ["http", "tcp", "tls", "env", "command", "disk"] {
        assert!(
            EXAMPLE.contains(&format!("type = \"{kind}\"")),
            "config.example.toml shows no {kind} check"
        );
    }
    for key in [
        "[environments.gate]",
        "[[environments.checks]]",
        "[[environments.services.checks]]",
        "expect_status",
        "server_name",
        "warn_days",
        "fail_days",
        "warn_free_pct",
        "fail_free_pct",
        "timeout = ",
    ] {
        assert!(
            EXAMPLE.contains(key),
            "config.example.toml does not document `{key}`"
        );
    }
}

// ----- a file that is not UTF-8, and the errors as JSON -----

#[test]
fn a_file_that_is_not_utf8_names_its_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    // `name = "dé` is valid (é as UTF-8), then a Latin-1 `é` (0xE9): the
    // bad byte is the 11th character of line 2.
    let mut bytes = "[[environments]]\nname = \"dé".as_bytes().to_vec();
    bytes.push(0xE9);
    bytes.extend_from_slice(b"v\"\n");
    std::fs::write(&path, bytes).unwrap();

    let output = check(&path);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    let location = format!(
        "{}:2:11: error: the file is not valid UTF-8",
        path.display()
    );
    assert!(
        err.starts_with(&location),
        "expected `{location}` in:\n{err}"
    );
    assert!(err.contains("0xE9"), "the byte is named:\n{err}");
    assert!(err.contains("  hint: ") && err.contains("UTF-8"), "{err}");
    assert!(!err.contains("check the path"), "the path is fine:\n{err}");
}

fn check_json(path: &Path) -> (Output, serde_json::Value) {
    let output = helmsman()
        .args(["check-config", "--output", "json"])
        .arg(path)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        )
    });
    (output, json)
}

#[test]
fn json_output_of_an_invalid_file_lists_every_error() {
    let text = BASE
        .replace("\"127.0.0.1:18080\"", "18080")
        .replace("stable = \"v1\"", "stable = \"v9\"");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h.toml", &text);
    let (output, json) = check_json(&path);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(json["valid"], false, "{json}");
    let errors = json["errors"].as_array().expect("an `errors` array");
    assert_eq!(errors.len(), 2, "{json}");
    let file = path.display().to_string();
    assert_eq!(
        errors[0],
        serde_json::json!({
            "file": file,
            "line": 8,
            "column": 10,
            "message": "`listen`: expected a string, found an integer",
            "hint": errors[0]["hint"],
        })
    );
    assert!(errors[0]["hint"].is_string(), "{json}");
    assert_eq!(errors[1]["line"], 10, "{json}");
    assert_eq!(errors[1]["column"], 10, "{json}");

    // A valid file says so the same way, beside its configuration.
    let good = write(dir.path(), "good.toml", BASE);
    let (output, json) = check_json(&good);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json["valid"], true, "{json}");
    assert_eq!(json["environments"][0]["name"], "dev", "{json}");
}

#[test]
fn json_output_of_a_file_without_a_position() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be read, and a missing file is not there: no line
    // or column to give, and the file named.
    let missing = dir.path().join("nope.toml");
    for path in [dir.path(), missing.as_path()] {
        let (output, json) = check_json(path);
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(json["valid"], false, "{json}");
        let error = &json["errors"][0];
        assert_eq!(error["file"], path.display().to_string(), "{json}");
        assert!(
            error["line"].is_null() && error["column"].is_null(),
            "{json}"
        );
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(&path.display().to_string()), "{json}");
    }

    // No file found at all: the places tried are in the message.
    let output = helmsman()
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .args(["check-config", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["valid"], false, "{json}");
    let message = json["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("xdg/helmsman/helmsman.toml"), "{json}");
    assert!(json["errors"][0]["hint"].is_string(), "{json}");
}

/// The ports of every `127.0.0.1:PORT` in a text.
fn loopback_ports(text: &str) -> Vec<u16> {
    text.split("127.0.0.1:")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn the_example_ports_are_below_the_ephemeral_range() {
    // Linux hands out 32768–60999 to outgoing connections: a data plane
    // restarted on such a port can find it taken ("Address already in use").
    let readme = include_str!("../README.md");
    for (name, text) in [("config.example.toml", EXAMPLE), ("README.md", readme)] {
        let ports = loopback_ports(text);
        assert!(ports.len() > 5, "{name}: {ports:?}");
        for port in ports {
            assert!(
                port < 32768,
                "{name}: port {port} is in the ephemeral range"
            );
        }
    }
}
