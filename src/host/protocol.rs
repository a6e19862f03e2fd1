//! What the release host and its clients say to each other over the
//! control socket: one JSON object per line, each tagged by `type`. A
//! connection opens with a hello that names the protocol's version; a
//! client of another version gets an error it can print, never a reply it
//! would misread.

use serde::{Deserialize, Serialize};

use crate::pipeline::status::InFlight;

/// The protocol's version: bumped when a message changes meaning.
pub const PROTOCOL: u32 = 1;

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
        /// Where the operator is connected from (SSH), if anywhere.
        origin: Option<String>,
    },
    /// Every release in flight, as `helmsman status` lists them.
    Status {
        env: Option<String>,
        service: Option<String>,
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
            origin: None,
        };
        let line = serde_json::to_string(&hello).unwrap();
        assert_eq!(
            line,
            r#"{"type":"hello","protocol":1,"helmsman":"0.1.0","origin":null}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), hello);
        assert_eq!(refuse_hello(&hello), None);
    }

    #[test]
    fn another_protocol_or_no_hello_is_refused_in_words() {
        let newer = Request::Hello {
            protocol: PROTOCOL + 1,
            helmsman: "9.0.0".into(),
            origin: None,
        };
        let why = refuse_hello(&newer).unwrap();
        assert!(why.contains("the client 2 (helmsman 9.0.0)"), "{why}");
        let status = Request::Status {
            env: None,
            service: None,
        };
        assert_eq!(
            refuse_hello(&status).unwrap(),
            "a connection opens with a hello"
        );
    }
}
