//! `helmsman serve`, `plan` and `release --headless` as a user runs them:
//! the data plane as its own process in front of real upstreams, releases
//! driven through its admin API by a second process.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use helmsman::demo::load::Load;
use helmsman::demo::sample_service::{Behaviour, SampleService};
use world::{Env, helmsman, release_of, start_serve};

const PLAN_PROD: [&str; 7] = [
    "plan",
    "--env",
    "prod",
    "--service",
    "web",
    "--version",
    "v2",
];

async fn env() -> Env {
    Env::start().await
}

fn env_toml(name: &str, requires: &str, e: &Env) -> String {
    e.toml(
        name,
        &format!("requires = [{requires}]"),
        r#"[{ weight = 50 }, { pause = "1s" }, { weight = 100 }]"#,
    )
}

async fn run(config: &Path, state: &Path, args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = helmsman(config, state, args).output().await.unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_through_environments_against_a_running_data_plane() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (dev, prod) = (env().await, env().await);
    let config = dir.path().join("helmsman.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults.analysis]\ninterval = \"200ms\"\nmin_requests = 20\n\
             [defaults.health]\ninterval = \"200ms\"\ntimeout = \"500ms\"\n{}{}",
            env_toml("dev", "", &dev),
            env_toml("prod", "\"dev\"", &prod)
        ),
    )
    .unwrap();

    let mut serve = start_serve(helmsman(&config, &state, &["serve"]), &[&dev, &prod]).await;
    let loads = [
        Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 60),
        Load::start(format!("127.0.0.1:{}", prod.listen).parse().unwrap(), 60),
    ];

    let release = |env: &'static str| release_of("v2", &[env]);

    // prod requires dev: the plan says so, and the release is refused.
    let (code, out, _) = run(&config, &state, &PLAN_PROD).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("NOT YET"), "{out}");
    let (code, _, err) = run(&config, &state, &release("prod")).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("requires") && err.contains("dev"), "{err}");

    // A feature-flag release is refused: the local data plane has no flags.
    let mut flag = release("dev").to_vec();
    flag.extend(["--strategy", "feature-flag"]);
    let (code, _, err) = run(&config, &state, &flag).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("move a feature flag"), "{err}");

    let (code, out, err) = run(&config, &state, &release("dev")).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("dev/web") && out.contains("→ Succeeded"),
        "{out}"
    );

    let (_, out, _) = run(&config, &state, &PLAN_PROD).await;
    assert!(out.contains("succeeded in dev: yes"), "{out}");
    let (code, out, err) = run(&config, &state, &release("prod")).await;
    assert_eq!(code, 0, "{out}\n{err}");

    // The data plane now serves v2 as stable, and says so.
    let state_json: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{}/api/v1/state", prod.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(state_json["stable_version"], "v2", "{state_json}");

    // Releasing it again has nothing to do.
    let (code, _, err) = run(&config, &state, &release("dev")).await;
    assert_eq!(code, 1);
    assert!(err.contains("already runs v2"), "{err}");

    for load in loads {
        assert_eq!(
            load.stats()
                .failed
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        load.stop().await;
    }
    serve.kill().await.unwrap();
}

#[tokio::test]
async fn a_release_says_what_is_missing_without_headless_or_a_data_plane() {
    let dir = tempfile::tempdir().unwrap();
    let dev = env().await;
    let config = dir.path().join("helmsman.toml");
    std::fs::write(&config, env_toml("dev", "", &dev)).unwrap();
    let mut args = vec![
        "release",
        "--env",
        "dev",
        "--service",
        "web",
        "--version",
        "v2",
    ];

    let (code, _, err) = run(&config, dir.path(), &args).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--headless") && err.contains("press n"),
        "{err}"
    );

    args.push("--headless");
    let (code, _, err) = run(&config, dir.path(), &args).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("helmsman serve"), "{err}");
}

fn plan_dev(version: &str) -> [&str; 7] {
    [
        "plan",
        "--env",
        "dev",
        "--service",
        "web",
        "--version",
        version,
    ]
}

