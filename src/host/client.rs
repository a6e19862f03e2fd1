//! A connection to the release host, when one runs on the state directory.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{self, PROTOCOL, Reply, Request};
use crate::engine::Actor;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the release host's control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("the release host hung up")]
    HungUp,
    #[error("the release host answered what this helmsman cannot read: {0}")]
    Garbled(String),
    #[error("the release host refused: {0}")]
    Refused(String),
}

pub struct Client {
    conn: BufReader<UnixStream>,
    /// The host's process.
    pub pid: u32,
}

impl Client {
    /// Connects and says hello for `operator`, or None when no host
    /// listens there (no socket, or one a dead host left).
    pub async fn connect(
        state_dir: &Path,
        operator: &Actor,
    ) -> Result<Option<Client>, ClientError> {
        let stream = match UnixStream::connect(state_dir.join(super::server::SOCKET)).await {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let mut client = Client {
            conn: BufReader::new(stream),
            pid: 0,
        };
        let (user, origin) = match operator {
            Actor::Operator { user, origin } => (Some(user.clone()), origin.clone()),
            Actor::Engine => (None, None),
        };
        let hello = Request::Hello {
            protocol: PROTOCOL,
            helmsman: protocol::helmsman_version(),
            user,
            origin,
        };
        match client.ask(&hello).await? {
            Reply::Hello { pid, .. } => client.pid = pid,
            other => return Err(ClientError::Garbled(format!("{other:?}"))),
        }
        Ok(Some(client))
    }

    /// Sends one request and reads its reply; an error reply is an error.
    pub async fn ask(&mut self, request: &Request) -> Result<Reply, ClientError> {
        self.send(request).await?;
        self.next().await
    }

    /// Sends a request whose replies are read with [`Client::next`].
    pub async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        let mut line = serde_json::to_vec(request).expect("requests serialize");
        line.push(b'\n');
        Ok(self.conn.get_mut().write_all(&line).await?)
    }

    /// The next reply; an error reply is an error.
    pub async fn next(&mut self) -> Result<Reply, ClientError> {
        let mut answer = String::new();
        if self.conn.read_line(&mut answer).await? == 0 {
            return Err(ClientError::HungUp);
        }
        match serde_json::from_str(&answer) {
            Ok(Reply::Error { message }) => Err(ClientError::Refused(message)),
            Ok(reply) => Ok(reply),
            Err(_) => Err(ClientError::Garbled(answer.trim_end().to_string())),
        }
    }
}
