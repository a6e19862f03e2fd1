//! Runs helmsman's embedded data plane in front of one upstream, for
//! `scripts/bench-dataplane.sh`. Stops on Ctrl-C (or SIGTERM) with a drain.
//!
//! Usage: `bench_dataplane LISTEN ADMIN UPSTREAM`
//! (e.g. `127.0.0.1:18081 127.0.0.1:18091 127.0.0.1:18080`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use helmsman::config::defaults;
use helmsman::dataplane::{DataPlane, DataPlaneConfig};

fn arg(n: usize, default: &str) -> Result<SocketAddr, std::net::AddrParseError> {
    std::env::args()
        .nth(n)
        .unwrap_or_else(|| default.to_string())
        .parse()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The data plane serves user connections on its own worker threads (one
    // per CPU, like HAProxy's `nbthread`); this runtime only accepts
    // connections and runs the admin API and the health checks.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = DataPlaneConfig {
        name: "bench/upstream".to_string(),
        listen: arg(1, "127.0.0.1:18081")?,
        admin: arg(2, "127.0.0.1:18091")?,
        stable_version: "v1".to_string(),
        versions: BTreeMap::from([("v1".to_string(), vec![arg(3, "127.0.0.1:18080")?])]),
        error_kind_header: None,
        variant_header: None,
        health: defaults::health(),
        admin_token: None,
        limits: Default::default(),
    };
    let plane = DataPlane::start(cfg).await?;
    eprintln!(
        "data plane listening on {} (admin {})",
        plane.listen_addr(),
        plane.admin_addr()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    plane.shutdown().await;
    Ok(())
}
