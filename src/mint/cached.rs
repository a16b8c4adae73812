//! [`Cached`]: an in-process read-through cache in front of any minter.

use chrono::{DateTime, Utc};

use super::{MintError, Minted, Minter};
use crate::plan::{MintKey, PlannedMint};

/// The links one cache holds, by key and last-event end. Cloning shares it: an engine keeps one
/// per tenant and puts each operation's minter behind it.
#[derive(Debug, Clone)]
pub struct MintCache(moka::future::Cache<(MintKey, DateTime<Utc>), Minted>);

impl MintCache {
    /// A cache of at most `capacity` links.
    pub fn new(capacity: u64) -> MintCache {
        MintCache(
            moka::future::Cache::builder()
                .max_capacity(capacity)
                .support_invalidation_closures()
                .build(),
        )
    }

    /// Forgets the link of `key` (whatever event end it was cached for): its session was
    /// deleted, or is being.
    pub fn invalidate(&self, key: &MintKey) {
        let key = key.clone();
        self.forget(move |k| *k == key);
    }

    /// Forgets every link of `interview` (only event `event`'s, when given).
    pub fn invalidate_interview(&self, interview: &str, event: Option<&str>) {
        let interview = interview.to_owned();
        let event = event.map(str::to_owned);
        self.forget(move |k| {
            k.interview_id == interview && (event.is_none() || k.event_id == event)
        });
    }

    fn forget(&self, matches: impl Fn(&MintKey) -> bool + Send + Sync + 'static) {
        // Entries present now are never returned again, whenever moka drops them. The call
        // fails only without `support_invalidation_closures`, which `new` sets.
        if self
            .0
            .invalidate_entries_if(move |(k, _), _| matches(k))
            .is_err()
        {
            self.0.invalidate_all();
        }
    }

    /// How many links it holds (approximately: moka counts lazily).
    pub fn len(&self) -> u64 {
        self.0.entry_count()
    }

    /// Whether it holds none (approximately).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Answers repeated mints of one key (and last-event end) in this process from memory:
/// concurrent callers of one key share one call to `inner` (moka's `try_get_with`), failures are
/// not kept. In front of the [`LedgerMinter`](crate::LedgerMinter) it saves a ledger round trip
/// per repeat; the ledger stays what other processes and later runs see.
///
/// The end of the last event is part of the key, so a reschedule within one process still
/// reaches the ledger (which extends the link). A cancel must [`MintCache::invalidate`] what it
/// deletes, or a later mint in this process would hand the deleted session out.
#[derive(Debug)]
pub struct Cached<M> {
    inner: M,
    cache: MintCache,
}

impl<M: Minter> Cached<M> {
    /// `inner` behind a cache of at most `capacity` links.
    pub fn new(inner: M, capacity: u64) -> Cached<M> {
        Cached {
            inner,
            cache: MintCache::new(capacity),
        }
    }

    /// `inner` behind `cache`, shared with every other minter behind it.
    pub fn sharing(inner: M, cache: &MintCache) -> Cached<M> {
        Cached {
            inner,
            cache: cache.clone(),
        }
    }

    /// The minter behind the cache.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The cache.
    pub fn cache(&self) -> &MintCache {
        &self.cache
    }
}

impl<M: Minter> Minter for Cached<M> {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        self.cache
            .0
            .try_get_with((mint.key.clone(), mint.serves_until), self.inner.mint(mint))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn prepare(&self, plan: &crate::plan::Plan) {
        self.inner.prepare(plan).await;
    }
}