/// A fast-judging configuration of `envs` (each `(name, requires, env)`).
fn fast_config(dir: &Path, envs: &[(&str, &str, &Env)]) -> std::path::PathBuf {
    let config = dir.join("helmsman.toml");
    let mut text = "[defaults.analysis]\ninterval = \"200ms\"\nmin_requests = 20\n\
                    [defaults.health]\ninterval = \"200ms\"\ntimeout = \"500ms\"\n"
        .to_string();
    for (name, requires, env) in envs {
        text.push_str(&env_toml(name, requires, env));
    }
    std::fs::write(&config, text).unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_warns_about_steps_too_short_for_a_verdict_at_the_given_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let dev = env().await;
    let config = fast_config(dir.path(), &[("dev", "", &dev)]);
    let with_rps = |rps: &'static str| {
        let mut args = plan_dev("v2").to_vec();
        args.extend(["--rps", rps]);
        args
    };

    // 10 requests/s at 50 % for the 1-second pause: 5 requests, not 20.
    let (code, out, err) = run(&config, &state, &with_rps("10")).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(
            "warning: at 10 requests/s, step 3 (pause 1s at 50 %) ends with about 5 requests \
             on the new version"
        ),
        "{out}"
    );
    assert!(out.contains("held about "), "{out}");
    let mut json = with_rps("10");
    json.extend(["--output", "json"]);
    let (_, out, _) = run(&config, &state, &json).await;
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["traffic_rps"], 10.0, "{plan}");
    assert_eq!(plan["short_steps"].as_array().unwrap().len(), 1, "{plan}");

    let (code, out, _) = run(&config, &state, &with_rps("100000")).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("at 100000 requests/s: every step reaches a verdict within its time"),
        "{out}"
    );
    let (code, _, err) = run(&config, &state, &with_rps("0")).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not a positive number of requests a second"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_starts_from_the_version_serving_and_refuses_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let dev = env().await;
    let config = fast_config(dir.path(), &[("dev", "", &dev)]);

    // No data plane: the configured stable version, marked as a guess.
    let (code, out, err) = run(&config, &state, &plan_dev("v2")).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.starts_with("plan: dev/web v1 → v2 with canary\n"),
        "{out}"
    );
    assert!(
        out.contains("from: v1 as configured (`stable`): the traffic state could not be read"),
        "{out}"
    );

    let mut serve = start_serve(helmsman(&config, &state, &["serve"]), &[&dev]).await;
    let load = Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 60);

    // v1 serves: planning v1 is a no-op, refused as `release` refuses it.
    let (code, out, err) = run(&config, &state, &plan_dev("v1")).await;
    let release_v1 = release_of("v1", &["dev"]);
    let (release_code, _, release_err) = run(&config, &state, &release_v1).await;
    assert_ne!(code, 0, "{out}\n{err}");
    assert_eq!(code, release_code, "{err}\n{release_err}");
    assert!(
        err.contains("dev/web already runs v1: nothing to release"),
        "{err}"
    );
    assert!(out.is_empty(), "no plan printed: {out}");

    let release_v2 = release_of("v2", &["dev"]);
    let (code, out, err) = run(&config, &state, &release_v2).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.ends_with("result: succeeded, exit 0 (dev v1 → v2: succeeded)\n"),
        "the text form of the final record:\n{out}"
    );

    // v2 now serves, as the data plane says: the plan starts from it.
    let (code, out, err) = run(&config, &state, &plan_dev("v2")).await;
    assert_eq!(code, release_code, "{out}\n{err}");
    assert!(
        err.contains("dev/web already runs v2: nothing to release"),
        "{err}"
    );
    let (code, out, err) = run(&config, &state, &plan_dev("v1")).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.starts_with("plan: dev/web v2 → v1 with canary\n"),
        "{out}"
    );
    assert!(!out.contains("from: "), "read from the data plane: {out}");
    let mut json_plan = plan_dev("v1").to_vec();
    json_plan.extend(["--output", "json"]);
    let (_, out, _) = run(&config, &state, &json_plan).await;
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["stable_version"], "v2", "{json}");
    assert_eq!(json["stable_version_from"], "backend", "{json}");

    load.stop().await;
    // Stopped as systemd stops it: the host stops its data planes too.
    let pid = rustix::process::Pid::from_raw(serve.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let _ = serve.wait().await;

    // The data plane is gone: the history's last success, marked as such.
    let (code, out, err) = run(&config, &state, &plan_dev("v1")).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.starts_with("plan: dev/web v2 → v1 with canary\n"),
        "{out}"
    );
    assert!(
        out.contains("from: v2 as the history records (the last release that succeeded)"),
        "{out}"
    );
    let (_, out, _) = run(&config, &state, &json_plan).await;
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["stable_version_from"], "history", "{json}");
}

