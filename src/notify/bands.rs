//! The new version's error rate and p95 against the service's alert bands:
//! which entered a worse band than it was in since the last look. What an
//! `alert` notification says, during a release and while one is watched.

use super::message::BandCrossing;
use crate::config::{BandLevel, Bands};
use crate::engine::Snapshot;

pub struct BandWatch {
    bands: Bands,
    /// Error rate, p95.
    levels: [BandLevel; 2],
}

impl BandWatch {
    pub fn new(bands: Bands) -> BandWatch {
        BandWatch {
            bands,
            levels: [BandLevel::Ok; 2],
        }
    }

    /// The figures of `snapshot` now in a worse band than at the last look
    /// (ALERT or CRIT); one that went back is told again when it returns.
    pub fn worse(&mut self, snapshot: &Snapshot) -> Vec<BandCrossing> {
        let figures = [
            (
                "error rate",
                snapshot.new_error_rate_pct,
                self.bands.error_rate,
                "%",
            ),
            ("p95 latency", snapshot.new_p95_ms, self.bands.p95_ms, "ms"),
        ];
        let mut crossings = Vec::new();
        for (i, (figure, value, band, unit)) in figures.into_iter().enumerate() {
            let Some(value) = value else { continue };
            let level = BandLevel::of(value, band);
            if level > self.levels[i] {
                crossings.push(BandCrossing {
                    figure: figure.to_string(),
                    level: level.word().to_string(),
                    value,
                    alert: band.alert,
                    critical: band.critical,
                    unit: unit.to_string(),
                });
            }
            self.levels[i] = level;
        }
        crossings
    }
}
