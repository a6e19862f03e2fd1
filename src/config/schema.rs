//! The schema walker's building blocks: typed readers over the spanned TOML
//! tree that record an error (with its location and a hint) instead of
//! stopping, so one run reports every problem in the file.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::duration;
use super::errors::Errors;

pub(crate) type Span = Range<usize>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;
pub(crate) type Table<'i> = DeTable<'i>;

/// "a string", "an integer", … for "expected X, found Y" messages.
pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The closest candidate to a misspelt word, if one is close enough to be
/// a plausible typo.
pub(crate) fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let word_lower = word.to_lowercase();
    candidates
        .iter()
        .map(|c| {
            let distance = strsim::levenshtein(&word_lower, &c.to_lowercase());
            let similarity = strsim::jaro_winkler(&word_lower, &c.to_lowercase());
            (c, distance, similarity)
        })
        .filter(|(c, distance, similarity)| *distance <= 2.max(c.len() / 4) || *similarity >= 0.88)
        .min_by(|a, b| a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)))
        .map(|(c, _, _)| *c)
}

/// "did you mean `x`?" or, with no close candidate, the list of what is allowed.
pub(crate) fn suggestion(word: &str, candidates: &[&str], what: &str) -> String {
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None if candidates.is_empty() => format!("no {what} is defined"),
        None => format!("{what}: {}", quoted_list(candidates)),
    }
}

/// `a`, `b`, `c`: names as messages list them.
pub(crate) fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|i| format!("`{}`", i.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reports every key of `table` that is not in `allowed`.
pub(crate) fn check_keys(errors: &mut Errors, table: &Table, allowed: &[&str], place: &str) {
    for key in table.keys() {
        if !allowed.contains(&key.get_ref().as_ref()) {
            errors.add_hint(
                &key.span(),
                format!("unknown key `{}` in {place}", key.get_ref()),
                suggestion(key.get_ref(), allowed, "allowed keys here"),
            );
        }
    }
}

pub(crate) fn get<'t, 'i>(table: &'t Table<'i>, key: &str) -> Option<&'t Value<'i>> {
    table.get(key)
}

fn wrong_type(errors: &mut Errors, key: &str, expected: &str, value: &Value) {
    errors.add_hint(
        &value.span(),
        format!(
            "`{key}`: expected {expected}, found {}",
            type_name(value.get_ref())
        ),
        match (expected, value.get_ref()) {
            ("a string", DeValue::Integer(_) | DeValue::Float(_)) => {
                "put the value in double quotes".to_string()
            }
            ("a table", _) => format!("write `{key} = {{ … }}` or a `[…{key}]` section"),
            _ => format!("write {expected} here"),
        },
    );
}

pub(crate) fn as_table<'t, 'i>(
    errors: &mut Errors,
    key: &str,
    value: &'t Value<'i>,
) -> Option<&'t Table<'i>> {
    match value.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => {
            wrong_type(errors, key, "a table", value);
            None
        }
    }
}

pub(crate) fn as_array<'t, 'i>(
    errors: &mut Errors,
    key: &str,
    value: &'t Value<'i>,
) -> Option<&'t [Value<'i>]> {
    match value.get_ref() {
        DeValue::Array(a) => Some(a),
        _ => {
            wrong_type(errors, key, "an array", value);
            None
        }
    }
}

pub(crate) fn as_str<'t>(errors: &mut Errors, key: &str, value: &'t Value) -> Option<&'t str> {
    match value.get_ref() {
        DeValue::String(s) => Some(s),
        _ => {
            wrong_type(errors, key, "a string", value);
            None
        }
    }
}

/// A string that must not be empty (names, paths, versions).
pub(crate) fn as_name(errors: &mut Errors, key: &str, value: &Value) -> Option<String> {
    let text = as_str(errors, key, value)?;
    if text.trim().is_empty() {
        errors.add_hint(
            &value.span(),
            format!("`{key}` must not be empty"),
            "give it a short name, e.g. \"checkout\"",
        );
        return None;
    }
    Some(text.to_string())
}

