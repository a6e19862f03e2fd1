//! Configuration: the TOML model, validation with file:line:col, durations
//! and `${VAR}` secrets.

pub mod duration;
pub mod model;

pub use model::*;
