//! The release host's control socket: `<state dir>/host.sock`, a Unix
//! domain socket only its owner may open (mode 0600, and a peer of another
//! uid is turned away by its kernel-reported credentials), or, with
//! `serve --socket-group G`, the members of G too (mode 0660, each peer
//! named by its uid's account). One host per
//! state directory: it holds `<state dir>/host.lock` while it runs, so a
//! second is refused naming the first's pid, and a socket file a crash
//! left behind is known stale and replaced.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use std::sync::Arc;

use tokio::sync::broadcast;

use super::accounts;
use super::protocol::{self, MAX_LINE, PROTOCOL, Reply, Request};
use super::releases::{HostedError, Line, Releases};
use crate::engine::{Actor, Target};
use crate::pipeline::{ReleaseRequest, status};
use crate::store::lock::Process;
use crate::store::{Filter, History};

pub const SOCKET: &str = "host.sock";
const LOCK: &str = "host.lock";

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
    #[error("no group `{0}` on this machine (see /etc/group)")]
    NoSuchGroup(String),
    #[error(transparent)]
    Journal(#[from] crate::store::StoreError),
}

/// The host while it runs: the socket is removed when it is dropped.
pub struct Host {
    socket: PathBuf,
    releases: Arc<Releases>,
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

    /// The releases it drives.
    pub fn releases(&self) -> &Arc<Releases> {
        &self.releases
    }

    /// Takes the state directory's host lock, opens the control socket and
    /// serves it on the current runtime until dropped. The socket is its
    /// owner's alone (0600), or shared with the members of `group` (0660).
    pub fn start(state_dir: &Path, group: Option<&str>) -> Result<Host, HostError> {
        let gid = match group {
            Some(name) => Some(
                accounts::group_id(name).ok_or_else(|| HostError::NoSuchGroup(name.to_string()))?,
            ),
            None => None,
        };
        let lock_path = state_dir.join(LOCK);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| HostError::Io { path, source }
        };
        let lock = match Process::take(&lock_path).map_err(io(&lock_path))? {
            Ok(file) => file,
            Err(other) => {
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
        // Connecting takes write permission on the socket file: the kernel
        // enforces who may reach the host.
        if let Some(gid) = gid {
            std::os::unix::fs::chown(&socket, None, Some(gid)).map_err(io(&socket))?;
        }
        let mode = if gid.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(mode))
            .map_err(io(&socket))?;
        tracing::info!("release host listening on {}", socket.display());
        let releases = Releases::new(state_dir, History::open(state_dir)?);
        tokio::spawn(accept(listener, Arc::clone(&releases), gid.is_some()));
        Ok(Host {
            socket,
            releases,
            _lock: lock,
        })
    }
}

