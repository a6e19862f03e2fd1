//! `helmsman advance | pause | resume | promote | rollback | retry --env E
//! --service S`: steer a release the host drives, from any terminal. The
//! command goes to the engine through the host, which journals it with the
//! engine's answer before this prints it. In production each asks for a
//! confirmation first unless `--yes`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::follow::{self, Until};
use super::{ExitCode, OutputFormat};
use crate::config::is_prod;
use crate::engine::{CommandKind, CommandReply, Target};
use crate::host::client::Client;
use crate::host::protocol::{Reply, Request};

pub struct SteerOptions {
    pub target: Target,
    pub kind: CommandKind,
    /// `retry` only: the configuration the new release runs with (the
    /// other verbs steer a release that has one already).
    pub config: Option<PathBuf>,
    /// No confirmation, in production too.
    pub yes: bool,
    pub output: OutputFormat,
    /// `retry` only: return once the new release started.
    pub detach: bool,
}

pub async fn run(state_dir: &Path, options: SteerOptions) -> ExitCode {
    let host = match follow::connect(state_dir).await {
        Ok(Some(host)) => host,
        Ok(None) => {
            crate::errln!("{}", follow::no_host(state_dir));
            return ExitCode::Runtime;
        }
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    let target = &options.target;
    if is_prod(&target.env) && !options.yes {
        match confirmed(
            target,
            &options.kind.to_string(),
            &format!("{} its release", options.kind),
        ) {
            Ok(true) => {}
            Ok(false) => {
                crate::errln!("{target}: {} cancelled", options.kind);
                return ExitCode::Runtime;
            }
            Err(why) => {
                crate::errln!("error: {why}");
                return ExitCode::Usage;
            }
        }
    }
    if let Some(config) = options.config {
        let request = Request::Retry {
            config: std::path::absolute(&config).unwrap_or(config),
            env: target.env.clone(),
            service: target.service.clone(),
        };
        let until = match options.detach {
            true => Until::Started,
            false => Until::Finished,
        };
        return follow::follow(host, &request, options.output, until).await;
    }
    command(host, target, options.kind, options.output).await
}

/// Sends one command and prints the engine's answer: exit 0 when it was
/// accepted, 1 when refused (with the engine's reason).
async fn command(
    mut host: Client,
    target: &Target,
    kind: CommandKind,
    output: OutputFormat,
) -> ExitCode {
    let request = Request::Command {
        env: target.env.clone(),
        service: target.service.clone(),
        kind,
    };
    let (release_id, answer) = match host.ask(&request).await {
        Ok(Reply::Answer { release_id, answer }) => (release_id, answer),
        Ok(other) => {
            crate::errln!("error: the release host answered a command with {other:?}");
            return ExitCode::Runtime;
        }
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    match output {
        OutputFormat::Json => crate::outln!(
            "{}",
            serde_json::json!({
                "env": target.env,
                "service": target.service,
                "release_id": release_id,
                "command": kind.to_string(),
                "answer": answer,
            })
        ),
        OutputFormat::Text => match &answer {
            CommandReply::Accepted => crate::outln!("{target}: {kind} accepted ({release_id})"),
            CommandReply::Refused { reason } => {
                crate::errln!("{target}: {kind} refused: {reason} ({release_id})")
            }
        },
    }
    match answer {
        CommandReply::Accepted => ExitCode::Ok,
        CommandReply::Refused { .. } => ExitCode::Runtime,
    }
}

/// Why a production command could not be confirmed.
#[derive(Debug, thiserror::Error)]
pub(super) enum Unconfirmed {
    #[error(
        "{target}: `{kind}` in production asks for a confirmation, and there is no terminal \
         to ask on\n  hint: add --yes to send it without asking"
    )]
    NoTerminal { target: Target, kind: String },
    #[error("cannot read the answer: {0}")]
    Unreadable(#[from] std::io::Error),
}

/// Asks `question` about production target `target` on the terminal;
/// without one there is nobody to ask, and `kind` is refused rather than
/// done unconfirmed.
pub(super) fn confirmed(target: &Target, kind: &str, question: &str) -> Result<bool, Unconfirmed> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Unconfirmed::NoTerminal {
            target: target.clone(),
            kind: kind.to_string(),
        });
    }
    eprint!("{target} is production: {question}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
