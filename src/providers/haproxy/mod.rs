//! HAProxy hosts, driven through HAProxy's runtime API (a stats socket or a
//! TCP bind at `level admin`): what each server is set to and what HAProxy
//! really does ([`servers`]: `show servers state`), and what each server
//! served ([`stat`]: `show stat`), summed per version as a metrics source
//! ([`metrics`]); and a traffic provider moving each version's share over
//! its servers ([`traffic`]).

pub mod metrics;
pub mod runtime;
pub mod servers;
pub mod stat;
pub mod traffic;

pub use metrics::HaProxyMetrics;
pub use runtime::{Address, AdminState, RuntimeApi};
pub use servers::ServerState;
pub use stat::ServerStat;
pub use traffic::HaProxyTraffic;

/// The column names of an answer's header line, for reading its rows by
/// name: a HAProxy that adds columns is still read right.
struct Header<'a>(Vec<&'a str>);

impl Header<'_> {
    fn column(&self, name: &str) -> Result<usize, String> {
        self.0
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no column `{name}`"))
    }
}
