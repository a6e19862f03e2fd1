//! Validation checks.

pub mod http;
