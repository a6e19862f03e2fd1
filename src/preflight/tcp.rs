//! `tcp`: a connection to `host:port` must open (a database, a cache, a
//! queue). The host is resolved when the check runs; each address it
//! resolves to is tried in turn.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;

use super::Finding;
use crate::config::preflight::HostPort;

pub async fn check(address: &HostPort) -> Finding {
    let started = Instant::now();
    match connect(address).await {
        Ok((_, peer)) => Finding::pass(format!(
            "connected to {peer} in {} ms",
            started.elapsed().as_millis()
        )),
        Err(why) => Finding::fail(why.to_string()),
    }
}

/// Why no connection opened: the last address tried says it.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("cannot connect to {peer}: {source}")]
    Refused { peer: SocketAddr, source: io::Error },
}

/// The first address of `address` that accepts a connection, or why none did.
pub(super) async fn connect(address: &HostPort) -> Result<(TcpStream, SocketAddr), ConnectError> {
    let host = || address.host.clone();
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((address.host.as_str(), address.port))
        .await
        .map_err(|source| ConnectError::Resolve {
            host: host(),
            source,
        })?
        .collect();
    let mut last_error = ConnectError::NoAddress { host: host() };
    for peer in resolved {
        match TcpStream::connect(peer).await {
            Ok(stream) => return Ok((stream, peer)),
            Err(source) => last_error = ConnectError::Refused { peer, source },
        }
    }
    Err(last_error)
}
