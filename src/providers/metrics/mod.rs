//! Metrics backends.
