//! `helmsman serve`: the release host, and the embedded data plane of every
//! local-backend service (or those of one environment) in a process of
//! their own ([`planes`]), until SIGTERM (what systemd and Kubernetes send)
//! or SIGINT (Ctrl-C). Releases talk to the data planes through their admin
//! addresses; clients reach the host on its control socket. A stop rolls
//! back the releases the host drives, then stops the planes, which drain
//! their in-flight requests.

mod planes;

use std::path::Path;

use super::ExitCode;
use crate::config::Config;
use crate::host::server::Host;
use crate::interrupt::StopReason;
use crate::pipeline::recover::OnRestart;

use planes::Planes;
pub use planes::run as run_planes;

/// How `serve` runs the host.
pub struct HostOptions<'a> {
    /// Only this environment's data planes.
    pub env: Option<&'a str>,
    /// Share the control socket with this group.
    pub socket_group: Option<&'a str>,
    /// What to do with the releases a crash left undriven.
    pub on_restart: OnRestart,
}

pub async fn run(config: &Config, state_dir: &Path, options: HostOptions<'_>) -> ExitCode {
    let HostOptions {
        env,
        socket_group,
        on_restart,
    } = options;
    if let Some(env) = env
        && config.environment(env).is_none()
    {
        crate::errln!(
            "error: no environment `{env}` in {}",
            config.source.display()
        );
        return ExitCode::Usage;
    }
    // One host per state directory, taken first: a second `serve` is
    // refused naming the first before it binds anything.
    let host = match Host::start(state_dir, socket_group) {
        Ok(host) => host,
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    let planes = match Planes::ensure(&config.source, state_dir, env).await {
        Ok(planes) => planes,
        Err(code) => return code,
    };
    crate::outln!(
        "data planes: pid {}; Ctrl-C or SIGTERM stops them (in-flight requests finish first)",
        planes.pid()
    );
    crate::outln!("release host: control socket {}", host.socket().display());
    // Releases whose driver died (this host's predecessor, or a `release`
    // process) are taken over before anything else can start one.
    match host.releases().take_over_undriven(config, on_restart) {
        Ok(taken) => {
            for entry in taken {
                crate::outln!(
                    "{}: taking over release {} of {} (its driver died)",
                    entry.start.target,
                    entry.start.id,
                    entry.start.new_version
                );
            }
        }
        Err(e) => crate::errln!("error: cannot take over interrupted releases: {e}"),
    }
    let waited = stop_requested().await;
    if let Err(e) = &waited {
        crate::errln!("error: cannot wait for a stop signal: {e}");
    }
    // Releases it drives are rolled back, verified and recorded before
    // their data planes stop: nothing is left half-way with nobody driving.
    let reason = waited
        .as_ref()
        .map_or(StopReason::Terminate, |reason| *reason);
    crate::interrupt::request(reason);
    if tokio::time::timeout(DRAIN, host.releases().drained())
        .await
        .is_err()
    {
        crate::errln!(
            "warning: hosted releases still rolling back after {}s; stopping anyway",
            DRAIN.as_secs()
        );
    }
    planes.stop().await;
    if waited.is_ok() {
        ExitCode::Ok
    } else {
        ExitCode::Runtime
    }
}

/// How long a stop waits for the hosted releases to roll back.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Resolves on the first SIGINT or SIGTERM.
async fn stop_requested() -> std::io::Result<StopReason> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.map(|()| StopReason::Interrupt),
        _ = terminate.recv() => Ok(StopReason::Terminate),
    }
}
