//! `helmsman man DIR`: the manual pages, generated from the same command
//! line definition `--help` prints (clap_mangen), so they never disagree
//! with it. The project keeps a copy in `docs/man/`, which a test holds
//! current.

use std::path::Path;

use super::ExitCode;

/// Writes `helmsman.1` and a `helmsman-SUBCOMMAND.1` per visible
/// subcommand of `command` into `dir`, creating it.
pub fn write_pages(command: clap::Command, dir: &Path) -> ExitCode {
    let written =
        std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(command, dir));
    match written {
        Ok(()) => {
            crate::outln!(
                "wrote the manual pages into {} (read one with `man -l {}`)",
                dir.display(),
                dir.join("helmsman.1").display()
            );
            ExitCode::Ok
        }
        Err(e) => {
            crate::errln!(
                "error: writing the manual pages into {}: {e}",
                dir.display()
            );
            ExitCode::Runtime
        }
    }
}
