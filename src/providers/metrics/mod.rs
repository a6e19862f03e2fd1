//! Metrics backends.
pub mod local;
pub mod prometheus;
