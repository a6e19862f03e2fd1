//! A user's world on loopback: `helmsman serve` as its own process in front
//! of real upstreams (v1 stable, v2 to release) for each environment, and
//! the helmsman commands run against it as a second process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use helmsman::demo::sample_service::{Behaviour, SampleService};
use tokio::process::{Child, Command};

pub use crate::ports::free_port;

/// One environment's service `web`: its data plane's ports and its two versions.
pub struct Env {
    pub listen: u16,
    pub admin: u16,
    pub v1: SampleService,
    pub v2: SampleService,
}

impl Env {
    pub async fn start() -> Env {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        Env {
            listen: free_port(),
            admin: free_port(),
            v1: SampleService::start(any, Behaviour::healthy("v1"))
                .await
                .unwrap(),
            v2: SampleService::start(any, Behaviour::healthy("v2"))
                .await
                .unwrap(),
        }
    }

    /// The TOML of environment `name` with this service: `extra` goes
    /// inside `[[environments]]` (requires, checks), `steps` is the
    /// canary's step list.
    pub fn toml(&self, name: &str, extra: &str, steps: &str) -> String {
        format!(
            r#"
[[environments]]
name = "{name}"
{extra}
[[environments.services]]
name = "web"
[environments.services.backend]
type = "local"
listen = "127.0.0.1:{listen}"
admin = "127.0.0.1:{admin}"
stable = "v1"
[environments.services.backend.versions]
"v1" = ["{v1}"]
"v2" = ["{v2}"]
[environments.services.strategy]
kind = "canary"
steps = {steps}
"#,
            listen = self.listen,
            admin = self.admin,
            v1 = self.v1.addr(),
            v2 = self.v2.addr()
        )
    }

    /// The data plane's traffic state, from its admin API.
    pub async fn traffic(&self) -> serde_json::Value {
        reqwest::get(format!("http://127.0.0.1:{}/api/v1/state", self.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Fast analysis and health checks, so releases take seconds.
pub const FAST: &str = "[defaults.analysis]\ninterval = \"200ms\"\nmin_requests = 20\n\
                        [defaults.health]\ninterval = \"200ms\"\ntimeout = \"500ms\"\n";

/// A configuration file and a state directory, in a temporary directory.
pub struct Files {
    _dir: tempfile::TempDir,
    pub config: PathBuf,
    pub state: PathBuf,
    /// Environment variables every command gets (the secrets the configuration names).
    pub vars: Vec<(String, String)>,
}

impl Files {
    pub fn new(config_text: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("helmsman.toml");
        std::fs::write(&config, config_text).unwrap();
        let state = dir.path().join("state");
        Files {
            config,
            state,
            vars: Vec::new(),
            _dir: dir,
        }
    }

    /// `helmsman --config … <args>` with this state directory.
    pub fn helmsman(&self, args: &[&str]) -> Command {
        let mut command = helmsman(&self.config, &self.state, args);
        command.envs(self.vars.iter().cloned());
        command
    }

    /// Runs `helmsman ARGS` to its end, with no input: exit code, stdout, stderr.
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = self
            .helmsman(args)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `helmsman serve`, once every environment's admin API answers.
    pub async fn serve(&self, envs: &[&Env]) -> Child {
        start_serve(self.helmsman(&["serve"]), envs).await
    }

    /// The releases in the journal, oldest first, one JSON value each, as
    /// `helmsman history --output json` prints them.
    pub fn history(&self) -> Vec<serde_json::Value> {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_helmsman"))
            .args(["history", "--output", "json"])
            .env("HELMSMAN_STATE_DIR", &self.state)
            .output()
            .expect("helmsman history runs");
        assert!(output.status.success(), "{output:?}");
        let mut entries: Vec<serde_json::Value> =
            serde_json::from_slice(&output.stdout).expect("history prints JSON");
        entries.reverse();
        entries
    }

    /// Everything the journal holds on disk, as text: the database file and
    /// its write-ahead log, for what must never be written there.
    pub fn journal_bytes(&self) -> String {
        ["journal.sqlite3", "journal.sqlite3-wal"]
            .iter()
            .filter_map(|file| std::fs::read(self.state.join(file)).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect()
    }
}

/// `helmsman --config CONFIG <args>` with the state directory STATE.
pub fn helmsman(config: &Path, state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_helmsman"));
    command
        .arg("--config")
        .arg(config)
        .env("HELMSMAN_STATE_DIR", state)
        .args(args)
        .kill_on_drop(true);
    command
}

/// `release --headless` of web v2 through `envs`.
pub fn release_args<'a>(envs: &[&'a str]) -> Vec<&'a str> {
    release_of("v2", envs)
}

/// `release --headless` of web `version` through `envs`.
pub fn release_of<'a>(version: &'a str, envs: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "release",
        "--service",
        "web",
        "--version",
        version,
        "--headless",
    ];
    for env in envs {
        args.extend(["--env", env]);
    }
    args
}

/// Starts `serve` (a `helmsman … serve` command) and waits until every
/// environment's admin API answers.
/// Its standard error goes to a file no one has to read, shown if `serve`
/// exits before it answers.
pub async fn start_serve(mut serve: Command, envs: &[&Env]) -> Child {
    let stderr = tempfile::tempfile().unwrap();
    let mut serve = serve
        .stdout(Stdio::null())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    for env in envs {
        wait_for_admin_or_say_why(env.admin, &mut serve, Some(&stderr)).await;
    }
    serve
}

/// Waits until the data plane's admin API answers on `port`.
pub async fn wait_for_admin(port: u16, serve: &mut Child) {
    wait_for_admin_or_say_why(port, serve, None).await
}

async fn wait_for_admin_or_say_why(port: u16, serve: &mut Child, stderr: Option<&std::fs::File>) {
    let url = format!("http://127.0.0.1:{port}/api/v1/state");
    for _ in 0..200 {
        if reqwest::get(&url).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = serve.try_wait() {
            let said = stderr.map(read_from_start).unwrap_or_default();
            panic!("helmsman serve exited early: {status}\n{said}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the data plane's admin API never answered on port {port}");
}

fn read_from_start(mut file: &std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    text
}

/// Asserts the data plane is back where it started: v1 stable with all the
/// traffic, nothing staged.
pub async fn assert_stable_v1(env: &Env, context: &str) {
    let state = env.traffic().await;
    assert_eq!(state["stable_version"], "v1", "{context}: {state}");
    assert_eq!(state["new_weight"], 0, "{context}: {state}");
    assert!(state["new_version"].is_null(), "{context}: {state}");
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
