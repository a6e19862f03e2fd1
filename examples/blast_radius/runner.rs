//! Every run of a family's cells, spread over the CPUs in chunks.

use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::policies::{RunResult, run_once};
use crate::world::{Scenario, Traffic};

/// Runs of one cell handed to a thread at a time: small enough that the
/// threads finish together, large enough that handing out is free.
const RUNS_PER_CHUNK: usize = 25;

/// A distinct, well-mixed seed per run (SplitMix64) from the report's seed,
/// the cell's id and the run's number alone, so results do not depend on
/// which thread ran which cell, nor on which families were asked for.
pub fn run_seed(seed: u64, cell_id: u64, run: usize) -> u64 {
    let mut z = seed ^ (cell_id << 32 | run as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A slice of one cell's runs.
struct Chunk {
    cell: usize,
    runs: Range<usize>,
}

/// `runs` runs of every cell; cell `i`'s id (for its seeds) is
/// `first_cell_id + i`. The most expensive cells are handed out first so
/// no thread is left with a long chunk at the end.
pub fn run_cells(
    scenarios: &[Scenario],
    runs: usize,
    seed: u64,
    first_cell_id: u64,
) -> Vec<Vec<RunResult>> {
    let traffic: Vec<Traffic> = scenarios.iter().map(Traffic::new).collect();
    let mut chunks = Vec::new();
    for cell in 0..scenarios.len() {
        for start in (0..runs).step_by(RUNS_PER_CHUNK) {
            chunks.push(Chunk {
                cell,
                runs: start..(start + RUNS_PER_CHUNK).min(runs),
            });
        }
    }
    let mut order: Vec<usize> = (0..chunks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(scenarios[chunks[i].cell].cost()));
    let done: Vec<OnceLock<Vec<RunResult>>> = chunks.iter().map(|_| OnceLock::new()).collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Chunk { cell, runs } = &chunks[i];
                    let cell_id = first_cell_id + *cell as u64;
                    let results = runs
                        .clone()
                        .map(|run| {
                            run_once(
                                &scenarios[*cell],
                                &traffic[*cell],
                                run_seed(seed, cell_id, run),
                            )
                        })
                        .collect();
                    let _ = done[i].set(results);
                }
            });
        }
    });
    let mut per_cell: Vec<Vec<RunResult>> = scenarios.iter().map(|_| Vec::new()).collect();
    for (chunk, results) in chunks.iter().zip(done) {
        per_cell[chunk.cell].extend(results.into_inner().expect("every chunk ran"));
    }
    per_cell
}
