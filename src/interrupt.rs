//! Why a process that drives releases must stop driving them: Ctrl-C
//! (SIGINT), `kill` (SIGTERM), a closed terminal (SIGHUP), or its own output
//! gone (a write to stdout or stderr failed: a closed pty, a pipe whose
//! reader went away). Whichever comes first, a release in flight is rolled
//! back, verified and recorded rather than abandoned half-way.
//!
//! The request is remembered for the life of the process: a signal that
//! arrives before a release starts (during preflight checks, between two
//! environments) stops the next one from starting, instead of being lost.

use std::fmt;
use std::sync::OnceLock;

use tokio::sync::watch;

/// What asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Interrupt,
    Terminate,
    Hangup,
    OutputLost,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Interrupt => "Ctrl-C (SIGINT)",
            StopReason::Terminate => "SIGTERM",
            StopReason::Hangup => "SIGHUP (the terminal closed)",
            StopReason::OutputLost => "its output closed (a write to stdout or stderr failed)",
        })
    }
}

fn channel() -> &'static watch::Sender<Option<StopReason>> {
    static STOP: OnceLock<watch::Sender<Option<StopReason>>> = OnceLock::new();
    STOP.get_or_init(|| watch::channel(None).0)
}

/// Asks the process to stop; the first reason is the one kept.
pub fn request(reason: StopReason) {
    channel().send_if_modified(|current| {
        if current.is_some() {
            return false;
        }
        tracing::warn!("asked to stop: {reason}");
        *current = Some(reason);
        true
    });
}

/// Whether a stop was asked for, and why.
pub fn requested() -> Option<StopReason> {
    *channel().borrow()
}

/// Resolves once a stop is asked for (at once if it already was).
pub async fn wait() -> StopReason {
    let mut stop = channel().subscribe();
    let reason = stop.wait_for(Option::is_some).await.map(|r| *r);
    match reason {
        Ok(reason) => reason.expect("waited for Some"),
        // The sender lives in a static and is never dropped.
        Err(_) => std::future::pending().await,
    }
}

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP, replacing the
/// default of dying on the spot. Call it on the runtime, first thing, in a
/// command that may move traffic: tokio installs each handler as the
/// listener is created, before this returns.
pub fn listen() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            loop {
                let reason = tokio::select! {
                    _ = interrupt.recv() => StopReason::Interrupt,
                    _ = terminate.recv() => StopReason::Terminate,
                    _ = hangup.recv() => StopReason::Hangup,
                };
                request(reason);
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            request(StopReason::Interrupt);
        }
    });
    Ok(())
}