pub(crate) fn as_bool(errors: &mut Errors, key: &str, value: &Value) -> Option<bool> {
    match value.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        _ => {
            wrong_type(errors, key, "a boolean", value);
            None
        }
    }
}

/// An integer, as i128 so that any TOML integer fits and range checks are exact.
pub(crate) fn as_integer(errors: &mut Errors, key: &str, value: &Value) -> Option<i128> {
    match value.get_ref() {
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Some(n),
            Err(_) => {
                errors.add(&value.span(), format!("`{key}`: number out of range"));
                None
            }
        },
        _ => {
            wrong_type(errors, key, "an integer", value);
            None
        }
    }
}

/// An integer in `min..=max`.
pub(crate) fn as_int_in(
    errors: &mut Errors,
    key: &str,
    value: &Value,
    min: i128,
    max: i128,
    hint: &str,
) -> Option<i128> {
    let n = as_integer(errors, key, value)?;
    if n < min || n > max {
        errors.add_hint(
            &value.span(),
            format!("`{key}` is {n}, outside {min}..={max}"),
            hint,
        );
        return None;
    }
    Some(n)
}

/// A finite, non-negative number; integers are accepted where a float is expected.
pub(crate) fn as_non_negative(errors: &mut Errors, key: &str, value: &Value) -> Option<f64> {
    let n = match value.get_ref() {
        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
        DeValue::Integer(_) => as_integer(errors, key, value).map(|n| n as f64),
        _ => {
            wrong_type(errors, key, "a number", value);
            return None;
        }
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Some(n),
        Some(n) if n.is_finite() => {
            errors.add_hint(
                &value.span(),
                format!("`{key}` is {n}, it must not be negative"),
                "use 0 or a positive number",
            );
            None
        }
        Some(_) => {
            errors.add_hint(
                &value.span(),
                format!("`{key}` must be a finite number"),
                "use a plain number such as 5.0",
            );
            None
        }
        // An integer that did not fit was already reported.
        None => None,
    }
}

pub(crate) fn as_duration(errors: &mut Errors, key: &str, value: &Value) -> Option<Duration> {
    let text = as_str(errors, key, value)?;
    match duration::parse(text) {
        Ok(d) => Some(d),
        Err(message) => {
            errors.add_hint(
                &value.span(),
                format!("`{key}`: {message}"),
                "write a duration such as \"250ms\", \"30s\", \"2m\" or \"1h30m\"",
            );
            None
        }
    }
}

/// A duration that must be longer than zero (intervals, timeouts, windows).
pub(crate) fn as_positive_duration(
    errors: &mut Errors,
    key: &str,
    value: &Value,
) -> Option<Duration> {
    let d = as_duration(errors, key, value)?;
    if d.is_zero() {
        errors.add_hint(
            &value.span(),
            format!("`{key}` must be longer than zero"),
            "write a duration such as \"10s\"",
        );
        return None;
    }
    Some(d)
}

pub(crate) fn as_socket_addr(errors: &mut Errors, key: &str, value: &Value) -> Option<SocketAddr> {
    let text = as_str(errors, key, value)?;
    match text.trim().parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            let hint = if text.contains("${") {
                "`${VAR}` is only expanded in secret fields (health headers); write the address itself, e.g. \"127.0.0.1:18080\"".to_string()
            } else {
                "write an IP address and a port, e.g. \"127.0.0.1:18080\" or \"[::1]:18080\" (host names are not resolved)".to_string()
            };
            errors.add_hint(
                &value.span(),
                format!("`{key}`: `{text}` is not a socket address"),
                hint,
            );
            None
        }
    }
}

