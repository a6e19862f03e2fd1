//! Following a release the host drives: `helmsman release` and `retry`
//! when a host runs, and `helmsman attach`. The lines are the ones an
//! in-process release prints, and the exit code is the release's. Ctrl-C,
//! SIGTERM or a closed terminal only detaches: the release goes on, its
//! triggers armed, and this says how to reach it again.

use std::path::Path;

use super::event_line::Printer;
use super::release::print_result;
use super::{ExitCode, OutputFormat};
use crate::engine::Target;
use crate::host::client::{Client, ClientError};
use crate::host::protocol::{Reply, Request};
use crate::pipeline::Watcher;

/// The release host on `state_dir`, if one runs, greeted as this operator.
pub async fn connect(state_dir: &Path) -> Result<Option<Client>, ClientError> {
    Client::connect(state_dir, &super::operator::current()).await
}

/// When to stop following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The release's end.
    Finished,
    /// Its first environment's release started (`--detach`).
    Started,
}

/// Sends `request` (a release, a retry or an attach) and follows what
/// comes back.
pub async fn follow(
    mut host: Client,
    request: &Request,
    output: OutputFormat,
    until: Until,
) -> ExitCode {
    if let Err(e) = host.send(request).await {
        crate::errln!("error: {e}");
        return ExitCode::Runtime;
    }
    let mut printer = Printer(output);
    let mut current: Option<Target> = None;
    let mut interruption = std::pin::pin!(crate::interrupt::wait());
    loop {
        let reply = tokio::select! {
            reply = host.next() => reply,
            reason = &mut interruption => {
                detached(&reason.to_string(), current.as_ref(), host.pid);
                return ExitCode::Runtime;
            }
        };
        match reply {
            Ok(Reply::Preflight { report }) => printer.preflight(&report),
            Ok(Reply::Event { event }) => printer.event(&event),
            Ok(Reply::Started {
                env,
                service,
                release_id,
                from,
                to,
            }) => {
                let target = Target { env, service };
                if until == Until::Started {
                    started_detached(&target, &release_id, &from, &to, host.pid, output);
                    return ExitCode::Ok;
                }
                current = Some(target);
            }
            Ok(Reply::Attached {
                release_id,
                from,
                to,
                phase,
                reason,
            }) => {
                if let Request::Attach { env, service } = request {
                    current = Some(Target {
                        env: env.clone(),
                        service: service.clone(),
                    });
                }
                crate::errln!(
                    "attached to release {release_id} ({from} → {to}), {}: {reason}",
                    phase.words()
                );
            }
            Ok(Reply::Notice { text }) => crate::errln!("warning: {text}"),
            Ok(Reply::Lagged { lost }) => {
                crate::errln!("warning: {lost} lines lost: this terminal read them too slowly")
            }
            Ok(Reply::Finished { result }) => {
                if let Some(message) = &result.message {
                    crate::errln!("error: {message}");
                }
                print_result(&result, output);
                return result.exit_code;
            }
            Ok(other) => {
                crate::errln!("error: the release host answered {other:?} while a release ran");
                return ExitCode::Runtime;
            }
            Err(ClientError::Refused(message)) => {
                crate::errln!("error: {message}");
                return ExitCode::Runtime;
            }
            Err(e) => {
                crate::errln!(
                    "error: {e}; a release it started goes on without this terminal \
                     (`helmsman status` shows it)"
                );
                return ExitCode::Runtime;
            }
        }
    }
}

/// Said when a follower stops following a release that goes on.
fn detached(why: &str, target: Option<&Target>, pid: u32) {
    match target {
        Some(target) => crate::errln!(
            "detached ({why}): the release of {target} goes on on the release host (pid {pid}), \
             its triggers armed\n  \
             follow it again: helmsman attach --env {env} --service {service}\n  \
             roll it back:    helmsman rollback --env {env} --service {service}",
            env = target.env,
            service = target.service,
        ),
        None => crate::errln!(
            "detached ({why}): the release goes on on the release host (pid {pid}); \
             `helmsman status` shows it once it starts"
        ),
    }
}

/// `--detach`: the release started on the host; this returns with its id.
fn started_detached(
    target: &Target,
    release_id: &str,
    from: &str,
    to: &str,
    pid: u32,
    output: OutputFormat,
) {
    match output {
        OutputFormat::Json => crate::outln!(
            "{}",
            serde_json::json!({ "detached": {
                "release_id": release_id,
                "env": target.env,
                "service": target.service,
                "from": from,
                "to": to,
                "host_pid": pid,
            }})
        ),
        OutputFormat::Text => crate::outln!(
            "{release_id}: {target} {from} → {to} runs on the release host (pid {pid})\n  \
             follow it:    helmsman attach --env {env} --service {service}\n  \
             roll it back: helmsman rollback --env {env} --service {service}",
            env = target.env,
            service = target.service,
        ),
    }
}

/// `helmsman attach`: follows the release of a service that runs on the host.
pub async fn attach(state_dir: &Path, target: Target, output: OutputFormat) -> ExitCode {
    match connect(state_dir).await {
        Ok(Some(host)) => {
            let request = Request::Attach {
                env: target.env,
                service: target.service,
            };
            follow(host, &request, output, Until::Finished).await
        }
        Ok(None) => {
            crate::errln!("{}", no_host(state_dir));
            ExitCode::Runtime
        }
        Err(e) => {
            crate::errln!("error: {e}");
            ExitCode::Runtime
        }
    }
}

/// What a command that needs a host says when none runs.
pub fn no_host(state_dir: &Path) -> String {
    format!(
        "error: no release host runs on {}: a release started without one is steered from \
         the terminal that started it\n  hint: `helmsman serve` starts a host; releases \
         started while it runs outlive their terminal",
        state_dir.display()
    )
}
