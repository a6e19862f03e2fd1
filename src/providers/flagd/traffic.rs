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

    fn set(&self, percent: u8) -> Result<(), ProviderError> {
        let (old, new) = self.variants()?;
        let rollout = Rollout {
            old: &old,
            new: &new,
            percent,
            cohort: self.cohort.as_ref(),
        };
        self.file
            .set(&self.flag, &rollout)
            .map_err(|e| self.refused(e))
    }
}

#[async_trait]
impl Traffic for FlagdTraffic {
    fn describe(&self) -> String {
        format!("flag `{}` in {}", self.flag, self.file.path().display())
    }

    /// Refuses, before anything moves, a flag or a variant the file lacks.
    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        let flag = self.file.state(&self.flag).map_err(|e| self.refused(e))?;
        if !flag.variants.iter().any(|v| v == new_version) {
            return Err(self.refused(format!(
                "flag `{}` has no variant `{new_version}`; it has {}",
                self.flag,
                flag.variants
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let old = flag.default_variant;
        *crate::sync::lock(&self.release) = Some((old, new_version.to_string()));
        self.plane.prepare(new_version).await?;
        if self.cohort.is_some() {
            self.set(0)?;
        }
        Ok(())
    }

    async fn finish(&self) -> Result<(), ProviderError> {
        let (_, new) = self.variants()?;
        self.file
            .settle(&self.flag, &new)
            .map_err(|e| self.refused(e))?;
        self.plane.finish().await?;
        *crate::sync::lock(&self.release) = None;
        Ok(())
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        let release = crate::sync::lock(&self.release).clone();
        let Some((old, _)) = release else {
            return self.plane.discard().await;
        };
        self.file
            .settle(&self.flag, &old)
            .map_err(|e| self.refused(e))?;
        self.plane.discard().await?;
        *crate::sync::lock(&self.release) = None;
        Ok(())
    }

    /// The data plane's instances, with the flag file's word on which
    /// variant serves and what share the new one has.
    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let mut state = self.plane.state().await?;
        let flag = self.file.state(&self.flag).map_err(|e| self.refused(e))?;
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
                self.file
                    .settle(&self.flag, &old)
                    .map_err(|e| self.refused(e))
            }
            percent => self.set(percent),
        }
    }
}
