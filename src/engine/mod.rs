//! The release engine: a pure state machine and the tokio driver around it.

pub mod types;

pub use types::*;
