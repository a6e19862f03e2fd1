//! Feature-flag releases as a user runs them: `helmsman serve` (the data
//! plane counting requests by the variant that served them) and `helmsman
//! release` (the real binary) moving a flag in a flagd flag file, in front
//! of instances that read that file and serve each request as its variant,
//! with load running the whole time.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

use helmsman::demo::flag_eval::FlagEvaluator;
use helmsman::demo::load::Load;
use helmsman::demo::sample_service::{Behaviour, Flagged, SampleService};
use serde_json::Value;
use world::{Files, free_port, wait_for_admin};

/// A flag file with the released flag and one helmsman must not touch.
const FLAGS: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "new-ranking": {
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off"
    },
    "dark-mode": {
      "state": "ENABLED",
      "variants": { "dark": "dark", "light": "light" },
      "defaultVariant": "light",
      "targeting": { "fractional": [["dark", 30], ["light", 70]] }
    }
  }
}
"#;

fn quiet(version: &str) -> Behaviour {
    Behaviour {
        error_pct: 0.0,
        ..Behaviour::healthy(version)
    }
}

struct World {
    _dir: tempfile::TempDir,
    files: Files,
    flag_file: std::path::PathBuf,
    _instances: Vec<SampleService>,
    listen: u16,
    admin: u16,
}

impl World {
    /// Two instances whose "on" variant answers `on`'s way.
    async fn start(on: Behaviour, beta: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let flag_file = dir.path().join("flags.json");
        std::fs::write(&flag_file, FLAGS).unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut instances = Vec::new();
        for _ in 0..2 {
            let flagged = Flagged {
                flag: FlagEvaluator::new(flag_file.clone(), "new-ranking"),
                variants: vec![("off".into(), quiet("v1")), ("on".into(), on.clone())],
            };
            instances.push(SampleService::start_flagged(any, flagged).await.unwrap());
        }
        let (listen, admin) = (free_port(), free_port());
        let upstreams: Vec<String> = instances
            .iter()
            .map(|i| format!("\"{}\"", i.addr()))
            .collect();
        let config = format!(
            r#"[defaults.analysis]
interval = "200ms"
min_requests = 20
[defaults.health]
interval = "200ms"
timeout = "500ms"

[[environments]]
name = "dev"
[[environments.services]]
name = "web"
[environments.services.backend]
type = "flagd"
flag_file = "{file}"
listen = "127.0.0.1:{listen}"
admin = "127.0.0.1:{admin}"
upstreams = [{upstreams}]
{beta}
[environments.services.strategy]
kind = "feature-flag"
flag = "new-ranking"
steps = [{{ weight = 10 }}, {{ pause = "1s" }}, {{ weight = 50 }}, {{ pause = "1s" }}, {{ weight = 100 }}]
"#,
            file = flag_file.display(),
            upstreams = upstreams.join(", "),
        );
        World {
            _dir: dir,
            files: Files::new(&config),
            flag_file,
            _instances: instances,
            listen,
            admin,
        }
    }

    fn flags(&self) -> Value {
        read(&self.flag_file)
    }

    /// `helmsman serve` running the data plane, and 100 requests/s through it.
    async fn serve_with_load(&self) -> (tokio::process::Child, Load) {
        let mut serve = self
            .files
            .helmsman(&["serve"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for_admin(self.admin, &mut serve).await;
        let listen: SocketAddr = format!("127.0.0.1:{}", self.listen).parse().unwrap();
        (serve, Load::start(listen, 100))
    }
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn release_args() -> Vec<&'static str> {
    world::release_of("on", &["dev"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_goes_to_100_percent_and_a_bad_variant_is_switched_off() {
    // A good "on": the flag ends on for everyone, the other flag untouched.
    let good = World::start(quiet("v1"), "beta = { keys = [\"alice\"] }").await;
    let (mut serve, load) = good.serve_with_load().await;

    // `plan` speaks in the flag's split.
    let (code, out, err) = good
        .files
        .run(&[
            "plan",
            "--env",
            "dev",
            "--service",
            "web",
            "--version",
            "on",
        ])
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("off → on"), "{out}");
    assert!(out.contains("flag split: on 10 %, off 90 %"), "{out}");

    let (code, out, err) = good.files.run(&release_args()).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("→ Succeeded"), "{out}");
    let flags = good.flags();
    let before: Value = serde_json::from_str(FLAGS).unwrap();
    assert_eq!(flags["flags"]["dark-mode"], before["flags"]["dark-mode"]);
    assert_eq!(flags["flags"]["new-ranking"]["defaultVariant"], "on");
    assert!(flags["flags"]["new-ranking"].get("targeting").is_none());
    // The data plane counted each variant on its own side.
    let state: Value = reqwest::get(format!("http://127.0.0.1:{}/api/v1/state", good.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["stable_version"], "on", "{state}");
    assert_eq!(counted(&load, "the good release"), (0, 0));
    load.stop().await;
    serve.kill().await.unwrap();

    // A bad "on" (40 % errors): rolled back, and the kill switch leaves
    // everyone on "off".
    let bad_on = Behaviour {
        error_pct: 40.0,
        ..quiet("v1")
    };
    let bad = World::start(bad_on, "").await;
    let (mut serve, load) = bad.serve_with_load().await;
    let (code, out, err) = bad.files.run(&release_args()).await;
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("error rate"), "{out}");
    let flags = bad.flags();
    assert_eq!(flags["flags"]["new-ranking"]["defaultVariant"], "off");
    assert!(flags["flags"]["new-ranking"].get("targeting").is_none());
    assert_eq!(counted(&load, "the bad release and its kill switch").0, 0);
    load.stop().await;
    serve.kill().await.unwrap();
}

/// The load's requests that got no answer and that answered 5xx, said
/// beside how many were sent.
fn counted(load: &Load, during: &str) -> (u64, u64) {
    let stats = load.stats();
    let (sent, failed, errors) = (
        stats.sent.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        stats.status_5xx.load(Ordering::Relaxed),
    );
    eprintln!("through {during}: {sent} requests, {failed} failed, {errors} answered 5xx");
    (failed, errors)
}
