//! Stage 3: turn planned mints into URLs.
//!
//! [`Minter`] is the seam: the embedded [`SandboxMinter`] derives URLs offline, the CodeSignal
//! client mints real sessions. Whatever a minter returns goes through [`SafeUrl`] before it can
//! reach an invite, so a hostile or broken API cannot inject text into one.

mod backoff;
mod cached;
mod codesignal;
mod sandbox;
mod url;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use futures::StreamExt;
use serde::Serialize;

use crate::plan::{MintKey, Plan, PlannedMint};

pub(crate) use backoff::{Backoff, Jitter};
pub use cached::{Cached, MintCache};
pub use codesignal::{
    ApiKey, ClientError, CodeSignalConfig, CodeSignalMinter, DEFAULT_ENDPOINT, KeyError,
    MAX_EXPIRATION, MAX_RESPONSE_BYTES, MIN_EXPIRATION,
};
pub use sandbox::SandboxMinter;
pub use url::{MAX_URL_LEN, SafeUrl, UrlError};

/// The tenant of keys that name none: what a single-tenant run (the CLI) uses. Its sandbox
/// links are those of a sandbox that knows no tenants.
pub const DEFAULT_TENANT: &str = "default";

/// What a minter made for one session, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    /// The session's URL as the API returned it (the shortened one when so configured): what
    /// goes into invites.
    pub url: String,
    /// The vendor's shortened URL, if it gives one.
    pub short_url: Option<String>,
    /// When the session expires, if the minter knows.
    pub expires_at: Option<DateTime<Utc>>,
    /// The session's id at the vendor, if it has one.
    pub session_id: Option<String>,
}

/// One async lock per candidate email (case-insensitive), made on first use: what keeps at most
/// one create (or one ledger intent) per candidate in flight, so a look-up by email can tell a
/// lost session apart. Cloning shares the locks. An email's lock is dropped once nobody holds
/// or waits for it, so a process that runs for weeks keeps only the locks in use.
#[derive(Debug, Clone, Default)]
pub(crate) struct EmailLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

/// The lock of one email, held; dropping it releases the lock (and forgets it when idle).
pub(crate) struct EmailGuard {
    locks: EmailLocks,
    email: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl EmailLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // A panic while the map was locked left it whole (every change is one call): go on.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for, and holds, the lock of `email`.
    pub(crate) async fn lock(&self, email: &str) -> EmailGuard {
        let email = email.to_ascii_lowercase();
        let lock = self.map().entry(email.clone()).or_default().clone();
        // Made before the wait, so a caller that gives up waiting (a dropped future) still
        // forgets an idle lock.
        let mut guard = EmailGuard {
            locks: self.clone(),
            email,
            lock,
            held: None,
        };
        guard.held = Some(guard.lock.clone().lock_owned().await);
        guard
    }

    /// How many emails have a lock now (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

impl Drop for EmailGuard {
    fn drop(&mut self) {
        drop(self.held.take());
        let mut map = self.locks.map();
        // Clones are only made under the map's lock: two references (the map's and this one)
        // mean nobody else holds or waits for it.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.email);
        }
    }
}

/// Makes one session per planned mint.
///
/// Implementations must mint at most once per call; callers call once per key.
pub trait Minter: Send + Sync {
    /// Mints the session of `mint`.
    fn mint(&self, mint: &PlannedMint) -> impl Future<Output = Result<Minted, MintError>> + Send;

    /// Called by [`mint_all`] before the plan's mints: a chance to read ahead in bulk what the
    /// mints will need (the ledger reads the plan's minted records in a few queries instead of
    /// one per key). Errors are not fatal: each mint then reads for itself.
    fn prepare(&self, plan: &Plan) -> impl Future<Output = ()> + Send {
        let _ = plan;
        async {}
    }
}

