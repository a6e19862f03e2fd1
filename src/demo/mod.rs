//! `helmsman demo`: a self-contained world on loopback — sample services
//! for a stable and a new version, the embedded data plane in front of each,
//! and steady load — released dev → staging → prod.

pub mod database;
pub mod flag_eval;
pub mod load;
pub mod sample_service;
pub mod scenario;
pub mod world;
