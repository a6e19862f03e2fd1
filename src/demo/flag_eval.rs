//! How the demo's feature-flagged sample service decides which variant
//! serves a request: it reads the flag file as flagd would and evaluates
//! the flag for the request's targeting key. The subset the demo needs: a
//! default variant, a `fractional` split (flagd's bucketing: murmur3 of the
//! flag key and the targeting key, as a share of 0..100), and an `if`
//! whose cohort conditions are `in` a list of keys or `ends_with` on an
//! email the demo's users do not have. helmsman itself never evaluates a
//! flag; the tests check the files it writes with flagd's own evaluator.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// How often the file's modification time is looked at.
const RECHECK: Duration = Duration::from_millis(100);

pub struct FlagEvaluator {
    file: PathBuf,
    key: String,
    cached: Mutex<Cached>,
}

struct Cached {
    checked: Option<Instant>,
    modified: Option<SystemTime>,
    flag: Value,
}

impl FlagEvaluator {
    pub fn new(file: PathBuf, key: &str) -> FlagEvaluator {
        FlagEvaluator {
            file,
            key: key.to_string(),
            cached: Mutex::new(Cached {
                checked: None,
                modified: None,
                flag: Value::Null,
            }),
        }
    }

    /// The variant `targeting_key` gets now; `None` when the file or the
    /// flag cannot be read.
    pub fn variant(&self, targeting_key: &str) -> Option<String> {
        let flag = self.flag();
        let default = flag.get("defaultVariant")?.as_str()?.to_string();
        match flag.get("targeting") {
            Some(t) if !t.is_null() && t.as_object().is_some_and(|o| !o.is_empty()) => {
                evaluate(t, &self.key, targeting_key).or(Some(default))
            }
            _ => Some(default),
        }
    }

    /// The flag as last read, read again when the file changed.
    fn flag(&self) -> Value {
        let mut cached = crate::sync::lock(&self.cached);
        if cached.checked.is_none_or(|at| at.elapsed() >= RECHECK) {
            cached.checked = Some(Instant::now());
            let modified = std::fs::metadata(&self.file)
                .and_then(|m| m.modified())
                .ok();
            if modified != cached.modified {
                let read = std::fs::read_to_string(&self.file)
                    .ok()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok());
                if let Some(doc) = read {
                    cached.flag = doc["flags"][&self.key].clone();
                    cached.modified = modified;
                }
            }
        }
        cached.flag.clone()
    }
}

fn evaluate(rule: &Value, flag_key: &str, targeting_key: &str) -> Option<String> {
    if let Some(branches) = rule.get("if").and_then(Value::as_array) {
        let chosen = match holds(branches.first()?, targeting_key) {
            true => branches.get(1)?,
            false => branches.get(2)?,
        };
        return match chosen {
            Value::String(variant) => Some(variant.clone()),
            other => evaluate(other, flag_key, targeting_key),
        };
    }
    let split = rule.get("fractional")?.as_array()?;
    let shares: Vec<(&str, f64)> = split
        .iter()
        .filter_map(|pair| {
            let pair = pair.as_array()?;
            Some((pair.first()?.as_str()?, pair.get(1)?.as_f64()?))
        })
        .collect();
    let total: f64 = shares.iter().map(|(_, w)| w).sum();
    let bucket = f64::from(murmur3_32(
        format!("{flag_key}{targeting_key}").as_bytes(),
        0,
    )) / f64::from(u32::MAX)
        * 100.0;
    let mut end = 0.0;
    for (variant, weight) in &shares {
        end += weight * 100.0 / total;
        if bucket < end {
            return Some(variant.to_string());
        }
    }
    shares.last().map(|(v, _)| v.to_string())
}

/// A cohort condition for a request with only a targeting key.
fn holds(condition: &Value, targeting_key: &str) -> bool {
    condition
        .get("in")
        .and_then(Value::as_array)
        .and_then(|args| args.get(1)?.as_array().cloned())
        .is_some_and(|keys| keys.iter().any(|k| k.as_str() == Some(targeting_key)))
}

/// MurmurHash3, x86 32-bit: flagd's bucketing hash.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, byte) in tail.iter().enumerate() {
            k |= u32::from(*byte) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_reference_values() {
        // From the reference implementation's test vectors (SMHasher).
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!", 0), 0xc036_3e43);
    }

    #[test]
    fn a_split_gives_each_variant_its_share_and_a_cohort_comes_first() {
        let dir = tempfile_dir();
        let file = dir.join("flags.json");
        std::fs::write(
            &file,
            r#"{"flags":{"f":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",
               "targeting":{"if":[{"in":[{"var":"targetingKey"},["vip"]]},"on",{"fractional":[["on",20],["off",80]]}]}}}}"#,
        )
        .unwrap();
        let flag = FlagEvaluator::new(file, "f");
        let on = (0..10_000)
            .filter(|i| flag.variant(&format!("user-{i}")).as_deref() == Some("on"))
            .count();
        assert!((1_800..2_200).contains(&on), "{on}");
        assert_eq!(flag.variant("vip").as_deref(), Some("on"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("helmsman-flag-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
