//! What an answer means for each template: one count, counts by `kind`,
//! histogram buckets by `le`, or a quantile in seconds. Pure, so every
//! shape Prometheus can send is unit-tested.
//!
//! "No data" (an empty result, NaN, ±Inf) is kept apart from "invalid" (a
//! shape the template should not produce): both stop the reading, but
//! only the first is something Prometheus may get over by itself.

use std::collections::BTreeMap;

use super::api::Series;
use crate::metrics::LatencyHistogram;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Problem {
    NoData(String),
    Invalid(String),
}

/// One number, `None` for an empty result.
fn single(answer: &[Series]) -> Result<Option<f64>, Problem> {
    match answer {
        [] => Ok(None),
        [one] if one.value.is_finite() => Ok(Some(one.value)),
        [one] => Err(Problem::NoData(format!(
            "the value is {}",
            words(one.value)
        ))),
        many => Err(Problem::Invalid(format!(
            "{} series where one number was expected; aggregate it, e.g. sum(…)",
            many.len()
        ))),
    }
}

/// A cumulative counter's value as a count. Counters are floats in
/// Prometheus; a sum over instances is whole, so rounding loses nothing.
fn counter(value: f64, what: &str) -> Result<u64, Problem> {
    if !value.is_finite() {
        return Err(Problem::NoData(format!("{what} is {}", words(value))));
    }
    if value < 0.0 {
        return Err(Problem::Invalid(format!(
            "{what} is {value}, a counter is never negative"
        )));
    }
    Ok(value.round() as u64)
}

fn words(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

/// The requests counted so far; `None` for an empty result.
pub(super) fn count(answer: &[Series]) -> Result<Option<u64>, Problem> {
    single(answer)?.map(|v| counter(v, "the count")).transpose()
}

/// A quantile in seconds, as milliseconds; `None` for an empty result.
pub(super) fn seconds_as_ms(answer: &[Series]) -> Result<Option<f64>, Problem> {
    match single(answer)? {
        Some(s) if s < 0.0 => Err(Problem::Invalid(format!("{s} s is not a latency"))),
        other => Ok(other.map(|s| s * 1000.0)),
    }
}

/// Errors by their `kind` label. An empty result is no errors: Prometheus
/// has no series for a kind that never happened.
pub(super) fn by_kind(answer: &[Series]) -> Result<BTreeMap<String, u64>, Problem> {
    let mut kinds = BTreeMap::new();
    for s in answer {
        let Some(kind) = s.labels.get("kind") else {
            return Err(Problem::Invalid(format!(
                "a series without a `kind` label ({}); aggregate by it: sum by (kind) (…)",
                labels(s)
            )));
        };
        let n = counter(s.value, &format!("kind `{kind}`"))?;
        if kinds.insert(kind.clone(), n).is_some() {
            return Err(Problem::Invalid(format!(
                "kind `{kind}` appears in several series; aggregate by it: sum by (kind) (…)"
            )));
        }
    }
    Ok(kinds)
}

/// A Prometheus histogram (cumulative counts by `le`, in seconds) as the
/// analysis keeps it: bounds in milliseconds and a count per bucket, the
/// `+Inf` bucket being the overflow. `None` for an empty result.
pub(super) fn histogram(answer: &[Series]) -> Result<Option<LatencyHistogram>, Problem> {
    if answer.is_empty() {
        return Ok(None);
    }
    // (bound in seconds, cumulative count, the label as written)
    let mut buckets: Vec<(f64, u64, &str)> = Vec::with_capacity(answer.len());
    for s in answer {
        let Some(le) = s.labels.get("le") else {
            return Err(Problem::Invalid(format!(
                "a series without an `le` label ({}); aggregate by it: sum by (le) (…_bucket)",
                labels(s)
            )));
        };
        let bound = match le.as_str() {
            "+Inf" => f64::INFINITY,
            text => text
                .parse::<f64>()
                .ok()
                .filter(|b| b.is_finite())
                .ok_or_else(|| Problem::Invalid(format!("le=\"{le}\" is not a bucket bound")))?,
        };
        let cumulative = counter(s.value, &format!("bucket le=\"{le}\""))?;
        buckets.push((bound, cumulative, le));
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(pair) = buckets.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Problem::Invalid(format!(
            "bucket le=\"{}\" appears in several series; aggregate by it: sum by (le) (…)",
            pair[0].2
        )));
    }
    let Some(&(f64::INFINITY, _, _)) = buckets.last() else {
        return Err(Problem::Invalid(
            "no le=\"+Inf\" bucket: it counts every request, keep it in the query".to_string(),
        ));
    };
    let mut bounds_ms = Vec::with_capacity(buckets.len() - 1);
    let mut counts = Vec::with_capacity(buckets.len());
    let mut below = 0;
    for &(bound, cumulative, le) in &buckets {
        let Some(in_bucket) = cumulative.checked_sub(below) else {
            return Err(Problem::Invalid(format!(
                "bucket le=\"{le}\" counts {cumulative}, fewer than the {below} below it; \
                 cumulative buckets never decrease"
            )));
        };
        if bound.is_finite() {
            bounds_ms.push(bound * 1000.0);
        }
        counts.push(in_bucket);
        below = cumulative;
    }
    Ok(Some(LatencyHistogram {
        bounds_ms: bounds_ms.into(),
        counts,
    }))
}

