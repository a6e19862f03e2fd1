//! Names of accounts and groups, as `/etc/passwd` and `/etc/group` give
//! them: the host names an operator by the uid the kernel reports for the
//! peer, and gives its socket to the group its operators share.

use std::path::Path;

/// The name of the account `uid`, or `uid N` when the system has none.
pub fn user_name(uid: u32) -> String {
    field_of(Path::new("/etc/passwd"), |fields| {
        (fields.get(2)? == &uid.to_string().as_str()).then(|| fields[0].to_string())
    })
    .unwrap_or_else(|| format!("uid {uid}"))
}

/// The id of the group `name`.
pub fn group_id(name: &str) -> Option<u32> {
    field_of(Path::new("/etc/group"), |fields| {
        (fields.first()? == &name).then(|| fields.get(2)?.parse().ok())?
    })
}

/// The first answer `pick` gives for a line of a colon-separated file.
fn field_of<T>(file: &Path, pick: impl Fn(&[&str]) -> Option<T>) -> Option<T> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| pick(&line.split(':').collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_named_and_an_unknown_uid_is_numbered() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_000), "uid 4000000000");
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-here"), None);
    }
}
