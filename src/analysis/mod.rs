//! Automatic rollback triggers and their verdicts.