fn labels(s: &Series) -> String {
    if s.labels.is_empty() {
        return "no labels".to_string();
    }
    s.labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], value: f64) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        }
    }

    fn buckets(pairs: &[(&str, f64)]) -> Vec<Series> {
        pairs
            .iter()
            .map(|(le, v)| series(&[("le", le)], *v))
            .collect()
    }

    #[test]
    fn a_count_is_one_finite_non_negative_number() {
        assert_eq!(count(&[series(&[], 41.9999)]), Ok(Some(42)));
        assert_eq!(count(&[]), Ok(None));
        assert!(
            matches!(count(&[series(&[], f64::NAN)]), Err(Problem::NoData(m)) if m.contains("NaN"))
        );
        assert!(
            matches!(count(&[series(&[], f64::INFINITY)]), Err(Problem::NoData(m)) if m.contains("+Inf"))
        );
        assert!(matches!(
            count(&[series(&[], -1.0)]),
            Err(Problem::Invalid(_))
        ));
        let two = [series(&[("pod", "a")], 1.0), series(&[("pod", "b")], 2.0)];
        assert!(matches!(count(&two), Err(Problem::Invalid(m)) if m.contains("sum(")));
    }

    #[test]
    fn kinds_need_their_label_once_each() {
        let answer = [
            series(&[("kind", "http_500")], 3.0),
            series(&[("kind", "Timeout")], 1.0),
        ];
        let kinds = by_kind(&answer).unwrap();
        assert_eq!(kinds["http_500"], 3);
        assert_eq!(kinds.values().sum::<u64>(), 4);
        assert!(by_kind(&[]).unwrap().is_empty());
        assert!(
            matches!(by_kind(&[series(&[("status", "500")], 1.0)]), Err(Problem::Invalid(m)) if m.contains("status=\"500\""))
        );
        let twice = [series(&[("kind", "a")], 1.0), series(&[("kind", "a")], 2.0)];
        assert!(matches!(by_kind(&twice), Err(Problem::Invalid(_))));
        assert!(matches!(
            by_kind(&[series(&[("kind", "a")], f64::NAN)]),
            Err(Problem::NoData(_))
        ));
    }

    #[test]
    fn cumulative_buckets_in_seconds_become_counts_in_milliseconds() {
        // Out of order, as Prometheus may list them.
        let h = histogram(&buckets(&[
            ("+Inf", 10.0),
            ("0.05", 7.0),
            ("0.005", 2.0),
            ("1", 9.0),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(*h.bounds_ms, [5.0, 50.0, 1000.0]);
        assert_eq!(h.counts, vec![2, 5, 2, 1]);
        assert!(h.is_consistent());
        assert_eq!(h.total(), 10);
        assert_eq!(histogram(&[]), Ok(None));
    }

    #[test]
    fn broken_histograms_are_refused() {
        let decreasing = buckets(&[("0.1", 5.0), ("0.2", 4.0), ("+Inf", 6.0)]);
        assert!(
            matches!(histogram(&decreasing), Err(Problem::Invalid(m)) if m.contains("never decrease"))
        );
        let no_inf = buckets(&[("0.1", 5.0)]);
        assert!(matches!(histogram(&no_inf), Err(Problem::Invalid(m)) if m.contains("+Inf")));
        let twice = buckets(&[("0.1", 5.0), ("0.1", 5.0), ("+Inf", 6.0)]);
        assert!(matches!(histogram(&twice), Err(Problem::Invalid(m)) if m.contains("several")));
        let bad_le = buckets(&[("fast", 5.0), ("+Inf", 6.0)]);
        assert!(matches!(histogram(&bad_le), Err(Problem::Invalid(m)) if m.contains("fast")));
        let no_le = [series(&[], 1.0)];
        assert!(matches!(histogram(&no_le), Err(Problem::Invalid(m)) if m.contains("`le`")));
        let nan = buckets(&[("0.1", f64::NAN), ("+Inf", 6.0)]);
        assert!(matches!(histogram(&nan), Err(Problem::NoData(_))));
    }

    #[test]
    fn a_quantile_is_finite_seconds() {
        assert_eq!(seconds_as_ms(&[series(&[], 0.25)]), Ok(Some(250.0)));
        assert_eq!(seconds_as_ms(&[]), Ok(None));
        assert!(matches!(
            seconds_as_ms(&[series(&[], f64::NAN)]),
            Err(Problem::NoData(_))
        ));
        assert!(matches!(
            seconds_as_ms(&[series(&[], -0.1)]),
            Err(Problem::Invalid(_))
        ));
    }
}
