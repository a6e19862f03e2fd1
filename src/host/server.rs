//! The release host's control socket: `<state dir>/host.sock`, a Unix
//! domain socket only its owner may open (mode 0600, and a peer of another
//! uid is turned away by its kernel-reported credentials). One host per
//! state directory: it holds `<state dir>/host.lock` while it runs, so a
//! second is refused naming the first's pid, and a socket file a crash
//! left behind is known stale and replaced.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::protocol::{self, MAX_LINE, PROTOCOL, Reply, Request};
use crate::pipeline::status;
use crate::store::lock::{Taken, take_at};
use crate::store::{Filter, History};

pub const SOCKET: &str = "host.sock";
const LOCK: &str = "host.lock";

/// What the host's lock file says of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Running {
    pid: u32,
    since: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(
        "a release host already runs on {state_dir} (pid {pid}, since {since}); one host serves \
         a state directory"
    )]
    AlreadyRunning {
        state_dir: PathBuf,
        pid: u32,
        since: String,
    },
    #[error("cannot open the control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The host while it runs: the socket is removed when it is dropped.
pub struct Host {
    socket: PathBuf,
    _lock: std::fs::File,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Host {
    /// Where clients reach it.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Takes the state directory's host lock, opens the control socket and
    /// serves it on the current runtime until dropped.
    pub fn start(state_dir: &Path) -> Result<Host, HostError> {
        let lock_path = state_dir.join(LOCK);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| HostError::Io { path, source }
        };
        let me = Running {
            pid: std::process::id(),
            since: chrono::Utc::now(),
        };
        let text = serde_json::to_string(&me).expect("the lock's text serializes");
        let lock = match take_at(&lock_path, &text).map_err(io(&lock_path))? {
            Taken::Yes(file) => file,
            Taken::No(mut file) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let other: Option<Running> = serde_json::from_str(&text).ok();
                return Err(HostError::AlreadyRunning {
                    state_dir: state_dir.to_path_buf(),
                    pid: other.as_ref().map_or(0, |o| o.pid),
                    since: other.map_or("?".into(), |o| {
                        o.since.format("%Y-%m-%d %H:%M:%S UTC").to_string()
                    }),
                });
            }
        };
        // Holding the lock, any socket file is a dead host's.
        let socket = state_dir.join(SOCKET);
        match std::fs::remove_file(&socket) {
            Ok(()) => tracing::info!("replaced the stale control socket {}", socket.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&socket)(e)),
        }
        let listener = UnixListener::bind(&socket).map_err(io(&socket))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&socket))?;
        tracing::info!("release host listening on {}", socket.display());
        tokio::spawn(accept(listener, state_dir.to_path_buf()));
        Ok(Host {
            socket,
            _lock: lock,
        })
    }
}

async fn accept(listener: UnixListener, state_dir: PathBuf) {
    let own = rustix::process::geteuid().as_raw();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let peer = stream.peer_cred().map(|c| c.uid()).ok();
        let state_dir = state_dir.clone();
        tokio::spawn(async move {
            match peer {
                Some(uid) if uid == own || uid == 0 => serve(stream, &state_dir).await,
                _ => {
                    let refusal = Reply::Error {
                        message: format!("this release host serves its own user (uid {own}) only"),
                    };
                    let _ = send(&mut BufReader::new(stream), &refusal).await;
                }
            }
        });
    }
}

/// One client: a hello, then requests until it hangs up. A line that is
/// not a request gets an error and the connection goes on.
async fn serve(stream: UnixStream, state_dir: &Path) {
    let mut conn = BufReader::new(stream);
    let hello = match read(&mut conn).await {
        Some(Ok(request)) => request,
        Some(Err(e)) => {
            let _ = send(&mut conn, &not_a_request(&e)).await;
            return;
        }
        None => return,
    };
    if let Some(message) = protocol::refuse_hello(&hello) {
        let _ = send(&mut conn, &Reply::Error { message }).await;
        return;
    }
    let welcome = Reply::Hello {
        protocol: PROTOCOL,
        helmsman: protocol::helmsman_version(),
        pid: std::process::id(),
    };
    if send(&mut conn, &welcome).await.is_err() {
        return;
    }
    while let Some(request) = read(&mut conn).await {
        let reply = match request {
            Ok(request) => answer(request, state_dir),
            Err(e) => not_a_request(&e),
        };
        if send(&mut conn, &reply).await.is_err() {
            return;
        }
    }
}

fn answer(request: Request, state_dir: &Path) -> Reply {
    match request {
        Request::Hello { .. } => Reply::Error {
            message: "already said hello".to_string(),
        },
        Request::Status { env, service } => {
            let filter = Filter {
                env,
                service,
                limit: None,
            };
            match History::open(state_dir).and_then(|h| status::in_flight(&h, &filter)) {
                Ok(releases) => Reply::Status { releases },
                Err(e) => Reply::Error {
                    message: e.to_string(),
                },
            }
        }
    }
}

/// The next request; None when the client hung up (or sent a line too long
/// to be one, after saying so).
async fn read(conn: &mut BufReader<UnixStream>) -> Option<Result<Request, serde_json::Error>> {
    let mut line = Vec::new();
    let n = conn
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .ok()?;
    if n == 0 {
        return None;
    }
    if line.len() > MAX_LINE {
        let message = format!("a line longer than {MAX_LINE} bytes: closing");
        let _ = send(conn, &Reply::Error { message }).await;
        return None;
    }
    Some(serde_json::from_slice(&line))
}

fn not_a_request(e: &serde_json::Error) -> Reply {
    Reply::Error {
        message: format!("not a request: {e}"),
    }
}

async fn send(conn: &mut BufReader<UnixStream>, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).expect("replies serialize");
    line.push(b'\n');
    conn.get_mut().write_all(&line).await
}
