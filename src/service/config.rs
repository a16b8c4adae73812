//! The service's tenants file (`tenants.toml`): one `[[tenant]]` table per tenant, checked as a
//! whole before the service starts. Secrets are never in the file: it names the environment
//! variable or file each one is read from, and only digests of the bearer tokens.
//!
//! ```toml
//! [[tenant]]
//! id = "acme"
//! token_sha256 = ["<hex SHA-256 of each bearer token this tenant's pipeline sends>"]
//! minter = "codesignal"                      # or "sandbox"
//! codesignal_key_env = "ACME_CODESIGNAL_KEY"  # or codesignal_key_file
//! codesignal_endpoint = "https://app.codesignal.com/graphql"   # optional
//! webhook_url = "https://invites.example.com/webhooks/codesignal/acme"
//! webhook_secret_env = "ACME_WEBHOOK_SECRET"  # or webhook_secret_file
//! ```

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use toml::Spanned;

use crate::{CodeSignalSettings, KeySource, MinterConfig, TenantConfig};

/// The longest tenant id: it appears in URLs, logs and ledger rows.
const MAX_TENANT_ID: usize = 64;

/// The largest tenants file read: a config is small, and `/dev/zero` is endless.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A tenants file that cannot be used: where (line and column, 1-based) and what to fix. It
/// never quotes a secret: keys and webhook secrets are only ever read from where the file
/// points, and their text is not shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", .at.map_or(String::new(), |(l, c)| format!(":{l}:{c}")))]
#[non_exhaustive]
pub struct ConfigFileError {
    /// The file, as shown.
    pub file: String,
    /// Line and column of the value at fault, when one is.
    pub at: Option<(usize, usize)>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The `minter` of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MinterKind {
    Sandbox,
    Codesignal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tenant: Vec<Spanned<RawTenant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    id: Spanned<String>,
    token_sha256: Spanned<Vec<Spanned<String>>>,
    minter: Spanned<MinterKind>,
    codesignal_key_env: Option<Spanned<String>>,
    codesignal_key_file: Option<Spanned<PathBuf>>,
    codesignal_endpoint: Option<Spanned<String>>,
    webhook_url: Option<Spanned<String>>,
    webhook_secret_env: Option<Spanned<String>>,
    webhook_secret_file: Option<Spanned<PathBuf>>,
}

/// Where CodeSignal's webhook deliveries for a tenant come in, and the secret they are signed
/// with.
#[derive(Clone)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// The URL as registered at CodeSignal: part of what is signed.
    pub url: String,
    /// The signing secret.
    pub secret: SecretString,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// One tenant of the service.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceTenant {
    /// Its id and minter, as the engine takes them.
    pub tenant: TenantConfig,
    /// SHA-256 digests of the bearer tokens that act as this tenant.
    pub token_digests: Vec<[u8; 32]>,
    /// Its CodeSignal webhook, if configured.
    pub webhook: Option<WebhookConfig>,
}

impl ServiceTenant {
    /// A tenant accepting the bearer tokens whose SHA-256 digests are `token_digests`.
    pub fn new(tenant: TenantConfig, token_digests: Vec<[u8; 32]>) -> ServiceTenant {
        ServiceTenant {
            tenant,
            token_digests,
            webhook: None,
        }
    }
}

/// Every tenant the service serves, checked: ids and token digests are unique, every secret
/// was found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// The tenants, in file order.
    pub tenants: Vec<ServiceTenant>,
}

