//! The smoke test of a blue-green preview behind HAProxy: the strategy's
//! `smoke_path` asked of each new server directly, at the address HAProxy
//! has for it, since no user request reaches the preview yet.

use std::time::Duration;

use async_trait::async_trait;

use super::runtime::RuntimeApi;
use crate::observed::{CheckResult, CheckStatus};
use crate::providers::Check;
use crate::providers::checks::http::HttpCheck;

pub struct ServerSmoke {
    api: RuntimeApi,
    backend: String,
    server: String,
    path: String,
    timeout: Duration,
}

impl ServerSmoke {
    pub fn new(
        api: RuntimeApi,
        backend: &str,
        server: &str,
        path: &str,
        timeout: Duration,
    ) -> Self {
        ServerSmoke {
            api,
            backend: backend.to_string(),
            server: server.to_string(),
            path: path.to_string(),
            timeout,
        }
    }
}

#[async_trait]
impl Check for ServerSmoke {
    fn name(&self) -> String {
        format!("GET {}{} (server {})", self.backend, self.path, self.server)
    }

    async fn run(&self) -> CheckResult {
        let failed = |detail: String| CheckResult {
            name: self.name(),
            status: CheckStatus::Fail,
            detail,
            took: Duration::ZERO,
        };
        let servers = match self.api.servers(&self.backend).await {
            Ok(servers) => servers,
            Err(e) => return failed(e.to_string()),
        };
        match servers.into_iter().find(|s| s.server == self.server) {
            Some(found) => match found.address {
                Some(address) => {
                    let url = format!("http://{address}{}", self.path);
                    let mut result = HttpCheck::new(url, self.timeout).run().await;
                    result.name = self.name();
                    result
                }
                None => failed("HAProxy gave no address for it".into()),
            },
            None => failed(format!(
                "backend `{}` has no server `{}`",
                self.backend, self.server
            )),
        }
    }
}
