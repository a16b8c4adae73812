//! Reading a CodeSignal configuration: the API key from a file or the environment, and the
//! client's settings, checked before any input is read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{ApiKey, CodeSignalConfig};

/// Where a CodeSignal API key is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// An environment variable (the CLI's `CODESIGNAL_API_KEY`).
    Env(String),
    /// A file (it may be a pipe, `<(pass show codesignal)`); read capped.
    File(PathBuf),
}

/// Why a configuration could not be made. Never quotes a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct ConfigError {
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            message: message.into(),
        }
    }
}

impl KeySource {
    /// The key's text: `Ok(None)` when the variable is not set (a file must exist).
    pub fn read(&self) -> Result<Option<String>, ConfigError> {
        match self {
            KeySource::Env(var) => match std::env::var(var) {
                Ok(key) => Ok(Some(key)),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::new(format!(
                    "{} is not valid UTF-8; paste the key alone",
                    crate::shown(var)
                ))),
            },
            KeySource::File(path) => read_key_file(path).map(Some),
        }
    }
}

/// The API key file's text. It may be a pipe, so it is not held to regular files, but it is
/// capped: a key is short, and `/dev/zero` is endless.
fn read_key_file(path: &Path) -> Result<String, ConfigError> {
    let shown = crate::shown(&path.display().to_string()).into_owned();
    let fail =
        |what: String| ConfigError::new(format!("cannot read the API key file {shown}: {what}"));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(fail("it is a folder".into()));
    }
    let bytes = crate::read_capped(file, crate::MAX_KEY_FILE_SIZE)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| {
            fail(format!(
                "larger than {} bytes, so not a key file",
                crate::MAX_KEY_FILE_SIZE
            ))
        })?;
    // Never quote its bytes: they may be the key.
    String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))
}

/// The CodeSignal client's settings as a front end takes them (flags, a config file), before
/// they are checked into a [`CodeSignalConfig`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CodeSignalSettings {
    /// The GraphQL endpoint.
    pub endpoint: String,
    /// Time limit of one request, in seconds.
    pub timeout_secs: f64,
    /// Put CodeSignal's shortened URLs in invites.
    pub short_urls: bool,
    /// How long links outlive the end of the last event they serve, in minutes.
    pub grace_minutes: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests started per second at most (0: no limit).
    pub rate_limit: f64,
    /// The deadline of a whole operation, in seconds (`None`: none).
    pub deadline_secs: Option<f64>,
}

impl Default for CodeSignalSettings {
    fn default() -> CodeSignalSettings {
        CodeSignalSettings {
            endpoint: crate::DEFAULT_ENDPOINT.to_owned(),
            timeout_secs: 30.0,
            short_urls: false,
            grace_minutes: 120,
            concurrency: crate::DEFAULT_CONCURRENCY,
            rate_limit: 25.0,
            deadline_secs: None,
        }
    }
}

impl CodeSignalSettings {
    /// The checked client configuration with `key` (read from `source`, named in messages as
    /// `source_name`): `Ok(None)` when no key is configured.
    pub fn config(&self, source: &KeySource) -> Result<Option<CodeSignalConfig>, ConfigError> {
        let Some(raw) = source.read()? else {
            return Ok(None);
        };
        self.config_with(&raw).map(Some)
    }

    /// The checked client configuration with the key `raw`.
    pub fn config_with(&self, raw: &str) -> Result<CodeSignalConfig, ConfigError> {
        let fail = |e: &dyn std::fmt::Display| ConfigError::new(e.to_string());
        let api_key = ApiKey::parse(raw).map_err(|e| fail(&e))?;
        let mut config = CodeSignalConfig::new(api_key);
        // Not echoed: a URL that does not parse may still hold a secret.
        config.endpoint = self.endpoint.parse().map_err(|e| {
            ConfigError::new(format!(
                "the CodeSignal endpoint (--codesignal-endpoint or CODESIGNAL_ENDPOINT) is not a URL: {e}"
            ))
        })?;
        CodeSignalConfig::check_endpoint(&config.endpoint).map_err(|e| fail(&e))?;
        config = config
            .with_timeout_secs(self.timeout_secs)
            .and_then(|c| c.with_rate_limit(self.rate_limit))
            .map_err(|e| fail(&e))?;
        config.short_urls = self.short_urls;
        config.grace = chrono::TimeDelta::minutes(self.grace_minutes.into());
        config.concurrency = self.concurrency;
        config.check().map_err(|e| fail(&e))?;
        if let Some(seconds) = self.deadline_secs {
            config = config.with_deadline_secs(seconds).map_err(|e| fail(&e))?;
        }
        Ok(config)
    }
}

/// How long a ledger-backed minter waits for another worker's intent: at most the run's
/// deadline.
pub(crate) fn ledger_wait(config: &CodeSignalConfig) -> Duration {
    config.deadline.map_or(crate::ledger::DEFAULT_WAIT, |d| {
        d.min(crate::ledger::DEFAULT_WAIT)
    })
}