/// How a vendor's look-up ([`Sessions::candidates`]) finds a session whose create lost its
/// reply: what the mint ledger must do so that the look-up can tell whose a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LostSessions {
    /// The look-up lists the candidate's sessions (CodeSignal's, by email), so two creates of
    /// one candidate unresolved at once could not be told apart: the ledger lets at most one
    /// create per candidate be in flight or unresolved. And the vendor may commit a create
    /// long after the client gave up on it: an unresolved intent is looked up only after the
    /// settle window. The safe choice, and the default.
    ByCandidate,
    /// The look-up answers exactly the key's own session, made offline (the sandbox's derived
    /// link): keys of one candidate need no ordering, and nothing can land late.
    ByKey,
}

/// What the ledger's lifecycle needs from a vendor beyond minting: finding a session whose
/// create lost its reply, extending a session's life, and deleting it.
pub trait Sessions: Minter {
    /// How [`candidates`](Sessions::candidates) finds a lost session.
    fn lost_sessions(&self) -> LostSessions {
        LostSessions::ByCandidate
    }

    /// The session of `mint` if this minter derives it offline (the sandbox): made with no
    /// effect anywhere, the same on every call, so the ledger records it `minted` directly, in
    /// groups, with no intent before it. `None` (the default): a create at a vendor, which only
    /// an intent made durable first may send.
    fn derived(&self, mint: &PlannedMint) -> Option<Minted> {
        let _ = mint;
        None
    }

    /// Sessions at the vendor that a create for `mint` whose outcome is unknown could have made
    /// (for CodeSignal: the candidate's pending sessions). The ledger removes those it knows;
    /// exactly one left is the lost one, none means nothing was made.
    fn candidates(
        &self,
        mint: &PlannedMint,
    ) -> impl Future<Output = Result<Vec<Minted>, MintError>> + Send;

    /// Mints the session of `mint` as a record keeps it: `url` the vendor's own URL, whatever
    /// this minter shows in invites ([`presented`](Sessions::presented) makes that).
    fn mint_recorded(
        &self,
        mint: &PlannedMint,
    ) -> impl Future<Output = Result<Minted, MintError>> + Send {
        self.mint(mint)
    }

    /// `minted`, as recorded, with the URL this minter puts into invites (CodeSignal's
    /// shortened one when so configured), for sessions minted now or in an earlier run alike.
    fn presented(&self, minted: Minted) -> Minted {
        minted
    }

    /// Extends the life of the session `session_id` of `key`, which expires at `expires_at`,
    /// to cover the end of the last event it serves (`serves_until`) as far as the vendor allows.
    /// `Ok(None)`: nothing to do (it lives long enough, or cannot live longer, or never
    /// expires); `Ok(Some(t))`: it now expires at `t`.
    fn extend(
        &self,
        key: &MintKey,
        session_id: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
        serves_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, MintError>> + Send;

    /// Deletes the session `session_id` of `key` at the vendor. A session already gone counts
    /// as deleted.
    fn delete(
        &self,
        key: &MintKey,
        session_id: Option<&str>,
    ) -> impl Future<Output = Result<(), MintError>> + Send;
}

/// What a failed call did at the vendor: whether a session may exist because of it. A service
/// maps it without reading messages: `Nothing` may be retried, `Unknown` must not be (a second
/// create could make a second session), `Made` left a session behind that nobody uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VendorEffect {
    /// Nothing was made (refused before it was sent, a 4xx, a rate limit, retries run out on
    /// failures that were not executed).
    Nothing,
    /// A session may have been made: the request may have been executed and its answer was
    /// lost (a timeout after sending, a connection dropped before the reply, a 5xx, an answer
    /// off the schema).
    Unknown,
    /// A session was made, and refused afterwards (its URL or id is unusable, or it cannot be
    /// this key's own).
    Made,
}

/// What was being done to a recorded session when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionOp {
    /// Extending its life.
    Extend,
    /// Deleting it.
    Delete,
}

impl std::fmt::Display for SessionOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SessionOp::Extend => "extending",
            SessionOp::Delete => "deleting",
        })
    }
}

