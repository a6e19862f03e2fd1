//! Logs go to a daily file under `<state dir>/logs`, never to the terminal,
//! which belongs to the cockpit or to the event lines. Every line is passed
//! through [`crate::redact::redact`] on its way to the file.

use std::path::Path;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Lines waiting for the writer thread. The channel reserves every slot
/// up front: the library's default of 128 000 lines is 4 MB held for the
/// life of a host that writes a few lines a second. A burst past this is
/// dropped (the writer is lossy), never waited for by the engine.
const BUFFERED_LINES: usize = 4096;

/// Logs into `dir` ([`super::paths::log_dir`]). Keep the returned guard
/// alive for the whole run: it flushes on drop. Without a writable
/// directory, the run goes on without a log file.
pub fn init(dir: &Path) -> Option<WorkerGuard> {
    std::fs::create_dir_all(dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "helmsman.log");
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .finish(appender);
    tracing_subscriber::fmt()
        .with_writer(Redacting(writer))
        .with_ansi(false)
        .with_env_filter(
            EnvFilter::try_from_env("HELMSMAN_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .try_init()
        .ok()?;
    Some(guard)
}

/// Makes writers that mask configured secrets in what they write.
struct Redacting<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

/// The formatter hands over each log line in one write.
struct RedactingWriter<W>(W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(crate::redact::redact(&text).as_bytes())
            .map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
