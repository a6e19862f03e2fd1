//! Traffic backends.
pub mod local;
