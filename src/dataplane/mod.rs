//! The embedded local data plane: a weighted HTTP/1.1 reverse proxy with its own counters.
