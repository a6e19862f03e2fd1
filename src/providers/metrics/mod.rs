//! Metrics backends.
pub mod local;
