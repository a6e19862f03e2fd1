//! The cockpit attached to a release host: it shows every release the host
//! drives, started from anywhere, and sends its commands and new releases
//! there. Nothing runs in the cockpit's process, so quitting (or losing the
//! terminal) only detaches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Starter, Update};
use crate::cli::follow;
use crate::engine::{Command, CommandReply};
use crate::host::client::{Client, ClientError};
use crate::host::protocol::{Reply, Request};
use crate::pipeline::result_record::{Outcome, ResultRecord};

/// Where the cockpit reaches its host.
#[derive(Debug, Clone)]
pub struct HostLink {
    pub state_dir: PathBuf,
    pub pid: u32,
}

/// Watches every hosted release, passing each change to the cockpit until
/// the host goes away (said in the status line).
pub fn watch(mut host: Client, updates: mpsc::UnboundedSender<Update>) {
    tokio::spawn(async move {
        let lost = match host.send(&Request::Watch).await {
            Ok(()) => loop {
                let update = match host.next().await {
                    Ok(Reply::Hosted { snapshot, plan }) => Update::Hosted(snapshot, plan),
                    Ok(Reply::Snapshot { snapshot }) => Update::Snapshot(*snapshot),
                    Ok(Reply::Event { event }) => Update::Event(event),
                    Ok(Reply::Preflight { report }) => Update::Preflight(report),
                    Ok(Reply::Notice { text }) => Update::Notice(text, true),
                    Ok(_) => continue,
                    Err(e) => break e,
                };
                if updates.send(update).is_err() {
                    return;
                }
            },
            Err(e) => e,
        };
        let notice = format!("lost the release host: {lost}; restart the cockpit once it is back");
        let _ = updates.send(Update::Notice(notice, true));
    });
}

/// Sends a command to the host and reports the engine's answer back.
pub fn send(link: &HostLink, command: Command, updates: &mpsc::UnboundedSender<Update>) {
    let (state_dir, updates) = (link.state_dir.clone(), updates.clone());
    tokio::spawn(async move {
        let answer = match ask(&state_dir, &command).await {
            Ok(answer) => answer,
            Err(ClientError::Refused(reason)) => CommandReply::Refused { reason },
            Err(e) => CommandReply::Refused {
                reason: e.to_string(),
            },
        };
        let _ = updates.send(Update::Reply(command, answer));
    });
}

async fn ask(state_dir: &Path, command: &Command) -> Result<CommandReply, ClientError> {
    let mut host = connected(state_dir).await?;
    let request = Request::Command {
        env: command.target.env.clone(),
        service: command.target.service.clone(),
        kind: command.kind,
    };
    match host.ask(&request).await? {
        Reply::Answer { answer, .. } => Ok(answer),
        other => Err(ClientError::Garbled(format!("{other:?}"))),
    }
}

/// The host's control socket; none listening is a host that is gone.
async fn connected(state_dir: &Path) -> Result<Client, ClientError> {
    follow::connect(state_dir).await?.ok_or(ClientError::HungUp)
}

/// Submits confirmed releases to the host (which reads `config` as
/// `helmsman release` would have it); each task ends with the notice that
/// says how its release ended. Its lines reach the cockpit through the watch.
pub fn starter(link: HostLink, config: PathBuf) -> Starter {
    let config = Arc::new(std::path::absolute(&config).unwrap_or(config));
    Box::new(move |start, updates| {
        let (state_dir, config) = (link.state_dir.clone(), config.clone());
        tokio::spawn(async move {
            let request = Request::Release {
                config: (*config).clone(),
                service: start.target.service.clone(),
                version: start.version.clone(),
                envs: vec![start.target.env.clone()],
                strategy: None,
                // The cockpit never forces past a contract: its refusal is shown.
                force: false,
            };
            let (notice, refused) = match submitted(&state_dir, &request).await {
                Ok(result) => ending(&start.target, &start.version, &result),
                Err(ClientError::Refused(why)) => {
                    (format!("{}: not started: {why}", start.target), true)
                }
                Err(e) => (format!("{}: not started: {e}", start.target), true),
            };
            let _ = updates.send(Update::Notice(notice.clone(), refused));
            notice
        })
    })
}

/// Submits a release and waits for its record.
async fn submitted(state_dir: &Path, request: &Request) -> Result<ResultRecord, ClientError> {
    let mut host = connected(state_dir).await?;
    host.send(request).await?;
    loop {
        if let Reply::Finished { result } = host.next().await? {
            return Ok(result);
        }
    }
}

/// What the status line says of a release that ended.
fn ending(target: &crate::engine::Target, version: &str, result: &ResultRecord) -> (String, bool) {
    match (result.outcome, &result.message) {
        (Outcome::Succeeded, _) => (format!("{target}: {version} released"), false),
        (_, Some(message)) => (format!("{target}: not started: {message}"), true),
        (outcome, None) => (
            format!("{target}: release of {version} {}", outcome.word()),
            true,
        ),
    }
}
