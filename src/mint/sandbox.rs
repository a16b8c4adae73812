//! The embedded default minter: no network, no account.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use chrono::{DateTime, Utc};

use super::{DEFAULT_TENANT, LostSessions, MintError, Minted, Minter, Sessions};
use crate::parse::{Product, Scope};
use crate::plan::{MintKey, PlannedMint};

/// Host of sandbox links: `.invalid` is reserved (RFC 2606), so no one can mistake a sandbox
/// link for a real session, and no resolver will ever answer for it.
pub const SANDBOX_HOST: &str = "sandbox.invitoken.invalid";

/// Derives each link from its mint key (and tenant) with HMAC-SHA256, so the same request gives
/// the same links on every run and different sessions never share one: two tenants minting
/// the same interview ids get different links ([`for_tenant`](SandboxMinter::for_tenant)).
#[derive(Clone)]
pub struct SandboxMinter {
    secret: Vec<u8>,
    /// `None` for the default tenant, whose links are derived from the key alone (as before
    /// tenants existed, so recorded links and snapshots stay valid).
    tenant: Option<String>,
}

impl std::fmt::Debug for SandboxMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxMinter").finish_non_exhaustive()
    }
}

impl Default for SandboxMinter {
    fn default() -> Self {
        SandboxMinter::new(b"invitoken sandbox v1")
    }
}

impl SandboxMinter {
    /// A sandbox whose links are keyed by `secret`.
    pub fn new(secret: &[u8]) -> SandboxMinter {
        SandboxMinter {
            secret: secret.to_vec(),
            tenant: None,
        }
    }

    /// The default sandbox, deriving the links of `tenant`.
    pub fn for_tenant(tenant: &str) -> SandboxMinter {
        SandboxMinter::default().with_tenant(tenant)
    }

    /// This sandbox, deriving the links of `tenant`: other links than any other tenant's for
    /// the same keys. The default tenant ([`DEFAULT_TENANT`]) keeps the links of a sandbox
    /// without a tenant.
    pub fn with_tenant(mut self, tenant: &str) -> SandboxMinter {
        self.tenant = (tenant != DEFAULT_TENANT).then(|| tenant.to_owned());
        self
    }

    /// The link of `mint`.
    pub fn url(&self, mint: &PlannedMint) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        let k = &mint.key;
        if let Some(tenant) = &self.tenant {
            // Before the key's fields, with a marker no scope starts with, so a tenant's input
            // never encodes like the default tenant's.
            for field in ["tenant", tenant.as_str()] {
                mac.update(&(field.len() as u64).to_be_bytes());
                mac.update(field.as_bytes());
            }
        }
        // Length-prefixed fields, so no two keys can encode alike.
        for field in [
            match k.scope {
                Scope::Interview => "interview",
                Scope::Event => "event",
            },
            &k.interview_id,
            k.event_id.as_deref().unwrap_or(""),
            match k.product {
                Product::Live => "live",
                Product::Template => "template",
            },
            k.template_id.as_deref().unwrap_or(""),
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let product = match k.product {
            Product::Live => "live",
            Product::Template => "template",
        };
        format!("https://{SANDBOX_HOST}/{product}/{hex}")
    }
}

impl Minter for SandboxMinter {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        Ok(Minted {
            url: self.url(mint),
            short_url: None,
            expires_at: None,
            session_id: None,
        })
    }
}

/// Sandbox links are derived, not made: the one "session" a lost mint could have made is the
/// derived link itself, they never expire, and there is nothing to delete.
impl Sessions for SandboxMinter {
    fn lost_sessions(&self) -> LostSessions {
        LostSessions::ByKey
    }

    async fn candidates(&self, mint: &PlannedMint) -> Result<Vec<Minted>, MintError> {
        Ok(vec![self.mint(mint).await?])
    }

    fn derived(&self, mint: &PlannedMint) -> Option<Minted> {
        Some(Minted {
            url: self.url(mint),
            short_url: None,
            expires_at: None,
            session_id: None,
        })
    }

    async fn extend(
        &self,
        _key: &MintKey,
        _session_id: Option<&str>,
        _expires_at: Option<DateTime<Utc>>,
        _serves_until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, MintError> {
        Ok(None)
    }

    async fn delete(&self, _key: &MintKey, _session_id: Option<&str>) -> Result<(), MintError> {
        Ok(())
    }
}
