//! Automatic rollback triggers and their verdicts.
//!
//! The judgement sits behind [`Watch`]: a release feeds it every reading
//! and gets verdicts with their numbers back, so the release state machine
//! never needs to know how a verdict was reached. [`judge_window`] judges a
//! single window on its own (an analysis gate).

pub mod detector;
pub mod numbers;
pub mod recent;
pub mod sequences;
pub mod triggers;

pub use triggers::{Watch, first_failure, first_non_pass, judge_window};
