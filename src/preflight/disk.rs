//! `disk`: free space on the filesystem holding a path — the space an
//! unprivileged process may still use (statvfs's `f_bavail`), as a
//! percentage of the filesystem's size.

use super::Finding;
use crate::config::preflight::DiskProbe;
use crate::observed::CheckStatus;

pub async fn check(probe: &DiskProbe) -> Finding {
    let path = probe.path.clone();
    // statvfs can hang on a dead network mount: keep it off the async
    // threads, where the runner's timeout still bounds the wait.
    let stats = tokio::task::spawn_blocking(move || rustix::fs::statvfs(&path)).await;
    match stats {
        Ok(Ok(stats)) => judge(
            stats.f_bavail.saturating_mul(stats.f_frsize),
            stats.f_blocks.saturating_mul(stats.f_frsize),
            probe,
        ),
        Ok(Err(e)) => Finding::fail(format!("cannot read {}: {e}", probe.path.display())),
        Err(e) => Finding::fail(format!("cannot read {}: {e}", probe.path.display())),
    }
}

fn judge(free: u64, size: u64, probe: &DiskProbe) -> Finding {
    if size == 0 {
        return Finding::fail(format!(
            "{} is on a filesystem of size 0",
            probe.path.display()
        ));
    }
    let pct = free as f64 * 100.0 / size as f64;
    let status = if pct < probe.fail_free_pct {
        CheckStatus::Fail
    } else if pct < probe.warn_free_pct {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    Finding {
        status,
        value: format!("{pct:.1} % free ({} of {})", gib(free), gib(size)),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_against_the_thresholds() {
        let probe = DiskProbe {
            path: "/var".into(),
            warn_free_pct: 20.0,
            fail_free_pct: 10.0,
        };
        let gb = 1u64 << 30;
        assert_eq!(
            judge(50 * gb, 100 * gb, &probe),
            Finding::pass("50.0 % free (50.0 GiB of 100.0 GiB)")
        );
        assert_eq!(judge(15 * gb, 100 * gb, &probe).status, CheckStatus::Warn);
        assert_eq!(judge(5 * gb, 100 * gb, &probe).status, CheckStatus::Fail);
        assert_eq!(judge(0, 0, &probe).status, CheckStatus::Fail);
    }
}
