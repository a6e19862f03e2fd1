//! The crash script, small: `kill -9` of the release host at points across
//! each strategy's release while users' requests flow through the data
//! plane, and a new host started on the same state directory each time.
//! Every release must be taken over and brought to an end, the journal
//! must agree with what the data plane serves, and no user request may
//! fail. (`scripts/crash-host.sh` sweeps 20 points per strategy.)

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use helmsman::demo::load::Load;
use tokio::net::UnixStream;
use tokio::process::Child;
use world::{Env, FAST, Files, release_args};

/// A strategy's table: about five seconds of release in all.
const CANARY: &str = r#"kind = "canary"
steps = [{ weight = 10 }, { pause = "1s" }, { weight = 25 }, { pause = "1s" }, { weight = 50 }, { pause = "1s" }, { weight = 100 }]"#;
const BLUE_GREEN: &str = r#"kind = "blue-green"
smoke_path = "/healthz"
preview_for = "2s"
manual_switch = false
scale_down_delay = "2s""#;
const ROLLING: &str = r#"kind = "rolling"
max_surge = 1
max_unavailable = 0
batch_pause = "1s""#;

fn config(env: &Env, strategy: &str) -> String {
    // The canary steps of `Env::toml` replaced by the whole strategy table.
    let canary = env.toml("dev", "", "[]");
    let (service, _) = canary
        .split_once("[environments.services.strategy]")
        .expect("the world's TOML has a strategy table");
    format!("{FAST}{service}[environments.services.strategy]\n{strategy}\n")
}

