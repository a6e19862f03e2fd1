//! Traffic backends.
