//! The release engine: a pure state machine and the tokio driver around it.

pub mod clock;
pub mod driver;
pub mod machine;
pub mod plan;
pub mod types;

pub use types::*;
