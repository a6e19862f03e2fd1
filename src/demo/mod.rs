//! `helmsman demo`: a self-contained world on loopback.
