//! `${VAR}` references, resolved from the environment only in fields typed
//! [`Secret`]. The resolved value never reaches a message: errors name the
//! variable, never what it holds.

use super::model::Secret;

/// Why a secret field could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretError {
    /// `${NAME}` where NAME is not set.
    Unset(String),
    /// `${` without a closing `}`, or an empty / malformed name.
    Malformed(String),
}

/// Expands every `${VAR}` in `text` (e.g. `"Bearer ${API_TOKEN}"`). Literal
/// text around references is kept; `$` not followed by `{` is literal.
pub(crate) fn resolve(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, Vec<SecretError>> {
    let mut value = String::new();
    let mut vars: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        value.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            problems.push(SecretError::Malformed(
                "`${` without a closing `}`".to_string(),
            ));
            rest = "";
            break;
        };
        let name = &after[..end];
        if is_var_name(name) {
            match env(name) {
                Some(v) => {
                    // Masked from here on in everything helmsman prints or logs.
                    crate::redact::register(&format!("${{{name}}}"), &v);
                    value.push_str(&v)
                }
                None => problems.push(SecretError::Unset(name.to_string())),
            }
            if !vars.iter().any(|v| v == name) {
                vars.push(name.to_string());
            }
        } else {
            problems.push(SecretError::Malformed(format!(
                "`${{{name}}}` is not a valid variable reference"
            )));
        }
        rest = &after[end + 1..];
    }
    value.push_str(rest);
    if !problems.is_empty() {
        return Err(problems);
    }
    let var = if vars.is_empty() {
        None
    } else {
        Some(vars.join(", "))
    };
    Ok(Secret::new(value, var))
}

/// Letters, digits and `_`, not starting with a digit.
pub(crate) fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "API_TOKEN" => Some("hunter2".to_string()),
            "USER_ID" => Some("42".to_string()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_inside_text() {
        let s = resolve("Bearer ${API_TOKEN}", &env).unwrap();
        assert_eq!(s.expose(), "Bearer hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(format!("{s}").contains("API_TOKEN"));
        let two = resolve("${USER_ID}:${API_TOKEN}", &env).unwrap();
        assert_eq!(two.expose(), "42:hunter2");
        let literal = resolve("plain $value", &env).unwrap();
        assert_eq!(literal.expose(), "plain $value");
    }

    #[test]
    fn names_unset_variables_and_malformed_references() {
        assert_eq!(
            resolve("Bearer ${NOPE}", &env).unwrap_err(),
            vec![SecretError::Unset("NOPE".into())]
        );
        assert!(matches!(
            resolve("Bearer ${API_TOKEN", &env).unwrap_err()[..],
            [SecretError::Malformed(_)]
        ));
        assert!(matches!(
            resolve("${1BAD}", &env).unwrap_err()[..],
            [SecretError::Malformed(_)]
        ));
        assert!(matches!(
            resolve("${}", &env).unwrap_err()[..],
            [SecretError::Malformed(_)]
        ));
    }
}
