//! A real Prometheus — Debian's `prometheus` binary, found on PATH — on a
//! free loopback port, scraping the given loopback targets every second,
//! its storage in a temporary directory. Killed on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

pub struct Prometheus {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    targets: usize,
}

/// How long a start may take before the test gives up (a loaded 2-core
/// machine; Prometheus is usually ready in well under a second).
const READY_WITHIN: Duration = Duration::from_secs(30);

impl Prometheus {
    /// Starts Prometheus scraping `targets`' `/metrics`, or `None` (saying
    /// so) when the binary is not installed.
    pub async fn start(targets: &[SocketAddr]) -> Option<Prometheus> {
        let Some(binary) = find_on_path("prometheus") else {
            crate::support::missing_tool("`prometheus` on PATH (Debian's package prometheus)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: helmsman\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
        let mut prometheus = Prometheus {
            binary,
            dir,
            port: 0,
            child: None,
            targets: targets.len(),
        };
        // A port picked free may be taken before Prometheus binds it: try again.
        for _ in 0..3 {
            prometheus.port = free_port();
            if prometheus.launch().await {
                return Some(prometheus);
            }
        }
        panic!("Prometheus did not start:\n{}", prometheus.log());
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until every target has been scraped successfully, so the
    /// first reading already has the baseline's numbers.
    pub async fn wait_for_targets(&self) {
        let want = format!("\"{}\"", self.targets);
        let scraped = async {
            loop {
                let answer = client()
                    .post(format!("{}/api/v1/query", self.url()))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("query=sum(up)")
                    .send()
                    .await;
                if let Ok(answer) = answer
                    && answer.text().await.is_ok_and(|t| t.contains(&want))
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(READY_WITHIN, scraped)
            .await
            .unwrap_or_else(|_| panic!("targets never scraped:\n{}", self.log()));
    }

    /// Kills Prometheus: its port refuses connections from now on.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port, with the same storage.
    pub async fn restart(&mut self) {
        self.stop().await;
        assert!(self.launch().await, "restart failed:\n{}", self.log());
    }

    /// Spawns the process and waits for `/-/ready`; false if it exited.
    async fn launch(&mut self) -> bool {
        let dir = self.dir.path();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new(&self.binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn prometheus");
        let ready = format!("{}/-/ready", self.url());
        let child = self.child.insert(child);
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return false;
            }
            if let Ok(answer) = client().get(&ready).send().await
                && answer.status().is_success()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "Prometheus not ready within {READY_WITHIN:?}:\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

use crate::ports::free_port;

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
