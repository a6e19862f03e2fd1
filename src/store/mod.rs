//! Durable records of finished releases.
