//! The simulated traffic: both versions' cumulative counters, seeded, in
//! virtual time counted from the moment the canary's weight is applied.
//!
//! Per version and per second: requests ~ Poisson, errors ~ Binomial,
//! latencies binned over `LATENCY_BUCKETS_MS` as a multinomial from a
//! lognormal (baseline median 50 ms, sigma 0.5; the new version's latencies
//! are the baseline's times a factor while a fault lasts). The world is
//! generated in slots of several seconds at once where nothing changes
//! inside the slot: a sum of k independent Poisson(λ) draws is one
//! Poisson(kλ) draw, and given the requests, the errors (binomial) and the
//! latency buckets (multinomial) of k seconds together are one draw with
//! the same probabilities. A slot ends wherever anyone reads the counters,
//! at every comparison-policy check and wherever the fault starts or ends,
//! so every reading is exact at its second.

use std::f64::consts::SQRT_2;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Distribution, Poisson};
use statrs::function::erf::erfc;

use helmsman::metrics::{LATENCY_BUCKETS_MS, LatencyHistogram, Reading, Sample};

pub const BASELINE_MEDIAN_MS: f64 = 50.0;
pub const LATENCY_SIGMA: f64 = 0.5;
/// Every error, on both sides: a generic class, so never a "new error kind".
pub const ERROR_KIND: &str = "http_500";
/// How long the stable version served all the traffic before the release:
/// the counters a metrics source holds for it when the canary starts.
pub const HISTORY_S: u64 = 600;
/// The world keeps the cumulative counters every this many seconds: the
/// comparison policies' check interval.
pub const MARK_EVERY_S: u64 = 60;

/// How the new version misbehaves: over `[start_s, end_s)` (seconds after
/// the canary's weight is applied; `end_s: None` is never) its error rate
/// is the baseline's plus `error_delta_pts` points and its latencies are
/// the baseline's times `latency_factor`. Outside it, it behaves exactly
/// like the baseline.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub start_s: u64,
    pub end_s: Option<u64>,
    pub error_delta_pts: f64,
    pub latency_factor: f64,
}

impl Fault {
    /// A fault there from the moment the weight is applied, for good.
    pub fn from_onset(error_delta_pts: f64, latency_factor: f64) -> Fault {
        Fault {
            start_s: 0,
            end_s: None,
            error_delta_pts,
            latency_factor,
        }
    }

    /// A fault beginning `start_s` after the weight is applied, for good.
    pub fn late(start_s: u64, error_delta_pts: f64, latency_factor: f64) -> Fault {
        Fault {
            start_s,
            ..Fault::from_onset(error_delta_pts, latency_factor)
        }
    }

    fn active_during_second(&self, second: u64) -> bool {
        second >= self.start_s && self.end_s.is_none_or(|end| second < end)
    }

    /// The first second after `second` at which the behaviour changes.
    fn next_change_after(&self, second: u64) -> Option<u64> {
        [Some(self.start_s), self.end_s]
            .into_iter()
            .flatten()
            .filter(|&at| at > second)
            .min()
    }
}

/// One simulated release: total traffic, the canary's weight, the
/// baseline's error rate, the new version's fault and how long the run
/// lasts (the canary's pause; a run ends earlier at a rollback decision).
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub rps: u32,
    pub weight: u8,
    /// A share (0.001 is 0.1 %).
    pub baseline_error_rate: f64,
    pub fault: Fault,
    pub horizon_s: u64,
}

impl Scenario {
    pub fn new_rps(&self) -> f64 {
        f64::from(self.rps) * f64::from(self.weight) / 100.0
    }

    pub fn baseline_rps(&self) -> f64 {
        f64::from(self.rps) - self.new_rps()
    }

    /// A rough cost, to hand out the most expensive cells first.
    pub fn cost(&self) -> u64 {
        self.horizon_s * (u64::from(self.rps) + 100)
    }
}

