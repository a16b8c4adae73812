//! [`Cached`]: an in-process read-through cache in front of any minter.

use chrono::{DateTime, Utc};

use super::{MintError, Minted, Minter};
use crate::plan::{MintKey, Plan, PlannedMint};

/// The links of one cache, by key, with the end of the last event each was minted for.
/// Cloning shares it: an engine keeps one per tenant, and puts each operation's minter behind
/// it ([`Cached::sharing`]).
#[derive(Debug, Clone)]
pub struct MintCache(moka::future::Cache<MintKey, (DateTime<Utc>, Minted)>);

impl MintCache {
    /// A cache of at most `capacity` links.
    pub fn new(capacity: u64) -> MintCache {
        MintCache(
            moka::future::Cache::builder()
                .max_capacity(capacity)
                .build(),
        )
    }

    /// Forgets the link of `key`: the next mint of it asks the inner minter (for a cancelled
    /// key the ledger then refuses, or mints anew when told to).
    pub async fn invalidate(&self, key: &MintKey) {
        self.0.invalidate(key).await;
    }

    /// Forgets every link of interview `interview_id`, or only those of event `event_id` when
    /// given: what a cancel of that interview or event deleted. Walks the cache once (a cancel
    /// is rare next to the mints the cache answers).
    pub async fn invalidate_interview(&self, interview_id: &str, event_id: Option<&str>) {
        let keys: Vec<_> = self
            .0
            .iter()
            .map(|(key, _)| key)
            .filter(|k| {
                k.interview_id == interview_id
                    && event_id.is_none_or(|e| k.event_id.as_deref() == Some(e))
            })
            .collect();
        for key in keys {
            self.0.invalidate(&*key).await;
        }
    }

    /// How many links the cache holds (after pending evictions are done; for tests and
    /// reports).
    pub async fn len(&self) -> u64 {
        self.0.run_pending_tasks().await;
        self.0.entry_count()
    }

    /// Whether the cache holds no link.
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

/// Answers repeated mints of one key (and last-event end) in this process from memory:
/// concurrent callers of one key share one call to `inner` (moka's `try_get_with`), failures are
/// not kept. In front of the [`LedgerMinter`](crate::LedgerMinter) it saves a ledger round trip
/// per repeat; the ledger stays what other processes and later runs see.
///
/// A mint whose last event now ends at another time than the cached one (a reschedule) still
/// reaches `inner` (the ledger extends the link), and its answer replaces the cached one.
///
/// It is the process's one cache of links (the CodeSignal client behind a ledger keeps none,
/// see [`CodeSignalConfig::behind_ledger`](crate::CodeSignalConfig::behind_ledger)): a cancel
/// must drop what it deleted ([`invalidate`](Cached::invalidate),
/// [`invalidate_interview`](Cached::invalidate_interview)), or a later mint in this process
/// would hand out the deleted session's URL. One `Cached` serves the one tenant its inner
/// minter serves.
#[derive(Debug)]
pub struct Cached<M> {
    inner: M,
    cache: MintCache,
}

impl<M: Minter> Cached<M> {
    /// `inner` behind a cache of at most `capacity` links.
    pub fn new(inner: M, capacity: u64) -> Cached<M> {
        Cached::sharing(inner, &MintCache::new(capacity))
    }

    /// `inner` behind `cache`, shared with every other minter behind it (one tenant's).
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

    /// Forgets the link of `key` ([`MintCache::invalidate`]).
    pub async fn invalidate(&self, key: &MintKey) {
        self.cache.invalidate(key).await;
    }

    /// Forgets the links of an interview or one of its events
    /// ([`MintCache::invalidate_interview`]).
    pub async fn invalidate_interview(&self, interview_id: &str, event_id: Option<&str>) {
        self.cache
            .invalidate_interview(interview_id, event_id)
            .await;
    }

    /// How many links the cache holds.
    pub async fn len(&self) -> u64 {
        self.cache.len().await
    }

    /// Whether the cache holds no link.
    pub async fn is_empty(&self) -> bool {
        self.cache.is_empty().await
    }
}

impl<M: Minter> Minter for Cached<M> {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        let mut called = false;
        let (serves_until, minted) = self
            .cache
            .0
            .try_get_with(mint.key.clone(), async {
                called = true;
                let minted = self.inner.mint(mint).await?;
                Ok::<_, MintError>((mint.serves_until, minted))
            })
            .await
            .map_err(|e| (*e).clone())?;
        if serves_until == mint.serves_until {
            if !called {
                // Answered from memory (or by sharing another caller's call to `inner`): the
                // ledger minter did not count it.
                metrics::counter!("invitoken_mints_total", "outcome" => "cached").increment(1);
            }
            return Ok(minted);
        }
        // Rescheduled: the inner minter extends the link (the ledger records the new end).
        let minted = self.inner.mint(mint).await?;
        self.cache
            .0
            .insert(mint.key.clone(), (mint.serves_until, minted.clone()))
            .await;
        Ok(minted)
    }

    /// Passes on the mints the cache cannot answer: a read-ahead of the others would wait,
    /// unused, in the inner minter.
    async fn prepare(&self, plan: &Plan) {
        if !plan.mints.iter().any(|m| self.cache.0.contains_key(&m.key)) {
            return self.inner.prepare(plan).await;
        }
        let rest = Plan {
            mints: plan
                .mints
                .iter()
                .filter(|m| !self.cache.0.contains_key(&m.key))
                .cloned()
                .collect(),
        };
        if !rest.mints.is_empty() {
            self.inner.prepare(&rest).await;
        }
    }
}
