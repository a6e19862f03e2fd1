//! How a call to a provider went wrong, in words the engine acts on: it
//! holds, retries or rolls back by the variant, never by the message.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The backend did not answer (connection refused, timeout).
    #[error("{provider} is unreachable: {detail}")]
    Unreachable { provider: String, detail: String },
    /// The backend answered but refused or failed the request.
    #[error("{provider} refused: {detail}")]
    Rejected { provider: String, detail: String },
    /// The backend answered something that cannot be trusted (garbage).
    #[error("{provider} answered invalid data: {detail}")]
    Invalid { provider: String, detail: String },
    /// The backend answered, but without a number to judge: an empty
    /// result, NaN or an infinity.
    #[error("{provider} has no data: {detail}")]
    NoData { provider: String, detail: String },
    /// The change was accepted but the backend reports it cannot complete
    /// (a Deployment past its progress deadline): retrying will not help,
    /// so the engine rolls back.
    #[error("{provider} failed: {detail}")]
    Failed { provider: String, detail: String },
    /// The backend cannot make this move at all (flags on a proxy): a
    /// strategy it cannot run.
    #[error("{provider} does not support {what}")]
    Unsupported { provider: String, what: String },
    /// No answer within the time the engine allows a call.
    #[error("{provider} did not answer within {}", crate::config::duration::format(*.after))]
    TimedOut { provider: String, after: Duration },
}
