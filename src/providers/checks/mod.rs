//! Validation checks.
