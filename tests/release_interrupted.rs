//! A release is never left half-way by its own process: `release
//! --headless --no-host` (driven by its own process, though `serve` also
//! hosts releases) against `helmsman serve`, with its output
//! closed under it (a pipe whose reader left, a terminal that closed) or a
//! signal sent as its first lines print or before an environment starts.
//! Whatever stops it, the data plane ends with v1 stable at 100 % and
//! nothing staged, and the history says what happened.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use helmsman::demo::load::Load;
use rustix::process::{Pid, Signal, kill_process};
use tokio::io::{AsyncBufReadExt, BufReader as AsyncBufReader};
use tokio::process::Child;
use world::{Env, FAST, Files, assert_stable_v1};

/// A step at 20 % the test can wait for, then a short pause so the next
/// event line comes soon, then a long one nothing should outlast.
const STEPS: &str =
    r#"[{ weight = 20 }, { pause = "1s" }, { weight = 50 }, { pause = "10m" }, { weight = 100 }]"#;

/// `release --headless --no-host` of web v2 through `envs`.
fn release_args<'a>(envs: &[&'a str]) -> Vec<&'a str> {
    let mut args = world::release_args(envs);
    args.push("--no-host");
    args
}

async fn world() -> (Env, Files, Child, Load) {
    let prod = Env::start().await;
    let files = Files::new(&format!("{FAST}{}", prod.toml("prod", "", STEPS)));
    let serve = files.serve(&[&prod]).await;
    let load = Load::start(format!("127.0.0.1:{}", prod.listen).parse().unwrap(), 100);
    (prod, files, serve, load)
}

async fn exit_code(child: &mut Child) -> Option<i32> {
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the release never ended")
        .unwrap();
    status.code()
}

fn last_result(files: &Files) -> serde_json::Value {
    let history = files.history();
    let last = history.last().expect("the release was recorded");
    last["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_on_stdout_rolls_back_records_and_exits_3() {
    let (prod, files, mut serve, load) = world().await;
    let mut release = files
        .helmsman(&release_args(&["prod"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = AsyncBufReader::new(release.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains(" 20 %") {
            break;
        }
    }
    drop(lines); // the reader leaves: the next line hits a closed pipe

    let code = exit_code(&mut release).await;
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(release.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(last_result(&files), "rolled-back");
    assert_stable_v1(&prod, "after stdout closed").await;
    load.stop().await;
    serve.kill().await.unwrap();
}

/// A pseudo-terminal: the release writes to its slave side, the test reads
/// the master side and then closes it, as a terminal emulator or sshd does
/// when its window or connection goes.
fn open_pty() -> (std::fs::File, std::fs::File) {
    use rustix::fs::{Mode, OFlags, open};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    // Close-on-exec: a copy of the master in the child would keep the terminal open.
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    (std::fs::File::from(master), std::fs::File::from(slave))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_terminal_rolls_back_records_and_exits_3() {
    let (prod, files, mut serve, load) = world().await;
    let (master, slave) = open_pty();
    let mut release = files
        .helmsman(&release_args(&["prod"]))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    // Read the terminal until the 20 % step shows, then close it.
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(master).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(" 20 %") {
                break;
            }
        }
        seen // the master is dropped here: the terminal is gone
    });
    let seen = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert!(seen.contains(" 20 %"), "{seen}");

    let code = exit_code(&mut release).await;
    assert_eq!(
        code,
        Some(3),
        "exit status of a release whose terminal closed"
    );
    assert_eq!(last_result(&files), "rolled-back");
    assert_stable_v1(&prod, "after the terminal closed").await;
    load.stop().await;
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_as_the_first_lines_print_roll_back_never_kill() {
    let (prod, files, mut serve, load) = world().await;
    // HELMSMAN_SIGNAL_ROUNDS=30 measures 90 races, as the defect was found.
    let rounds: u32 = std::env::var("HELMSMAN_SIGNAL_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for signal in [Signal::INT, Signal::TERM, Signal::HUP] {
        for attempt in 0..rounds {
            let context = format!("{signal:?}, attempt {attempt}");
            let mut release = files
                .helmsman(&release_args(&["prod"]))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = AsyncBufReader::new(release.stdout.take().unwrap()).lines();
            let first = lines.next_line().await.unwrap();
            assert!(first.is_some(), "{context}: no line printed");
            let pid = Pid::from_raw(release.id().unwrap() as i32).unwrap();
            kill_process(pid, signal).unwrap();
            // Keep reading so the release's lines never block on a full pipe.
            let drain =
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

            let code = exit_code(&mut release).await;
            drain.await.unwrap();
            assert!(
                matches!(code, Some(1) | Some(3)),
                "{context}: exit {code:?} (None: killed by the signal)"
            );
            let result = last_result(&files);
            assert!(
                result == "rolled-back" || result == "aborted",
                "{context}: recorded {result}"
            );
            assert_stable_v1(&prod, &context).await;
            *outcomes
                .entry(format!("{signal:?}: exit {code:?}, recorded {result}"))
                .or_default() += 1;
        }
    }
    for (outcome, count) in &outcomes {
        println!("{outcome}: {count} of {rounds}");
    }
    load.stop().await;
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_before_an_environment_starts_keeps_it_from_starting() {
    let (dev, prod) = (Env::start().await, Env::start().await);
    let marker = tempfile::tempdir().unwrap();
    let checking = marker.path().join("checking");
    // prod's preflight check says when it runs, and takes its time.
    let check = format!(
        "[[environments.checks]]\nname = \"slow\"\ntype = \"command\"\ntimeout = \"30s\"\n\
         run = [\"sh\", \"-c\", \"touch {}; sleep 3\"]\n",
        world::path_str(&checking)
    );
    let files = Files::new(&format!(
        "{FAST}{}{}",
        dev.toml(
            "dev",
            "",
            r#"[{ weight = 50 }, { pause = "1s" }, { weight = 100 }]"#
        ),
        prod.toml("prod", &format!("requires = [\"dev\"]\n{check}"), STEPS)
    ));
    let mut serve = files.serve(&[&dev, &prod]).await;
    let loads = [
        Load::start(format!("127.0.0.1:{}", dev.listen).parse().unwrap(), 100),
        Load::start(format!("127.0.0.1:{}", prod.listen).parse().unwrap(), 100),
    ];
    let mut release = files
        .helmsman(&release_args(&["dev", "prod"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if checking.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !checking.exists() {
        release.kill().await.unwrap();
        let output = release.wait_with_output().await.unwrap();
        panic!(
            "prod's preflight check never ran: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let pid = Pid::from_raw(release.id().unwrap() as i32).unwrap();
    kill_process(pid, Signal::TERM).unwrap();

    let code = exit_code(&mut release).await;
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(release.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("prod/web: not started") && stderr.contains("SIGTERM"),
        "{stderr}"
    );
    assert_stable_v1(&prod, "prod after SIGTERM during its preflight").await;
    assert_eq!(dev.traffic().await["stable_version"], "v2");
    let history = files.history();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["target"]["env"], "dev", "{history:?}");
    for load in loads {
        load.stop().await;
    }
    serve.kill().await.unwrap();
}
