//! `env`: environment variables that must be set and not empty. Only
//! their names are ever reported: a value is looked at for its length and
//! never copied into a message.

use super::Finding;

pub fn check(names: &[String]) -> Finding {
    check_with(names, &|name| std::env::var_os(name).map(|v| v.is_empty()))
}

/// `is_empty` says, for a set variable, whether it is empty (`None`: not set).
fn check_with(names: &[String], is_empty: &dyn Fn(&str) -> Option<bool>) -> Finding {
    let mut unset = Vec::new();
    let mut empty = Vec::new();
    for name in names {
        match is_empty(name) {
            None => unset.push(name.as_str()),
            Some(true) => empty.push(name.as_str()),
            Some(false) => {}
        }
    }
    if unset.is_empty() && empty.is_empty() {
        return Finding::pass(match names.len() {
            1 => format!("{} is set", names[0]),
            n => format!("all {n} set"),
        });
    }
    let mut problems = Vec::new();
    if !unset.is_empty() {
        problems.push(format!("not set: {}", unset.join(", ")));
    }
    if !empty.is_empty() {
        problems.push(format!("empty: {}", empty.join(", ")));
    }
    Finding::fail(problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::CheckStatus;

    #[test]
    fn names_what_is_missing_and_never_a_value() {
        let lookup = |name: &str| match name {
            "DATABASE_URL" => Some(false),
            "EMPTY" => Some(true),
            _ => None,
        };
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_with(&names(&["DATABASE_URL"]), &lookup),
            Finding::pass("DATABASE_URL is set")
        );
        let bad = check_with(&names(&["DATABASE_URL", "NOPE", "EMPTY"]), &lookup);
        assert_eq!(bad.status, CheckStatus::Fail);
        assert_eq!(bad.value, "not set: NOPE; empty: EMPTY");
    }
}
