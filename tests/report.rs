//! `helmsman report` through the real binary, over a journal written by
//! real releases: `serve` in front of real upstreams with load flowing,
//! one deployment that succeeds, one an operator rolls back, and one a
//! failing check blocks. Each report is checked section by section, as
//! JSON and as Markdown.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::process::Stdio;
use std::time::{Duration, Instant};

use helmsman::demo::load::Load;
use serde_json::Value;
use world::{Env, FAST, Files, free_port, release_args};

/// Half the traffic for two seconds, then all of it.
const QUICK: &str = r#"[{ weight = 50 }, { pause = "2s" }, { weight = 100 }]"#;
/// 25 %, a manual gate, then 100 %.
const GATED: &str = r#"[{ weight = 25 }, { gate = "manual" }, { weight = 100 }]"#;

async fn run(files: &Files, args: &[&str]) -> (i32, String, String) {
    files.run(args).await
}

async fn json_report(files: &Files, args: &[&str]) -> Value {
    let mut all = vec!["report"];
    all.extend(args);
    all.extend(["--format", "json"]);
    let (code, out, err) = run(files, &all).await;
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Waits (bounded) until `env`'s release waits for a human.
async fn at_the_gate(files: &Files, env: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, out, _) = run(files, &["status", "--env", env, "--output", "json"]).await;
        let releases: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
        if releases
            .first()
            .is_some_and(|r| r["waits_for"].as_str().unwrap_or("").contains("a human"))
        {
            return;
        }
        assert!(Instant::now() < deadline, "never at the gate: {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_of_a_succeeded_a_rolled_back_and_a_blocked_deployment() {
    let (dev, staging, prod) = (Env::start().await, Env::start().await, Env::start().await);
    let reachable = format!(
        "[[environments.checks]]\nname = \"upstream\"\ntype = \"tcp\"\naddress = \"{}\"\n",
        dev.v1.addr()
    );
    let closed = format!(
        "[[environments.checks]]\nname = \"database\"\ntype = \"tcp\"\naddress = \"127.0.0.1:{}\"\ntimeout = \"1s\"\n",
        free_port()
    );
    let files = Files::new(&format!(
        "{FAST}{}{}{}",
        dev.toml("dev", &reachable, QUICK),
        staging.toml("staging", "", GATED),
        prod.toml("prod", &closed, QUICK)
    ));
    let mut serve = files.serve(&[&dev, &staging, &prod]).await;
    let load = Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 100);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 1. Succeeded: every section says so.
    let (code, out, err) = run(&files, &release_args(&["dev"])).await;
    assert_eq!(code, 0, "{out}{err}");
    let report = json_report(&files, &["last"]).await;
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["service"], "web");
    assert_eq!(report["strategy"], "canary");
    assert_eq!(report["previous_version"], "v1");
    assert_eq!(report["new_version"], "v2");
    assert_eq!(report["outcome"], "succeeded");
    assert_eq!(report["deployer"]["kind"], "operator", "{report}");
    assert!(report["deployer"]["user"].is_string(), "{report}");
    assert!(
        report["duration_seconds"].as_i64().unwrap() >= 2,
        "{report}"
    );
    let env = &report["environments"][0];
    assert_eq!(env["env"], "dev");
    assert_eq!(env["outcome"], "succeeded");
    assert_eq!(env["validated"], true);
    assert_eq!(env["checks"][0]["name"], "upstream");
    assert_eq!(env["checks"][0]["status"], "pass");
    let timeline: Vec<&str> = env["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["what"].as_str().unwrap())
        .collect();
    assert!(
        timeline.iter().any(|w| w.contains("set weight 50%")),
        "{timeline:?}"
    );
    assert!(
        timeline.iter().any(|w| w.contains("→ Succeeded")),
        "{timeline:?}"
    );
    let triggers: Vec<&str> = env["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(
        triggers,
        [
            "error-rate",
            "p95-latency",
            "unhealthy-instances",
            "new-error-kind"
        ]
    );
    assert_eq!(env["figures"][0]["name"], "error rate");
    assert_eq!(env["figures"][0]["band"], "OK", "{env}");
    assert!(
        env["traffic"]["new_requests"].as_u64().unwrap() > 0,
        "{env}"
    );
    assert!(
        env["traffic"]["baseline_requests"].as_u64().unwrap() > 0,
        "{env}"
    );
    assert_eq!(env["traffic"]["failed_requests"], 0);
    // Its rollback path, as the release first read the backend.
    assert_eq!(env["stable_at_start"]["healthy"], 1, "{env}");
    assert_eq!(env["stable_at_start"]["total"], 1, "{env}");
    assert!(env["rollback"].is_null());
    // The local data plane knows nothing of its upstreams' CPU or memory.
    assert_eq!(env["resources"][0]["name"], "cpu");
    assert!(env["resources"][0]["new"].is_null(), "{env}");
    assert!(env["resources"][1]["baseline"].is_null(), "{env}");

    // The Markdown has every section, and a note stays in later renderings.
    let (code, _, err) = run(&files, &["report", "last", "--note", "signed off | by QA"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, md, err) = run(&files, &["report"]).await;
    assert_eq!(code, 0, "{err}");
    for section in [
        "# Deployment report: web v2",
        "| Versions | v1 → v2 |",
        "| Outcome | ✅ succeeded |",
        "## dev: ✅ succeeded",
        "✅ validated",
        "### Checks",
        "| upstream | tcp | ✅ pass |",
        "### Timeline",
        "### Validation results",
        "| error rate | ✅ pass |",
        "### Traffic and users",
        "**0 failed user requests**",
        "### Rollback\n\nNot needed.",
        "### Resource use\n\nnot measured.",
        "## Notes",
        "signed off \\| by QA",
    ] {
        assert!(md.contains(section), "no {section:?} in\n{md}");
    }
    let report = json_report(&files, &["last", "--service", "web"]).await;
    assert_eq!(report["notes"][0]["text"], "signed off | by QA");
    // A release's id names its deployment too.
    let release_id = report["environments"][0]["release_id"].as_str().unwrap();
    let same = json_report(&files, &[release_id]).await;
    assert_eq!(same["deployment"], report["deployment"]);

    // 2. Rolled back by an operator at the gate: who, why, how fast.
    let client = files
        .helmsman(&release_args(&["staging"]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    at_the_gate(&files, "staging").await;
    let (code, out, err) = run(
        &files,
        &["rollback", "--env", "staging", "--service", "web"],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let ended = tokio::time::timeout(Duration::from_secs(60), client.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status.code(), Some(3));
    let report = json_report(&files, &["last", "--env", "staging"]).await;
    assert_eq!(report["outcome"], "rolled-back");
    let env = &report["environments"][0];
    assert_eq!(env["outcome"], "rolled-back");
    assert!(env["validated"].is_null(), "no checks configured: {env}");
    let rollback = &env["rollback"];
    assert_eq!(rollback["automatic"], false, "{rollback}");
    let user = report["deployer"]["user"].as_str().unwrap();
    assert!(
        rollback["by"].as_str().unwrap().starts_with(user),
        "{rollback}"
    );
    assert!(
        rollback["seconds_to_stable"].as_f64().unwrap() < 10.0,
        "{rollback}"
    );
    assert!(
        env["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["what"] == "rollback (accepted)"),
        "{env}"
    );

    // 3. Blocked by a failing check: nothing moved, and the report says why.
    let (code, out, err) = run(&files, &release_args(&["prod"])).await;
    assert_eq!(code, 4, "{out}{err}");
    let report = json_report(&files, &["last", "--env", "prod"]).await;
    assert_eq!(report["outcome"], "blocked");
    assert!(
        report["reason"].as_str().unwrap().contains("database"),
        "{report}"
    );
    let env = &report["environments"][0];
    assert_eq!(env["outcome"], "blocked");
    assert_eq!(env["validated"], false);
    assert_eq!(env["checks"][0]["status"], "fail");
    assert!(env["release_id"].is_null());
    let (code, md, _) = run(&files, &["report", "last", "--env", "prod"]).await;
    assert_eq!(code, 0);
    assert!(md.contains("## prod: ❌ blocked"), "{md}");
    assert!(md.contains("| database | tcp | ❌ fail |"), "{md}");

    // Insights over the same three real deployments: only dev's ended as
    // intended (an operator rolled staging back; a check blocked prod);
    // neither release failed a request; both found their stable version
    // healthy; staging ran no checks.
    let (code, out, err) = run(&files, &["insights", "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let insights: Value = serde_json::from_str(&out).unwrap();
    let overall = &insights["overall"];
    let rate = |v: &Value| (v["count"].as_u64().unwrap(), v["of"].as_u64().unwrap());
    assert_eq!(overall["deployments"], 3, "{overall}");
    assert_eq!(rate(&overall["success"]), (1, 3), "{overall}");
    assert_eq!(rate(&overall["zero_downtime"]), (2, 2), "{overall}");
    assert_eq!(rate(&overall["rollback_readiness"]), (2, 2), "{overall}");
    assert_eq!(
        rate(&overall["environment_validation"]),
        (2, 3),
        "{overall}"
    );
    assert_eq!(
        rate(&overall["dora"]["change_failure"]),
        (1, 2),
        "{overall}"
    );
    assert_eq!(overall["dora"]["restores"], 1, "{overall}");
    let (code, text, _) = run(&files, &["insights"]).await;
    assert_eq!(code, 0);
    assert!(text.contains("deployment success"), "{text}");

    // An id the journal does not have is a usage error that says where to look.
    let (code, _, err) = run(&files, &["report", "nope"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("`helmsman history` lists"), "{err}");

    assert_eq!(
        load.stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    load.stop().await;
    serve.kill().await.unwrap();
}