/// `helmsman serve`, once its control socket answers (after a crash the
/// data planes already do, and the socket file is the dead host's).
async fn serve(files: &Files) -> Child {
    let mut serve = files
        .helmsman(&["serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = files.state.join("host.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&socket).await.is_err() {
        assert!(
            serve.try_wait().unwrap().is_none(),
            "serve ended before it served"
        );
        assert!(Instant::now() < deadline, "the host never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    serve
}

async fn json(files: &Files, args: &[&str]) -> serde_json::Value {
    let output = files.helmsman(args).output().await.unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The release in the journal: there must be exactly one.
async fn the_release(files: &Files) -> serde_json::Value {
    let history = json(files, &["history", "--output", "json"]).await;
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{history:#}");
    entries[0].clone()
}

/// A host of `strategy`'s release with users' requests flowing.
struct Hosted {
    dev: Env,
    files: Files,
    host: Child,
    load: Load,
}

/// A host started, 100 requests/s flowing, and a release handed to it.
async fn released(strategy: &str) -> Hosted {
    let dev = Env::start().await;
    let files = Files::new(&config(&dev, strategy));
    let host = serve(&files).await;
    let load = Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 100);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut release = release_args(&["dev"]);
    release.push("--detach");
    let detached = files
        .helmsman(&release)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(detached.status.success(), "{detached:?}");
    Hosted {
        dev,
        files,
        host,
        load,
    }
}

impl Hosted {
    /// `kill -9` of the host (it has no last word), and a new one started.
    async fn crash_and_restart(&mut self) {
        self.host.start_kill().unwrap();
        self.host.wait().await.unwrap();
        self.host = serve(&self.files).await;
    }

    /// Waits until nothing is in flight, checking what the data plane
    /// serves every 100 ms on the way.
    async fn until_ended(&self, context: &str, check: impl Fn(&serde_json::Value)) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !json(&self.files, &["status", "--output", "json"])
            .await
            .as_array()
            .unwrap()
            .is_empty()
        {
            check(&self.dev.traffic().await);
            assert!(Instant::now() < deadline, "never ended, {context}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the data plane sends `weight` % to the new version.
    async fn until_weight(&self, weight: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.dev.traffic().await["new_weight"] != weight {
            assert!(Instant::now() < deadline, "never at {weight} %");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// No user request failed; the host stopped.
    async fn finish(mut self, context: &str) {
        let failed = self.load.stats().failed.load(Ordering::Relaxed);
        let stats = format!("{:?}", self.load.stats());
        self.load.stop().await;
        assert_eq!(failed, 0, "user requests failed ({stats}), {context}");
        stop(&mut self.host).await;
    }
}

/// One point: a release killed `delay` after it was handed to the host.
async fn crash_at(strategy: &str, delay: Duration) {
    let mut hosted = released(strategy).await;
    tokio::time::sleep(delay).await;
    let before = the_release(&hosted.files).await;
    hosted.crash_and_restart().await;
    let context = format!("killed {delay:?} in: {before}");
    // Nothing in flight without a driver once the new host is up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = json(&hosted.files, &["status", "--output", "json"]).await;
    for release in status.as_array().unwrap() {
        assert!(
            !release["driver"].is_null(),
            "undriven, {context}: {release}"
        );
    }
    hosted.until_ended(&context, |_| {}).await;
    let after = the_release(&hosted.files).await;
    assert_eq!(after["id"], before["id"], "{context}");
    let serving = hosted.dev.traffic().await;
    match after["result"].as_str() {
        Some("succeeded") => assert_eq!(serving["stable_version"], "v2", "{context}: {after}"),
        Some("rolled-back") => {
            assert_eq!(serving["stable_version"], "v1", "{context}: {after}");
            assert!(serving["new_version"].is_null(), "{context}: {serving}");
        }
        other => panic!("{other:?}, {context}: {after}"),
    }
    hosted.finish(&context).await;
}

/// A release the next host resumed (not rolled back) and brought to its end.
async fn assert_resumed_to_the_end(hosted: &Hosted) {
    let after = the_release(&hosted.files).await;
    assert_eq!(after["result"], "succeeded", "{after}");
    let reason = after["reason"].as_str().unwrap();
    assert!(
        reason.contains("resumed at step") && reason.contains("by the host that took it over"),
        "{reason}"
    );
    let serving = hosted.dev.traffic().await;
    assert_eq!(serving["stable_version"], "v2", "{serving}");
    assert!(serving["new_version"].is_null(), "{serving}");
}

/// A clean stop: the host stops its data planes.
async fn stop(host: &mut Child) {
    if let Some(pid) = host.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), host.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_survives_its_host_being_killed_at_any_step() {
    for delay in [500, 2_000, 4_000] {
        crash_at(CANARY, Duration::from_millis(delay)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_release_survives_its_host_being_killed_before_and_after_the_switch() {
    for delay in [800, 3_000] {
        crash_at(BLUE_GREEN, Duration::from_millis(delay)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_release_survives_its_host_being_killed_mid_batch() {
    for delay in [800, 2_500] {
        crash_at(ROLLING, Duration::from_millis(delay)).await;
    }
}

/// With the default `--on-restart resume`, a blue-green release killed
/// after its switch, while it keeps the old version for a switch-back, is
/// resumed there by the next host: the new version keeps every request
/// (never switched back), the old one is scaled down once the delay has
/// run again, and the journal says where it was resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_release_killed_after_its_switch_is_resumed_not_switched_back() {
    let mut hosted = released(
        r#"kind = "blue-green"
smoke_path = "/healthz"
preview_for = "1s"
manual_switch = false
scale_down_delay = "4s""#,
    )
    .await;
    hosted.until_weight(100).await;
    // Well inside the 4 s it keeps the old version, its switch journaled.
    tokio::time::sleep(Duration::from_millis(500)).await;
    hosted.crash_and_restart().await;
    hosted
        .until_ended("after the switch", |serving| {
            assert!(
                serving["stable_version"] == "v2" || serving["new_weight"] == 100,
                "switched back: {serving}"
            );
        })
        .await;
    assert_resumed_to_the_end(&hosted).await;
    hosted.finish("after the switch").await;
}

/// The same for a rolling update killed during a batch's pause: the next
/// host resumes it at that batch (half the instances on the new version)
/// and goes on to the end, never back to the old version alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_release_killed_between_batches_is_resumed_at_its_batch() {
    let mut hosted = released(
        r#"kind = "rolling"
max_surge = 1
max_unavailable = 0
batch_pause = "4s""#,
    )
    .await;
    hosted.until_weight(50).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    hosted.crash_and_restart().await;
    hosted
        .until_ended("between batches", |serving| {
            assert!(
                serving["stable_version"] == "v2" || serving["new_weight"].as_u64() >= Some(50),
                "rolled back: {serving}"
            );
        })
        .await;
    assert_resumed_to_the_end(&hosted).await;
    hosted.finish("between batches").await;
}