impl ServiceConfig {
    /// Reads and checks the tenants file at `path`. Environment variables it names are read
    /// from the process environment; a relative `*_file` is relative to the file's folder.
    /// `settings` are the CodeSignal client's settings for every CodeSignal tenant (its
    /// `codesignal_endpoint` overrides the endpoint).
    pub fn load(
        path: &Path,
        settings: &CodeSignalSettings,
    ) -> Result<ServiceConfig, ConfigFileError> {
        let file = crate::shown(&path.display().to_string()).into_owned();
        let fail = |message: String| ConfigFileError {
            file: file.clone(),
            at: None,
            message,
        };
        let handle = std::fs::File::open(path)
            .map_err(|e| fail(format!("cannot read the tenants file: {e}")))?;
        let bytes = crate::read_capped(handle, MAX_CONFIG_BYTES)
            .map_err(|e| fail(format!("cannot read the tenants file: {e}")))?
            .ok_or_else(|| {
                fail(format!(
                    "larger than {MAX_CONFIG_BYTES} bytes, so not a tenants file"
                ))
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| fail("the tenants file is not UTF-8 text".to_owned()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        ServiceConfig::parse(&file, &text, base, &|var| std::env::var(var).ok(), settings)
    }

    /// Checks the tenants file `text` (shown as `file`): `env` looks environment variables up,
    /// a relative `*_file` is relative to `base`.
    pub fn parse(
        file: &str,
        text: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        settings: &CodeSignalSettings,
    ) -> Result<ServiceConfig, ConfigFileError> {
        let at = |span: Option<Range<usize>>, message: String| ConfigFileError {
            file: file.to_owned(),
            at: span.map(|s| crate::line_col(text, s.start.min(text.len()))),
            message,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| at(e.span(), e.message().trim_end().to_owned()))?;
        if raw.tenant.is_empty() {
            return Err(at(
                None,
                "no tenant: add a [[tenant]] table with id, token_sha256 and minter".to_owned(),
            ));
        }
        let mut ids: HashMap<String, Range<usize>> = HashMap::new();
        let mut digests: HashMap<[u8; 32], String> = HashMap::new();
        let mut tenants = Vec::new();
        for spanned in raw.tenant {
            let table = spanned.span();
            let t = spanned.into_inner();
            let id = t.id.get_ref();
            check_id(id).map_err(|m| at(Some(t.id.span()), m))?;
            if let Some(first) = ids.insert(id.clone(), t.id.span()) {
                let (line, _) = crate::line_col(text, first.start);
                return Err(at(
                    Some(t.id.span()),
                    format!(
                        "tenant `{id}` is configured twice (first at line {line}); give each tenant one [[tenant]] table"
                    ),
                ));
            }
            if t.token_sha256.get_ref().is_empty() {
                return Err(at(
                    Some(t.token_sha256.span()),
                    format!(
                        "tenant `{id}` has no token_sha256: list the hex SHA-256 of each bearer token its pipeline sends (e.g. `printf %s \"$TOKEN\" | sha256sum`)"
                    ),
                ));
            }
            let mut token_digests = Vec::new();
            for hex in t.token_sha256.get_ref() {
                let digest = parse_digest(hex.get_ref()).ok_or_else(|| {
                    at(
                        Some(hex.span()),
                        "not a SHA-256 digest: give 64 hexadecimal characters (the output of \
                         `printf %s \"$TOKEN\" | sha256sum`), never the token itself"
                            .to_owned(),
                    )
                })?;
                if let Some(other) = digests.insert(digest, id.clone()) {
                    return Err(at(
                        Some(hex.span()),
                        format!(
                            "this token digest is also listed for tenant `{other}`: a token must act as one tenant only; give each tenant its own tokens"
                        ),
                    ));
                }
                token_digests.push(digest);
            }
            let minter = minter_of(&t, base, env, settings, &at)?;
            let webhook = webhook_of(&t, table.clone(), base, env, &at)?;
            tenants.push(ServiceTenant {
                tenant: TenantConfig::new(id.clone(), minter),
                token_digests,
                webhook,
            });
        }
        Ok(ServiceConfig { tenants })
    }

    /// The tenant of id `id`.
    pub fn tenant(&self, id: &str) -> Option<&ServiceTenant> {
        self.tenants.iter().find(|t| t.tenant.id == id)
    }
}

type At<'a> = dyn Fn(Option<Range<usize>>, String) -> ConfigFileError + 'a;

/// A tenant id: letters, digits, `.`, `_`, `-`; it is a path segment of the webhook URL and
/// goes into logs and ledger rows.
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_TENANT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the tenant id `{}` is not usable: use 1 to {MAX_TENANT_ID} letters, digits, `.`, `_` or `-`",
            crate::shown(id)
        ))
    }
}

/// 64 hexadecimal characters as 32 bytes.
fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Where a secret is read from: exactly one of an environment variable and a file.
fn secret_source(
    what: &str,
    env_key: &str,
    env_var: Option<&Spanned<String>>,
    file: Option<&Spanned<PathBuf>>,
    table: Range<usize>,
    base: &Path,
    at: &At<'_>,
) -> Result<(KeySource, Range<usize>), ConfigFileError> {
    match (env_var, file) {
        (Some(var), None) => Ok((KeySource::Env(var.get_ref().clone()), var.span())),
        (None, Some(path)) => Ok((KeySource::File(base.join(path.get_ref())), path.span())),
        (Some(_), Some(path)) => Err(at(
            Some(path.span()),
            format!("give the {what} either in {env_key}_env or in {env_key}_file, not both"),
        )),
        (None, None) => Err(at(
            Some(table),
            format!("no {what}: set {env_key}_env (an environment variable) or {env_key}_file"),
        )),
    }
}

