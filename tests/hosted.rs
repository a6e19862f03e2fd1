//! Releases the host drives, as users reach them: `helmsman serve` as its
//! own process (data planes and the release host), and `release`,
//! `attach`, `status` and the verbs as other processes. A release handed to
//! the host outlives the client that submitted it; any terminal steers it;
//! every command is journaled with who sent it.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::process::Stdio;
use std::time::{Duration, Instant};

use helmsman::demo::load::Load;
use helmsman::engine::{CommandKind, CommandReply};
use helmsman::store::{Filter, History};
use tokio::process::Child;
use world::{Env, FAST, Files, assert_stable_v1, release_args, start_serve};

/// 25 %, a manual gate, then 100 %.
const GATED: &str = r#"[{ weight = 25 }, { gate = "manual" }, { weight = 100 }]"#;

struct World {
    dev: Env,
    files: Files,
    serve: Child,
    load: Load,
}

async fn world() -> World {
    let dev = Env::start().await;
    let files = Files::new(&format!("{FAST}{}", dev.toml("dev", "", GATED)));
    let serve = files.serve(&[&dev]).await;
    let load = Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 60);
    World {
        dev,
        files,
        serve,
        load,
    }
}

impl World {
    /// Runs `helmsman ARGS` to its end: exit code, stdout, stderr.
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.files.run(args).await
    }

    /// `helmsman ARGS` running, its output piped.
    fn spawn(&self, args: &[&str]) -> Child {
        self.files
            .helmsman(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The releases in flight, as `status --output json` lists them.
    async fn status(&self) -> Vec<serde_json::Value> {
        let (code, out, err) = self.run(&["status", "--output", "json"]).await;
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// Waits (bounded) until dev/web's release waits for `what`.
    async fn wait_until_it_waits_for(&self, what: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let releases = self.status().await;
            if let Some(release) = releases.first()
                && release["waits_for"].as_str().unwrap_or("").contains(what)
            {
                return release.clone();
            }
            assert!(
                Instant::now() < deadline,
                "never waited for {what}: {releases:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn finish(self) {
        assert_eq!(
            self.load
                .stats()
                .failed
                .load(std::sync::atomic::Ordering::Relaxed),
            0,
            "failed user requests"
        );
        self.load.stop().await;
        let mut serve = self.serve;
        serve.kill().await.unwrap();
    }
}

const DEV_WEB: [&str; 4] = ["--env", "dev", "--service", "web"];

fn verb(verb: &str) -> Vec<&str> {
    let mut args = vec![verb];
    args.extend(DEV_WEB);
    args
}

/// `helmsman attach` running, once it said it is attached.
struct Follower {
    child: Child,
    /// All it wrote to stderr, once it ends.
    stderr: tokio::task::JoinHandle<String>,
}

async fn attach(world: &World) -> Follower {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut child = world.spawn(&["attach", "--env", "dev", "--service", "web"]);
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    tokio::time::timeout(Duration::from_secs(30), stderr.read_line(&mut first))
        .await
        .expect("attach said nothing")
        .unwrap();
    assert!(first.contains("attached to release "), "{first}");
    // Read on, so it never blocks on a full pipe.
    let stderr = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest).await;
        first + &rest
    });
    Follower { child, stderr }
}

impl Follower {
    async fn ended(self) -> (i32, String, String) {
        let (code, out, _) = ended(self.child).await;
        (code, out, self.stderr.await.unwrap())
    }
}

