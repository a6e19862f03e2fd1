//! The release host: `helmsman serve` listens on a control socket in the
//! state directory. It drives the releases clients submit ([`releases`]),
//! so they outlive the terminal that started them; the CLI's verbs and
//! `status` reach them there.

pub mod accounts;
pub mod client;
pub mod protocol;
pub mod releases;
pub mod server;
mod watching;
