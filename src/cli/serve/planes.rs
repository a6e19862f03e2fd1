//! The data planes in a process of their own (`serve --planes-only`,
//! started by `serve`): users' connections go through them, so a crash of
//! the release host — the engines, the control socket — must not drop one.
//! The planes process holds `<state dir>/planes.lock` while it runs; a host
//! that starts while it does adopts it instead of starting another, the
//! way HAProxy's master–worker model keeps its workers across a reload.
//! A host that stops cleanly stops its planes after its releases are
//! rolled back; one that crashes leaves them serving.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::ExitCode;
use crate::config::Config;
use crate::dataplane::{DataPlane, DataPlaneConfig, limits};
use crate::store::lock::Process;

const LOCK: &str = "planes.lock";
/// The planes process's last line on standard output once every plane
/// listens: `ready: N`.
const READY: &str = "ready: ";
/// How long a stop waits for the planes to drain their in-flight requests.
const DRAIN: Duration = Duration::from_secs(60);

/// `serve --planes-only`: the data plane of every `local` service (or those
/// of `env`) until SIGTERM or SIGINT, then each drains in-flight requests.
pub async fn run(config: &Config, state_dir: &Path, env: Option<&str>) -> ExitCode {
    let lock_path = state_dir.join(LOCK);
    let _lock = match Process::take(&lock_path) {
        Ok(Ok(file)) => file,
        Ok(Err(other)) => {
            let pid = other.map_or("?".to_string(), |o| o.pid.to_string());
            crate::errln!(
                "error: data planes already run on {} (pid {pid})",
                state_dir.display()
            );
            return ExitCode::Runtime;
        }
        Err(e) => {
            crate::errln!("error: cannot take {}: {e}", lock_path.display());
            return ExitCode::Runtime;
        }
    };
    let planes = match start_all(config, state_dir, env).await {
        Ok(planes) => planes,
        Err(code) => return code,
    };
    crate::outln!("{READY}{}", planes.len());
    tokio::select! {
        stop = super::stop_requested() => {
            if let Err(e) = stop {
                crate::errln!("error: cannot wait for a stop signal: {e}");
            }
        }
        () = removed(&lock_path) => crate::errln!(
            "the state directory {} is gone: stopping the data planes",
            state_dir.display()
        ),
    }
    // All at once: each drains its own in-flight requests.
    futures::future::join_all(planes.into_iter().map(DataPlane::shutdown)).await;
    ExitCode::Ok
}

/// Resolves once the lock file is gone: its state directory was removed,
/// and no host can find these planes any more (nor would a test's
/// temporary directory be left with planes serving for nobody).
async fn removed(lock: &Path) {
    while lock.exists() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Starts the data plane of every local service, each one said in a line.
async fn start_all(
    config: &Config,
    state_dir: &Path,
    env: Option<&str>,
) -> Result<Vec<DataPlane>, ExitCode> {
    let history = super::super::open_history(state_dir)?;
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
            // Only local and flagd backends have a data plane to serve.
            let Some(backend) = service.backend.plane() else {
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
                    return Err(ExitCode::Runtime);
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
    Ok(planes)
}

/// The host's hold on its planes process: one it started, or one a
/// crashed host left running and this one adopted.
pub struct Planes {
    pid: u32,
    child: Option<tokio::process::Child>,
}

impl Planes {
    /// Adopts the planes process that runs on `state_dir`, or starts one
    /// with the configuration at `config` and waits until every plane
    /// listens. Its lines are passed on as this process's own.
    pub async fn ensure(
        config: &Path,
        state_dir: &Path,
        env: Option<&str>,
    ) -> Result<Planes, ExitCode> {
        if let Some(running) = running(state_dir) {
            crate::outln!(
                "data planes: adopted those serving since {} (pid {}), left running by the \
                 previous host",
                running.since.format("%Y-%m-%d %H:%M:%S UTC"),
                running.pid
            );
            return Ok(Planes {
                pid: running.pid,
                child: None,
            });
        }
        let exe = std::env::current_exe().map_err(|e| {
            crate::errln!("error: cannot find this helmsman to start the data planes: {e}");
            ExitCode::Runtime
        })?;
        let mut command = tokio::process::Command::new(exe);
        command
            .arg("--config")
            .arg(absolute(config))
            .arg("--state-dir")
            .arg(absolute(state_dir))
            .args(["serve", "--planes-only"])
            .args(env.map(|e| ["--env", e]).into_iter().flatten())
            // Its own process group: a Ctrl-C at the terminal reaches the
            // host, which rolls its releases back before it stops them.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().map_err(|e| {
            crate::errln!("error: cannot start the data planes: {e}");
            ExitCode::Runtime
        })?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if line.starts_with(READY) => break,
                Ok(Some(line)) => crate::outln!("{line}"),
                // It stopped before it was ready; it said why on stderr.
                Ok(None) | Err(_) => {
                    let status = child.wait().await;
                    tracing::warn!("the data planes process ended: {status:?}");
                    return Err(ExitCode::Runtime);
                }
            }
        }
        // Anything it says later is passed on, so it never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                crate::outln!("{line}");
            }
        });
        Ok(Planes {
            pid: child.id().unwrap_or_default(),
            child: Some(child),
        })
    }

    /// The planes process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the planes: each drains its in-flight requests first.
    pub async fn stop(self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let stopped = async {
            match self.child {
                Some(mut child) => {
                    let _ = child.wait().await;
                }
                // Not this process's child: its lock says when it is gone.
                None => {
                    while running_pid(&self.pid) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        };
        if tokio::time::timeout(DRAIN, stopped).await.is_err() {
            crate::errln!(
                "warning: the data planes (pid {}) did not stop within {}s",
                self.pid,
                DRAIN.as_secs()
            );
        }
    }
}

/// The planes process that holds the lock on `state_dir`, if one does.
fn running(state_dir: &Path) -> Option<Process> {
    Process::holding(&state_dir.join(LOCK))
}

/// Whether the process `pid` still exists (signal 0 only asks).
fn running_pid(pid: &u32) -> bool {
    rustix::process::Pid::from_raw(*pid as i32)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