/// A URL path such as "/healthz".
pub(crate) fn as_path(errors: &mut Errors, key: &str, value: &Value) -> Option<String> {
    let text = as_str(errors, key, value)?;
    if !text.starts_with('/') || text.chars().any(char::is_whitespace) {
        errors.add_hint(
            &value.span(),
            format!("`{key}`: `{text}` is not a URL path"),
            "write a path starting with `/`, e.g. \"/healthz\"",
        );
        return None;
    }
    Some(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Spanned<Table<'_>> {
        DeTable::parse(text).expect("test TOML parses")
    }

    #[test]
    fn suggests_close_names_only() {
        let keys = ["listen", "admin", "stable", "versions"];
        assert_eq!(closest("listn", &keys), Some("listen"));
        assert_eq!(closest("Stable", &keys), Some("stable"));
        assert_eq!(closest("version", &keys), Some("versions"));
        assert_eq!(closest("zzz", &keys), None);
        assert_eq!(
            closest("bluegreen", &["canary", "blue-green", "rolling"]),
            Some("blue-green")
        );
        assert_eq!(
            suggestion("zzz", &keys, "allowed keys").as_str(),
            "allowed keys: `listen`, `admin`, `stable`, `versions`"
        );
    }

    #[test]
    fn unknown_keys_are_reported_at_the_key_with_a_suggestion() {
        let text = "listen = 1\nlistn = 2\n";
        let doc = parse(text);
        let mut errors = Errors::new(Path::new("t.toml"), text);
        check_keys(&mut errors, doc.get_ref(), &["listen"], "the backend");
        let errors = errors.finish();
        assert_eq!(errors.len(), 1);
        let e = &errors.0[0];
        assert_eq!((e.line, e.col), (2, 1));
        assert_eq!(e.message, "unknown key `listn` in the backend");
        assert_eq!(e.hint.as_deref(), Some("did you mean `listen`?"));
    }

    #[test]
    fn typed_readers_report_wrong_types_and_ranges() {
        let text = "s = 5\nw = 101\nn = -1.5\nd = \"5 minutes\"\na = \"localhost:80\"\nz = \"0s\"\np = \"healthz\"\nb = \"yes\"\nbig = 99999999999999999999999999999999999999999\n";
        let doc = parse(text);
        let t = doc.get_ref();
        let mut errors = Errors::new(Path::new("t.toml"), text);
        assert_eq!(as_str(&mut errors, "s", get(t, "s").unwrap()), None);
        assert_eq!(
            as_int_in(&mut errors, "w", get(t, "w").unwrap(), 0, 100, "h"),
            None
        );
        assert_eq!(
            as_non_negative(&mut errors, "n", get(t, "n").unwrap()),
            None
        );
        assert_eq!(as_duration(&mut errors, "d", get(t, "d").unwrap()), None);
        assert_eq!(as_socket_addr(&mut errors, "a", get(t, "a").unwrap()), None);
        assert_eq!(
            as_positive_duration(&mut errors, "z", get(t, "z").unwrap()),
            None
        );
        assert_eq!(as_path(&mut errors, "p", get(t, "p").unwrap()), None);
        assert_eq!(as_bool(&mut errors, "b", get(t, "b").unwrap()), None);
        assert_eq!(as_integer(&mut errors, "big", get(t, "big").unwrap()), None);
        let errors = errors.finish();
        let lines: Vec<_> = errors
            .iter()
            .map(|e| (e.line, e.col, e.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (1, 5, "`s`: expected a string, found an integer"),
                (2, 5, "`w` is 101, outside 0..=100"),
                (3, 5, "`n` is -1.5, it must not be negative"),
                (
                    4,
                    5,
                    "`d`: `5 minutes` contains a space; write units right after numbers"
                ),
                (5, 5, "`a`: `localhost:80` is not a socket address"),
                (6, 5, "`z` must be longer than zero"),
                (7, 5, "`p`: `healthz` is not a URL path"),
                (8, 5, "`b`: expected a boolean, found a string"),
                (9, 7, "`big`: number out of range"),
            ]
        );
    }

    #[test]
    fn integers_are_accepted_where_numbers_are_expected() {
        let text = "a = 5\nb = 2.5\nc = 0x10\n";
        let doc = parse(text);
        let t = doc.get_ref();
        let mut errors = Errors::new(Path::new("t.toml"), text);
        assert_eq!(
            as_non_negative(&mut errors, "a", get(t, "a").unwrap()),
            Some(5.0)
        );
        assert_eq!(
            as_non_negative(&mut errors, "b", get(t, "b").unwrap()),
            Some(2.5)
        );
        assert_eq!(as_integer(&mut errors, "c", get(t, "c").unwrap()), Some(16));
        assert!(errors.is_empty());
    }
}
