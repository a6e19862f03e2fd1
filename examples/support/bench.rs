//! What the measurements in `examples/` share: their flags, ports, the
//! configuration of `dev/web` on a local data plane, the helmsman they run
//! (the release build, `target/release/helmsman`, or `$HELMSMAN_BIN`),
//! starting, reaching and stopping `helmsman serve`.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use helmsman::engine::Actor;
use helmsman::host::client::Client;
use tokio::process::{Child, Command};

/// The number after flag `name` on the command line, or `default`.
pub fn arg(name: &str, default: u64) -> anyhow::Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    Ok(args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(default), |n| n.parse())?)
}

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

/// Fast analysis and health checks, so a release takes seconds.
pub const FAST: &str = r#"[defaults.analysis]
interval = "200ms"
min_requests = 20
[defaults.health]
interval = "200ms"
timeout = "500ms""#;

/// The `[environments.services.backend]` table of a local data plane on
/// `listen` and `admin`, serving v1 as stable, each version on its instances.
pub fn local_backend(listen: u16, admin: u16, versions: &[(&str, &[SocketAddr])]) -> String {
    let mut table = format!(
        "[environments.services.backend]\ntype = \"local\"\nlisten = \"127.0.0.1:{listen}\"\n\
         admin = \"127.0.0.1:{admin}\"\nstable = \"v1\"\n[environments.services.backend.versions]\n"
    );
    for (version, instances) in versions {
        let instances: Vec<String> = instances.iter().map(|a| format!("\"{a}\"")).collect();
        let _ = writeln!(table, "{version} = [{}]", instances.join(", "));
    }
    table
}

/// A configuration of `dev/web` alone: `defaults` (whole TOML tables), the
/// keys of its strategy table, and its backend table.
pub fn dev_web(defaults: &str, strategy: &str, backend: &str) -> String {
    format!(
        "{defaults}\n[[environments]]\nname = \"dev\"\n[[environments.services]]\nname = \"web\"\n\
         [environments.services.strategy]\n{strategy}\n{backend}"
    )
}

/// `release --env dev --service web --version VERSION --headless`.
pub fn release(version: &str) -> Vec<&str> {
    vec![
        "release",
        "--env",
        "dev",
        "--service",
        "web",
        "--version",
        version,
        "--headless",
    ]
}

/// The operator the measurements act as.
pub fn operator() -> Actor {
    Actor::Operator {
        user: "bench".into(),
        origin: None,
    }
}

/// A client of the host serving `state`.
pub async fn client(state: &Path) -> anyhow::Result<Client> {
    Client::connect(state, &operator())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no host"))
}

/// A clean stop (SIGTERM): the host rolls back what it drives and stops
/// its data planes; waited for up to `limit`.
pub async fn stop(serve: &mut Child, limit: Duration) {
    if let Some(pid) = serve.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    let _ = tokio::time::timeout(limit, serve.wait()).await;
}