/// Why a mint failed. Every variant names its session ([`MintError::key`]) and says what the
/// failed call did at the vendor ([`MintError::effect`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The minter answered with a URL that may not go into an invite.
    #[error("the link minted for {key} was refused: {source}")]
    UnsafeUrl {
        /// Which session (boxed: a key is large, and errors travel in every `Result`).
        key: Box<MintKey>,
        /// What is wrong with the URL.
        source: UrlError,
    },
    /// The CodeSignal client failed; the source says what to fix.
    #[error("minting the link for {key} failed: {source}")]
    CodeSignal {
        /// Which session (boxed: a key is large, and errors travel in every `Result`).
        key: Box<MintKey>,
        /// Why.
        source: ClientError,
    },
    /// Extending or deleting a recorded session at CodeSignal failed.
    #[error("{op} the session of {key} failed: {source}")]
    Session {
        /// Which session (boxed: a key is large, and errors travel in every `Result`).
        key: Box<MintKey>,
        /// What was being done.
        op: SessionOp,
        /// Why.
        source: ClientError,
    },
    /// The minter failed for a reason of its own, before it made anything.
    #[error("minting the link for {key} failed: {message}")]
    Failed {
        /// Which session (boxed: a key is large, and errors travel in every `Result`).
        key: Box<MintKey>,
        /// What went wrong and how to fix it.
        message: String,
    },
    /// The key's session was deleted (cancelled), and minting a new one was not asked for.
    #[error(
        "minting the link for {key} failed: its session {} was deleted (cancelled) at {}; a new \
         one is minted only when asked for explicitly (--remint-deleted)",
        crate::shown(.session_id.as_deref().unwrap_or("(no id)")),
        .deleted_at.to_rfc3339()
    )]
    Deleted {
        /// Which session (boxed: a key is large, and errors travel in every `Result`).
        key: Box<MintKey>,
        /// Its vendor id, if it had one.
        session_id: Option<String>,
        /// When it was recorded deleted.
        deleted_at: DateTime<Utc>,
    },
    /// The mint ledger did not let the mint go ahead, or could not record it: another intent
    /// is unresolved, an outcome is unknown, a session is another key's, a query failed.
    /// `message` says what happened and when to run again.
    #[error("minting the link for {key} failed: {message}")]
    Ledger {
        /// Which session (boxed: a key is large, and errors travel in every `Result`).
        key: Box<MintKey>,
        /// What the call that failed did at the vendor (`Nothing` when none was made).
        effect: VendorEffect,
        /// What happened, and what to do.
        message: String,
    },
}

impl MintError {
    /// The session the mint was for.
    pub fn key(&self) -> &MintKey {
        match self {
            MintError::UnsafeUrl { key, .. }
            | MintError::CodeSignal { key, .. }
            | MintError::Session { key, .. }
            | MintError::Failed { key, .. }
            | MintError::Deleted { key, .. }
            | MintError::Ledger { key, .. } => key,
        }
    }

    /// What the failed call did at the vendor.
    pub fn effect(&self) -> VendorEffect {
        match self {
            MintError::UnsafeUrl { .. } => VendorEffect::Made,
            MintError::CodeSignal { source, .. } | MintError::Session { source, .. } => {
                source.effect()
            }
            MintError::Failed { .. } | MintError::Deleted { .. } => VendorEffect::Nothing,
            MintError::Ledger { effect, .. } => *effect,
        }
    }

    /// What went wrong, without the key (for a record that names the key itself).
    pub fn cause(&self) -> String {
        match self {
            MintError::CodeSignal { source, .. } => source.to_string(),
            MintError::UnsafeUrl { source, .. } => format!("the link was refused: {source}"),
            MintError::Failed { message, .. } | MintError::Ledger { message, .. } => {
                message.clone()
            }
            other => other.to_string(),
        }
    }
}

impl std::fmt::Display for MintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interview `{}`", self.interview_id)?;
        if let Some(e) = &self.event_id {
            write!(f, ", event `{e}`")?;
        }
        write!(f, " ({:?}", self.product)?;
        if let Some(t) = &self.template_id {
            write!(f, ", template `{t}`")?;
        }
        f.write_str(")")
    }
}

/// A minted, validated link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Which session.
    #[serde(flatten)]
    pub key: MintKey,
    /// Its URL.
    pub url: SafeUrl,
    /// When it expires, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The end of the last event it serves (from the plan).
    #[serde(skip)]
    pub serves_until: DateTime<Utc>,
}

