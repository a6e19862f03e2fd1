//! Feature-flag releases through a flagd flag file: the release moves the
//! share of evaluations that get the new variant ([`file`]), beside the
//! data plane that counts requests by variant ([`traffic`]).

pub mod file;
pub mod traffic;

pub use traffic::FlagdTraffic;

use crate::config::{FlagdBackend, Service, Strategy};
use crate::providers::traffic::local::LocalTraffic;

/// The flag a service's release moves: its feature-flag strategy's.
pub fn flag_of(service: &Service) -> &str {
    match &service.strategy {
        Strategy::FeatureFlag(f) => &f.flag,
        _ => &service.name,
    }
}

pub fn traffic_of(backend: &FlagdBackend, plane: LocalTraffic, flag: &str) -> FlagdTraffic {
    FlagdTraffic::new(
        plane,
        file::FlagFile::new(&backend.flag_file),
        flag,
        backend.cohort.clone(),
    )
}
