//! A real HAProxy — Debian's `haproxy`, found on PATH — in the foreground,
//! its runtime API on a stats socket in a temporary directory and on a
//! loopback TCP port, one HTTP frontend in front of backend `web`. Killed
//! on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

pub struct HaProxy {
    dir: tempfile::TempDir,
    binary: PathBuf,
    pub listen: u16,
    pub api_port: u16,
    child: Option<Child>,
}

/// How long a start may take on a loaded 2-core machine.
const READY_WITHIN: Duration = Duration::from_secs(20);

impl HaProxy {
    /// Starts HAProxy with backend `web` holding `servers` (name, address,
    /// weight from the file), health-checked every 200 ms; `None` (saying
    /// so) when the binary is not installed.
    pub async fn start(servers: &[(&str, SocketAddr, u16)]) -> Option<HaProxy> {
        let Some(binary) = find_on_path("haproxy") else {
            crate::support::missing_tool("`haproxy` on PATH (Debian's package haproxy)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let (listen, api_port) = (free_port(), free_port());
        let lines: Vec<String> = servers
            .iter()
            .map(|(name, addr, weight)| {
                format!("    server {name} {addr} weight {weight} check inter 200ms fall 2 rise 2")
            })
            .collect();
        let config = format!(
            "global\n    stats socket {sock} mode 600 level admin\n    stats socket ipv4@127.0.0.1:{api_port} level admin\n\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\n\
             frontend fe\n    bind 127.0.0.1:{listen}\n    default_backend web\n\n\
             backend web\n    balance roundrobin\n{}\n",
            lines.join("\n"),
            sock = dir.path().join("admin.sock").display(),
        );
        std::fs::write(dir.path().join("haproxy.cfg"), config).expect("write config");
        let mut haproxy = HaProxy {
            dir,
            binary,
            listen,
            api_port,
            child: None,
        };
        haproxy.launch().await;
        Some(haproxy)
    }

    /// Stops it and starts it again from its file: weights and counters
    /// back to where the file and a fresh start put them.
    pub async fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        self.launch().await;
    }

    /// A reload as an init system does it: a new process from the file
    /// takes over the listeners (`-sf`), the old one finishes what it
    /// serves and exits. No connection is refused; runtime weights and
    /// states go back to the file's.
    pub async fn reload(&mut self) {
        let old = self.child.take().expect("HAProxy runs");
        let old_pid = old.id().expect("a running process has a pid");
        self.spawn(&["-sf", &old_pid.to_string()]);
        let mut old = old;
        tokio::time::timeout(READY_WITHIN, old.wait())
            .await
            .unwrap_or_else(|_| panic!("the old HAProxy did not stop:\n{}", self.log()))
            .expect("wait for the old HAProxy");
    }

    async fn launch(&mut self) {
        self.spawn(&[]);
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.api_port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "HAProxy did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn spawn(&mut self, extra: &[&str]) {
        let dir = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("haproxy.log"))
            .expect("log file");
        let child = Command::new(&self.binary)
            .arg("-db")
            .arg("-f")
            .arg(dir.join("haproxy.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .kill_on_drop(true)
            .args(extra)
            .spawn()
            .expect("spawn haproxy");
        self.child = Some(child);
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

use crate::ports::free_port;

/// On PATH, or in /usr/sbin where Debian puts it (often not on a user's PATH).
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
