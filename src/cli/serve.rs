//! `helmsman serve`: runs the embedded data plane of every local-backend
//! service (or those of one environment) until SIGTERM (what systemd and
//! Kubernetes send) or SIGINT (Ctrl-C), then drains in-flight requests.
//! Releases talk to it through its admin address. It is also the release
//! host: it drives the releases clients submit on its control socket, and
//! rolls them back before it stops.

use std::path::Path;

use super::ExitCode;
use crate::config::{Backend, Config};
use crate::dataplane::{DataPlane, DataPlaneConfig, limits};
use crate::host::server::Host;
use crate::interrupt::StopReason;

pub async fn run(config: &Config, state_dir: &Path, env: Option<&str>) -> ExitCode {
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
    let host = match Host::start(state_dir) {
        Ok(host) => host,
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    let history = match super::open_history(state_dir) {
        Ok(history) => history,
        Err(code) => return code,
    };
    let open_files = match limits::raise_open_file_limit() {
        Ok((before, after)) => {
            if before != after {
                tracing::info!(?before, ?after, "raised the soft limit on open files");
            }
            after
        }
        Err(e) => {
            crate::errln!(
                "warning: cannot raise the limit on open files ({e}); each client connection needs one"
            );
            None
        }
    };
    // A proxied connection holds two descriptors: the client's and its upstream's.
    let mut descriptors_wanted: u64 = 0;
    let mut planes = Vec::new();
    for environment in &config.environments {
        if env.is_some_and(|e| e != environment.name) {
            continue;
        }
        for service in &environment.services {
            // Only local backends have a data plane to serve.
            let Backend::Local(backend) = &service.backend else {
                continue;
            };
            let mut backend = backend.clone();
            // Resume from the last successful release, if that version is still configured.
            if let Some(current) = history.current_version(&environment.name, &service.name)
                && backend.versions.contains_key(&current)
            {
                backend.stable = current;
            }
            let name = format!("{}/{}", environment.name, service.name);
            if let Some(exposure) = backend.admin_exposure() {
                crate::errln!("warning: {name}: {exposure}");
            }
            descriptors_wanted += 2 * backend.limits.max_connections as u64;
            match DataPlane::start(DataPlaneConfig::from_backend(
                name.clone(),
                &backend,
                &service.health,
            ))
            .await
            {
                Ok(plane) => {
                    crate::outln!(
                        "{name}: serving {} on http://{} (admin and /metrics on http://{})",
                        backend.stable,
                        plane.listen_addr(),
                        plane.admin_addr()
                    );
                    planes.push(plane);
                }
                Err(e) => {
                    crate::errln!(
                        "error: {name}: cannot start the data plane on {} / {}: {e}",
                        backend.listen,
                        backend.admin
                    );
                    for plane in planes {
                        plane.shutdown().await;
                    }
                    return ExitCode::Runtime;
                }
            }
        }
    }
    if let Some(open_files) = open_files
        && descriptors_wanted > open_files
    {
        crate::errln!(
            "warning: the open-file limit ({open_files}) is below what `max_connections` allows \
             ({descriptors_wanted} descriptors: a client and an upstream connection each); \
             near the limit, upstream connections fail with 502. Lower `max_connections` or raise \
             the limit (`LimitNOFILE=` under systemd)"
        );
    }
    crate::outln!(
        "serving {} data plane(s); Ctrl-C or SIGTERM stops them (in-flight requests finish first)",
        planes.len()
    );
    crate::outln!("release host: control socket {}", host.socket().display());
    // Releases whose driver died (this host's predecessor, or a `release`
    // process) are taken over before anything else can start one.
    match host.releases().take_over_undriven(config) {
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
    // All at once: each drains its own in-flight requests.
    futures::future::join_all(planes.into_iter().map(DataPlane::shutdown)).await;
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
