//! Traffic backends.
pub mod kubernetes;
pub mod local;
pub mod local_reads;
