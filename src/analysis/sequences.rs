//! Confidence sequences: bounds that hold at every reading at once.
//!
//! A confidence interval computed afresh at every reading is wrong more
//! often than its level says: at 99 % per look, a hundred looks at a healthy
//! canary find "a regression" far more than 1 % of the time. A confidence
//! sequence is a sequence of intervals that *together* cover the true value
//! with the stated probability, however many readings are looked at and
//! whenever the looking stops (Howard, Ramdas, McAuliffe & Sekhon,
//! *Time-uniform, nonparametric, nonasymptotic confidence sequences*,
//! Annals of Statistics 2021).
//!
//! For a proportion the construction is the beta-binomial mixture: with `k`
//! events in `n` trials, the mixture likelihood ratio against a candidate
//! `p`,
//!
//! ```text
//!   M(p) = B(k + ½, n − k + ½) / B(½, ½)  /  (p^k (1 − p)^(n − k)),
//! ```
//!
//! is a non-negative martingale when `p` is the truth, so by Ville's
//! inequality it ever reaches `1/α` with probability at most `α`. The
//! sequence is the set of `p` where `M(p) < 1/α`: an interval around `k/n`
//! whose ends this module finds by bisection. It needs nothing but counts,
//! so readings may come at any cadence and some may be missed.

use statrs::function::beta::ln_beta;

/// `ln B(½, ½) = ln π`: the Jeffreys mixing distribution's normaliser.
const LN_B_HALF_HALF: f64 = 1.144_729_885_849_400_2;

/// Bounds on a proportion from `k` events in `n` trials that hold at every
/// `n` at once with probability `1 − alpha`: `(lower, upper)`.
///
/// `k` may be fractional (requests over a latency read off a histogram by
/// interpolation). With no trials nothing is known: `(0, 1)`.
pub fn proportion(k: f64, n: f64, alpha: f64) -> (f64, f64) {
    if n <= 0.0 || !(alpha > 0.0 && alpha < 1.0) {
        return (0.0, 1.0);
    }
    let k = k.clamp(0.0, n);
    let mixture = ln_beta(k + 0.5, n - k + 0.5) - LN_B_HALF_HALF;
    let bar = (1.0 / alpha).ln();
    // ln M(p) − ln(1/α): convex in p, least at p = k/n, where M ≤ 1 (the
    // mixture averages likelihoods no larger than the one at k/n).
    let excess = |p: f64| mixture - k * p.ln() - (n - k) * (1.0 - p).ln() - bar;
    let centre = k / n;
    let lower = if k == 0.0 {
        0.0
    } else {
        boundary(centre, 0.0, excess)
    };
    let upper = if k == n {
        1.0
    } else {
        boundary(centre, 1.0, excess)
    };
    (lower, upper)
}

/// Bounds on `p_new − p_base` holding at every reading at once with
/// probability `1 − alpha`: each side's sequence takes half of `alpha`.
pub fn difference(
    (k_new, n_new): (f64, f64),
    (k_base, n_base): (f64, f64),
    alpha: f64,
) -> (f64, f64) {
    let (new_lo, new_hi) = proportion(k_new, n_new, alpha / 2.0);
    let (base_lo, base_hi) = proportion(k_base, n_base, alpha / 2.0);
    (new_lo - base_hi, new_hi - base_lo)
}

/// The point between `inside` (where `excess < 0`) and `outside` (the end
/// of [0, 1]) where `excess` crosses zero, to 2⁻⁵⁰. `excess` is monotone
/// on that side, and infinite at an end it cannot reach.
fn boundary(inside: f64, outside: f64, excess: impl Fn(f64) -> f64) -> f64 {
    let (mut a, mut b) = (inside, outside);
    for _ in 0..50 {
        let mid = 0.5 * (a + b);
        if excess(mid) < 0.0 {
            a = mid;
        } else {
            b = mid;
        }
    }
    // The side still inside the sequence: a bound never excludes the truth
    // by a rounding step.
    b
}