/// The last line of `release --output json`: `{"result": …}`.
fn final_record(out: &str) -> serde_json::Value {
    let last = out.lines().last().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the last line is not JSON ({e}):\n{out}"));
    assert!(json["result"].is_object(), "no final result record:\n{out}");
    json["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_json_ends_with_a_result_record() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let unhealthy = Behaviour {
        healthy: false,
        ..Behaviour::healthy("v2")
    };
    let dev = Env {
        v2: SampleService::start(any, unhealthy).await.unwrap(),
        ..env().await
    };
    let prod = env().await;
    let config = fast_config(dir.path(), &[("dev", "", &dev), ("prod", "\"dev\"", &prod)]);
    let release = |envs: &[&'static str]| {
        let mut args = vec!["release"];
        for env in envs {
            args.extend(["--env", env]);
        }
        args.extend(["--service", "web", "--version", "v2", "--headless"]);
        args.extend(["--output", "json"]);
        args
    };

    // Refused before anything moves: the record still comes.
    let (code, out, err) = run(&config, &state, &release(&["prod"])).await;
    assert_eq!(code, 1, "{err}");
    let result = final_record(&out);
    assert_eq!(result["outcome"], "refused", "{result}");
    assert_eq!(result["exit_code"], 1, "{result}");
    assert!(
        result["message"].as_str().unwrap().contains("requires"),
        "{result}"
    );
    assert_eq!(
        result["environments"],
        serde_json::json!([{"env": "prod", "from": null, "to": "v2", "outcome": "refused"}])
    );

    // No data plane to read: an error, named.
    let (code, out, _) = run(&config, &state, &release(&["dev"])).await;
    assert_eq!(code, 1);
    let result = final_record(&out);
    assert_eq!(result["outcome"], "error", "{result}");
    assert_eq!(result["environments"][0]["outcome"], "error", "{result}");

    let mut serve = start_serve(helmsman(&config, &state, &["serve"]), &[&dev, &prod]).await;
    let load = Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 60);

    // The unhealthy new instance rolls dev back; prod is never started.
    let (code, out, err) = run(&config, &state, &release(&["dev", "prod"])).await;
    assert_eq!(code, 3, "{out}\n{err}");
    let result = final_record(&out);
    assert_eq!(
        result,
        serde_json::json!({
            "outcome": "rolled-back",
            "exit_code": 3,
            "environments": [
                {"env": "dev", "from": "v1", "to": "v2", "outcome": "rolled-back"},
                {"env": "prod", "from": null, "to": "v2", "outcome": "not-run"},
            ],
        })
    );
    // Every other line is an event or a check: one record only.
    assert_eq!(out.matches("\"result\"").count(), 1, "{out}");

    load.stop().await;
    serve.kill().await.unwrap();
}

/// dev/web, whose canary stops at a manual gate after 25 %, behind a
/// running `serve`.
struct Gated {
    dev: Env,
    config: PathBuf,
    state: PathBuf,
    serve: tokio::process::Child,
}