/// The secret at `source`, or why it cannot be had. Its text is never shown.
fn read_secret(
    what: &str,
    source: &KeySource,
    span: Range<usize>,
    env: &dyn Fn(&str) -> Option<String>,
    at: &At<'_>,
) -> Result<String, ConfigFileError> {
    let text = match source {
        KeySource::Env(var) => env(var).ok_or_else(|| {
            at(
                Some(span.clone()),
                format!(
                    "the environment variable {} holding the {what} is not set; export it before starting the service",
                    crate::shown(var)
                ),
            )
        })?,
        other => other
            .read()
            .map_err(|e| at(Some(span.clone()), e.message))?
            .unwrap_or_default(),
    };
    if text.trim().is_empty() {
        return Err(at(Some(span), format!("the {what} is empty")));
    }
    Ok(text)
}

fn minter_of(
    t: &RawTenant,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    settings: &CodeSignalSettings,
    at: &At<'_>,
) -> Result<MinterConfig, ConfigFileError> {
    match t.minter.get_ref() {
        MinterKind::Sandbox => {
            let stray = [
                t.codesignal_key_env.as_ref().map(Spanned::span),
                t.codesignal_key_file.as_ref().map(Spanned::span),
                t.codesignal_endpoint.as_ref().map(Spanned::span),
            ];
            if let Some(span) = stray.into_iter().flatten().next() {
                return Err(at(
                    Some(span),
                    "a sandbox tenant takes no CodeSignal setting: remove it, or set minter = \"codesignal\"".to_owned(),
                ));
            }
            Ok(MinterConfig::Sandbox)
        }
        MinterKind::Codesignal => {
            let (source, span) = secret_source(
                "CodeSignal API key",
                "codesignal_key",
                t.codesignal_key_env.as_ref(),
                t.codesignal_key_file.as_ref(),
                t.minter.span(),
                base,
                at,
            )?;
            let key = read_secret("CodeSignal API key", &source, span.clone(), env, at)?;
            let mut settings = settings.clone();
            let mut setting_span = span;
            if let Some(endpoint) = &t.codesignal_endpoint {
                settings.endpoint = endpoint.get_ref().clone();
                setting_span = endpoint.span();
            }
            let config = settings
                .config_with(&key)
                .map_err(|e| at(Some(setting_span), e.message))?;
            Ok(MinterConfig::CodeSignal(Box::new(config)))
        }
    }
}

fn webhook_of(
    t: &RawTenant,
    table: Range<usize>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    at: &At<'_>,
) -> Result<Option<WebhookConfig>, ConfigFileError> {
    let Some(url) = &t.webhook_url else {
        let stray = [
            t.webhook_secret_env.as_ref().map(Spanned::span),
            t.webhook_secret_file.as_ref().map(Spanned::span),
        ];
        if let Some(span) = stray.into_iter().flatten().next() {
            return Err(at(
                Some(span),
                "a webhook secret without webhook_url: add the webhook_url registered at CodeSignal (it is part of what is signed)".to_owned(),
            ));
        }
        return Ok(None);
    };
    let parsed = url::Url::parse(url.get_ref()).map_err(|e| {
        at(
            Some(url.span()),
            format!("webhook_url is not a URL ({e}): give it exactly as registered at CodeSignal"),
        )
    })?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(at(
            Some(url.span()),
            "webhook_url must be an http(s) URL, as registered at CodeSignal".to_owned(),
        ));
    }
    let (source, span) = secret_source(
        "webhook secret",
        "webhook_secret",
        t.webhook_secret_env.as_ref(),
        t.webhook_secret_file.as_ref(),
        table,
        base,
        at,
    )?;
    let secret = read_secret("webhook secret", &source, span, env, at)?;
    Ok(Some(WebhookConfig {
        // Signed as registered: the URL's text is kept, not its parsed form.
        url: url.get_ref().clone(),
        secret: SecretString::from(secret.trim().to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_digest;

    #[test]
    fn digest_must_be_64_hex_characters() {
        assert_eq!(parse_digest(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_digest(&"AB".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_digest(&"ab".repeat(31)), None);
        assert_eq!(parse_digest(&format!("{}zz", "ab".repeat(31))), None);
        // Multi-byte characters must not be cut into "hex".
        assert_eq!(parse_digest(&format!("{}é", "a".repeat(62))), None);
    }
}
