//! HAProxy's runtime API: one command a connection, as `socat` sends them
//! (HAProxy answers and closes the connection). Names that go into a
//! command are checked first: a space, `;` or a line break would make it
//! another command.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::servers::{self, Admin, ServerState};
use super::stat::{self, ServerStat};
use crate::observed::ProviderError;

/// The most of an answer read: `show stat` of a few hundred servers.
const MAX_ANSWER: usize = 8 << 20;

/// Where the runtime API listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Address {
    /// A stats socket: `stats socket /run/haproxy/admin.sock level admin`.
    Socket(PathBuf),
    /// A TCP bind: `stats socket ipv4@127.0.0.1:9999 level admin`.
    Tcp(std::net::SocketAddr),
}

impl Address {
    /// An absolute path is a socket, `host:port` a TCP bind.
    pub fn parse(text: &str) -> Result<Address, String> {
        let text = text.trim();
        if text.starts_with('/') {
            return Ok(Address::Socket(PathBuf::from(text)));
        }
        text.parse().map(Address::Tcp).map_err(|_| {
            format!(
                "`{text}` is neither an absolute socket path (\"/run/haproxy/admin.sock\") \
                 nor an IP address and port (\"127.0.0.1:9999\")"
            )
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Socket(path) => write!(f, "{}", path.display()),
            Address::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuntimeApi {
    address: Address,
    timeout: Duration,
}

impl RuntimeApi {
    pub fn new(address: Address, timeout: Duration) -> RuntimeApi {
        RuntimeApi { address, timeout }
    }

    pub fn describe(&self) -> String {
        format!("HAProxy runtime API at {}", self.address)
    }

    /// Sends one command and returns HAProxy's whole answer.
    pub async fn ask(&self, command: &str) -> Result<String, ProviderError> {
        let exchange = async {
            match &self.address {
                Address::Socket(path) => {
                    exchange(tokio::net::UnixStream::connect(path).await?, command).await
                }
                Address::Tcp(addr) => {
                    exchange(tokio::net::TcpStream::connect(addr).await?, command).await
                }
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(ProviderError::Unreachable {
                provider: self.describe(),
                detail: e.to_string(),
            }),
            Err(_) => Err(ProviderError::TimedOut {
                provider: self.describe(),
                after: self.timeout,
            }),
        }
    }

    /// The process answering (`show info`'s `Pid`): another one after a
    /// restart, or after a reload in master-worker mode.
    pub async fn pid(&self) -> Result<u32, ProviderError> {
        let answer = self.ask("show info").await?;
        answer
            .lines()
            .find_map(|l| l.strip_prefix("Pid: "))
            .and_then(|pid| pid.trim().parse().ok())
            .ok_or_else(|| self.refusal_or_invalid(&answer, "no `Pid:` line in `show info`".into()))
    }

    /// What each server of `backend` is set to and what HAProxy does.
    pub async fn servers(&self, backend: &str) -> Result<Vec<ServerState>, ProviderError> {
        let backend = self.name("backend", backend)?;
        let answer = self.ask(&format!("show servers state {backend}")).await?;
        servers::parse(&answer).map_err(|detail| self.refusal_or_invalid(&answer, detail))
    }

    /// The backends HAProxy has (`show backend`), for naming them when a
    /// configured one is not among them.
    pub async fn backends(&self) -> Result<Vec<String>, ProviderError> {
        let answer = self.ask("show backend").await?;
        Ok(answer
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect())
    }

    /// What each server of `backend` served, from its start.
    pub async fn stats(&self, backend: &str) -> Result<Vec<ServerStat>, ProviderError> {
        let backend = self.name("backend", backend)?;
        let answer = self.ask("show stat").await?;
        let rows =
            stat::parse(&answer).map_err(|detail| self.refusal_or_invalid(&answer, detail))?;
        Ok(rows.into_iter().filter(|r| r.backend == backend).collect())
    }

    /// `set server <backend>/<server> weight <weight>` (0 to 256).
    pub async fn set_weight(
        &self,
        backend: &str,
        server: &str,
        weight: u16,
    ) -> Result<(), ProviderError> {
        let target = self.server(backend, server)?;
        let weight = weight.min(256);
        self.set(&format!("set server {target} weight {weight}"))
            .await
    }

    /// `set server <backend>/<server> state ready|drain|maint`.
    pub async fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: Admin,
    ) -> Result<(), ProviderError> {
        let target = self.server(backend, server)?;
        self.set(&format!("set server {target} state {}", state.word()))
            .await
    }

    /// A `set` command answers nothing when it did what it was told.
    async fn set(&self, command: &str) -> Result<(), ProviderError> {
        let answer = self.ask(command).await?;
        match answer.trim() {
            "" => Ok(()),
            said => Err(ProviderError::Rejected {
                provider: self.describe(),
                detail: format!("`{command}`: {said}"),
            }),
        }
    }

    fn server(&self, backend: &str, server: &str) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/{}",
            self.name("backend", backend)?,
            self.name("server", server)?
        ))
    }

    /// A backend or server name as HAProxy allows them: letters, digits and
    /// `-_.:`; anything else could end the command and start another.
    fn name<'n>(&self, what: &str, name: &'n str) -> Result<&'n str, ProviderError> {
        match allowed_name(name) {
            true => Ok(name),
            false => Err(ProviderError::Rejected {
                provider: self.describe(),
                detail: format!("`{name}` is not a {what} name HAProxy allows"),
            }),
        }
    }

    /// An answer that is not what was asked for: HAProxy's own words when
    /// it said no ("Can't find backend."), else the parser's.
    fn refusal_or_invalid(&self, answer: &str, detail: String) -> ProviderError {
        let said = answer.trim();
        if !said.is_empty() && !said.contains('\n') && !said.starts_with('#') {
            return ProviderError::Rejected {
                provider: self.describe(),
                detail: said.to_string(),
            };
        }
        ProviderError::Invalid {
            provider: self.describe(),
            detail,
        }
    }
}

/// Whether HAProxy allows `name` for a backend or a server: letters,
/// digits and `-_.:`.
pub fn allowed_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    command: &str,
) -> std::io::Result<String> {
    stream.write_all(command.as_bytes()).await?;
    stream.write_all(b"\n").await?;
    stream.flush().await?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(MAX_ANSWER as u64)
        .read_to_end(&mut answer)
        .await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}
