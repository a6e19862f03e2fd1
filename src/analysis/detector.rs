//! The change detector: evidence that a share (of failing requests, of
//! slow ones, of one error kind) rose past its tolerated value, from
//! whichever reading the rise began at.
//!
//! # Why not one window
//!
//! A window counted from the first step dilutes a fault that begins late:
//! twenty minutes of clean traffic hide a +10-point regression for many
//! minutes. A fixed sliding window re-tested at every reading is looked at
//! hundreds of times and ends up firing on noise. The detector does
//! neither. It is a weighted Shiryaev–Roberts e-detector (Shin, Ramdas &
//! Rinaldo, *E-detectors: a nonparametric framework for sequential change
//! detection*, 2022): for every reading `j` at which the rise could have
//! begun it keeps the likelihood ratio of the readings since `j`, and it
//! sums them weighted by a prior on when faults begin:
//!
//! ```text
//!   R_t = Σ_j w_j · Λ_{j..t}        R_t = (R_{t−1} + w_t) · LR_t
//! ```
//!
//! Each `Λ_{j..t}` is a product of per-reading likelihood ratios of "the
//! share is `p1`" against "the share is `p0`", the tolerated value. While
//! the share stays at or under `p0` each factor has expectation at most 1,
//! so `R_t` plus the weight not yet handed out is a non-negative
//! supermartingale that starts at 1 (the weights sum to 1). By Ville's
//! inequality it ever reaches `1/α` with probability at most `α`: the
//! detector may be looked at after every reading, for as long as a release
//! runs, and still fires on a healthy version at most `α` of the time.
//!
//! The prior on the onset (`w`): half of it on "from the first step", the
//! other half spread over the release's later moments with a heavy tail,
//! `F(s) = s / (s + ONSET_SCALE)`. A fault present from the start is found
//! as fast as a fixed test would; one beginning after 20 minutes needs
//! about twice the evidence — one or two readings more at 100 requests
//! each — and none is ever out of reach.
//!
//! `p1` is not known in advance, so `R` is the average over a few
//! alternatives `p0 + gap × {1, 2, 4, 8}` (`gap`: from the tolerated value
//! to the threshold): an average of supermartingales is one, and it adapts
//! to a regression just over the threshold as to one far beyond it.

/// How the prior on a fault's onset spreads over time: half its mass
/// before this many seconds of the later half, and a tail that still
/// gives an hour-old release a fair share.
pub const ONSET_SCALE_S: f64 = 600.0;

/// The regression sizes averaged over, in multiples of the gap between
/// the tolerated value and the threshold.
const ALTERNATIVES: [f64; 4] = [1.0, 2.0, 4.0, 8.0];

/// The prior weight of "the fault began in this reading": the reading
/// ending `elapsed_s` seconds into observation, the previous one at
/// `previous_s` (`None` for the first reading, which also takes the half
/// for "present from the start").
pub fn onset_weight(previous_s: Option<f64>, elapsed_s: f64) -> f64 {
    let spread = |s: f64| {
        let s = s.max(0.0);
        s / (s + ONSET_SCALE_S)
    };
    match previous_s {
        None => 0.5 + 0.5 * spread(elapsed_s),
        Some(before) => 0.5 * (spread(elapsed_s) - spread(before)).max(0.0),
    }
}

/// One detector; `S` marks where a window began (for the verdict's words).
#[derive(Debug, Clone)]
pub struct Detector<S> {
    /// ln R for each alternative.
    ln_sum: [f64; ALTERNATIVES.len()],
    /// Page's CUSUM of the mildest alternative, riding along to say where
    /// the rise began: the evidence since the latest reading it was not
    /// positive, and that reading's mark.
    cusum: f64,
    began: Option<S>,
}

impl<S: Clone> Default for Detector<S> {
    fn default() -> Self {
        Detector {
            ln_sum: [f64::NEG_INFINITY; ALTERNATIVES.len()],
            cusum: 0.0,
            began: None,
        }
    }
}

/// One reading's count of a share: `k` of `n` new requests (fractional
/// counts allowed), `p0` the tolerated share, `gap` the distance from it
/// to the threshold's.
#[derive(Debug, Clone, Copy)]
pub struct Count {
    pub k: f64,
    pub n: f64,
    pub p0: f64,
    pub gap: f64,
}

impl Count {
    /// ln of the likelihood ratio of "the share is `p0 + gap × m`"
    /// against "it is `p0`".
    fn ln_lr(&self, m: f64) -> f64 {
        let Count { k, n, p0, gap } = *self;
        if !(n > 0.0 && p0 > 0.0 && p0 < 1.0 && gap > 0.0) {
            return 0.0;
        }
        let p1 = (p0 + gap * m).min(0.5 * (1.0 + p0));
        let k = k.clamp(0.0, n);
        k * (p1 / p0).ln() + (n - k) * ((1.0 - p1) / (1.0 - p0)).ln()
    }
}

