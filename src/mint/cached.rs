//! [`Cached`]: an in-process read-through cache in front of any minter.

use chrono::{DateTime, Utc};

use super::{MintError, Minted, Minter};
use crate::plan::{MintKey, PlannedMint};

/// Answers repeated mints of one key (and last-event end) in this process from memory:
/// concurrent callers of one key share one call to `inner` (moka's `try_get_with`), failures are
/// not kept. In front of the [`LedgerMinter`](crate::LedgerMinter) it saves a ledger round trip
/// per repeat; the ledger stays what other processes and later runs see.
///
/// The end of the last event is part of the key, so a reschedule within one process still
/// reaches the ledger (which extends the link).
#[derive(Debug)]
pub struct Cached<M> {
    inner: M,
    cache: moka::future::Cache<(MintKey, DateTime<Utc>), Minted>,
}

impl<M: Minter> Cached<M> {
    /// `inner` behind a cache of at most `capacity` links.
    pub fn new(inner: M, capacity: u64) -> Cached<M> {
        Cached {
            inner,
            cache: moka::future::Cache::builder()
                .max_capacity(capacity)
                .build(),
        }
    }

    /// The minter behind the cache.
    pub fn inner(&self) -> &M {
        &self.inner
    }
}

impl<M: Minter> Minter for Cached<M> {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        self.cache
            .try_get_with((mint.key.clone(), mint.serves_until), self.inner.mint(mint))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn prepare(&self, plan: &crate::plan::Plan) {
        self.inner.prepare(plan).await;
    }
}
