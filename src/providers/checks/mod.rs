//! Validation checks.

pub mod http;
pub mod service_proxy;
