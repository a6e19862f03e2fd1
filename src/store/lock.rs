//! One driver per service on a machine: a release takes an OS lock on a
//! file of its environment and service in the state directory, held until
//! it ends. The OS drops the lock when the process dies, however it dies,
//! so a crash never leaves a service locked. The file says who holds it,
//! for the refusal of a second release.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::engine::{Actor, Target};

/// Who drives a release of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub by: Actor,
    pub version: String,
    pub since: DateTime<Utc>,
}

impl Holder {
    /// This process, releasing `version` for `by`.
    pub fn this_process(by: Actor, version: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            by,
            version: version.to_string(),
            since: Utc::now(),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a release of {} is in flight, driven by {} (helmsman pid {}) since {}; steer it \
             from there, or wait for it to end",
            self.version,
            self.by,
            self.pid,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// The lock of one service, released when dropped.
#[derive(Debug)]
pub struct Hold {
    _file: Option<File>,
}

impl Hold {
    /// No lock to hold: a journal that is the process's own.
    pub(super) fn none() -> Hold {
        Hold { _file: None }
    }
}

/// Takes `target`'s lock under `state_dir`, or says who holds it.
pub(super) fn take(state_dir: &Path, target: &Target, holder: Holder) -> Result<Hold, StoreError> {
    let path = path_of(state_dir, target);
    let text = serde_json::to_string(&holder).expect("a holder serializes");
    match take_at(&path, &text) {
        Ok(Taken::Yes(file)) => Ok(Hold { _file: Some(file) }),
        Ok(Taken::No(mut file)) => Err(StoreError::Held {
            target: target.clone(),
            holder: Box::new(read_holder(&mut file)),
        }),
        Err(source) => Err(StoreError::Io { path, source }),
    }
}

/// What a state directory's process-wide lock (the host's, the data
/// planes') says of the process holding it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub since: DateTime<Utc>,
}

impl Process {
    pub fn this() -> Process {
        Process {
            pid: std::process::id(),
            since: Utc::now(),
        }
    }

    /// Takes the lock at `path` for this process, or says who holds it
    /// (`None` when its file cannot be read as one).
    pub fn take(path: &Path) -> std::io::Result<Result<File, Option<Process>>> {
        let text = serde_json::to_string(&Process::this()).expect("a process serializes");
        Ok(match take_at(path, &text)? {
            Taken::Yes(file) => Ok(file),
            Taken::No(mut file) => Err(read_json(&mut file)),
        })
    }

    /// The live process that holds the lock at `path`, if one does.
    pub fn holding(path: &Path) -> Option<Process> {
        match held(path) {
            Ok(file) => read_json(&mut file?),
            Err(e) => {
                tracing::warn!("cannot probe the lock {}: {e}", path.display());
                None
            }
        }
    }
}

/// The file at `path` when a live process holds its lock. Probes with a
/// shared lock, released at once.
fn held(path: &Path) -> std::io::Result<Option<File>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(file)),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// What a lock file says, from its start.
fn read_json<T: serde::de::DeserializeOwned>(file: &mut File) -> Option<T> {
    let mut text = String::new();
    file.rewind()
        .and_then(|()| file.read_to_string(&mut text))
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// A lock file taken, or the file of the process that holds it.
pub enum Taken {
    Yes(File),
    No(File),
}

/// Takes the OS lock of the file at `path` (created with its folder if
/// missing) and writes `holder` in it; or hands back the file another
/// process holds, to read who.
pub fn take_at(path: &Path, holder: &str) -> std::io::Result<Taken> {
    std::fs::create_dir_all(path.parent().expect("a lock file has a folder"))?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Taken::No(file)),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(holder.as_bytes())?;
    Ok(Taken::Yes(file))
}

/// Who drives a release of `target` now, if a live process does. Probes
/// with a shared lock, released at once: a release starting in that
/// instant is refused and says so (it is never left half-started).
pub(super) fn probe(state_dir: &Path, target: &Target) -> Option<Holder> {
    match held(&path_of(state_dir, target)) {
        Ok(file) => Some(read_holder(&mut file?)),
        Err(e) => {
            tracing::warn!("cannot probe the lock of {target}: {e}");
            None
        }
    }
}

/// Who the file says holds it; a holder caught writing it is named as well
/// as can be.
fn read_holder(file: &mut File) -> Holder {
    read_json(file).unwrap_or_else(|| Holder {
        pid: 0,
        by: Actor::Engine,
        version: "another version".to_string(),
        since: Utc::now(),
    })
}

/// `<state dir>/locks/<env>/<service>.lock`, names made safe for a path.
fn path_of(state_dir: &Path, target: &Target) -> PathBuf {
    let safe = |name: &str| -> String {
        name.chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                _ => '_',
            })
            .collect()
    };
    state_dir
        .join("locks")
        .join(safe(&target.env))
        .join(format!("{}.lock", safe(&target.service)))
}
