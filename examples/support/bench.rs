//! What the measurements in `examples/` share: ports, the helmsman they
//! run (the release build, `target/release/helmsman`, or `$HELMSMAN_BIN`),
//! and waiting for `helmsman serve`.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `helmsman --config CONFIG ARGS` with the state directory STATE, its
/// output discarded unless the caller pipes it.
pub fn helmsman(config: &Path, state: &Path, args: &[&str]) -> Command {
    let binary = std::env::var("HELMSMAN_BIN").unwrap_or_else(|_| "target/release/helmsman".into());
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(config)
        .env("HELMSMAN_STATE_DIR", state)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Waits (up to `limit`) until `serve` answers on the admin port and its
/// control socket exists: a release submitted earlier would run in-process.
pub async fn serving(
    serve: &mut Child,
    state: &Path,
    admin: u16,
    limit: Duration,
) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{admin}/api/v1/state");
    let deadline = Instant::now() + limit;
    while reqwest::get(&url).await.is_err() || !state.join("host.sock").exists() {
        anyhow::ensure!(Instant::now() < deadline, "serve never answered");
        anyhow::ensure!(serve.try_wait()?.is_none(), "serve exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
