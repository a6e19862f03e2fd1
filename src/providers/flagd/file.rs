//! A flagd flag file (https://flagd.dev/schema/v0/flags.json), as helmsman
//! changes one flag of it: the share of evaluations that get the new
//! variant, through a `fractional` rule in the flag's `targeting`, with an
//! optional cohort (a list of targeting keys, or an email domain) that gets
//! it before any percentage does.
//!
//! - Everything else in the file — other flags, `$evaluators`, metadata,
//!   the flag's own variants — is written back as it was read, in its order.
//! - Writes are atomic: a temporary file beside it, flushed, then renamed
//!   over it, so flagd's file watcher never reads half a file; and each
//!   read-and-rewrite holds a lock, so two releases of two flags of one
//!   file never lose each other's change.
//! - Buckets are consistent: the new variant is listed first in the
//!   fractional rule, so a key in bucket b (0..99 by murmur3 of flag key and
//!   targeting key) gets it exactly when b < percent. As the percentage
//!   grows no key ever goes back to the old variant.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::config::quoted_list;

/// Who gets the new variant before any percentage does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cohort {
    /// These targeting keys.
    Keys(Vec<String>),
    /// Evaluation contexts whose `email` ends with `@<domain>`.
    EmailDomain(String),
}

impl Cohort {
    /// The JsonLogic condition that is true for the cohort.
    fn condition(&self) -> Value {
        match self {
            Cohort::Keys(keys) => json!({ "in": [{ "var": "targetingKey" }, keys] }),
            Cohort::EmailDomain(domain) => {
                json!({ "ends_with": [{ "var": "email" }, format!("@{domain}")] })
            }
        }
    }

    pub fn words(&self) -> String {
        match self {
            Cohort::Keys(keys) => format!("targeting keys {}", keys.join(", ")),
            Cohort::EmailDomain(domain) => format!("emails @{domain}"),
        }
    }
}

/// What helmsman sets on the flag: the new variant's share, and whether
/// the cohort has it regardless.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout<'a> {
    pub old: &'a str,
    pub new: &'a str,
    pub percent: u8,
    pub cohort: Option<&'a Cohort>,
}

