//! Text that helmsman repeats from elsewhere, made safe to print and log.
//!
//! - Secrets: every value a `${VAR}` reference in the configuration
//!   resolved to is remembered when the configuration loads, and
//!   [`redact`] masks it as `[redacted ${VAR}]` wherever it appears. A
//!   server that echoes the `Authorization` header in its error body (many
//!   do) therefore cannot put a token on the screen, in JSON output, in the
//!   history or in the log. Values shorter than [`MIN_SECRET_LEN`]
//!   characters are not masked: they would mask ordinary words and numbers.
//! - Bodies: what a server answered is repeated only as an [`excerpt`] of
//!   at most [`EXCERPT_CHARS`] characters, on one line.

use std::borrow::Cow;
use std::sync::RwLock;

/// Shorter secret values are not masked (see the module docs).
pub const MIN_SECRET_LEN: usize = 4;
/// The most of a server's answer that is repeated in a message.
pub const EXCERPT_CHARS: usize = 200;

/// (value, what it is), longest value first so a value containing another
/// is masked whole.
static SECRETS: RwLock<Vec<(String, String)>> = RwLock::new(Vec::new());

/// Remembers `value`, named `what` (`${VAR}` for a variable): from now on
/// it is masked as `[redacted what]` in everything [`redact`] sees.
pub fn register(what: &str, value: &str) {
    if value.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = crate::sync::write(&SECRETS);
    if secrets.iter().any(|(v, _)| v == value) {
        return;
    }
    secrets.push((value.to_string(), what.to_string()));
    secrets.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
}

/// `text` with every registered secret value masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = crate::sync::read(&SECRETS);
    let mut out = Cow::Borrowed(text);
    for (value, what) in secrets.iter() {
        if out.contains(value.as_str()) {
            out = Cow::Owned(out.replace(value.as_str(), &format!("[redacted {what}]")));
        }
    }
    out
}

/// A server's answer as it may appear in a message: lossy UTF-8, on one
/// line, at most [`EXCERPT_CHARS`] characters (saying how much was cut),
/// secrets masked; "(empty body)" for nothing.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.is_empty() {
        return "(empty body)".to_string();
    }
    let total = one_line.chars().count();
    let mut kept: String = one_line.chars().take(EXCERPT_CHARS).collect();
    if total > EXCERPT_CHARS {
        kept.push_str(&format!("… ({} bytes in all)", body.len()));
    }
    redact(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_masked_with_their_variable() {
        register("${REDACT_TEST_TOKEN}", "s3cr3t-token-value");
        register("${REDACT_TEST_SHORT}", "abc");
        let echoed = "401: bad header Authorization: Bearer s3cr3t-token-value (abc)";
        assert_eq!(
            redact(echoed),
            "401: bad header Authorization: Bearer [redacted ${REDACT_TEST_TOKEN}] (abc)"
        );
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_longer_value_is_masked_before_one_it_contains() {
        register("${REDACT_TEST_INNER}", "inner-value-1");
        register("${REDACT_TEST_OUTER}", "Bearer inner-value-1!");
        assert_eq!(
            redact("x Bearer inner-value-1! y inner-value-1"),
            "x [redacted ${REDACT_TEST_OUTER}] y [redacted ${REDACT_TEST_INNER}]"
        );
    }

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt(b"  line one\nline two\n"), "line one line two");
        let long = vec![b'x'; 5000];
        let cut = excerpt(&long);
        assert!(cut.starts_with(&"x".repeat(EXCERPT_CHARS)));
        assert!(cut.ends_with("… (5000 bytes in all)"), "{cut}");
        assert_eq!(excerpt(&[0xff, b'o', b'k']), "\u{fffd}ok");
        assert_eq!(excerpt(b" \n"), "(empty body)");
    }
}
