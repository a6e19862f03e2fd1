//! One API call with the backend's patience: timeouts, 5xx and transport
//! errors are retried with backoff; a 409 Conflict makes a
//! read-modify-write start over from a fresh read; a 403 says which verb on
//! which resource the user's RBAC lacks.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use kube::Api;
use kube::api::PostParams;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::providers::ProviderError;

/// How long helmsman waits, and how often it tries again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patience {
    /// One request, before it counts as failed (and is retried).
    pub request_timeout: Duration,
    /// Tries of one request that times out or answers 5xx.
    pub attempts: u32,
    /// The first pause between tries; it doubles after each.
    pub first_backoff: Duration,
    /// Read-modify-writes that lose to another writer (409) before giving up.
    pub conflicts: u32,
    /// How long a Deployment may take to roll out.
    pub rollout_timeout: Duration,
    /// How often a rollout's progress is read.
    pub rollout_poll: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            attempts: 4,
            first_backoff: Duration::from_millis(500),
            conflicts: 5,
            rollout_timeout: Duration::from_secs(600),
            rollout_poll: Duration::from_secs(2),
        }
    }
}

/// Makes the calls of one backend, naming it in every error.
pub(super) struct Calls {
    pub provider: String,
    pub namespace: String,
    pub patience: Patience,
}

/// Why one call failed: a lost race is retried by the caller with a fresh read.
enum Failure {
    Conflict,
    Final(ProviderError),
}

impl Calls {
    /// `verb` on `resource` ("httproutes.gateway.networking.k8s.io"), with
    /// retries for what may pass (timeouts, 5xx, 429, broken connections).
    pub async fn call<T, F, Fut>(
        &self,
        verb: &str,
        resource: &str,
        mut send: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        match self.call_once_retried(verb, resource, &mut send).await {
            Ok(value) => Ok(value),
            Err(Failure::Final(e)) => Err(e),
            Err(Failure::Conflict) => Err(self.rejected(format!(
                "conflict: {verb} {resource} in namespace {} answered 409",
                self.namespace
            ))),
        }
    }

    /// [`Calls::call`], with a 409 Conflict answered as `None`: a create
    /// that finds the object there, or a write another writer beat.
    pub async fn call_or_conflict<T, F, Fut>(
        &self,
        verb: &str,
        resource: &str,
        mut send: F,
    ) -> Result<Option<T>, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        match self.call_once_retried(verb, resource, &mut send).await {
            Ok(value) => Ok(Some(value)),
            Err(Failure::Conflict) => Ok(None),
            Err(Failure::Final(e)) => Err(e),
        }
    }

    async fn call_once_retried<T, F, Fut>(
        &self,
        verb: &str,
        resource: &str,
        send: &mut F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut backoff = self.patience.first_backoff;
        let mut attempt = 1;
        loop {
            let problem = match tokio::time::timeout(self.patience.request_timeout, send()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(kube::Error::Api(status))) => match status.code {
                    409 => return Err(Failure::Conflict),
                    403 => {
                        return Err(Failure::Final(self.rejected(format!(
                            "forbidden: cannot {verb} {resource} in namespace {} (grant it to the \
                             user or service account helmsman runs as)",
                            self.namespace
                        ))));
                    }
                    404 => {
                        return Err(Failure::Final(self.rejected(format!(
                            "not found: {verb} {resource} in namespace {}: {}",
                            self.namespace, status.message
                        ))));
                    }
                    code if code >= 500 || code == 429 => {
                        format!("HTTP {code}: {}", status.message)
                    }
                    code => {
                        return Err(Failure::Final(self.rejected(format!(
                            "{verb} {resource}: HTTP {code}: {}",
                            status.message
                        ))));
                    }
                },
                Ok(Err(kube::Error::SerdeError(e))) => {
                    return Err(Failure::Final(ProviderError::Invalid {
                        provider: self.provider.clone(),
                        detail: format!("{verb} {resource}: {e}"),
                    }));
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", self.patience.request_timeout),
            };
            if attempt >= self.patience.attempts {
                return Err(Failure::Final(ProviderError::Unreachable {
                    provider: self.provider.clone(),
                    detail: format!(
                        "{verb} {resource} in namespace {} failed {attempt} times, last: {problem}",
                        self.namespace
                    ),
                }));
            }
            tracing::warn!(provider = %self.provider, %verb, %resource, %problem, attempt, "retrying");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            attempt += 1;
        }
    }

    /// Reads `name`, lets `change` edit it and writes it back with its
    /// resourceVersion, so a concurrent writer makes the API answer 409
    /// instead of one write silently undoing the other; then starts over.
    pub async fn update<K>(
        &self,
        api: &Api<K>,
        resource: &str,
        name: &str,
        mut change: impl FnMut(&mut K) -> Result<(), ProviderError>,
    ) -> Result<K, ProviderError>
    where
        K: Clone + Debug + Serialize + DeserializeOwned,
    {
        for _ in 0..self.patience.conflicts {
            let mut object = self.call("get", resource, || api.get(name)).await?;
            change(&mut object)?;
            let params = PostParams::default();
            match self
                .call_once_retried("update", resource, &mut || {
                    api.replace(name, &params, &object)
                })
                .await
            {
                Ok(written) => return Ok(written),
                Err(Failure::Conflict) => {
                    tracing::info!(provider = %self.provider, %resource, %name, "409 conflict, reading again");
                }
                Err(Failure::Final(e)) => return Err(e),
            }
        }
        Err(self.rejected(format!(
            "{resource} {name} kept changing under helmsman: {} writes in a row answered 409 Conflict",
            self.patience.conflicts
        )))
    }

    pub fn rejected(&self, detail: String) -> ProviderError {
        ProviderError::Rejected {
            provider: self.provider.clone(),
            detail,
        }
    }
}