/// One version's behaviour while it does not change.
struct Model {
    rps: f64,
    error_rate: f64,
    latency: Buckets,
}

impl Model {
    fn new(rps: f64, error_rate: f64, median_ms: f64) -> Model {
        Model {
            rps,
            error_rate: error_rate.clamp(0.0, 1.0),
            latency: Buckets::lognormal(median_ms),
        }
    }

    /// Adds `seconds` seconds of traffic to `counters`.
    fn serve(&self, seconds: u64, rng: &mut StdRng, counters: &mut Sample) {
        let mean = self.rps * seconds as f64;
        if mean <= 0.0 {
            return;
        }
        let requests = Poisson::new(mean)
            .expect("a positive, finite request rate")
            .sample(rng) as u64;
        if requests == 0 {
            return;
        }
        let errors = binomial(requests, self.error_rate, rng);
        counters.requests += requests;
        counters.errors += errors;
        if errors > 0 {
            match counters.errors_by_kind.get_mut(ERROR_KIND) {
                Some(n) => *n += errors,
                None => {
                    counters
                        .errors_by_kind
                        .insert(ERROR_KIND.to_string(), errors);
                }
            }
        }
        self.latency.spread(requests, rng, &mut counters.latency);
    }
}

/// A lognormal binned over the latency buckets, ready for multinomial
/// draws as a chain of conditional binomials. The chain visits the buckets
/// from the most to the least likely (a multinomial is the same whatever
/// the order), so it is usually over after a handful of draws.
struct Buckets {
    /// Bucket indices (into the histogram's counts) with a positive share.
    order: Vec<usize>,
    /// The probability of each bucket given that the request is in none of
    /// those before it in `order`; 1 for the last.
    conditional: Vec<f64>,
}

impl Buckets {
    fn lognormal(median_ms: f64) -> Buckets {
        let shares = lognormal_bucket_shares(median_ms);
        let mut order: Vec<usize> = (0..shares.len()).filter(|&i| shares[i] > 0.0).collect();
        order.sort_by(|&a, &b| shares[b].total_cmp(&shares[a]));
        // The mass left at each position, summed from the smallest shares up.
        let mut left = vec![0.0; order.len()];
        let mut sum = 0.0;
        for (k, &i) in order.iter().enumerate().rev() {
            sum += shares[i];
            left[k] = sum;
        }
        let mut conditional: Vec<f64> = order
            .iter()
            .zip(&left)
            .map(|(&i, &mass)| (shares[i] / mass).min(1.0))
            .collect();
        if let Some(last) = conditional.last_mut() {
            *last = 1.0;
        }
        Buckets { order, conditional }
    }

    /// Adds `n` requests to the histogram as one multinomial draw.
    fn spread(&self, n: u64, rng: &mut StdRng, into: &mut LatencyHistogram) {
        let mut left = n;
        for (&bucket, &p) in self.order.iter().zip(&self.conditional) {
            if left == 0 {
                return;
            }
            let taken = if p >= 1.0 {
                left
            } else {
                binomial(left, p, rng)
            };
            into.counts[bucket] += taken;
            left -= taken;
        }
    }
}

/// The lognormal's probability mass in each latency bucket (and overflow).
fn lognormal_bucket_shares(median_ms: f64) -> Vec<f64> {
    let cdf = |ms: f64| 0.5 * erfc(-(ms / median_ms).ln() / (LATENCY_SIGMA * SQRT_2));
    let mut below = 0.0;
    let mut shares: Vec<f64> = LATENCY_BUCKETS_MS
        .iter()
        .map(|&bound| {
            let upto = cdf(bound);
            let share = upto - below;
            below = upto;
            share
        })
        .collect();
    shares.push(1.0 - below);
    shares
}

fn binomial(n: u64, p: f64, rng: &mut StdRng) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    Binomial::new(n, p.min(1.0))
        .expect("a probability in [0, 1]")
        .sample(rng)
}

