//! Kubernetes resource quantities ("500m", "2Gi", "1.5", "1e3") as numbers:
//! cores for CPU, bytes for memory, counts for objects. k8s-openapi keeps
//! them as strings and the kube ecosystem has no parser, so here is one.

/// The value of a quantity string; `None` when it is not one.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let power: i32 = exponent.strip_prefix(['e', 'E'])?.parse().ok()?;
            10f64.powi(power)
        }
    };
    Some(number * scale).filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn decimal_binary_and_exponent_suffixes() {
        let cases = [
            ("8", 8.0),
            ("1.5", 1.5),
            ("500m", 0.5),
            ("7200m", 7.2),
            ("250u", 0.00025),
            ("2k", 2000.0),
            ("2Gi", 2.0 * 1024.0 * 1024.0 * 1024.0),
            ("512Mi", 512.0 * 1024.0 * 1024.0),
            ("1G", 1e9),
            ("1e3", 1000.0),
            ("5E-1", 0.5),
            (" 3 ", 3.0),
        ];
        for (text, value) in cases {
            let parsed = parse(text).unwrap_or_else(|| panic!("{text}"));
            assert!(
                (parsed - value).abs() < 1e-9 * value.max(1.0),
                "{text}: {parsed}"
            );
        }
        for bad in ["", "Gi", "2Gb", "two", "1e", "1.2.3"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
