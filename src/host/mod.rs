//! The release host: `helmsman serve` listens on a control socket in the
//! state directory that the CLI and the cockpit reach. Today it answers
//! `status`; releases it drives itself come next.

pub mod client;
pub mod protocol;
pub mod server;
