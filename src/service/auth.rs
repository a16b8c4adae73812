//! Bearer tokens: the tenant of a request comes from its token only.

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::config::ServiceConfig;

/// Every tenant's token digests.
#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    /// (digest, index into `tenants`).
    digests: Vec<([u8; 32], u32)>,
    tenants: Vec<String>,
}

impl Tokens {
    pub(crate) fn new(config: &ServiceConfig) -> Tokens {
        let mut digests = Vec::new();
        let mut tenants = Vec::new();
        for (i, t) in config.tenants.iter().enumerate() {
            tenants.push(t.tenant.id.clone());
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            digests.extend(t.token_digests.iter().map(|d| (*d, i)));
        }
        Tokens { digests, tenants }
    }

    /// The tenant whose token `authorization` (the header's value) carries, if any. Every
    /// digest is compared, in constant time, whichever matches: the time taken says nothing
    /// about which tenants or tokens exist.
    pub(crate) fn tenant(&self, authorization: Option<&[u8]>) -> Option<&str> {
        let token = bearer(authorization?)?;
        let digest: [u8; 32] = Sha256::digest(token).into();
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (d, i) in &self.digests {
            let hit = d.ct_eq(&digest);
            index = u32::conditional_select(&index, i, hit);
            found |= hit;
        }
        if bool::from(found) {
            self.tenants.get(index as usize).map(String::as_str)
        } else {
            None
        }
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 9110).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bear"), None);
    }
}