/// Serves every peer its kernel-reported uid admits: the host's own (or
/// root), or, with a shared socket, anyone the socket's group let connect.
async fn accept(listener: UnixListener, releases: Arc<Releases>, shared: bool) {
    let own = rustix::process::geteuid().as_raw();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let peer = stream.peer_cred().map(|c| c.uid()).ok();
        let releases = Arc::clone(&releases);
        tokio::spawn(async move {
            match peer {
                Some(uid) if shared || uid == own || uid == 0 => {
                    serve(stream, &releases, uid, uid == own).await
                }
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
async fn serve(stream: UnixStream, releases: &Arc<Releases>, uid: u32, same_uid: bool) {
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
    let actor = operator(&hello, uid, same_uid);
    let welcome = Reply::Hello {
        protocol: PROTOCOL,
        helmsman: protocol::helmsman_version(),
        pid: std::process::id(),
    };
    if send(&mut conn, &welcome).await.is_err() {
        return;
    }
    while let Some(request) = read(&mut conn).await {
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                if send(&mut conn, &not_a_request(&e)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let answered = match answer(request, releases, &actor).await {
            Ok(Answer::Reply(reply)) => send(&mut conn, &reply).await,
            Ok(Answer::Follow { first, stream }) => follow(&mut conn, first, stream).await,
            Err(e) => {
                let message = e.to_string();
                send(&mut conn, &Reply::Error { message }).await
            }
        };
        if answered.is_err() {
            return;
        }
    }
}

/// The operator a connection speaks for: the user its hello names when
/// the peer runs as the host's own uid (the kernel cannot tell two
/// sessions of one account apart), else the account of the peer's uid.
fn operator(hello: &Request, uid: u32, same_uid: bool) -> Actor {
    let Request::Hello { user, origin, .. } = hello else {
        unreachable!("the hello was checked");
    };
    let user = match (same_uid, user) {
        (true, Some(user)) => user.clone(),
        _ => accounts::user_name(uid),
    };
    Actor::Operator {
        user,
        origin: origin.clone(),
    }
}

/// What a request gets: one reply, or lines to follow (a release's, or
/// every release's for a watcher).
enum Answer {
    Reply(Box<Reply>),
    Follow {
        first: Vec<Reply>,
        stream: broadcast::Receiver<Line>,
    },
}

async fn answer(
    request: Request,
    releases: &Arc<Releases>,
    actor: &Actor,
) -> Result<Answer, HostedError> {
    let target = |env: String, service: String| Target { env, service };
    Ok(match request {
        Request::Hello { .. } => Answer::Reply(Box::new(Reply::Error {
            message: "already said hello".to_string(),
        })),
        Request::Status { env, service } => {
            let filter = Filter {
                env,
                service,
                limit: None,
            };
            let mut listed = status::in_flight(releases.journal(), &filter)?;
            for snapshot in releases.watched(&filter) {
                listed.extend(status::watched(releases.journal(), &snapshot)?);
            }
            Answer::Reply(Box::new(Reply::Status { releases: listed }))
        }
        Request::Release {
            config,
            service,
            version,
            envs,
            strategy,
            force,
        } => {
            let config = releases.load_config(&config)?;
            let request = ReleaseRequest {
                service,
                version,
                envs,
                strategy,
                actor: actor.clone(),
                force,
            };
            Answer::Follow {
                first: Vec::new(),
                stream: releases.submit(&config, request),
            }
        }
        Request::Retry {
            config,
            env,
            service,
        } => {
            let config = releases.load_config(&config)?;
            let request = releases.retry(&config, &target(env, service), actor.clone())?;
            Answer::Follow {
                first: Vec::new(),
                stream: releases.submit(&config, request),
            }
        }
        Request::Attach { env, service } => {
            let (first, stream) = releases.attach(&target(env, service))?;
            Answer::Follow {
                first: vec![first],
                stream,
            }
        }
        Request::Watch => {
            let (first, stream) = releases.watch();
            Answer::Follow { first, stream }
        }
        Request::Command { env, service, kind } => Answer::Reply(Box::new(
            releases
                .command(&target(env, service), kind, actor.clone())
                .await?,
        )),
    })
}

/// Sends a release's lines until it finishes (a watcher's, until it hangs
/// up); Err when the client hung up (the release goes on: the client only
/// stops following it).
async fn follow(
    conn: &mut BufReader<UnixStream>,
    first: Vec<Reply>,
    mut stream: broadcast::Receiver<Line>,
) -> std::io::Result<()> {
    for reply in &first {
        send(conn, reply).await?;
    }
    let mut ignored = Vec::new();
    loop {
        let reply = tokio::select! {
            line = stream.recv() => match line {
                Ok(reply) => reply,
                Err(broadcast::error::RecvError::Lagged(lost)) => Arc::new(Reply::Lagged { lost }),
                // Its task ended without a last line: nothing more will come.
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            // A client says nothing while it follows: its end of file is
            // a hang-up, noticed at once rather than at the next line.
            read = conn.read_until(b'\n', &mut ignored) => match read {
                Ok(0) | Err(_) => return Err(std::io::ErrorKind::BrokenPipe.into()),
                Ok(_) => {
                    ignored.clear();
                    continue;
                }
            },
        };
        let finished = matches!(*reply, Reply::Finished { .. });
        send(conn, &reply).await?;
        if finished {
            return Ok(());
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