impl Gated {
    async fn serve(dir: &Path) -> Gated {
        let dev = env().await;
        let (config, state) = (dir.join("helmsman.toml"), dir.join("state"));
        let steps = r#"[{ weight = 25 }, { gate = "manual" }]"#;
        std::fs::write(&config, dev.toml("dev", "", steps)).unwrap();
        let serve = start_serve(helmsman(&config, &state, &["serve"]), &[&dev]).await;
        Gated {
            dev,
            config,
            state,
            serve,
        }
    }
}

/// `release --no-host` of v2 in dev (driven by its own process, though
/// `serve` hosts releases too), its output discarded.
fn quiet_release(config: &Path, state: &Path) -> tokio::process::Child {
    let mut args = release_of("v2", &["dev"]);
    args.push("--no-host");
    helmsman(config, state, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// A release driven by its own process, and a second of the same service
/// submitted to the host: the second is refused before it touches
/// anything, naming who drives the first; the first's weight never moves
/// backwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_release_of_a_service_is_refused_with_the_holder_named() {
    let dir = tempfile::tempdir().unwrap();
    let Gated {
        dev,
        config,
        state,
        mut serve,
    } = Gated::serve(dir.path()).await;
    let load = Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 40);

    let mut first = quiet_release(&config, &state);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while dev.traffic().await["new_weight"] != 25 {
        assert!(std::time::Instant::now() < deadline, "never reached 25 %");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let (code, _, err) = run(&config, &state, &release_of("v2", &["dev"])).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("dev/web: refused: a release of v2 is in flight, driven by")
            && err.contains(&format!("(helmsman pid {})", first.id().unwrap())),
        "{err}"
    );
    assert_eq!(
        dev.traffic().await["new_weight"],
        25,
        "the first kept its weight"
    );

    // The first, stopped, rolls back; the journal holds it alone.
    let pid = first.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    assert_eq!(first.wait().await.unwrap().code(), Some(3));
    let (code, out, err) = run(&config, &state, &["history", "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(entries.len(), 1, "{out}");
    assert_eq!(entries[0]["result"], "rolled-back", "{out}");
    let (_, table, _) = run(&config, &state, &["history"]).await;
    assert!(
        table.starts_with("ID") && table.contains("dev/web") && table.contains("v1 → v2"),
        "{table}"
    );
    assert_eq!(
        load.stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    load.stop().await;
    serve.kill().await.unwrap();
}

/// `status` says what each release in flight waits for; after a `kill -9`
/// of the process driving one, it says that nobody drives it and where its
/// traffic was left, instead of the release vanishing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_a_release_whose_driver_died() {
    let dir = tempfile::tempdir().unwrap();
    let Gated {
        dev,
        config,
        state,
        mut serve,
    } = Gated::serve(dir.path()).await;
    let (_, out, _) = run(&config, &state, &["status"]).await;
    assert_eq!(out.trim(), "no release in flight");

    let mut release = quiet_release(&config, &state);
    let pid = release.id().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let waiting = loop {
        let (_, out, _) = run(&config, &state, &["status"]).await;
        if out.contains("Waiting for you") {
            break out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never at the gate: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        waiting.starts_with("TARGET") && waiting.contains("dev/web") && waiting.contains("25 %"),
        "{waiting}"
    );
    assert!(
        waiting.contains(&format!("a human to advance it (helmsman pid {pid})")),
        "{waiting}"
    );

    release.start_kill().unwrap(); // SIGKILL: no rollback, no last word
    release.wait().await.unwrap();
    let (code, out, _) = run(&config, &state, &["status", "--output", "json"]).await;
    assert_eq!(code, 0);
    let releases: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(releases.len(), 1, "{out}");
    assert!(releases[0]["driver"].is_null(), "{out}");
    assert_eq!(
        releases[0]["waits_for"],
        "nobody: the process driving it died; the backend was last at 25 % on v2, with no \
         triggers watching",
        "{out}"
    );
    assert_eq!(dev.traffic().await["new_weight"], 25, "left where it was");
    let (_, history, _) = run(&config, &state, &["history"]).await;
    assert!(history.contains("unfinished"), "{history}");
    serve.kill().await.unwrap();
}