impl Link {
    /// Whether the link expires before the last event it serves has ended (CodeSignal links
    /// live at most 336 hours, so an interview booked further ahead gets one that does).
    pub fn expires_too_soon(&self) -> bool {
        self.expires_at.is_some_and(|at| at < self.serves_until)
    }
}

/// Mints one planned session unless an earlier one failed; `None` when skipped. The first
/// failure (in time) is kept in `first`: later ones are often its consequences ("not sent, since
/// an earlier request failed").
async fn mint_one<M: Minter>(
    minter: &M,
    mint: &PlannedMint,
    failed: &AtomicBool,
    first: &Mutex<Option<MintError>>,
) -> Option<Result<Link, MintError>> {
    if failed.load(Ordering::SeqCst) {
        return None;
    }
    let result: Result<Link, MintError> = async {
        let minted = minter.mint(mint).await?;
        let url = SafeUrl::parse(&minted.url).map_err(|source| MintError::UnsafeUrl {
            key: Box::new(mint.key.clone()),
            source,
        })?;
        Ok(Link {
            key: mint.key.clone(),
            url,
            expires_at: minted.expires_at,
            serves_until: mint.serves_until,
        })
    }
    .await;
    if let Err(e) = &result {
        failed.store(true, Ordering::SeqCst);
        first
            .lock()
            .expect("not poisoned")
            .get_or_insert_with(|| e.clone());
    }
    Some(result)
}

/// Mints every session of `plan`, at most `concurrency` at a time, and validates each URL.
/// Links come back in the plan's order.
///
/// Fails closed: after the first failure no further mint starts, and no invite of the request
/// is rendered; the error returned is the first to happen. Mints already under way are awaited rather than dropped: a create cut off
/// mid-request could leave a session nobody knows of.
pub async fn mint_all<M: Minter>(
    minter: &M,
    plan: &Plan,
    concurrency: usize,
) -> Result<Vec<Link>, MintError> {
    minter.prepare(plan).await;
    let failed = AtomicBool::new(false);
    let first = Mutex::new(None);
    // At most `concurrency` mint futures exist at a time (a ledger-backed one is kilobytes, and
    // a batch may plan hundreds of thousands), each made when a slot frees up. A plain loop
    // rather than a `map` closure kept in a stream: the returned future stays `Send` for any
    // borrow of the plan, so it can be handed to `tokio::spawn`.
    let mut planned = plan.mints.iter();
    let mut in_flight = futures::stream::FuturesOrdered::new();
    let mut results = Vec::with_capacity(plan.mints.len());
    loop {
        while in_flight.len() < concurrency.max(1) {
            match planned.next() {
                Some(mint) => in_flight.push_back(mint_one(minter, mint, &failed, &first)),
                None => break,
            }
        }
        match in_flight.next().await {
            Some(result) => results.push(result),
            None => break,
        }
    }
    drop(in_flight);
    if let Some(e) = first.lock().expect("not poisoned").take() {
        return Err(e);
    }
    Ok(results.into_iter().flatten().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn email_locks_are_forgotten_once_idle() {
        let locks = EmailLocks::default();
        let a = locks.lock("Ada@Example.com").await;
        assert_eq!(locks.len(), 1);
        // The same candidate, however written, waits for the same lock.
        let waiting = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.lock("ada@example.COM").await })
        };
        tokio::task::yield_now().await;
        let b = locks.lock("bob@example.com").await;
        assert_eq!(locks.len(), 2);
        drop(a);
        let a2 = waiting.await.unwrap();
        // Still held by the waiter that got it.
        assert_eq!(locks.len(), 2);
        drop(a2);
        drop(b);
        assert_eq!(locks.len(), 0, "idle locks must not be kept");

        // A waiter that gives up (its future dropped) leaves nothing behind either.
        let held = locks.lock("carol@example.com").await;
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            locks.lock("carol@example.com"),
        )
        .await;
        assert!(gave_up.is_err());
        drop(held);
        assert_eq!(locks.len(), 0);
    }
}
