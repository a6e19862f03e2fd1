//! Automatic rollback triggers and their verdicts.
//!
//! The whole judgement sits behind one pure function, [`judge`], so a later
//! statistical judge (sequential tests instead of fixed thresholds) replaces
//! it without touching the release state machine.

pub mod numbers;
pub mod triggers;

pub use triggers::{first_failure, judge};