impl Rollout<'_> {
    /// The flag's `targeting`: the cohort first (if any), then the split.
    fn targeting(&self) -> Value {
        let percent = self.percent.min(100);
        let split = json!({ "fractional": [[self.new, percent], [self.old, 100 - percent]] });
        match self.cohort {
            Some(cohort) => json!({ "if": [cohort.condition(), self.new, split] }),
            None => split,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FlagFile {
    path: PathBuf,
}

/// What the flag is set to, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagState {
    pub default_variant: String,
    /// The share of a fractional rule's new variant, where the targeting
    /// is helmsman's (`new` listed first); `None` without one.
    pub percent_of: Option<(String, u8)>,
    pub variants: Vec<String>,
}

impl FlagFile {
    pub fn new(path: &Path) -> FlagFile {
        FlagFile {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Value, String> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", self.path.display()))
    }

    fn flag<'v>(
        &self,
        doc: &'v mut Value,
        key: &str,
    ) -> Result<&'v mut Map<String, Value>, String> {
        let path = self.path.display().to_string();
        let flags = doc
            .get_mut("flags")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("{path} has no `flags` object"))?;
        let names: Vec<String> = flags.keys().cloned().collect();
        flags
            .get_mut(key)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("{path} has no flag `{key}`; it has {}", quoted_list(&names)))
    }

    /// The flag's default variant, variants and helmsman's split.
    pub fn state(&self, key: &str) -> Result<FlagState, String> {
        let mut doc = self.read()?;
        let flag = self.flag(&mut doc, key)?;
        let variants: Vec<String> = flag
            .get("variants")
            .and_then(Value::as_object)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default();
        let default_variant = flag
            .get("defaultVariant")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("flag `{key}` has no `defaultVariant`"))?
            .to_string();
        let split = flag.get("targeting").and_then(|t| {
            let fractional = match t.get("if") {
                Some(branches) => branches.get(2)?.get("fractional")?,
                None => t.get("fractional")?,
            };
            let first = fractional.as_array()?.first()?.as_array()?;
            let name = first.first()?.as_str()?.to_string();
            let percent = first.get(1)?.as_u64()?.min(100) as u8;
            Some((name, percent))
        });
        Ok(FlagState {
            default_variant,
            percent_of: split,
            variants,
        })
    }

    /// Sets the flag's targeting to `rollout`, leaving the rest of the file.
    pub fn set(&self, key: &str, rollout: &Rollout) -> Result<(), String> {
        self.locked(|| {
            let mut doc = self.read()?;
            let flag = self.flag(&mut doc, key)?;
            check_variants(key, flag, &[rollout.old, rollout.new])?;
            flag.insert("state".into(), json!("ENABLED"));
            flag.insert("targeting".into(), rollout.targeting());
            self.write(&doc)
        })
    }

    /// Ends helmsman's split: `variant` is the default for everyone, and the
    /// flag has no targeting.
    pub fn settle(&self, key: &str, variant: &str) -> Result<(), String> {
        self.locked(|| {
            let mut doc = self.read()?;
            let flag = self.flag(&mut doc, key)?;
            check_variants(key, flag, &[variant])?;
            flag.insert("defaultVariant".into(), json!(variant));
            flag.remove("targeting");
            self.write(&doc)
        })
    }

    /// A temporary file beside the flag file, then a rename over it: a
    /// reader sees the old file or the new one, never a part.
    fn write(&self, doc: &Value) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("cannot write {}: {e}", self.path.display());
        let mut text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
        text.push('\n');
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
        if let Ok(meta) = std::fs::metadata(&self.path) {
            temp.as_file()
                .set_permissions(meta.permissions())
                .map_err(fail)?;
        }
        temp.write_all(text.as_bytes()).map_err(fail)?;
        temp.as_file().sync_all().map_err(fail)?;
        temp.persist(&self.path).map_err(|e| fail(e.error))?;
        Ok(())
    }

    /// Holds the file's lock (a `.lock` file beside it, flock'd) while
    /// `change` reads and rewrites it: two releases moving two flags of
    /// one file, in one process or two, never lose each other's write.
    fn locked<T>(&self, change: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        static IN_PROCESS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _ours = crate::sync::lock(&IN_PROCESS);
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let lock_path = self.path.with_file_name(format!(".{name}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        change()
    }
}

fn check_variants(key: &str, flag: &Map<String, Value>, needed: &[&str]) -> Result<(), String> {
    let variants = flag.get("variants").and_then(Value::as_object);
    let have: Vec<&String> = variants.map(|v| v.keys().collect()).unwrap_or_default();
    match needed.iter().find(|n| !have.iter().any(|h| h == *n)) {
        Some(missing) => Err(format!(
            "flag `{key}` has no variant `{missing}`; it has {}",
            quoted_list(&have)
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "zeta": { "state": "ENABLED", "variants": { "a": 1, "b": 2 }, "defaultVariant": "a" },
    "new-ranking": {
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off",
      "metadata": { "owner": "search" }
    },
    "alpha": { "state": "DISABLED", "variants": { "x": "x" }, "defaultVariant": "x",
               "targeting": { "if": [{ "==": [{ "var": "tier" }, "gold"] }, "x", null] } }
  },
  "$evaluators": { "gold": { "==": [{ "var": "tier" }, "gold"] } }
}"#;

    fn file() -> (tempfile::TempDir, FlagFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flags.json");
        std::fs::write(&path, FILE).unwrap();
        (dir, FlagFile::new(&path))
    }

    fn without(doc: &Value, key: &str) -> Value {
        let mut doc = doc.clone();
        doc["flags"].as_object_mut().unwrap().remove(key);
        doc
    }

    #[test]
    fn a_split_changes_the_flag_s_targeting_and_nothing_else() {
        let (_dir, flags) = file();
        let before: Value = serde_json::from_str(FILE).unwrap();
        let rollout = Rollout {
            old: "off",
            new: "on",
            percent: 25,
            cohort: None,
        };
        flags.set("new-ranking", &rollout).unwrap();
        let text = std::fs::read_to_string(flags.path()).unwrap();
        let after: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            without(&after, "new-ranking"),
            without(&before, "new-ranking")
        );
        assert_eq!(
            after["flags"]["new-ranking"]["targeting"],
            json!({ "fractional": [["on", 25], ["off", 75]] })
        );
        assert_eq!(after["flags"]["new-ranking"]["metadata"]["owner"], "search");
        // The file's own order is kept.
        let order: Vec<&String> = after["flags"].as_object().unwrap().keys().collect();
        assert_eq!(order, ["zeta", "new-ranking", "alpha"]);
        let state = flags.state("new-ranking").unwrap();
        assert_eq!(state.percent_of, Some(("on".to_string(), 25)));

        // A cohort comes first and keeps the new variant at every share.
        let cohort = Cohort::EmailDomain("example.com".into());
        let beta = Rollout {
            percent: 5,
            cohort: Some(&cohort),
            ..rollout
        };
        flags.set("new-ranking", &beta).unwrap();
        assert_eq!(
            flags.state("new-ranking").unwrap().percent_of,
            Some(("on".to_string(), 5))
        );

        flags.settle("new-ranking", "on").unwrap();
        let settled: Value =
            serde_json::from_str(&std::fs::read_to_string(flags.path()).unwrap()).unwrap();
        assert_eq!(settled["flags"]["new-ranking"]["defaultVariant"], "on");
        assert!(settled["flags"]["new-ranking"].get("targeting").is_none());
        assert_eq!(
            without(&settled, "new-ranking"),
            without(&before, "new-ranking")
        );
    }

    #[test]
    fn a_flag_or_variant_the_file_lacks_is_named_with_those_it_has() {
        let (_dir, flags) = file();
        let rollout = Rollout {
            old: "off",
            new: "on",
            percent: 5,
            cohort: None,
        };
        let e = flags.set("new-rankin", &rollout).unwrap_err();
        assert!(
            e.contains("no flag `new-rankin`") && e.contains("`new-ranking`"),
            "{e}"
        );
        let e = flags
            .set(
                "new-ranking",
                &Rollout {
                    new: "v2",
                    ..rollout
                },
            )
            .unwrap_err();
        assert!(
            e.contains("no variant `v2`") && e.contains("`on`, `off`"),
            "{e}"
        );
        // Nothing was written.
        assert_eq!(std::fs::read_to_string(flags.path()).unwrap(), FILE);
    }
}
