//! What the release host and its clients say to each other over the
//! control socket: one JSON object per line, each tagged by `type`. A
//! connection opens with a hello that names the protocol's version; a
//! client of another version gets an error it can print, never a reply it
//! would misread.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::{CommandKind, CommandReply, Event, Snapshot};
use crate::pipeline::plan::Plan;
use crate::pipeline::result_record::ResultRecord;
use crate::pipeline::status::InFlight;
use crate::preflight::Report;
use crate::strategy::StrategyKind;

/// The protocol's version: bumped when a message changes meaning or one
/// an older client cannot read is added. 2: [`Reply::Notice`].
pub const PROTOCOL: u32 = 2;

/// The longest line either side accepts: a request is a few hundred bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Request {
    /// The first line of every connection.
    Hello {
        protocol: u32,
        /// The client's helmsman version, for the error a mismatch gets.
        helmsman: String,
        /// The operator as their session names them (`$USER`): believed
        /// for a peer of the host's own uid, which the kernel cannot tell
        /// apart; any other peer is named by its uid.
        #[serde(default)]
        user: Option<String>,
        /// Where the operator is connected from (SSH), if anywhere.
        origin: Option<String>,
    },
    /// Every release in flight, as `helmsman status` lists them.
    Status {
        env: Option<String>,
        service: Option<String>,
    },
    /// Release `version` of `service` through `envs` in order, as
    /// `helmsman release` does, with the configuration file at `config`
    /// (read by the host when the release is submitted). The connection
    /// then receives the release's lines until [`Reply::Finished`]; a
    /// client that hangs up earlier only stops following.
    Release {
        config: PathBuf,
        service: String,
        version: String,
        envs: Vec<String>,
        strategy: Option<StrategyKind>,
        /// Release even the version a contract left behind.
        #[serde(default)]
        force: bool,
    },
    /// Release again the last release of `service` in `env`, which was
    /// rolled back or aborted; followed as [`Request::Release`].
    Retry {
        config: PathBuf,
        env: String,
        service: String,
    },
    /// Follow the release of `service` in `env` that runs now: its state
    /// first ([`Reply::Attached`]), then its lines as `Release` sends them.
    Attach { env: String, service: String },
    /// Watch every release the host drives, as a cockpit does: each
    /// one's state and plan first ([`Reply::Hosted`]), then every change
    /// ([`Reply::Snapshot`], [`Reply::Event`]) and each release as it
    /// starts, until the client hangs up.
    Watch,
    /// Steer the release of `service` in `env` that runs now.
    Command {
        env: String,
        service: String,
        kind: CommandKind,
    },
}

/// What the host answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Reply {
    Hello {
        protocol: u32,
        helmsman: String,
        /// The host's process, for messages that name it.
        pid: u32,
    },
    Status {
        releases: Vec<InFlight>,
    },
    /// The preflight checks of an environment, run before its release.
    Preflight {
        report: Report,
    },
    /// A release started in `env`: its id and the version it starts from.
    Started {
        env: String,
        service: String,
        release_id: String,
        from: String,
        to: String,
    },
    /// A release's state change.
    Event {
        event: Event,
    },
    /// To a watcher: a release the host drives, as it stands, with its plan.
    Hosted {
        snapshot: Box<Snapshot>,
        plan: Box<Plan>,
    },
    /// To a watcher: a release's latest state.
    Snapshot {
        snapshot: Box<Snapshot>,
    },
    /// The first reply to [`Request::Attach`]: the release followed.
    Attached {
        release_id: String,
        from: String,
        to: String,
        phase: crate::engine::Phase,
        reason: String,
    },
    /// `lost` lines this client read too slowly to get.
    Lagged {
        lost: u64,
    },
    /// How the release ended: the last line it sends.
    Finished {
        result: ResultRecord,
    },
    /// Something to tell the operator that is not a release's own news: a
    /// notification that could not be delivered.
    Notice {
        text: String,
    },
    /// The engine's answer to a [`Request::Command`].
    Answer {
        release_id: String,
        answer: CommandReply,
    },
    /// A request that could not be read or served; the connection stays
    /// open unless the hello itself failed.
    Error {
        message: String,
    },
}

/// This build's version, as hellos carry it.
pub fn helmsman_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Why a hello is refused, if it is.
pub fn refuse_hello(request: &Request) -> Option<String> {
    match request {
        Request::Hello {
            protocol: PROTOCOL, ..
        } => None,
        Request::Hello {
            protocol, helmsman, ..
        } => Some(format!(
            "this release host speaks protocol {PROTOCOL} (helmsman {}), the client {protocol} \
             (helmsman {helmsman}): use the same helmsman on both sides",
            helmsman_version()
        )),
        _ => Some("a connection opens with a hello".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_tagged_json_object_each() {
        let hello = Request::Hello {
            protocol: PROTOCOL,
            helmsman: "0.1.0".into(),
            user: Some("alice".into()),
            origin: None,
        };
        let line = serde_json::to_string(&hello).unwrap();
        assert_eq!(
            line,
            r#"{"type":"hello","protocol":2,"helmsman":"0.1.0","user":"alice","origin":null}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), hello);
        assert_eq!(refuse_hello(&hello), None);
    }

    #[test]
    fn another_protocol_or_no_hello_is_refused_in_words() {
        let newer = Request::Hello {
            protocol: PROTOCOL + 1,
            helmsman: "9.0.0".into(),
            user: None,
            origin: None,
        };
        let why = refuse_hello(&newer).unwrap();
        assert!(why.contains("the client 3 (helmsman 9.0.0)"), "{why}");
        let status = Request::Status {
            env: None,
            service: None,
        };
        assert_eq!(
            refuse_hello(&status).unwrap(),
            "a connection opens with a hello"
        );
    }

    #[test]
    fn a_release_ends_with_its_record_and_exit_code_both_ways() {
        let line = r#"{"type":"finished","result":{"outcome":"rolled-back","exit_code":3,
            "environments":[{"env":"dev","from":"v1","to":"v2","outcome":"rolled-back"}]}}"#;
        let Reply::Finished { result } = serde_json::from_str(&line.replace('\n', "")).unwrap()
        else {
            panic!("a finished reply");
        };
        assert_eq!(result.exit_code, crate::cli::ExitCode::RolledBack);
        assert_eq!(
            result.text(),
            "result: rolled-back, exit 3 (dev v1 → v2: rolled-back)"
        );
        let again = serde_json::to_value(Reply::Finished { result }).unwrap();
        assert_eq!(again["result"]["exit_code"], 3);
        assert!(
            serde_json::from_str::<Reply>(
                r#"{"type":"finished","result":{"outcome":"won","exit_code":0,"environments":[]}}"#
            )
            .is_err()
        );
    }
}
