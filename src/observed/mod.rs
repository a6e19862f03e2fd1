//! What helmsman observes of the world outside it: the traffic state a
//! backend reports and the outcome of a check. (Metrics readings are in
//! `crate::metrics`.) The engine and the providers both speak in these
//! types; neither imports the other for them.

mod check_result;
mod traffic;

pub use check_result::{CheckResult, CheckStatus, duration_ms};
pub use traffic::{Instance, TrafficState};
