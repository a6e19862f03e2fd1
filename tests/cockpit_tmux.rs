//! The cockpit as a person uses it: the real binary in a real terminal
//! (tmux, 80×24), keys typed with `send-keys`, the screen read with
//! `capture-pane`. `.ci/run` installs tmux; without it the test says so and
//! does nothing (or fails, under `.ci/run`).

mod ports;
mod support;

#[path = "kube/api_status.rs"]
mod api_status;
// Only what the Kubernetes test below uses.
#[allow(dead_code)]
#[path = "kube/fake_api.rs"]
mod fake_api;
#[allow(dead_code)]
#[path = "kube/fake_controller.rs"]
mod fake_controller;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> Output {
    Command::new("tmux").args(args).output().expect("tmux runs")
}

/// A detached tmux session, killed when dropped.
struct Session(String);

impl Session {
    fn screen(&self) -> String {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &self.0]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.0.as_str()];
        args.extend(keys);
        assert!(tmux(&args).status.success());
    }

    /// Waits (bounded) until the screen satisfies `what`; fails with the screen.
    fn wait_for(&self, label: &str, what: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let screen = self.screen();
            if what(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited 45 s for {label}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

/// Starts `helmsman ARGS` in a detached 80×24 tmux session, followed by a
/// line with its exit code; `None` (with the reason printed) without tmux.
fn start(label: &str, args: &str, state: &std::path::Path) -> Option<Session> {
    if Command::new("tmux").arg("-V").output().is_err() {
        support::missing_tool("tmux");
        return None;
    }
    let name = format!("helmsman-e2e-{label}-{}", std::process::id());
    let command = format!(
        "env HELMSMAN_STATE_DIR={} {} {args}; echo EXITED=$?; sleep 60",
        state.display(),
        env!("CARGO_BIN_EXE_helmsman")
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "24",
        "-s",
        &name,
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    Some(Session(name))
}

/// The prod column (drawn with a thick border) of every screen line.
fn prod_column(screen: &str) -> String {
    screen
        .lines()
        .filter_map(|line| line.split('┃').nth(1))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn demo_cockpit_advance_pause_rollback_and_quit() {
    let state = tempfile::tempdir().unwrap();
    let Some(session) = start("demo", "demo", state.path()) else {
        return;
    };

    // Three environments side by side, with percentages and gauges.
    session.wait_for("dev, staging and prod with live traffic", |s| {
        s.contains("dev")
            && s.contains("staging")
            && s.contains("prod [PROD]")
            && s.contains("traffic")
            && s.contains('%')
            && s.contains("waits for you")
    });

    // Select prod, which waits at a manual gate at 5 %, and advance it.
    session.keys(&["l", "l"]);
    session.wait_for("prod selected", |s| s.contains("▸prod"));
    session.wait_for("prod at its manual gate", |s| {
        prod_column(s).contains("traffic 5%") && prod_column(s).contains("Waiting for you")
    });
    session.keys(&["a"]);
    session.wait_for("the advance to 25 %", |s| {
        prod_column(s).contains("traffic 25% actual 25%")
    });

    session.keys(&["p"]);
    session.wait_for("the pause", |s| prod_column(s).contains("Paused"));

    // Rollback is two keystrokes, the first of which asks.
    session.keys(&["r"]);
    session.wait_for("the confirmation", |s| {
        s.contains("Roll back?") && s.contains("PRODUCTION")
    });
    session.keys(&["y"]);
    session.wait_for("0 % on the new version", |s| {
        let prod = prod_column(s);
        prod.contains("traffic 0% actual 0%") && prod.contains("Rolled back")
    });

    // q quits and gives the terminal back.
    session.keys(&["q"]);
    let screen = session.wait_for("the shell again", |s| s.contains("EXITED=0"));
    assert!(!screen.contains("helmsman · demo"), "{screen}");
}

#[test]
fn the_cockpit_over_a_configuration_shows_every_environment_and_refuses_politely() {
    let state = tempfile::tempdir().unwrap();
    let Some(session) = start(
        "config",
        &format!(
            "--config {}/config.example.toml",
            env!("CARGO_MANIFEST_DIR")
        ),
        state.path(),
    ) else {
        return;
    };
    session.wait_for("the configured environments", |s| {
        s.contains("config.example.toml")
            && s.contains("staging")
            && s.contains("prod [PROD]")
            && s.contains("v1.4.2 · no release")
    });
    // prod/payments' version is asked of a cluster that is not there; its
    // answer takes the status line, so the refusal is asked for after it.
    session.wait_for("prod/payments' version asked", |s| {
        s.contains("prod/payments: ")
    });
    session.keys(&["r"]);
    session.wait_for("the refusal in the footer", |s| {
        s.contains("no release, nothing to rollback")
    });
    session.keys(&["q"]);
    session.wait_for("the shell again", |s| s.contains("EXITED=0"));
}

#[test]
fn a_release_started_in_the_cockpit_runs_and_is_rolled_back_on_quit() {
    let state = tempfile::tempdir().unwrap();
    let Some(session) = start("start", "demo", state.path()) else {
        return;
    };
    session.wait_for("the demo", |s| {
        s.contains("payments") && s.contains("traffic")
    });

    // dev/payments runs v2.0.1 and no release: n asks, y starts one.
    session.keys(&["j", "n"]);
    session.wait_for("the question", |s| {
        s.contains("Release?")
            && s.contains("dev/payments: release v2.0.1 → v2.1.0 with blue-green")
    });
    session.keys(&["y"]);
    // Said at once, before the checks have run and anything moved.
    session.wait_for("the start announced", |s| {
        s.contains("dev/payments: starting the release of v2.1.0")
    });
    session.wait_for("the release running", |s| {
        column(s, 0).contains("v2.0.1 → v2.1.0") && column(s, 0).contains("blue-green")
    });
    // Paused, so that it is still in flight when we quit however fast or
    // slow this machine runs its ~12 s of steps.
    session.keys(&["p"]);
    session.wait_for("the pause", |s| column(s, 0).contains("Paused"));

    // Its detail view ends with the plan the pipeline made, as `helmsman
    // plan` prints it (steps, then triggers). The event list above it grows
    // while the release runs, so page down until the plan shows.
    session.keys(&["Enter"]);
    session.wait_for("the detail view", |s| s.contains("Events, newest first"));
    let has_plan = |s: &str| {
        s.contains("6. finish: v2.1.0 becomes stable") && s.contains("rolls back automatically on:")
    };
    for _ in 0..20 {
        if has_plan(&session.screen()) {
            break;
        }
        session.keys(&["PgDn"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    session.wait_for("the plan at the end of the detail view", has_plan);
    // Back to the environments before the next key: an Escape followed at
    // once by `q` reads as Alt-q.
    session.keys(&["Escape"]);
    session.wait_for("the environments again", |s| {
        !s.contains("Events, newest first") && column(s, 0).contains("v2.0.1 → v2.1.0")
    });

    // Quitting does not leave it half-way, and says so in words.
    session.keys(&["q"]);
    let screen = session.wait_for("the shell again", |s| s.contains("EXITED=0"));
    assert!(screen.contains("rolling back before exiting"), "{screen}");
    assert!(
        screen.contains("dev/payments: rollback accepted"),
        "{screen}"
    );
    assert!(!screen.contains("Some("), "debug text: {screen}");
}

/// The helmsman process in a session's pane: the child of the pane's shell.
fn helmsman_pid(session: &Session) -> i32 {
    let shell = tmux(&["display", "-p", "-t", session.0.as_str(), "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&shell.stdout).trim().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …: the name may hold spaces, the fields after it do not.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid = after_name.split(' ').nth(1).unwrap_or_default();
        if ppid == shell && stat.contains("(helmsman)") {
            return entry.file_name().to_string_lossy().parse().unwrap();
        }
    }
    panic!("no helmsman under the pane's shell {shell}");
}

#[test]
fn sigterm_to_the_cockpit_rolls_back_what_it_started_and_gives_the_terminal_back() {
    let state = tempfile::tempdir().unwrap();
    let Some(session) = start("sigterm", "demo", state.path()) else {
        return;
    };
    session.wait_for("the demo", |s| {
        s.contains("payments") && s.contains("traffic")
    });
    session.keys(&["j", "n"]);
    session.wait_for("the question", |s| s.contains("Release?"));
    session.keys(&["y"]);
    session.wait_for("the release running", |s| {
        column(s, 0).contains("v2.0.1 → v2.1.0") && column(s, 0).contains("blue-green")
    });

    let pid = helmsman_pid(&session);
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Not killed outright (EXITED=143): it leaves like `q`, rolling back first.
    let screen = session.wait_for("the shell again", |s| s.contains("EXITED="));
    assert!(screen.contains("EXITED=0"), "{screen}");
    // The release's own driver answers the signal too: the cockpit's
    // rollback on the way out finds it rolling back or already rolled back,
    // and the terminal says which.
    let unwrapped = screen.replace('\n', "");
    assert!(
        unwrapped.contains("dev/payments: rollback accepted")
            || unwrapped.contains("already rolling back")
            || unwrapped.contains("dev/payments: release of v2.1.0 rolled back"),
        "{screen}"
    );
}

#[test]
fn help_at_80x24_scrolls_to_quit_and_the_legend_over_a_clean_screen() {
    let state = tempfile::tempdir().unwrap();
    let Some(session) = start("help", "demo", state.path()) else {
        return;
    };
    session.wait_for("the demo", |s| s.contains("traffic"));
    session.keys(&["?"]);
    // The whole frame, waited for rather than read once: a capture may
    // come between two frames.
    let top = session.wait_for("the help, cut off with a mark", |s| {
        s.contains("Keys —") && s.contains("▼") && s.contains("more ↓ PgDn")
    });
    // Nothing of the screen beneath shows beside the overlay (the clock's
    // "C" of "UTC" did, top right).
    let first = top.lines().next().unwrap_or_default();
    assert!(first.trim_end().ends_with('┐'), "{top}");
    assert!(!top.contains("Ctrl-C"), "all of it fits? {top}");
    session.keys(&["PageDown", "PageDown", "j"]);
    session.wait_for("the end of the help", |s| {
        s.contains("q Ctrl-C") && s.contains("phases:") && s.contains("▲")
    });
    // Apart: Esc and a key at once read as Alt and that key.
    session.keys(&["Escape"]);
    session.wait_for("the help closed", |s| !s.contains("Keys —"));
    session.keys(&["q"]);
    session.wait_for("the shell again", |s| s.contains("EXITED=0"));
}

/// The column of dev (0) or staging (1), drawn with thin borders, of
/// every screen line.
fn column(screen: &str, index: usize) -> String {
    screen
        .lines()
        .filter_map(|line| line.split('│').nth(1 + 2 * index))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_demo_runs_its_asset_says_what_it_assumes_and_counts_down_a_pause() {
    let state = tempfile::tempdir().unwrap();
    let Some(session) = start("assume", "demo", state.path()) else {
        return;
    };
    let screen = session.wait_for("staging in its first pause", |s| {
        column(s, 1).contains("3/11 · ") && column(s, 1).contains("s left")
    });
    assert!(
        column(&screen, 1).contains("needs dev: assumed ✓"),
        "{screen}"
    );
    assert!(
        prod_column(&screen).contains("needs staging: assumed ✓"),
        "{screen}"
    );
    assert!(!column(&screen, 0).contains("assumed"), "{screen}");
    assert!(screen.contains("demo assets/demo-cockpit.toml"), "{screen}");
    session.keys(&["q"]);
    session.wait_for("the shell again", |s| s.contains("EXITED=0"));
}

#[test]
fn a_promoted_release_shows_what_it_verified_once_finished() {
    let state = tempfile::tempdir().unwrap();
    let Some(session) = start("promote", "demo", state.path()) else {
        return;
    };
    session.keys(&["l", "l"]);
    session.wait_for("prod at its manual gate", |s| {
        s.contains("▸prod") && prod_column(s).contains("Waiting for you")
    });
    session.keys(&["a"]);
    session.wait_for("prod at 25 %", |s| {
        prod_column(s).contains("traffic 25% actual 25%")
    });
    session.keys(&["P"]);
    session.wait_for("the question", |s| s.contains("Promote?"));
    session.keys(&["y"]);
    // Its pauses last minutes: finished within the wait, it was promoted.
    let screen = session.wait_for("prod finished", |s| {
        prod_column(s).contains("Succeeded") && prod_column(s).contains("traffic 100% · finished")
    });
    // The point of no return waits for a human in production.
    session.wait_for("the contract pending", |s| {
        s.contains("prod/checkout: contract pending") && prod_column(s).contains("db: contract pen")
    });
    assert!(column(&screen, 0).contains("db: "), "{screen}");
    // Numbers are stale after three analysis intervals (1.5 s): a finished
    // release is read no more and must not say so.
    std::thread::sleep(Duration::from_secs(3));
    let prod = prod_column(&session.screen());
    assert!(prod.contains("final reading"), "{prod}");
    assert!(!prod.contains("STALE"), "{prod}");
    assert!(!prod.contains("actual 25%"), "{prod}");
    // The human says so here: `C` asks, `y` runs the contract on prod's
    // database, and the column says it is done.
    session.keys(&["C"]);
    session.wait_for("the contract's question", |s| {
        s.contains("Contract? [PROD]") && s.contains("[ Contract ]")
    });
    session.keys(&["y"]);
    session.wait_for("the contract run", |s| {
        s.contains("prod/checkout: contract passed") && prod_column(s).contains("db: contracted")
    });
    session.keys(&["q"]);
    session.wait_for("the shell again", |s| s.contains("EXITED=0"));
}

/// A Kubernetes service in the cockpit, against the fake API server of
/// tests/kube: its version is read from the cluster, a new one is typed,
/// the release prepares the canary in the cluster, and quitting rolls it
/// back there.
#[test]
fn a_kubernetes_release_is_typed_started_and_rolled_back_in_the_cluster() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = runtime.block_on(fake_api::FakeApi::start("v1"));
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("helmsman.toml");
    std::fs::write(&config, kubernetes_config(&api.kubeconfig)).unwrap();
    let Some(session) = start(
        "kube",
        &format!("--config {}", config.display()),
        state.path(),
    ) else {
        return;
    };
    session.wait_for("the version read from the cluster", |s| {
        s.contains("checkout") && s.contains("v1 · no release")
    });

    session.keys(&["n"]);
    session.wait_for("the version input", |s| {
        s.contains("staging/checkout runs v1. Version to release:")
    });
    session.keys(&["v", "2", "Enter"]);
    session.wait_for("the question", |s| {
        s.contains("Release?") && s.contains("staging/checkout: release v1 → v2 with canary")
    });
    session.keys(&["y"]);
    // Prepared in the cluster: the canary Deployment runs v2 (2 replicas).
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.deployment("checkout-canary") != ("registry.example.com/checkout:v2".into(), 2) {
        assert!(Instant::now() < deadline, "{:?}", api.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // No metrics answer (nothing listens at the Prometheus URL): the
    // release holds, naming the provider, rather than moving on.
    session.wait_for("the hold", |s| {
        s.contains("held: metrics unavailable (Prometheus")
    });

    session.keys(&["q"]);
    let screen = session.wait_for("the shell again", |s| s.contains("EXITED=0"));
    assert!(screen.contains("staging/checkout: rollback"), "{screen}");
    assert_eq!(api.weights(), (100, 0));
    assert_eq!(api.deployment("checkout-canary").1, 0);
    assert_eq!(
        api.deployment("checkout-stable").0,
        "registry.example.com/checkout:v1"
    );
}

fn kubernetes_config(kubeconfig: &std::path::Path) -> String {
    format!(
        r#"[[environments]]
name = "staging"
[[environments.services]]
name = "checkout"
[environments.services.backend]
type = "kubernetes"
kubeconfig = "{}"
context = "fake"
namespace = "shop"
traffic = "gateway-api"
route = "checkout"
stable_service = "checkout-stable"
canary_service = "checkout-canary"
stable_deployment = "checkout-stable"
canary_deployment = "checkout-canary"
canary_replicas = 2
container = "app"
image = "registry.example.com/checkout:{{version}}"
[environments.services.metrics]
type = "prometheus"
url = "http://127.0.0.1:1"
requests = 'sum(http_requests_total{{version="{{version}}"}})'
errors_by_kind = 'sum by (kind) (http_errors_total{{version="{{version}}"}})'
p95_seconds = 'p95{{version="{{version}}"}}'
"#,
        kubeconfig.display()
    )
}

/// A release the host drives, seen and steered from two cockpits attached
/// to it: a command typed in one shows in the other, `q` only detaches,
/// and `helmsman status` agrees with both.
#[test]
fn two_cockpits_attached_to_the_host_see_and_steer_one_release() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dev = runtime.block_on(world::Env::start());
    let steps = r#"[{ weight = 25 }, { gate = "manual" }, { weight = 100 }]"#;
    let files = world::Files::new(&format!("{}{}", world::FAST, dev.toml("dev", "", steps)));
    let mut serve = runtime.block_on(files.serve(&[&dev]));
    let serve_pid = serve.id().unwrap();
    let load = runtime.block_on(async {
        helmsman::demo::load::Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 60)
    });
    let config = format!("--config {}", files.config.display());
    let (Some(first), Some(second)) = (
        start("attach-a", &config, &files.state),
        start("attach-b", &config, &files.state),
    ) else {
        return;
    };
    let attached = format!("attached to host pid {serve_pid}");
    for cockpit in [&first, &second] {
        cockpit.wait_for("the header naming the host", |s| s.contains(&attached));
    }

    // Started from a third terminal, it shows in both.
    let helmsman = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_helmsman"))
            .args(["--config", files.config.to_str().unwrap()])
            .args(args)
            .env("HELMSMAN_STATE_DIR", &files.state)
            .output()
            .unwrap()
    };
    let detached = helmsman(&[
        "release",
        "--env",
        "dev",
        "--service",
        "web",
        "--version",
        "v2",
        "--headless",
        "--detach",
    ]);
    assert!(detached.status.success(), "{detached:?}");
    for cockpit in [&first, &second] {
        cockpit.wait_for("the release at its gate", |s| {
            column(s, 0).contains("v1 → v2") && column(s, 0).contains("Waiting for you")
        });
    }

    // Paused in the first, seen paused in the second and by status.
    first.keys(&["p"]);
    second.wait_for("the pause typed in the other cockpit", |s| {
        column(s, 0).contains("Paused")
    });
    let status = helmsman(&["status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("Paused"),
        "{status:?}"
    );

    // q in the first only detaches: the release is still there, paused.
    first.keys(&["q"]);
    let screen = first.wait_for("the shell again", |s| s.contains("EXITED=0"));
    assert!(
        screen.contains(&format!("detached from the release host (pid {serve_pid})")),
        "{screen}"
    );
    second.wait_for("still paused", |s| column(s, 0).contains("Paused"));

    // Its detail view writes its deployment's report, as far as it has got.
    second.keys(&["Enter"]);
    second.wait_for("the detail view", |s| s.contains("Steps 3/5"));
    second.keys(&["w"]);
    let reports = files.state.join("reports");
    let screen = second.wait_for("the report written", |s| s.contains("report written to"));
    assert!(screen.contains("reports/"), "{screen}");
    let written: Vec<_> = std::fs::read_dir(&reports).unwrap().flatten().collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let report = std::fs::read_to_string(written[0].path()).unwrap();
    assert!(
        report.starts_with("# Deployment report: web v2"),
        "{report}"
    );
    assert!(report.contains("## dev: ⏳ unfinished"), "{report}");
    assert!(report.contains("| pause (accepted) |"), "{report}");
    second.keys(&["Escape"]);
    second.wait_for("the environments again", |s| !s.contains("Steps 3/5"));

    // The second resumes it and takes it past the gate, to the end.
    second.keys(&["p"]);
    second.wait_for("resumed, at the gate again", |s| {
        column(s, 0).contains("Waiting for you")
    });
    // At 100 % the baseline gets no more traffic, so it gathers some at
    // 25 % first, as an operator looking at the numbers before advancing
    // would let it. The stable version's traffic from before the release
    // counts too, but this world started seconds ago: with fewer requests
    // than the triggers need in all, the last step holds.
    std::thread::sleep(Duration::from_secs(2));
    second.keys(&["a"]);
    second.wait_for("the release finished", |s| {
        s.contains("dev/web: v2 is stable now") || column(s, 0).contains("Succeeded")
    });
    let history = helmsman(&["history", "--output", "json"]);
    let entries: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(entries[0]["result"], "succeeded", "{entries}");
    // `i` shows the journal's insights: this one deployment, succeeded.
    second.keys(&["i"]);
    let screen = second.wait_for("the insights screen", |s| {
        s.contains("Delivery insights —") && s.contains("deployment success")
    });
    assert!(screen.contains("1 deployment counted"), "{screen}");
    assert!(screen.contains("100.0 %  1 of 1"), "{screen}");
    second.keys(&["Escape"]);
    second.wait_for("the environments again", |s| {
        !s.contains("Delivery insights")
    });
    second.keys(&["q"]);
    second.wait_for("the shell again", |s| s.contains("EXITED=0"));
    runtime.block_on(async {
        load.stop().await;
        serve.kill().await.unwrap();
    });
}
