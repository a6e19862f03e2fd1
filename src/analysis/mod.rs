//! Automatic rollback triggers and their verdicts.
//!
//! The whole judgement sits behind one pure function, [`judge`]: counts in,
//! verdicts with their numbers out, so the release state machine never
//! needs to know how a verdict was reached.

pub mod numbers;
pub mod stats;
pub mod triggers;

pub use triggers::{first_failure, first_non_pass, judge};
