//! Traffic backends.
pub mod kubernetes;
pub mod local;