/// Ranks (1-based, out of `n` ordered samples) whose values bound the
/// true `q` quantile from below and from above at every reading at once,
/// together with probability `1 − alpha`. `None` on a side the sample is
/// too small to bound.
///
/// The count of samples at or under the true quantile ξ is Binomial(n, q),
/// so the sequence for that count's proportion covers `q` at every `n`;
/// the `r`-th smallest sample is under ξ exactly when at least `r` samples
/// are. The upper rank is the smallest `r` over `nq` whose sequence
/// excludes `q` (its mixture at `q` reaches `1/α`), the lower rank the
/// largest such `r` under `nq`. The mixture is evaluated at `q` directly:
/// no bisection per rank.
pub fn quantile_ranks(n: u64, q: f64, alpha: f64) -> (Option<u64>, Option<u64>) {
    if n == 0 || !(q > 0.0 && q < 1.0) {
        return (None, None);
    }
    let nf = n as f64;
    let bar = (1.0 / alpha).ln();
    let excludes_q = |r: u64| {
        let r = r as f64;
        ln_beta(r + 0.5, nf - r + 0.5) - LN_B_HALF_HALF - r * q.ln() - (nf - r) * (1.0 - q).ln()
            >= bar
    };
    let centre = (nf * q).floor() as u64;
    // Above the centre the mixture at q grows with r: the first r that
    // excludes q bounds the quantile from above.
    let upper = (excludes_q(n) && n > centre).then(|| first(centre + 1, n, excludes_q));
    // Below it the mixture grows as r falls: the last r that excludes q.
    let lower =
        (centre >= 1 && excludes_q(1)).then(|| first_from_top(1, centre.min(n), excludes_q));
    (lower, upper)
}

/// The largest `r` in `lo..=hi` where `holds` (monotone: true, then
/// false), given that it holds at `lo`.
fn first_from_top(lo: u64, hi: u64, holds: impl Fn(u64) -> bool) -> u64 {
    if holds(hi) {
        hi
    } else {
        first(lo, hi, |r| !holds(r)) - 1
    }
}

