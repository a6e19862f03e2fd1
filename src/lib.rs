//! helmsman: a terminal cockpit for progressive delivery.
//!
//! The shape is a functional core and an imperative shell: `engine::machine`
//! is a pure release state machine, `engine::driver` runs it on tokio and
//! executes its effects through the traits in `providers`. The embedded
//! data plane (`dataplane`) is both a traffic and a metrics provider.

pub mod analysis;
pub mod cli;
pub mod config;
pub mod dataplane;
pub mod demo;
pub mod engine;
pub mod host;
pub mod insights;
pub mod interrupt;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod observed;
pub mod pipeline;
pub mod preflight;
pub mod providers;
pub mod redact;
pub mod report;
pub mod store;
pub mod strategy;
pub mod sync;
pub mod tui;
