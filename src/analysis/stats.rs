//! The statistics behind the verdicts: confidence bounds for a proportion,
//! for a difference of two proportions and for a quantile read off a
//! latency histogram.
//!
//! Everything here works on counts — the only thing every metrics provider
//! can supply — and stays exact when the counts are small or the events
//! rare (no normal approximation, which breaks down at a 0.1 % error rate):
//!
//! - A proportion's bounds are Jeffreys intervals: quantiles of the
//!   Beta(k + ½, n − k + ½) posterior. Their coverage is close to nominal
//!   even at k = 0 (Brown, Cai & DasGupta, *Interval Estimation for a
//!   Binomial Proportion*, 2001).
//! - A quantile's bounds are order statistics chosen with the exact
//!   binomial distribution: they assume nothing about the shape of the
//!   latency distribution.

use statrs::function::beta::beta_reg;

/// The `p` quantile of the Beta(a, b) distribution (R: `qbeta(p, a, b)`).
///
/// Bisection on the regularized incomplete beta function: it is monotone,
/// so 60 halvings pin the answer to well below 1e-12, and it never fails
/// to converge the way Newton steps can near 0 and 1.
pub fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if beta_reg(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// P(X ≥ k) for X ~ Binomial(n, p) (R: `pbinom(k - 1, n, p, lower.tail = FALSE)`).
pub fn binomial_at_least(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    // The identity P(X ≥ k) = I_p(k, n − k + 1).
    beta_reg(k as f64, (n - k + 1) as f64, p)
}

/// One-sided bounds on a proportion from `k` events in `n` trials, each
/// holding with probability `confidence`: `(lower, upper)`.
///
/// `k` may be fractional (events read off a histogram by interpolation).
/// With no trials the proportion is unknown: `(0, 1)`.
pub fn proportion_bounds(k: f64, n: f64, confidence: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let k = k.clamp(0.0, n);
    let (a, b) = (k + 0.5, n - k + 0.5);
    // Jeffreys' rule: at k = 0 (k = n) the lower (upper) bound is exactly 0 (1).
    let lower = if k == 0.0 {
        0.0
    } else {
        beta_quantile(1.0 - confidence, a, b)
    };
    let upper = if k == n {
        1.0
    } else {
        beta_quantile(confidence, a, b)
    };
    (lower, upper)
}

/// Bounds on `p_new − p_base`, holding together with probability at least
/// `confidence`: each side's bound takes half the allowed error
/// (Bonferroni), so no assumption ties the two samples together.
pub fn difference_bounds(
    (k_new, n_new): (f64, f64),
    (k_base, n_base): (f64, f64),
    confidence: f64,
) -> (f64, f64) {
    let each = 1.0 - (1.0 - confidence) / 2.0;
    let (new_lo, new_hi) = proportion_bounds(k_new, n_new, each);
    let (base_lo, base_hi) = proportion_bounds(k_base, n_base, each);
    (new_lo - base_hi, new_hi - base_lo)
}

/// The fewest trials without an event that bound a proportion under
/// `share` with `confidence`: how much clean traffic a pass needs.
pub fn requests_to_bound_under(share: f64, confidence: f64) -> u64 {
    if share <= 0.0 {
        return u64::MAX;
    }
    let clean = |n: u64| proportion_bounds(0.0, n as f64, confidence).1 <= share;
    let (mut lo, mut hi) = (0u64, 1u64);
    while !clean(hi) {
        lo = hi;
        hi *= 2;
    }
    // `lo` does not bound it, `hi` does.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if clean(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// Ranks (1-based, out of `n` ordered samples) whose values bound the true
/// `q` quantile from below and from above, each with probability at least
/// `confidence`. `None` on a side the sample is too small to bound: too few
/// samples under (or over) the quantile.
///
/// X₍ₖ₎ ≤ ξ_q exactly when at least k samples fall at or under ξ_q, so
/// P(X₍ₖ₎ ≤ ξ_q) = P(Binomial(n, q) ≥ k): the lower bound is the largest
/// such k with that probability ≥ `confidence`, the upper one the smallest
/// k with P(Binomial(n, q) ≤ k − 1) ≥ `confidence`.
pub fn quantile_rank_bounds(n: u64, q: f64, confidence: f64) -> (Option<u64>, Option<u64>) {
    if n == 0 {
        return (None, None);
    }
    // P(Bin ≥ k) falls as k grows: find the last k where it is ≥ confidence.
    let lower = if binomial_at_least(1, n, q) < confidence {
        None
    } else {
        let (mut lo, mut hi) = (1u64, n); // lo satisfies
        if binomial_at_least(n, n, q) >= confidence {
            lo = n;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if binomial_at_least(mid, n, q) >= confidence {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    };
    // P(Bin ≤ k − 1) = 1 − P(Bin ≥ k) rises as k grows: the first k where
    // it is ≥ confidence. k = n + 1 would be past the largest sample.
    let upper = if 1.0 - binomial_at_least(n, n, q) < confidence {
        None
    } else {
        let (mut lo, mut hi) = (0u64, n); // hi satisfies
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if 1.0 - binomial_at_least(mid, n, q) >= confidence {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi.max(1))
    };
    (lower, upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn beta_quantiles_match_r() {
        // R 4.2.2: qbeta(c(0.01, 0.5, 0.99), 10.5, 90.5)
        //   0.04566163894 0.10134690593 0.18506348732  (10 errors in 100, Jeffreys)
        for (p, want) in [
            (0.01, 0.04566163894),
            (0.5, 0.10134690593),
            (0.99, 0.18506348732),
        ] {
            let got = beta_quantile(p, 10.5, 90.5);
            assert!(close(got, want, 5e-7), "qbeta({p}) = {got}, R says {want}");
        }
        // qbeta(0.99, 0.5, 1000.5) = 0.003311124908 (no errors in 1000)
        let got = beta_quantile(0.99, 0.5, 1000.5);
        assert!(close(got, 0.003311124908, 1e-9), "{got}");
        assert_eq!(beta_quantile(0.0, 2.0, 3.0), 0.0);
        assert_eq!(beta_quantile(1.0, 2.0, 3.0), 1.0);
    }

    #[test]
    fn binomial_tails_match_r() {
        // pbinom(9, 100, 0.011, lower.tail = FALSE) = 1.823647605e-07: ten
        // errors in a hundred requests from a version failing 1.1 %.
        let got = binomial_at_least(10, 100, 0.011);
        assert!(close(got / 1.823647605e-07, 1.0, 1e-6), "{got}");
        // pbinom(94, 100, 0.95, lower.tail = FALSE) = 0.615999128
        let got = binomial_at_least(95, 100, 0.95);
        assert!(close(got, 0.615999128, 1e-8), "{got}");
        assert_eq!(binomial_at_least(0, 10, 0.3), 1.0);
        assert_eq!(binomial_at_least(11, 10, 0.3), 0.0);
    }

    #[test]
    fn proportion_bounds_are_jeffreys_intervals() {
        // 10 of 100, each bound at 99 %: R qbeta(c(0.01, 0.99), 10.5, 90.5)
        let (lo, hi) = proportion_bounds(10.0, 100.0, 0.99);
        assert!(close(lo, 0.04566163894, 1e-9) && close(hi, 0.18506348732, 1e-9));
        // Zero events: the lower bound is 0, the upper one still finite.
        let (lo, hi) = proportion_bounds(0.0, 1000.0, 0.99);
        assert_eq!(lo, 0.0);
        assert!(close(hi, 0.003311124908, 1e-9), "{hi}");
        // All events: the upper bound is 1.
        assert_eq!(proportion_bounds(20.0, 20.0, 0.99).1, 1.0);
        // Nothing observed: nothing known.
        assert_eq!(proportion_bounds(0.0, 0.0, 0.99), (0.0, 1.0));
        // Counts out of range are clamped, never NaN.
        let (lo, hi) = proportion_bounds(5.0, 3.0, 0.99);
        assert!(lo.is_finite() && hi == 1.0);
    }

    #[test]
    fn difference_bounds_split_the_error_between_both_sides() {
        // 10 of 100 against 1 of 1000, each side at 99.5 %:
        // R qbeta(0.005, 10.5, 90.5) - qbeta(0.995, 1.5, 999.5) = 0.03492185564
        let (lo, hi) = difference_bounds((10.0, 100.0), (1.0, 1000.0), 0.99);
        assert!(close(lo, 0.03492185564, 1e-9), "{lo}");
        // qbeta(0.995, 10.5, 90.5) = 0.1955805362, less the baseline's lower bound.
        assert!(hi < 0.1955805362 && hi > 0.195, "{hi}");
        // The same rates observed on both sides straddle zero.
        let (lo, hi) = difference_bounds((1.0, 1000.0), (1.0, 1000.0), 0.99);
        assert!(lo < 0.0 && hi > 0.0);
    }

    #[test]
    fn clean_traffic_needed_for_a_pass_matches_r() {
        // R: n <- 1:2000; min(n[qbeta(0.99, 0.5, n + 0.5) <= 0.01]) = 330,
        //    and 191 at 0.95.
        assert_eq!(requests_to_bound_under(0.01, 0.99), 330);
        assert_eq!(requests_to_bound_under(0.01, 0.95), 191);
        assert_eq!(requests_to_bound_under(0.0, 0.95), u64::MAX);
    }

    #[test]
    fn quantile_ranks_match_the_binomial() {
        // n = 1000, q = 0.95, 99 % each side. R, by brute force:
        //   k <- 1:1000
        //   max(k[pbinom(k - 1, 1000, 0.95, lower.tail = FALSE) >= 0.99])  # 933
        //   min(k[pbinom(k - 1, 1000, 0.95) >= 0.99])                      # 966
        let (lo, hi) = quantile_rank_bounds(1000, 0.95, 0.99);
        assert_eq!((lo, hi), (Some(933), Some(966)));
        // Too few samples to bound the p95 from above.
        let (lo, hi) = quantile_rank_bounds(20, 0.95, 0.99);
        assert!(lo.is_some());
        assert_eq!(hi, None);
        assert_eq!(quantile_rank_bounds(0, 0.95, 0.99), (None, None));
    }
}