/// The smallest `r` in `lo..=hi` where `holds` (monotone: false, then
/// true), given that it holds at `hi`.
fn first(mut lo: u64, mut hi: u64, holds: impl Fn(u64) -> bool) -> u64 {
    if holds(lo) {
        return lo;
    }
    // holds(lo) is false, holds(hi) true.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The smallest `n ≥ 1` where `holds` (monotone: false, then true), or
/// `u64::MAX` if none: doubling to a bracket, then halving it.
fn fewest(holds: impl Fn(u64) -> bool) -> u64 {
    let mut hi = 1u64;
    while !holds(hi) {
        if hi == u64::MAX {
            return hi;
        }
        hi = hi.saturating_mul(2);
    }
    first((hi / 2).max(1), hi, holds)
}

/// The fewest trials without an event whose upper bound falls to `share`:
/// how much clean traffic a pass needs.
pub fn clean_trials_to_bound_under(share: f64, alpha: f64) -> u64 {
    if share <= 0.0 {
        return u64::MAX;
    }
    fewest(|n| proportion(0.0, n as f64, alpha).1 <= share)
}

/// The fewest samples whose order statistics bound the `q` quantile from
/// above (see [`quantile_ranks`]).
pub fn samples_to_bound_quantile_above(q: f64, alpha: f64) -> u64 {
    fewest(|n| quantile_ranks(n, q, alpha).1.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ln M(p) straight from its definition, to check the bounds against.
    fn ln_mixture(k: f64, n: f64, p: f64) -> f64 {
        ln_beta(k + 0.5, n - k + 0.5)
            - std::f64::consts::PI.ln()
            - k * p.ln()
            - (n - k) * (1.0 - p).ln()
    }

    #[test]
    fn the_bounds_are_where_the_mixture_reaches_one_over_alpha() {
        let alpha: f64 = 0.01;
        for (k, n) in [(10.0, 100.0), (1.0, 1000.0), (250.0, 5000.0), (3.5, 40.0)] {
            let (lo, hi) = proportion(k, n, alpha);
            for p in [lo, hi] {
                let at = ln_mixture(k, n, p);
                assert!(
                    (at - (1.0 / alpha).ln()).abs() < 1e-6,
                    "{k}/{n} at {p}: {at}"
                );
            }
            assert!(lo < k / n && k / n < hi);
        }
        // 10 of 100 at α = 0.01, the definition solved by bisection in
        // Python with math.lgamma (100 halvings): 0.0235015 and 0.2486586.
        let (lo, hi) = proportion(10.0, 100.0, 0.01);
        assert!(
            (lo - 0.0235015).abs() < 1e-6 && (hi - 0.2486586).abs() < 1e-6,
            "{lo} {hi}"
        );
    }

    #[test]
    fn a_sequence_is_wider_than_one_interval_and_narrows_with_traffic() {
        let (lo, hi) = proportion(10.0, 100.0, 0.01);
        // The 99 % Jeffreys interval for 10 of 100 is 0.0457 .. 0.1851.
        assert!(lo < 0.0457 && hi > 0.1851);
        let (lo2, hi2) = proportion(100.0, 1000.0, 0.01);
        assert!(lo2 > lo && hi2 < hi);
        // Edge counts and nonsense never give NaN.
        assert_eq!(proportion(0.0, 500.0, 0.01).0, 0.0);
        assert_eq!(proportion(20.0, 20.0, 0.01).1, 1.0);
        assert_eq!(proportion(0.0, 0.0, 0.01), (0.0, 1.0));
        let (lo, hi) = proportion(5.0, 3.0, 0.01);
        assert!(lo.is_finite() && hi == 1.0);
    }

    #[test]
    fn the_difference_splits_alpha_between_the_sides() {
        let (lo, hi) = difference((10.0, 100.0), (1.0, 1000.0), 0.01);
        let (new_lo, new_hi) = proportion(10.0, 100.0, 0.005);
        let (base_lo, base_hi) = proportion(1.0, 1000.0, 0.005);
        assert_eq!((lo, hi), (new_lo - base_hi, new_hi - base_lo));
        let (lo, hi) = difference((1.0, 1000.0), (1.0, 1000.0), 0.01);
        assert!(lo < 0.0 && hi > 0.0);
    }

    #[test]
    fn quantile_ranks_bracket_the_quantile() {
        let (lo, hi) = quantile_ranks(1000, 0.95, 0.01);
        let (lo, hi) = (lo.unwrap(), hi.unwrap());
        assert!(lo < 950 && hi > 950, "{lo} {hi}");
        // Wider than the fixed-sample 99 % ranks (933, 966), and exactly
        // at the edge of the sequence.
        assert!(lo < 933 && hi > 966, "{lo} {hi}");
        assert!(proportion(hi as f64, 1000.0, 0.01).0 > 0.95);
        assert!(proportion((hi - 1) as f64, 1000.0, 0.01).0 <= 0.95);
        assert!(proportion(lo as f64, 1000.0, 0.01).1 < 0.95);
        assert!(proportion((lo + 1) as f64, 1000.0, 0.01).1 >= 0.95);
        // Too few samples to bound the p95 from above.
        assert_eq!(quantile_ranks(20, 0.95, 0.01).1, None);
        assert_eq!(quantile_ranks(0, 0.95, 0.01), (None, None));
    }

    #[test]
    fn clean_traffic_for_a_pass_is_where_the_upper_bound_meets_the_share() {
        let n = clean_trials_to_bound_under(0.01, 0.01);
        assert!(proportion(0.0, n as f64, 0.01).1 <= 0.01);
        assert!(proportion(0.0, (n - 1) as f64, 0.01).1 > 0.01);
        // More than a single 99 % interval needs (330), for looking at every reading.
        assert!(n > 330 && n < 1500, "{n}");
        assert_eq!(clean_trials_to_bound_under(0.0, 0.01), u64::MAX);
    }
}
