//! Printing that never panics. `println!` panics when its write fails (a
//! closed terminal gives EIO, a pipe whose reader left gives EPIPE), which
//! would kill a process in the middle of a release. Here a failed write is
//! a stop request like SIGHUP ([`crate::interrupt`]): a release in flight
//! rolls back, and later lines are dropped quietly.
//!
//! Every line also goes through [`crate::redact::redact`], so a configured
//! secret that a server echoed back never reaches the screen.

use std::fmt;
use std::io::Write;

use crate::interrupt::{self, StopReason};

/// Writes one line to stdout: `outln!("{x}")` where `println!` would go.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        $crate::cli::output::stdout_line(format_args!($($arg)*));
    }};
}

/// Writes one line to stderr: `errln!("{x}")` where `eprintln!` would go.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        $crate::cli::output::stderr_line(format_args!($($arg)*));
    }};
}

/// One line to stdout; `false` (and a stop request) if it could not be written.
pub fn stdout_line(args: fmt::Arguments<'_>) -> bool {
    stop_on_failure(write_line(&mut std::io::stdout().lock(), args))
}

/// One line to stderr; `false` (and a stop request) if it could not be written.
pub fn stderr_line(args: fmt::Arguments<'_>) -> bool {
    stop_on_failure(write_line(&mut std::io::stderr().lock(), args))
}

fn write_line(out: &mut dyn Write, args: fmt::Arguments<'_>) -> std::io::Result<()> {
    let text = args.to_string();
    let line = crate::redact::redact(&text);
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

fn stop_on_failure(written: std::io::Result<()>) -> bool {
    match written {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("cannot write to the terminal or pipe: {e}");
            interrupt::request(StopReason::OutputLost);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose reader has gone, or a terminal that closed.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_an_error_not_a_panic() {
        let mut kept = Vec::new();
        write_line(&mut kept, format_args!("one {}", 1)).unwrap();
        assert_eq!(kept, b"one 1\n");
        assert!(write_line(&mut Closed, format_args!("two")).is_err());
    }
}