impl<S: Clone> Detector<S> {
    /// One reading. `evidence` is the count the guarantee rests on, its
    /// `p0` a bound that holds with the stated probability; `onset` the
    /// same question asked with point estimates (the baseline's rate as
    /// measured, not its upper bound), used only to say where a rise
    /// began — early on, while the baseline's bounds are still wide, the
    /// evidence count says "mild" for a reading that clearly is not.
    /// `weight` comes from [`onset_weight`]; `here` marks a window
    /// beginning with this reading.
    ///
    /// Either may be missing. A reading without evidence (too little
    /// baseline to bound `p0`) still hands out its prior weight, with a
    /// likelihood ratio of 1, so the guarantee never depends on which
    /// readings were usable.
    pub fn observe(
        &mut self,
        weight: f64,
        evidence: Option<Count>,
        onset: Option<Count>,
        here: &S,
    ) {
        for (i, m) in ALTERNATIVES.iter().enumerate() {
            self.add(i, weight, evidence.map_or(0.0, |c| c.ln_lr(*m)));
        }
        if let Some(onset) = onset {
            self.follow_the_start(onset.ln_lr(ALTERNATIVES[0]), here);
        }
    }

    fn add(&mut self, i: usize, weight: f64, ln_lr: f64) {
        let ln_w = if weight > 0.0 {
            weight.ln()
        } else {
            f64::NEG_INFINITY
        };
        self.ln_sum[i] = ln_add(self.ln_sum[i], ln_w) + ln_lr;
    }

    /// The CUSUM restarts whenever the evidence since its start is gone: a
    /// rise begins at the first reading of a run that stays positive. The
    /// mildest alternative keeps the start through a first reading after
    /// the onset that happens to look mild, and the prior plays no part:
    /// the release's first reading gets no head start.
    fn follow_the_start(&mut self, ln_lr: f64, here: &S) {
        if self.cusum <= 0.0 && ln_lr > 0.0 {
            self.began = Some(here.clone());
        }
        self.cusum = (self.cusum + ln_lr).max(0.0);
        if self.cusum <= 0.0 {
            self.began = None;
        }
    }

    /// ln of the e-value: the average of the alternatives' sums.
    pub fn ln_evidence(&self) -> f64 {
        self.ln_sum
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| ln_add(a, b))
            - (ALTERNATIVES.len() as f64).ln()
    }

    /// Whether the evidence reached `1/alpha`.
    pub fn fired(&self, alpha: f64) -> bool {
        self.ln_evidence() >= (1.0 / alpha).ln()
    }

    /// Where the rise began, while the evidence since then is positive.
    pub fn began(&self) -> Option<&S> {
        self.began.as_ref()
    }
}

/// ln(eᵃ + eᵇ) without overflow.
fn ln_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn binomial(n: u32, p: f64, rng: &mut StdRng) -> f64 {
        (0..n).filter(|_| rng.random::<f64>() < p).count() as f64
    }

    #[test]
    fn the_onset_prior_hands_out_at_most_one() {
        let mut total = 0.0;
        let mut previous = None;
        for reading in 1..=100_000 {
            let s = reading as f64 * 10.0;
            total += onset_weight(previous, s);
            previous = Some(s);
        }
        assert!(total <= 1.0 + 1e-12 && total > 0.99, "{total}");
        assert!(onset_weight(None, 10.0) > 0.5);
    }

    /// `k` of 100 requests, the tolerated share 2.6 %, the threshold 2.5
    /// points over it.
    fn count(k: f64) -> Count {
        Count {
            k,
            n: 100.0,
            p0: 0.026,
            gap: 0.025,
        }
    }

    /// Readings of 100 requests, each failing with `rate`: the reading the
    /// detector fired at, and the detector then.
    fn run(rate_at: impl Fn(u32) -> f64, readings: u32, seed: u64) -> Option<(u32, Detector<u32>)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut d = Detector::<u32>::default();
        let mut previous = None;
        for r in 1..=readings {
            let s = f64::from(r) * 10.0;
            let k = binomial(100, rate_at(r), &mut rng);
            d.observe(
                onset_weight(previous, s),
                Some(count(k)),
                Some(count(k)),
                &r,
            );
            previous = Some(s);
            if d.fired(0.005) {
                return Some((r, d));
            }
        }
        None
    }

    #[test]
    fn a_share_at_the_tolerated_value_rarely_fires_however_long_it_is_watched() {
        let fired = (0..400)
            .filter(|&seed| run(|_| 0.026, 360, seed).is_some())
            .count();
        // α = 0.5 %: expect about 2 in 400 at most (the bound is loose).
        assert!(fired <= 6, "{fired} of 400 fired");
    }

    #[test]
    fn a_late_rise_is_found_within_a_few_readings_of_its_onset() {
        for seed in 0..20 {
            let (at, d) = run(|r| if r > 120 { 0.101 } else { 0.001 }, 240, seed).expect("fired");
            assert!(at > 120 && at <= 126, "seed {seed}: fired at reading {at}");
            let began = *d.began().unwrap();
            assert!(
                (119..=123).contains(&began),
                "seed {seed}: window began at {began}"
            );
        }
    }

    #[test]
    fn readings_without_a_baseline_only_spend_their_weight() {
        let mut d = Detector::<u32>::default();
        d.observe(0.6, None, None, &1);
        assert!((d.ln_evidence() - 0.6f64.ln()).abs() < 1e-12);
        assert!(!d.fired(0.01));
    }
}
