//! The accept loop shared by the proxy and the admin listener: HTTP/1.1
//! with keep-alive on each accepted connection, and a graceful stop that
//! refuses new connections, lets in-flight requests finish (bounded by
//! `drain`), then closes what is left.
//!
//! Slow and numerous clients are bounded by [`ConnectionLimits`]: hyper's
//! header-read timeout (which also closes keep-alive connections idle that
//! long between requests), an inactivity timeout on every connection, and
//! a connection limit. Over the limit, new connections are not accepted:
//! they wait in the kernel's listen queue and are served as soon as a slot
//! frees, instead of being refused while, say, slow clients hold the slots.
//!
//! With `workers`, each accepted connection runs on one worker runtime
//! (round-robin) instead of the caller's: see `workers`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::limits::IdleTimeout;
use super::workers::Workers;
use crate::config::ConnectionLimits;

/// Serves `listener` until `stop` changes (or its sender is dropped).
/// `connection(peer)` makes the request handler of one accepted connection,
/// so a handler can keep per-connection state.
pub async fn serve<C, H, F, B>(
    listener: TcpListener,
    connection: C,
    workers: Option<Arc<Workers>>,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) where
    C: Fn(SocketAddr) -> H,
    H: Fn(Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A free slot first, then a connection: over the limit, clients
        // wait in the listen queue rather than being accepted and starved.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stop.changed() => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Small request/response heads must leave at once.
                let _ = stream.set_nodelay(true);
                let service = service_fn(connection(peer));
                let watcher = graceful.watcher();
                let task = move |stream: TcpStream| async move {
                    let _slot = slot;
                    let io = IdleTimeout::new(stream, limits.idle_timeout);
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_read_timeout)
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(io), service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                };
                match &workers {
                    // The socket moves to the worker's own event loop: its
                    // readiness must not be reported by this runtime's.
                    Some(workers) => match stream.into_std() {
                        Ok(stream) => {
                            connections.spawn_on(
                                async move {
                                    match TcpStream::from_std(stream) {
                                        Ok(stream) => task(stream).await,
                                        Err(e) => tracing::warn!(%peer, error = %e, "cannot register a connection"),
                                    }
                                },
                                workers.next(),
                            );
                        }
                        Err(e) => tracing::warn!(%peer, error = %e, "cannot hand a connection to a worker"),
                    },
                    None => {
                        connections.spawn(task(stream));
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "in-flight requests still running after the drain period; closing"
        );
    }
    connections.abort_all();
}