async fn ended(child: Child) -> (i32, String, String) {
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("it never ended")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_release_outlives_its_client_and_any_terminal_steers_it() {
    let world = world().await;
    let serve_pid = world.serve.id().unwrap();

    // Submitted to the host; the client that submitted it is then killed.
    let mut client = world.spawn(&release_args(&["dev"]));
    let at_gate = world.wait_until_it_waits_for("a human").await;
    assert_eq!(at_gate["driver"]["pid"], serve_pid, "{at_gate}");
    client.start_kill().unwrap(); // SIGKILL: the client has no last word
    client.wait().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = world.wait_until_it_waits_for("a human").await;
    assert_eq!(still["driver"]["pid"], serve_pid, "{still}");
    assert_eq!(world.dev.traffic().await["new_weight"], 25);

    // Steered from other terminals: each answer is the engine's.
    let (code, out, err) = world.run(&verb("pause")).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("dev/web: pause accepted ("), "{out}");
    let (code, _, err) = world.run(&verb("pause")).await;
    assert_eq!(code, 1, "a second pause: {err}");
    assert!(err.starts_with("dev/web: pause refused: "), "{err}");
    let (code, out, err) = world.run(&verb("resume")).await;
    assert_eq!(code, 0, "{out}{err}");

    // A follower from yet another terminal sees it to its end.
    let follower = attach(&world).await;
    let (code, out, err) = world.run(&verb("advance")).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = follower.ended().await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("attached to release "), "{err}");
    assert!(
        out.contains("advanced past \"manual gate\"") && out.contains("→ Succeeded"),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("result: succeeded, exit 0 (dev v1 → v2: succeeded)"),
        "{out}"
    );
    assert_eq!(world.dev.traffic().await["stable_version"], "v2");

    // The journal holds every command with its answer and who sent it.
    let history = History::open(&world.files.state).unwrap();
    let release = &history.entries(&Filter::default()).unwrap()[0];
    let commands = history.commands(&release.start.id).unwrap();
    let kinds: Vec<(CommandKind, bool)> = commands
        .iter()
        .map(|c| (c.kind, c.reply == CommandReply::Accepted))
        .collect();
    assert_eq!(
        kinds,
        [
            (CommandKind::Pause, true),
            (CommandKind::Pause, false),
            (CommandKind::Resume, true),
            (CommandKind::Advance, true),
        ]
    );
    assert!(
        commands.iter().all(|c| c.actor.to_string() != "engine"),
        "{commands:?}"
    );
    assert!(world.status().await.is_empty());
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_ctrl_c_rollback_and_retry() {
    let world = world().await;

    // --detach returns with the release id once it started.
    let mut detach = release_args(&["dev"]);
    detach.extend(["--detach", "--output", "json"]);
    let (code, out, err) = world.run(&detach).await;
    assert_eq!(code, 0, "{out}{err}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let id = line["detached"]["release_id"].as_str().unwrap().to_string();
    assert!(id.ends_with("-dev-web"), "{out}");
    let waiting = world.wait_until_it_waits_for("a human").await;
    assert_eq!(waiting["id"], id.as_str(), "{waiting}");

    // Ctrl-C to a follower only detaches, and says how to come back.
    let follower = attach(&world).await;
    let pid = rustix::process::Pid::from_raw(follower.child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let (code, _, err) = follower.ended().await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("detached (Ctrl-C (SIGINT))"), "{err}");
    assert!(
        err.contains("helmsman attach --env dev --service web")
            && err.contains("helmsman rollback --env dev --service web"),
        "{err}"
    );
    world.wait_until_it_waits_for("a human").await;

    // Rolled back from another terminal, as the hint says.
    let (code, out, err) = world.run(&verb("rollback")).await;
    assert_eq!(code, 0, "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !world.status().await.is_empty() {
        assert!(Instant::now() < deadline, "never rolled back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_stable_v1(&world.dev, "after the rollback").await;
    let history = world.files.history();
    assert_eq!(history.last().unwrap()["result"], "rolled-back");

    // retry releases the same version again, with the same strategy.
    let mut retry = verb("retry");
    retry.push("--detach");
    let (code, out, err) = world.run(&retry).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("dev/web v1 → v2 runs on the release host"),
        "{out}"
    );
    world.wait_until_it_waits_for("a human").await;
    let (code, _, err) = world.run(&retry).await;
    assert_eq!(code, 1, "retry while it runs: {err}");
    assert!(
        err.contains("nothing to retry in dev/web: its release still runs"),
        "{err}"
    );
    let (code, _, _) = world.run(&verb("rollback")).await;
    assert_eq!(code, 0);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verbs_refuse_in_words_without_a_host_a_release_or_a_confirmation() {
    let dev = Env::start().await;
    let prod = Env::start().await;
    let files = Files::new(&format!(
        "{FAST}{}{}",
        dev.toml("dev", "", GATED),
        prod.toml("prod", "", GATED)
    ));
    let run = |args: Vec<&'static str>| {
        let mut command = files.helmsman(&args);
        command.stdin(Stdio::null());
        async move {
            let output = command.output().await.unwrap();
            (
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }
    };

    // No host: nothing to steer, and --detach has nobody to hand to.
    let (code, err) = run(verb("pause")).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no release host runs on"), "{err}");
    let mut detach = release_args(&["dev"]);
    detach.push("--detach");
    let (code, err) = run(detach).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--detach hands the release to a release host"),
        "{err}"
    );

    let mut serve = files.serve(&[&dev, &prod]).await;
    let (code, err) = run(verb("advance")).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no release of web runs in dev on this host"),
        "{err}"
    );
    // Production asks first; with no terminal to ask on, it refuses.
    let (code, err) = run(vec!["rollback", "--env", "prod", "--service", "web"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("asks for a confirmation") && err.contains("--yes"),
        "{err}"
    );
    let (code, err) = run(vec![
        "rollback",
        "--env",
        "prod",
        "--service",
        "web",
        "--yes",
    ])
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no release of web runs in prod"), "{err}");
    let (code, err) = run(verb("retry")).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("nothing to retry in dev/web: it has no release"),
        "{err}"
    );
    // A release the configuration cannot run is refused with what it has:
    // the host checks it against the whole file, not the one service a
    // hosted release keeps.
    for (env, service, says) in [
        (
            "dev",
            "nope",
            "no service `nope` in environment `dev`; known: web",
        ),
        ("qa", "web", "known: dev, prod"),
    ] {
        let (code, err) = run(vec![
            "release",
            "--env",
            env,
            "--service",
            service,
            "--version",
            "v2",
            "--headless",
            "--detach",
        ])
        .await;
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says), "{err}");
    }
    serve.kill().await.unwrap();
}