/// What a scenario's versions serve, computed once per cell.
pub struct Traffic {
    /// The stable version before the release, serving every request.
    before: Model,
    baseline: Model,
    new_healthy: Model,
    new_faulty: Model,
    fault: Fault,
}

impl Traffic {
    pub fn new(scenario: &Scenario) -> Traffic {
        let fault = scenario.fault;
        let base_rate = scenario.baseline_error_rate;
        Traffic {
            before: Model::new(f64::from(scenario.rps), base_rate, BASELINE_MEDIAN_MS),
            baseline: Model::new(scenario.baseline_rps(), base_rate, BASELINE_MEDIAN_MS),
            new_healthy: Model::new(scenario.new_rps(), base_rate, BASELINE_MEDIAN_MS),
            new_faulty: Model::new(
                scenario.new_rps(),
                base_rate + fault.error_delta_pts / 100.0,
                BASELINE_MEDIAN_MS * fault.latency_factor,
            ),
            fault,
        }
    }
}

/// Both versions' cumulative counters, generated forward on demand: the
/// same streams for every policy, whatever any of them decides. Second 0
/// is the moment the weight is applied; the baseline's counters start with
/// the stable version's `HISTORY_S` before it.
pub struct World<'t> {
    traffic: &'t Traffic,
    rng: StdRng,
    elapsed_s: u64,
    cumulative: Reading,
    /// The cumulative reading every `MARK_EVERY_S` (index k: at k of them).
    marks: Vec<Reading>,
    /// The new version's cumulative errors when the fault started.
    new_errors_at_fault_start: Option<u64>,
}

impl<'t> World<'t> {
    pub fn new(traffic: &'t Traffic, seed: u64) -> World<'t> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut cumulative = Reading::default();
        traffic
            .before
            .serve(HISTORY_S, &mut rng, &mut cumulative.baseline);
        World {
            traffic,
            rng,
            elapsed_s: 0,
            marks: vec![cumulative.clone()],
            cumulative,
            new_errors_at_fault_start: (traffic.fault.start_s == 0).then_some(0),
        }
    }

    /// The cumulative counters `second` seconds after the weight was
    /// applied, the streams generated up to there on first use. Never
    /// rewound: an earlier reading would silently include later traffic.
    pub fn reading_at(&mut self, second: u64) -> &Reading {
        assert!(
            second >= self.elapsed_s,
            "reading at {second} s after the world reached {} s",
            self.elapsed_s
        );
        let fault = self.traffic.fault;
        while self.elapsed_s < second {
            let from = self.elapsed_s;
            let next_mark = (from / MARK_EVERY_S + 1) * MARK_EVERY_S;
            let to = [Some(second), Some(next_mark), fault.next_change_after(from)]
                .into_iter()
                .flatten()
                .min()
                .expect("`second` is always there");
            let new = if fault.active_during_second(from) {
                &self.traffic.new_faulty
            } else {
                &self.traffic.new_healthy
            };
            let seconds = to - from;
            new.serve(seconds, &mut self.rng, &mut self.cumulative.new);
            self.traffic
                .baseline
                .serve(seconds, &mut self.rng, &mut self.cumulative.baseline);
            self.elapsed_s = to;
            if to.is_multiple_of(MARK_EVERY_S) {
                self.marks.push(self.cumulative.clone());
            }
            if to == fault.start_s {
                self.new_errors_at_fault_start = Some(self.cumulative.new.errors);
            }
        }
        &self.cumulative
    }

    /// The cumulative counters at the `k`-th mark (`k * MARK_EVERY_S`
    /// seconds), kept for when the engine's run already took the world
    /// past it.
    pub fn at_mark(&mut self, k: u64) -> &Reading {
        let index = k as usize;
        if index >= self.marks.len() {
            self.reading_at(k * MARK_EVERY_S);
        }
        &self.marks[index]
    }

    /// The new version's cumulative errors when the fault started, once
    /// the world got there.
    pub fn new_errors_at_fault_start(&self) -> Option<u64> {
        self.new_errors_at_fault_start
    }
}
