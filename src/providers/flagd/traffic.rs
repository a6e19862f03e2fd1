//! A feature-flag release: the share of the flag's evaluations that get
//! the new variant, written into the flag file flagd reads, beside the
//! data plane that counts each request for the variant that served it.
//!
//! - prepare: the data plane gets a side for the new variant (the same
//!   instances, no routing weight: the flag decides), and the cohort, if
//!   any, gets the new variant before any percentage does;
//! - a step: the fractional split at the step's percentage, cohort first;
//! - 0 % is the kill switch: everyone back on the old variant at once,
//!   the cohort too;
//! - finish: the new variant becomes the flag's default for everyone, and
//!   helmsman's targeting is removed; discard: the old one, likewise.

use std::sync::Mutex;

use async_trait::async_trait;

use super::file::{Cohort, FlagFile, Rollout};
use crate::observed::TrafficState;
use crate::providers::traffic::local::LocalTraffic;
use crate::providers::{FlagPercent, ProviderError, Traffic};

pub struct FlagdTraffic {
    plane: LocalTraffic,
    file: FlagFile,
    flag: String,
    cohort: Option<Cohort>,
    /// The old and the new variant, once `prepare` named the new one.
    release: Mutex<Option<(String, String)>>,
}

impl FlagdTraffic {
    pub fn new(plane: LocalTraffic, file: FlagFile, flag: &str, cohort: Option<Cohort>) -> Self {
        FlagdTraffic {
            plane,
            file,
            flag: flag.to_string(),
            cohort,
            release: Mutex::new(None),
        }
    }

    pub fn plane(&self) -> &LocalTraffic {
        &self.plane
    }

    fn refused(&self, detail: String) -> ProviderError {
        ProviderError::Rejected {
            provider: self.describe(),
            detail,
        }
    }

    fn variants(&self) -> Result<(String, String), ProviderError> {
        crate::sync::lock(&self.release)
            .clone()
            .ok_or_else(|| self.refused("no new variant is prepared".into()))
    }

    /// Runs `work` on the flag file off the async threads: a write waits
    /// for the file's lock, and a read or write for the disk.
    async fn on_file<T: Send + 'static>(
        &self,
        work: impl FnOnce(&FlagFile, &str) -> Result<T, String> + Send + 'static,
    ) -> Result<T, ProviderError> {
        let (file, flag) = (self.file.clone(), self.flag.clone());
        match tokio::task::spawn_blocking(move || work(&file, &flag)).await {
            Ok(done) => done.map_err(|e| self.refused(e)),
            Err(e) => Err(self.refused(format!("the flag file's task failed: {e}"))),
        }
    }

    async fn set(&self, percent: u8) -> Result<(), ProviderError> {
        let (old, new) = self.variants()?;
        let cohort = self.cohort.clone();
        self.on_file(move |file, flag| {
            let rollout = Rollout {
                old: &old,
                new: &new,
                percent,
                cohort: cohort.as_ref(),
            };
            file.set(flag, &rollout)
        })
        .await
    }

    /// `variant` the default for everyone, helmsman's targeting removed.
    async fn settle(&self, variant: String) -> Result<(), ProviderError> {
        self.on_file(move |file, flag| file.settle(flag, &variant))
            .await
    }
}

#[async_trait]
impl Traffic for FlagdTraffic {
    fn describe(&self) -> String {
        format!("flag `{}` in {}", self.flag, self.file.path().display())
    }

    /// Refuses, before anything moves, a flag or a variant the file lacks.
    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        let flag = self.on_file(|file, flag| file.state(flag)).await?;
        if !flag.variants.iter().any(|v| v == new_version) {
            return Err(self.refused(format!(
                "flag `{}` has no variant `{new_version}`; it has {}",
                self.flag,
                crate::config::quoted_list(&flag.variants)
            )));
        }
        let old = flag.default_variant;
        *crate::sync::lock(&self.release) = Some((old, new_version.to_string()));
        self.plane.prepare(new_version).await?;
        if self.cohort.is_some() {
            self.set(0).await?;
        }
        Ok(())
    }

    async fn finish(&self) -> Result<(), ProviderError> {
        let (_, new) = self.variants()?;
        self.settle(new).await?;
        self.plane.finish().await?;
        *crate::sync::lock(&self.release) = None;
        Ok(())
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        let release = crate::sync::lock(&self.release).clone();
        let Some((old, _)) = release else {
            return self.plane.discard().await;
        };
        self.settle(old).await?;
        self.plane.discard().await?;
        *crate::sync::lock(&self.release) = None;
        Ok(())
    }

    /// The data plane's instances, with the flag file's word on which
    /// variant serves and what share the new one has.
    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let mut state = self.plane.state().await?;
        let flag = self.on_file(|file, flag| file.state(flag)).await?;
        let percent = match (&flag.percent_of, &state.new_version) {
            (Some((variant, percent)), Some(new)) if variant == new => *percent,
            (_, Some(new)) if flag.default_variant == *new => 100,
            _ => 0,
        };
        if state.new_version.is_none() {
            state.stable_version = flag.default_variant;
        }
        state.flag_percent = Some(percent);
        Ok(state)
    }

    fn as_flag_percent(&self) -> Option<&dyn FlagPercent> {
        Some(self)
    }
}

#[async_trait]
impl FlagPercent for FlagdTraffic {
    async fn set_flag(&self, percent: u8) -> Result<(), ProviderError> {
        match percent {
            // The kill switch: everyone, the cohort too, on the old variant.
            0 => {
                let (old, _) = self.variants()?;
                self.settle(old).await
            }
            percent => self.set(percent).await,
        }
    }
}