/// Until a restarted host can resume them, a host that is asked to stop
/// rolls back what it drives before its data planes stop: the following
/// client gets the rollback's lines and exit code 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_host_rolls_back_what_it_drives() {
    let world = world().await;
    let client = world.spawn(&release_args(&["dev"]));
    world.wait_until_it_waits_for("a human").await;
    let pid = rustix::process::Pid::from_raw(world.serve.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let (code, out, err) = ended(client).await;
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("→ Rolled back"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("result: rolled-back, exit 3 (dev v1 → v2: rolled-back)"),
        "{out}"
    );
    let history = world.files.history();
    assert_eq!(history.last().unwrap()["result"], "rolled-back");
    let World {
        mut serve, load, ..
    } = world;
    let stopped = tokio::time::timeout(Duration::from_secs(30), serve.wait())
        .await
        .expect("serve never stopped")
        .unwrap();
    assert_eq!(stopped.code(), Some(0));
    load.stop().await;
}

/// A world whose host was killed (SIGKILL: no rollback, no last word)
/// while a release it drove waited at its gate, users' requests flowing.
struct Killed {
    dev: Env,
    files: Files,
    load: Load,
    /// The release's id.
    id: String,
    /// How the client that submitted it ended: code, stdout, stderr.
    client: (i32, String, String),
}

async fn killed_at_the_gate() -> Killed {
    let world = world().await;
    let client = world.spawn(&release_args(&["dev"]));
    let waiting = world.wait_until_it_waits_for("a human").await;
    let id = waiting["id"].as_str().unwrap().to_string();
    let World {
        dev,
        files,
        mut serve,
        load,
    } = world;
    serve.start_kill().unwrap();
    serve.wait().await.unwrap();
    Killed {
        dev,
        files,
        load,
        id,
        client: ended(client).await,
    }
}

/// `kill -9` of the host mid-release, with users' requests flowing: the
/// release is left unfinished with nobody driving it; the next host
/// (`--on-restart rollback`) adopts the data planes, takes the release over
/// and rolls it back, journaled under its own id with where it was; no
/// user request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_host_takes_over_a_release_whose_host_was_killed() {
    let Killed {
        dev,
        files,
        load,
        id,
        client: (code, _, err),
    } = killed_at_the_gate().await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("goes on without this terminal"), "{err}");
    let world = World {
        serve: start_serve(
            files.helmsman(&["serve", "--on-restart", "rollback"]),
            &[&dev],
        )
        .await,
        dev,
        files,
        load,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !world.status().await.is_empty() {
        assert!(Instant::now() < deadline, "never taken over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let history = world.files.history();
    let last = history.last().unwrap();
    assert_eq!(last["id"], id.as_str(), "{last}");
    assert_eq!(last["result"], "rolled-back", "{last}");
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("interrupted at step 3/5, 25 % (Waiting for you")
            && reason.contains("rolled back by the host that took it over"),
        "{reason}"
    );
    assert_stable_v1(&world.dev, "after the take-over").await;
    // Its deployment ended with it, and its report says how.
    let (code, out, err) = world
        .run(&["report", id.as_str(), "--format", "json"])
        .await;
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["outcome"], "rolled-back", "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .starts_with("its driver died in dev; the host took the release over"),
        "{report}"
    );
    // The data planes run in a process of their own, which the crash left
    // serving and the next host adopted: users saw nothing of it.
    world.finish().await;
}

