//! The bearer token of state-changing admin calls.
//!
//! A backend may configure one (`admin_token = "${VAR}"`). Otherwise the
//! first helmsman process that needs it generates one into
//! `<state dir>/admin-token` (mode 0600) and every later process with the
//! same state directory reuses it: `helmsman serve` checks it, `release`
//! and the cockpit send it. Only the owner of the state directory can read
//! it, so only they can steer a release.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::RngCore;

use crate::config::{Config, Secret};

/// The token file's name in the state directory.
pub const FILE_NAME: &str = "admin-token";

/// A fresh token: 256 random bits, hex-encoded.
pub fn generate() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Secret::new(hex, None)
}

/// Fills in the generated token for every local backend that configures
/// none, creating the token file on first use. A configuration without
/// such a backend leaves the state directory alone.
pub fn provide(config: &mut Config, state_dir: &Path) -> io::Result<()> {
    let mut generated: Option<Secret> = None;
    for environment in &mut config.environments {
        for service in &mut environment.services {
            if let Some(backend) = service.backend.plane_mut()
                && backend.admin_token.is_none()
            {
                if generated.is_none() {
                    let token = load_or_create(state_dir)?;
                    // Masked like a configured secret, should a server echo it.
                    crate::redact::register(FILE_NAME, token.expose());
                    generated = Some(token);
                }
                backend.admin_token = generated.clone();
            }
        }
    }
    Ok(())
}

/// The token in `<state_dir>/admin-token`, created (mode 0600) if absent.
pub fn load_or_create(state_dir: &Path) -> io::Result<Secret> {
    let path = state_dir.join(FILE_NAME);
    match read_private(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        found => return found,
    }
    fs::create_dir_all(state_dir).map_err(|e| in_file(state_dir, e))?;
    // Written whole to a private file first, then linked into place: a
    // reader never sees half a token, and when two processes race the link
    // of the second fails and it reads the winner's token.
    let token = generate();
    let temporary = state_dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
    let _ = fs::remove_file(&temporary);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(token.expose().as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::hard_link(&temporary, &path));
    let _ = fs::remove_file(&temporary);
    match written {
        Ok(()) => Ok(token),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_private(&path),
        Err(e) => Err(in_file(&path, e)),
    }
}

/// Reads a token file that only its owner may read.
fn read_private(path: &Path) -> io::Result<Secret> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} can be read by other users (mode {:o}): anyone who reads it can steer releases; \
                 run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ),
        ));
    }
    let text = fs::read_to_string(path).map_err(|e| in_file(path, e))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is empty: delete it and helmsman generates a new token",
                path.display()
            ),
        ));
    }
    Ok(Secret::new(token.to_string(), None))
}

fn in_file(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Whether `presented` is the token, in time that does not depend on where
/// they differ (a timing side channel would let a local user guess it).
pub fn matches(token: &Secret, presented: &[u8]) -> bool {
    let expected = token.expose().as_bytes();
    expected.len() == presented.len()
        && expected
            .iter()
            .zip(presented)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_created_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = load_or_create(&state).unwrap();
        let path = state.join(FILE_NAME);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(first.expose().len(), 64);
        let again = load_or_create(&state).unwrap();
        assert_eq!(again.expose(), first.expose());
        assert!(!format!("{again:?}").contains(first.expose()));
        // Only the token file is left behind.
        assert_eq!(fs::read_dir(&state).unwrap().count(), 1);
    }

    #[test]
    fn a_token_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, "abc").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_or_create(dir.path()).unwrap().expose(), "abc");
    }

    #[test]
    fn matching_compares_the_whole_token() {
        let token = Secret::new("s3cret".into(), None);
        assert!(matches(&token, b"s3cret"));
        assert!(!matches(&token, b"s3cre"));
        assert!(!matches(&token, b"s3cret!"));
        assert!(!matches(&token, b"S3cret"));
        assert!(!matches(&token, b""));
    }
}
