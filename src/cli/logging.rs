//! Logs go to a daily file under `<state dir>/logs`, never to the terminal,
//! which belongs to the cockpit or to the event lines.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Keep the returned guard alive for the whole run: it flushes on drop.
/// Without a writable state dir, the run goes on without a log file.
pub fn init(state_dir: &Path) -> Option<WorkerGuard> {
    let dir = state_dir.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "helmsman.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(
            EnvFilter::try_from_env("HELMSMAN_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .try_init()
        .ok()?;
    Some(guard)
}
