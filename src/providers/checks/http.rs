//! HTTP check: a GET that must answer 2xx within a timeout (the preflight
//! `http` check with its defaults).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::preflight::{HttpProbe, defaults};
use crate::observed::CheckResult;
use crate::preflight;
use crate::providers::Check;

pub struct HttpCheck {
    probe: HttpProbe,
    timeout: Duration,
}

impl HttpCheck {
    pub fn new(url: String, timeout: Duration) -> HttpCheck {
        HttpCheck {
            probe: HttpProbe {
                url,
                expect_status: vec![defaults::EXPECT_STATUS],
                headers: BTreeMap::new(),
            },
            timeout,
        }
    }
}

#[async_trait]
impl Check for HttpCheck {
    fn name(&self) -> String {
        format!("GET {}", self.probe.url)
    }

    async fn run(&self) -> CheckResult {
        let answer = async {
            let found = preflight::http::check(&self.probe).await;
            (found.status, found.value)
        };
        super::within(self.name(), self.timeout, answer).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::sample_service::{Behaviour, SampleService};
    use crate::observed::CheckStatus;

    #[tokio::test]
    async fn passes_on_2xx_and_fails_on_5xx_or_a_closed_port() {
        let up = SampleService::start("127.0.0.1:0".parse().unwrap(), Behaviour::healthy("v1"))
            .await
            .unwrap();
        let down = SampleService::start(
            "127.0.0.1:0".parse().unwrap(),
            Behaviour {
                healthy: false,
                ..Behaviour::healthy("v1")
            },
        )
        .await
        .unwrap();
        let timeout = Duration::from_secs(2);
        let ok = HttpCheck::new(format!("http://{}/healthz", up.addr()), timeout)
            .run()
            .await;
        assert_eq!(ok.status, CheckStatus::Pass, "{}", ok.detail);
        let bad = HttpCheck::new(format!("http://{}/healthz", down.addr()), timeout)
            .run()
            .await;
        assert_eq!(bad.status, CheckStatus::Fail);
        assert!(bad.detail.contains("503"), "{}", bad.detail);
        let closed = down.addr();
        down.stop();
        drop(down);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let gone = HttpCheck::new(format!("http://{closed}/healthz"), timeout)
            .run()
            .await;
        assert_eq!(gone.status, CheckStatus::Fail);
    }
}
