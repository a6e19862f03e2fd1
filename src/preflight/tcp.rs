//! `tcp`: a connection to `host:port` must open (a database, a cache, a
//! queue). The host is resolved when the check runs; each address it
//! resolves to is tried in turn.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;

use super::Finding;
use crate::config::checks::HostPort;

pub async fn check(address: &HostPort) -> Finding {
    let started = Instant::now();
    match connect(address).await {
        Ok((_, peer)) => Finding::pass(format!(
            "connected to {peer} in {} ms",
            started.elapsed().as_millis()
        )),
        Err(why) => Finding::fail(why),
    }
}

/// The first address of `address` that accepts a connection, or why none did.
pub(super) async fn connect(address: &HostPort) -> Result<(TcpStream, SocketAddr), String> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((address.host.as_str(), address.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", address.host))?
        .collect();
    let mut last_error = format!("{} resolves to no address", address.host);
    for peer in resolved {
        match TcpStream::connect(peer).await {
            Ok(stream) => return Ok((stream, peer)),
            Err(e) => last_error = format!("cannot connect to {peer}: {e}"),
        }
    }
    Err(last_error)
}