/// A release whose driver died after the backend made the new version
/// stable but before its record was written is recorded as succeeded by
/// the next host, never reverted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_finished_before_its_driver_died_is_recorded_as_succeeded() {
    let dev = Env::start().await;
    // The data plane serves v2 as stable: the release had finished.
    let files = Files::new(&format!(
        "{FAST}{}",
        dev.toml("dev", "", GATED)
            .replace("stable = \"v1\"", "stable = \"v2\"")
    ));
    std::fs::create_dir_all(&files.state).unwrap();
    let mut history = History::open(&files.state).unwrap();
    history
        .begin(&helmsman::store::ReleaseStart {
            deployment: None,
            id: "20261130T000000.000-dev-web".into(),
            target: helmsman::engine::Target {
                env: "dev".into(),
                service: "web".into(),
            },
            strategy: "canary".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
            started_by: helmsman::engine::Actor::Engine,
            started_at: chrono::Utc::now(),
        })
        .unwrap();
    drop(history);
    let mut serve = files.serve(&[&dev]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = loop {
        let history = files.history();
        if let Some(last) = history.last()
            && !last["result"].is_null()
        {
            break last.clone();
        }
        assert!(Instant::now() < deadline, "never taken over: {history:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last["result"], "succeeded", "{last}");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("it had finished before: v2 serves all traffic as stable"),
        "{last}"
    );
    assert_eq!(dev.traffic().await["stable_version"], "v2");
    serve.kill().await.unwrap();
}

/// With the default `--on-restart resume`, the next host resumes a canary
/// whose data plane is where its journal left it: back at its manual gate
/// under the same id, advanced from another terminal to the end; no user
/// request fails and the journal says where it was resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_host_resumes_a_canary_at_its_step() {
    let Killed {
        dev,
        files,
        load,
        id,
        ..
    } = killed_at_the_gate().await;
    let restarted = chrono::Utc::now();
    let world = World {
        serve: files.serve(&[&dev]).await,
        dev,
        files,
        load,
    };
    // At its gate again: an event of the new host's, not the old one's.
    let deadline = Instant::now() + Duration::from_secs(30);
    let resumed = loop {
        let releases = world.status().await;
        if let Some(release) = releases.first()
            && release["last"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("manual gate"))
            && release["last"]["at"]
                .as_str()
                .and_then(|at| at.parse::<chrono::DateTime<chrono::Utc>>().ok())
                .is_some_and(|at| at > restarted)
        {
            break release.clone();
        }
        assert!(
            Instant::now() < deadline,
            "never back at its gate: {releases:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(resumed["id"], id.as_str(), "{resumed}");
    assert_eq!(
        world.dev.traffic().await["new_weight"],
        25,
        "never moved back"
    );
    // Its evidence starts again at the resume: at 100 % the baseline gets
    // no more traffic, so it gathers some at 25 % first, as an operator
    // looking at the numbers before advancing would let it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, out, err) = world.run(&verb("advance")).await;
    assert_eq!(code, 0, "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let releases = world.status().await;
        if releases.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let history = History::open(&world.files.state).unwrap();
            for e in history.events(&id).unwrap() {
                eprintln!("{} {:?} {} {} {}", e.at, e.to, e.step, e.weight, e.reason);
            }
            panic!("never finished: {releases:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let history = world.files.history();
    let last = history.last().unwrap();
    assert_eq!(last["id"], id.as_str(), "{last}");
    assert_eq!(last["result"], "succeeded", "{last}");
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("interrupted at step 3/5, 25 % (Waiting for you")
            && reason.contains("resumed at step 3/5 by the host that took it over"),
        "{reason}"
    );
    assert_eq!(world.dev.traffic().await["stable_version"], "v2");
    world.finish().await;
}
