//! `[[notify]]` through the real binary: `serve` in front of real
//! upstreams with load flowing, `release --no-host` driving, and real HTTP
//! receivers on loopback (and a command) taking the notifications. Each
//! payload is checked field by field; receivers that fail or hang never
//! hold a release, and the webhook URLs never appear in anything helmsman
//! prints, logs or journals.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use helmsman::demo::load::Load;
use helmsman::demo::sample_service::{Behaviour, SampleService};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use world::{Env, FAST, Files, free_port, release_args};

/// Half the traffic for two seconds, then all of it.
const QUICK: &str = r#"[{ weight = 50 }, { pause = "2s" }, { weight = 100 }]"#;

/// What a receiver does with each request.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Ok,
    Fail,
    /// Never answers.
    Hang,
}

/// An HTTP server on loopback that keeps every JSON body it is sent.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start(answer: Answer) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kept = Arc::clone(&got);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let kept = Arc::clone(&kept);
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let kept = Arc::clone(&kept);
                    async move {
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        kept.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                        if answer == Answer::Hang {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        let status = match answer {
                            Answer::Fail => StatusCode::INTERNAL_SERVER_ERROR,
                            _ => StatusCode::OK,
                        };
                        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                        *response.status_mut() = status;
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Receiver { addr, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    fn got(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|m| m["event"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    fn of(&self, event: &str) -> Value {
        self.got()
            .into_iter()
            .find(|m| m["event"] == event)
            .unwrap_or_else(|| panic!("no `{event}` among {:?}", self.events()))
    }
}

/// A `[[notify]]` table.
fn target(name: &str, kind: &str, rest: &str) -> String {
    format!("\n[[notify]]\nname = \"{name}\"\ntype = \"{kind}\"\n{rest}\n")
}

/// Waits (bounded) until `receiver` holds `n` messages.
async fn until_it_has(receiver: &Receiver, n: usize) {
    for _ in 0..100 {
        if receiver.got().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("only {:?}", receiver.events());
}

/// `serve` in front of `envs`, with load on the first's data plane.
async fn serving(files: &Files, envs: &[&Env]) -> (tokio::process::Child, Load) {
    let serve = files.serve(envs).await;
    let load = Load::start(
        format!("127.0.0.1:{}", envs[0].listen).parse().unwrap(),
        100,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    (serve, load)
}

/// `release` of web v2 to `env`, driven by the command itself: a delivery
/// that fails is told on its stderr.
async fn release_without_host(files: &Files, env: &str) -> (i32, String, String) {
    let mut args = release_args(&[env]);
    args.push("--no-host");
    files.run(&args).await
}

/// Everything helmsman wrote where a secret must never be: its output,
/// its log files and the journal.
fn written(files: &Files, out: &str, err: &str) -> String {
    let mut all = format!("{out}{err}{}", files.journal_bytes());
    if let Ok(logs) = std::fs::read_dir(files.state.join("logs")) {
        for log in logs.flatten() {
            all.push_str(&std::fs::read_to_string(log.path()).unwrap_or_default());
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_target_hears_of_a_release_with_its_numbers() {
    let dev = Env::start().await;
    let hook = Receiver::start(Answer::Ok).await;
    let slack = Receiver::start(Answer::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let piped = dir.path().join("piped.jsonl");
    let notify = [
        target(
            "team-hook",
            "webhook",
            "url = \"${HOOK_URL}\"\nevents = [\"started\", \"step\", \"succeeded\"]",
        ),
        target(
            "team-slack",
            "slack",
            &format!(
                "url = \"{}\"\nevents = [\"succeeded\"]\nenvironments = [\"dev\"]",
                slack.url("services/T000/B000/XXXX")
            ),
        ),
        target(
            "pager",
            "command",
            &format!(
                "run = [\"sh\", \"-c\", \"cat >> {} && echo >> {}\"]\nevents = [\"succeeded\"]",
                piped.display(),
                piped.display()
            ),
        ),
    ]
    .concat();
    let mut files = Files::new(&format!("{FAST}{}{notify}", dev.toml("dev", "", QUICK)));
    let hook_url = hook.url("hooks/secret-token-4f9a");
    files.vars.push(("HOOK_URL".into(), hook_url.clone()));
    let (mut serve, load) = serving(&files, &[&dev]).await;

    let (code, out, err) = release_without_host(&files, "dev").await;
    assert_eq!(code, 0, "{out}{err}");
    let release_id = files.history().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The webhook: started, each step, succeeded, in order, every field.
    until_it_has(&hook, 3).await;
    let events = hook.events();
    assert_eq!(
        events.first().map(String::as_str),
        Some("started"),
        "{events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("succeeded"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e == "step"), "{events:?}");
    let started = hook.of("started");
    let succeeded = hook.of("succeeded");
    for message in [&started, &succeeded] {
        assert_eq!(message["schema_version"], 1);
        assert_eq!(message["release_id"], release_id.as_str(), "{message}");
        assert_eq!(message["env"], "dev");
        assert_eq!(message["service"], "web");
        assert_eq!(message["stable_version"], "v1");
        assert_eq!(message["new_version"], "v2");
        assert_eq!(message["strategy"], "canary");
        assert!(
            message["deployment"].as_str().unwrap().ends_with("-web-v2"),
            "{message}"
        );
    }
    assert_eq!(started["weight"], 0, "{started}");
    assert!(started["report"].is_null(), "{started}");
    assert_eq!(succeeded["phase"], "Succeeded");
    assert_eq!(succeeded["weight"], 100);
    assert_eq!(succeeded["actor"]["kind"], "engine");
    assert!(
        succeeded["figures"]["new_requests"].as_u64().unwrap() > 0,
        "{succeeded}"
    );
    assert!(
        succeeded["figures"]["new_error_rate_pct"].is_number(),
        "{succeeded}"
    );
    let deployment = succeeded["deployment"].as_str().unwrap();
    assert_eq!(
        succeeded["report"],
        format!("helmsman report {deployment}").as_str()
    );
    assert!(
        succeeded["summary"]
            .as_str()
            .unwrap()
            .starts_with("dev/web v1 → v2: succeeded at 100 %"),
        "{succeeded}"
    );
    // Its report is there to be read.
    let (code, report, _) = files.run(&["report", deployment]).await;
    assert_eq!(code, 0);
    assert!(report.contains("# Deployment report: web v2"), "{report}");

    // Slack: its incoming-webhook payload, for the one event it chose.
    until_it_has(&slack, 1).await;
    let payload = &slack.got()[0];
    assert_eq!(slack.got().len(), 1, "{:?}", slack.got());
    assert_eq!(payload["text"], succeeded["summary"]);
    assert_eq!(payload["blocks"][0]["type"], "section");
    assert!(
        payload["blocks"][1]["elements"][0]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("release `{release_id}`")),
        "{payload}"
    );

    // The command read the same JSON on its standard input.
    let piped = std::fs::read_to_string(&piped).unwrap();
    let message: Value = serde_json::from_str(piped.lines().next().unwrap()).unwrap();
    assert_eq!(message["event"], "succeeded");
    assert_eq!(message["release_id"], release_id.as_str());

    // check-config names each target, never its URL.
    let (code, summary, _) = files.run(&["check-config"]).await;
    assert_eq!(code, 0, "{summary}");
    for line in [
        "notify team-hook (webhook): started, step, succeeded · every environment",
        "notify team-slack (slack): succeeded · dev",
        "notify pager (command): succeeded · every environment",
    ] {
        assert!(summary.contains(line), "no `{line}` in:\n{summary}");
    }
    // Neither URL is anywhere helmsman writes.
    let (_, config_json, _) = files.run(&["check-config", "--output", "json"]).await;
    let all = written(&files, &format!("{out}{summary}{config_json}"), &err);
    assert!(
        !all.contains("secret-token-4f9a"),
        "the webhook's URL leaked"
    );
    assert!(!all.contains("B000/XXXX"), "Slack's URL leaked");

    assert_eq!(
        load.stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    load.stop().await;
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_an_alert_and_a_refusal_are_each_told_with_their_numbers() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let bad = Behaviour {
        error_pct: 30.0,
        ..Behaviour::healthy("v2")
    };
    let staging = Env {
        listen: free_port(),
        admin: free_port(),
        v1: SampleService::start(any, Behaviour::healthy("v1"))
            .await
            .unwrap(),
        v2: SampleService::start(any, bad).await.unwrap(),
    };
    let prod = Env::start().await;
    let hook = Receiver::start(Answer::Ok).await;
    let closed = format!(
        "[[environments.checks]]\nname = \"database\"\ntype = \"tcp\"\naddress = \"127.0.0.1:{}\"\ntimeout = \"1s\"\n",
        free_port()
    );
    let files = Files::new(&format!(
        "{FAST}{}{}{}",
        staging.toml("staging", "", QUICK),
        prod.toml("prod", &closed, QUICK),
        target(
            "hook",
            "webhook",
            &format!("url = \"{}\"", hook.url("hook"))
        )
    ));
    let (mut serve, load) = serving(&files, &[&staging, &prod]).await;

    let (code, out, err) = release_without_host(&files, "staging").await;
    assert_eq!(code, 3, "{out}{err}");
    until_it_has(&hook, 3).await;
    let rolled_back = hook.of("rolled-back");
    assert_eq!(rolled_back["env"], "staging");
    assert_eq!(rolled_back["phase"], "Rolled back");
    assert_eq!(rolled_back["weight"], 0, "{rolled_back}");
    assert_eq!(rolled_back["actor"]["kind"], "engine");
    assert!(
        rolled_back["figures"]["new_error_rate_pct"]
            .as_f64()
            .unwrap()
            > 10.0,
        "{rolled_back}"
    );
    assert!(rolled_back["report"].is_string(), "{rolled_back}");
    // The new version's error rate entered the CRIT band (over 1 %).
    let alert = hook.of("alert");
    assert_eq!(alert["band"]["figure"], "error rate", "{alert}");
    assert_eq!(alert["band"]["level"], "CRIT", "{alert}");
    assert_eq!(alert["band"]["critical"], 1.0);
    assert!(alert["band"]["value"].as_f64().unwrap() > 1.0, "{alert}");
    // `step` is not among the events a target hears of by default.
    assert!(
        !hook.events().iter().any(|e| e == "step"),
        "{:?}",
        hook.events()
    );

    // A failing check refuses prod's release: said, with what failed.
    let (code, out, err) = release_without_host(&files, "prod").await;
    assert_eq!(code, 4, "{out}{err}");
    for _ in 0..100 {
        if hook.events().iter().any(|e| e == "check-failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = hook.of("check-failed");
    assert_eq!(refused["env"], "prod");
    assert!(refused["release_id"].is_null(), "{refused}");
    assert!(
        refused["reason"].as_str().unwrap().contains("database"),
        "{refused}"
    );

    load.stop().await;
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_that_fail_or_hang_never_hold_a_release() {
    let dev = Env::start().await;
    let failing = Receiver::start(Answer::Fail).await;
    let hanging = Receiver::start(Answer::Hang).await;
    let notify = [
        target(
            "failing",
            "webhook",
            &format!(
                "url = \"{}\"\nevents = [\"started\"]\nretries = 1",
                failing.url("fail-token-77aa")
            ),
        ),
        target(
            "hanging",
            "webhook",
            &format!(
                "url = \"{}\"\nevents = [\"started\", \"succeeded\"]\ntimeout = \"1s\"\nretries = 0",
                hanging.url("hang-token-88bb")
            ),
        ),
    ]
    .concat();
    let files = Files::new(&format!("{FAST}{}{notify}", dev.toml("dev", "", QUICK)));
    let (mut serve, load) = serving(&files, &[&dev]).await;

    let (code, out, err) = release_without_host(&files, "dev").await;
    assert_eq!(code, 0, "{out}{err}");
    // The failing one was tried twice (once, then one retry), and the
    // operator is told, in words and without its URL.
    assert_eq!(failing.events(), ["started", "started"]);
    assert!(
        err.contains("warning: notify failing: started for dev/web not delivered: HTTP 500"),
        "{err}"
    );
    assert!(err.contains("(2 tries)"), "{err}");
    // A release the host drives: the host tells the terminal that follows it.
    let (code, hosted_out, hosted_err) = files.run(&world::release_of("v1", &["dev"])).await;
    assert_eq!(code, 0, "{hosted_out}{hosted_err}");
    assert!(
        hosted_err.contains("warning: notify failing: started for dev/web not delivered: HTTP 500"),
        "{hosted_err}"
    );
    let (out, err) = (out + &hosted_out, err + &hosted_err);
    // The hanging one got its messages; neither answer held the release.
    assert!(hanging.events().contains(&"started".to_string()));
    let all = written(&files, &out, &err);
    assert!(!all.contains("fail-token-77aa"), "a URL leaked:\n{err}");
    assert!(!all.contains("hang-token-88bb"), "a URL leaked:\n{err}");
    let log = all;
    assert!(log.contains("notify hanging"), "no failure logged");

    load.stop().await;
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_watches_after_success_and_tells_of_a_fault_that_starts_late() {
    let dev = Env::start().await;
    let hook = Receiver::start(Answer::Ok).await;
    let files = Files::new(&format!(
        "{FAST}{}{}",
        dev.toml("dev", "watch_after = \"1m\"", QUICK),
        target(
            "hook",
            "webhook",
            &format!(
                "url = \"{}\"\nevents = [\"succeeded\", \"alert\"]",
                hook.url("hook")
            )
        )
    ));
    let (mut serve, load) = serving(&files, &[&dev]).await;

    // Through the host, which watches once it succeeded.
    let (code, out, err) = files.run(&release_args(&["dev"])).await;
    assert_eq!(code, 0, "{out}{err}");
    until_it_has(&hook, 1).await;
    assert_eq!(hook.events(), ["succeeded"]);

    // `status` lists it as watched, with its numbers since success.
    let mut watched = Value::Null;
    for _ in 0..100 {
        let (_, out, _) = files.run(&["status", "--output", "json"]).await;
        let listed: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
        if let Some(release) = listed.into_iter().find(|r| {
            r["waits_for"]
                .as_str()
                .is_some_and(|w| w.contains("requests in the last 5 minutes"))
        }) {
            watched = release;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(watched["watching_until"].is_string(), "{watched}");
    assert_eq!(watched["result"], "succeeded", "{watched}");
    let waits_for = watched["waits_for"].as_str().unwrap();
    assert!(
        waits_for.starts_with("nobody: watching until ") && waits_for.contains("(OK)"),
        "{waits_for}"
    );
    let (_, table, _) = files.run(&["status"]).await;
    assert!(table.contains("Watching"), "{table}");

    // The new version's instance dies: every request fails from now on.
    dev.v2.stop();
    for _ in 0..400 {
        if hook.events().iter().filter(|e| *e == "alert").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alerts: Vec<Value> = hook
        .got()
        .into_iter()
        .filter(|m| m["event"] == "alert")
        .collect();
    let band = alerts
        .iter()
        .find(|m| m["band"]["figure"] == "error rate")
        .unwrap_or_else(|| panic!("no error-rate alert in {alerts:?}"));
    assert_eq!(band["band"]["level"], "CRIT", "{band}");
    assert_eq!(band["env"], "dev");
    assert_eq!(band["phase"], "Succeeded");
    let kind = alerts
        .iter()
        .find(|m| {
            m["reason"]
                .as_str()
                .unwrap_or("")
                .starts_with("new error kind `")
        })
        .unwrap_or_else(|| panic!("no new-error-kind alert in {alerts:?}"));
    assert!(
        kind["reason"].as_str().unwrap().contains("while watched"),
        "{kind}"
    );

    load.stop().await;
    serve.kill().await.unwrap();
}
