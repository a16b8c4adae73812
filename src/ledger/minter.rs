//! [`LedgerMinter`]: any [`Minter`] behind the durable ledger, and the lifecycle commands
//! (cancel, refresh) that work from what the ledger holds.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tokio::time::Instant;

use super::{
    Claim, Derived, Filter, Intent, Ledger, LedgerError, LedgerKey, MintRecord, MintTicket,
    STALE_AFTER, State, Vendor,
};
use crate::mint::{
    Backoff, EmailLocks, Jitter, LostSessions, MintError, Minted, Minter, SafeUrl, Sessions,
    VendorEffect,
};
use crate::plan::{MintKey, Plan, PlannedMint};
use crate::shown;

/// How long a mint waits by default for another worker's intent on the same key to resolve:
/// about as long as the CodeSignal client may take for one mint.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(150);

/// How long a worker holds an intent without renewing it. It renews every third of that while
/// its mint is in flight, so an intent whose lease ran out was left by a worker that died, and
/// the next run reconciles it after at most this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How long after an intent's last possible create (its lease's end) a look-up may settle it:
/// CodeSignal may commit a create long after the client gave up on it (a timed-out request is
/// not a cancelled one), and only once such a late commit must have landed does "the look-up
/// found nothing" mean "nothing was made". Ten times the default request timeout.
pub const DEFAULT_SETTLE_AFTER: Duration = Duration::from_secs(300);

/// How long a key waits for another key of its candidate that the same plan holds, whose mint
/// has not started yet (it settles that key's unresolved intent first).
const PLANNED_GRACE: Duration = Duration::from_secs(2);

/// How long a key of a plan counts as planned (its mint about to start): longer than a large
/// batch takes to start its last mint.
const PLANNED_FOR: Duration = Duration::from_secs(3600);

/// How long a record read ahead for a plan waits for its mint.
const READ_AHEAD_FOR: Duration = Duration::from_secs(600);

/// Mints through `inner` at most once per key, across runs and processes sharing the ledger:
///
/// 1. A `minted` record is reused without calling `inner` (one read, no lock). When the key's
///    last event now ends later than recorded (a reschedule), or the link expires before it,
///    the session is extended ([`Sessions::extend`]) and the new expiry recorded.
/// 2. Otherwise claim the key (write-ahead): told to mint, call `inner` once while renewing the
///    intent's lease, then record the session (both its URLs checked first), or record the
///    failure when it is known to have created nothing. A failure whose outcome is unknown
///    leaves the intent `pending` with its error and its lease given up, and fails the mint:
///    it is never settled in the run that sent the create (a late commit could land after any
///    look-up), and the candidate gets no other create meanwhile (below).
/// 3. Another worker's live intent on the key: poll until it resolves, for at most the wait
///    ([`with_wait`](LedgerMinter::with_wait)).
/// 4. A stale intent (its lease ran out: the worker died, or gave up on an unknown outcome) is
///    settled once the settle window ([`with_settle_after`](LedgerMinter::with_settle_after))
///    has passed since its lease ended; before that the mint fails at once, saying when to run
///    again. It is taken over and reconciled with a look-up ([`Sessions::candidates`]): the one
///    pending session of the candidate no ledger record knows is adopted (both its URLs
///    checked); none means nothing was made, and the key is minted; more than one, or other
///    unresolved intents of the same candidate, cannot be told apart and fail the mint, saying
///    which sessions to delete. It is never minted blindly.
/// 5. A deleted session fails the mint unless [`remint_deleted`](LedgerMinter::remint_deleted)
///    was asked for: minting a new one is an explicit decision.
///
/// For a minter whose look-up lists a candidate's sessions ([`LostSessions::ByCandidate`], as
/// CodeSignal's does; [`Sessions::lost_sessions`] says), one process takes at most one intent
/// per candidate email at a time (a look-up by email could not tell two lost creates of one
/// candidate apart), and, checked
/// after taking the candidate's lock, starts no create while another intent of the candidate is
/// unresolved: it waits for one this run is settling or another worker holds, and otherwise
/// fails the mint without an intent.
///
/// Put a read-through cache ([`Cached`](crate::Cached)) in front of this: one ledger read per
/// key and process; the ledger is what the next run, or another worker, sees. After
/// [`cancel`](LedgerMinter::cancel) or [`cancel_key`](LedgerMinter::cancel_key), invalidate
/// what was cancelled in that cache.
#[derive(Debug, Clone)]
pub struct LedgerMinter<M> {
    inner: M,
    ledger: Ledger,
    vendor: Vendor,
    tenant: String,
    wait: Duration,
    lease: Duration,
    remint_deleted: bool,
    settle_after: Duration,
    /// How the inner minter's look-up finds a lost session (asked once, when built).
    lost: LostSessions,
    email_locks: EmailLocks,
    /// Keys this process is minting now (with how many callers): an unresolved intent of one is
    /// being settled in this run, so another key of its candidate waits for it.
    in_process: Arc<Mutex<HashMap<LedgerKey, usize>>>,
    /// What [`Minter::prepare`] learnt of the plans being minted.
    ahead: Arc<Ahead>,
}

/// What [`Minter::prepare`] learnt of the plans being minted. Both bounded in time: a plan
/// whose mint stopped early (fail closed) leaves keys never started, which a process that runs
/// for weeks must not keep.
#[derive(Debug, Default)]
struct Ahead(Mutex<AheadMaps>);

/// [`Ahead`]'s maps, each entry with when it was put there. Plain maps under one lock, swept by
/// age on every `prepare`: a warm re-run reads ahead tens of thousands of keys, and a cache
/// with its own housekeeping (moka) doubled its time; entries of a plan whose mints never
/// started (an early failure) still go after [`PLANNED_FOR`] and [`READ_AHEAD_FOR`].
///
/// Keyed by mint key alone: one minter's keys share its tenant and vendor (a new tenant gets
/// new maps, [`LedgerMinter::with_tenant`]), and a warm mint then finds its record without
/// building a [`LedgerKey`].
#[derive(Debug, Default)]
struct AheadMaps {
    /// Keys of a plan whose mint has not started yet (and had no minted record).
    planned: HashMap<MintKey, Instant>,
    /// Minted records read ahead (those of the plans' interviews), taken by the first mint of
    /// each key; only worth their read for a while.
    records: HashSet<ReadAhead>,
}

/// A record read ahead, with when: found by its mint key (hash and equality are the key's).
#[derive(Debug)]
struct ReadAhead {
    at: Instant,
    record: MintRecord,
}

impl PartialEq for ReadAhead {
    fn eq(&self, other: &ReadAhead) -> bool {
        self.record.key.mint == other.record.key.mint
    }
}

impl Eq for ReadAhead {}

impl std::hash::Hash for ReadAhead {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.record.key.mint.hash(state);
    }
}

impl std::borrow::Borrow<MintKey> for ReadAhead {
    fn borrow(&self) -> &MintKey {
        &self.record.key.mint
    }
}

impl Ahead {
    fn maps(&self) -> std::sync::MutexGuard<'_, AheadMaps> {
        // A panic while holding it leaves plain maps, still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_planned(&self, key: &MintKey) -> bool {
        self.maps().planned.contains_key(key)
    }

    /// The key's mint starts: no longer planned; its record read ahead, if any.
    fn start(&self, key: &MintKey) -> Option<MintRecord> {
        let mut maps = self.maps();
        if !maps.planned.is_empty() {
            maps.planned.remove(key);
        }
        maps.records.take(key).map(|r| r.record)
    }

    /// Drops what is older than it is worth keeping.
    fn sweep(maps: &mut AheadMaps, now: Instant) {
        maps.planned
            .retain(|_, at| now.duration_since(*at) < PLANNED_FOR);
        maps.records
            .retain(|r| now.duration_since(r.at) < READ_AHEAD_FOR);
    }
}

/// What reconciling a stale intent decided.
enum Reconciled {
    /// The lost session was found and recorded.
    Adopted(Minted),
    /// Nothing was made: mint under this ticket.
    Mint(MintTicket),
    /// Someone else is at it: claim again later.
    Later,
}

impl<M: Sessions> LedgerMinter<M> {
    /// `inner` behind `ledger`, its sessions recorded as `vendor`'s in the default tenant.
    pub fn new(inner: M, ledger: Ledger, vendor: Vendor) -> LedgerMinter<M> {
        LedgerMinter {
            lost: inner.lost_sessions(),
            inner,
            ledger,
            vendor,
            tenant: super::DEFAULT_TENANT.to_owned(),
            wait: DEFAULT_WAIT,
            lease: DEFAULT_LEASE,
            remint_deleted: false,
            settle_after: DEFAULT_SETTLE_AFTER,
            email_locks: EmailLocks::default(),
            in_process: Arc::default(),
            ahead: Arc::default(),
        }
    }

    /// Records sessions under `tenant`.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> LedgerMinter<M> {
        self.tenant = tenant.into();
        // What was read ahead is another tenant's.
        self.ahead = Arc::default();
        self
    }

    /// How long to wait for another worker's intent on the same key before failing.
    pub fn with_wait(mut self, wait: Duration) -> LedgerMinter<M> {
        self.wait = wait;
        self
    }

    /// How long an intent is held without renewal ([`DEFAULT_LEASE`]); at least a second.
    pub fn with_lease(mut self, lease: Duration) -> LedgerMinter<M> {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// How long after an unresolved intent's lease ended it may be settled by look-up
    /// ([`DEFAULT_SETTLE_AFTER`]): longer than CodeSignal may take to commit a create the
    /// client gave up on.
    pub fn with_settle_after(mut self, settle_after: Duration) -> LedgerMinter<M> {
        self.settle_after = settle_after;
        self
    }

    /// Whether a key whose session was deleted (cancelled) gets a new session.
    pub fn remint_deleted(mut self, yes: bool) -> LedgerMinter<M> {
        self.remint_deleted = yes;
        self
    }

    /// The minter behind the ledger.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn key(&self, mint: &PlannedMint) -> LedgerKey {
        LedgerKey::new(self.vendor, mint.key.clone()).with_tenant(self.tenant.clone())
    }

    fn lease_delta(&self) -> TimeDelta {
        TimeDelta::from_std(self.lease).unwrap_or(TimeDelta::seconds(30))
    }

    /// Runs `work` for the intent `ticket`, renewing its lease every third of the lease until
    /// `work` is done. A renewal that fails is not fatal: the intent stays pending either way.
    async fn leased<T>(&self, ticket: &MintTicket, work: impl Future<Output = T>) -> T {
        let every = self.lease / 3;
        let mut next = Instant::now() + every;
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                () = tokio::time::sleep_until(next) => {
                    next += every;
                    let until = Utc::now() + self.lease_delta();
                    let _ = self.ledger.renew(&ticket.key, ticket.attempt, until).await;
                }
            }
        }
    }

    /// Whether the fresh intent `ticket` must yield to another pending intent of its candidate
    /// (another process's: this one holds the candidate's lock); if so it is recorded as having
    /// created nothing.
    ///
    /// It yields to any other, whichever was claimed first. Of two claims committed at once,
    /// the one committed second always sees the other, but the first may not have seen it and
    /// gone ahead; an order by claim time would not help, since a claim's time is taken before
    /// its commit (and PostgreSQL commits claims of different keys in any order). Both may
    /// yield, and then both wait a jittered while before claiming again.
    async fn yields(&self, ticket: &MintTicket, email: &str) -> Result<bool, MintError> {
        let key = &ticket.key;
        let pending = self
            .ledger
            .pending_for(&self.tenant, self.vendor, email)
            .await
            .map_err(|e| ledger_failed(key, e))?;
        if !pending.iter().any(|r| r.key == *key) {
            return Ok(false);
        }
        let other = pending.iter().any(|r| r.key != *key);
        if other {
            self.ledger
                .record_failed_as(
                    ticket,
                    "not attempted: another intent of the candidate was claimed at the same time",
                )
                .await
                .map_err(|e| ledger_failed(key, e))?;
        }
        Ok(other)
    }

    /// Mints `mint` under `ticket` (one call of the inner minter) and records the outcome.
    async fn mint_leased(
        &self,
        ticket: &MintTicket,
        mint: &PlannedMint,
    ) -> Result<Minted, MintError> {
        let key = &ticket.key;
        match self.leased(ticket, self.inner.mint_recorded(mint)).await {
            Ok(minted) => {
                // Both URLs are checked before anything records them: a session whose URL may
                // not go into an invite exists, and is not ours to use.
                if let Err(e) = check_urls(key, &minted) {
                    return Err(self.give_up(ticket, e).await);
                }
                // Every create makes a new session: one the ledger already records for another
                // key (a proxy replaying an old answer) would put two keys in one room.
                if let Some(id) = &minted.session_id
                    && let Some(holder) = self
                        .ledger
                        .by_session(self.vendor, id)
                        .await
                        .map_err(|e| ledger_failed_with(key, VendorEffect::Made, e))?
                    && holder.key != *key
                {
                    let e = failed_with(
                        key,
                        VendorEffect::Made,
                        format!(
                            "the vendor answered with session {}, which the mint ledger records \
                             for {}; it is not used",
                            shown(id),
                            holder.key
                        ),
                    );
                    return Err(self.give_up(ticket, e).await);
                }
                // If this fails the intent stays pending: the session exists, and only a
                // look-up can pair it with the key again.
                self.ledger
                    .record_minted_as(ticket, &minted)
                    .await
                    .map_err(|e| ledger_failed_with(key, VendorEffect::Made, e))?;
                self.count("minted");
                Ok(self.inner.presented(minted))
            }
            Err(e) if e.effect() == VendorEffect::Nothing => {
                self.ledger
                    .record_failed_as(ticket, &shown(&e.to_string()))
                    .await
                    .map_err(|le| ledger_failed(key, le))?;
                Err(e)
            }
            Err(e) => Err(self.give_up(ticket, e).await),
        }
    }

    /// After a create whose outcome is unknown: the intent stays `pending` with the error and
    /// its lease given up, to be settled by a later run once a late commit must have landed.
    async fn give_up(&self, ticket: &MintTicket, e: MintError) -> MintError {
        let key = &ticket.key;
        // The cause alone: the key is named once, by the error returned.
        let cause = e.cause();
        let recorded = self.ledger.release_unknown(ticket, &shown(&cause)).await;
        let settle_at = match &recorded {
            Ok(record) => self.settles_at(record),
            Err(_) => Utc::now() + self.lease_delta() + self.settle_delta(),
        };
        failed_with(
            key,
            e.effect(),
            format!(
                "{cause}. The mint ledger keeps the intent unresolved: nothing is minted for it \
                 again, and no other session is created for this candidate in this run. Run the \
                 same request again after {} (by then a create that CodeSignal committed late \
                 must have landed): the candidate's sessions are then looked up, and one is \
                 adopted only if exactly one pending session of the candidate exists that no \
                 record holds{}",
                settle_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                match recorded {
                    Ok(_) => String::new(),
                    Err(le) => format!(" (recording the error failed: {le})"),
                }
            ),
        )
    }

    /// A `minted` record for `mint`: extended if its link would expire before the (possibly
    /// rescheduled) last event ends; the new end recorded.
    async fn reuse(&self, record: MintRecord, mint: &PlannedMint) -> Result<Minted, MintError> {
        let key = &record.key;
        let mut minted = record
            .minted()
            .ok_or_else(|| failed(key, "the ledger's minted record has no URL".to_owned()))?;
        // What the link serves only grows: a batch holding some of an interview's events, or a
        // reschedule to an earlier time, must not cut short a link other events still use.
        let serves_until = record
            .serves_until
            .map_or(mint.serves_until, |s| s.max(mint.serves_until));
        let later = record.serves_until != Some(serves_until);
        let short = minted.expires_at.is_none_or(|e| e < serves_until);
        // A finished session's link is spent: it is what the invites hold, and extending a
        // session that is over would ask the vendor for nothing useful.
        if !(later || short) || record.state == State::Finished {
            self.count("reused");
            return Ok(self.inner.presented(minted));
        }
        if let Some(updated) = self.extend_record(&record, serves_until).await? {
            minted.expires_at = updated.expires_at;
        }
        self.count("reused");
        Ok(self.inner.presented(minted))
    }

    /// Asks the vendor to extend `record`'s session to cover `serves_until` (plus its grace) and
    /// records the new expiry, and `serves_until` when it moved later. `None`: nothing changed.
    async fn extend_record(
        &self,
        record: &MintRecord,
        serves_until: DateTime<Utc>,
    ) -> Result<Option<MintRecord>, MintError> {
        let key = &record.key;
        let extended = self
            .inner
            .extend(
                &key.mint,
                record.session_id.as_deref(),
                record.expires_at,
                serves_until,
            )
            .await?;
        if extended.is_none() && record.serves_until == Some(serves_until) {
            return Ok(None);
        }
        self.ledger
            .update_expiry(key, extended.or(record.expires_at), serves_until)
            .await
            .map(Some)
            .map_err(|e| ledger_failed(key, e))
    }

    /// Reconciles the stale intent `seen` of `mint` (see the type's docs, step 4).
    async fn reconcile(
        &self,
        seen: &MintRecord,
        mint: &PlannedMint,
    ) -> Result<Reconciled, MintError> {
        let key = &seen.key;
        let by_email = self.lost == LostSessions::ByCandidate;
        // A live intent of the same candidate may be a create in flight, whose session a
        // look-up would show as nobody's: wait for it.
        if by_email
            && self
                .others_pending(seen)
                .await?
                .iter()
                .any(|r| !r.is_stale())
        {
            return Ok(Reconciled::Later);
        }
        let Some(ticket) = self
            .ledger
            .take_over(seen, self.lease_delta())
            .await
            .map_err(|e| ledger_failed(key, e))?
        else {
            return Ok(Reconciled::Later);
        };
        self.settle(&ticket, mint).await
    }

    /// Decides the intent `ticket` holds, whose create's outcome is unknown, by look-up.
    async fn settle(
        &self,
        ticket: &MintTicket,
        mint: &PlannedMint,
    ) -> Result<Reconciled, MintError> {
        let key = &ticket.key;
        let seen = &self
            .ledger
            .get(key)
            .await
            .map_err(|e| ledger_failed(key, e))?
            .ok_or_else(|| failed(key, "its intent vanished from the ledger".to_owned()))?;
        let by_email = self.lost == LostSessions::ByCandidate;
        let ticket = ticket.clone();
        let found = self.leased(&ticket, self.inner.candidates(mint)).await?;
        // Read after the look-up: a session made by another worker since is either recorded by
        // now (and known below) or its intent is still pending (and seen here).
        let others = if by_email {
            self.others_pending(seen).await?
        } else {
            Vec::new()
        };
        if others.iter().any(|r| !r.is_stale()) {
            // Our take-over's lease runs out and the next claim tries again.
            return Ok(Reconciled::Later);
        }
        let mut unknown: Vec<Minted> = Vec::new();
        for candidate in found {
            // The same session listed twice by the look-up counts once.
            if candidate.session_id.is_some()
                && unknown.iter().any(|u| u.session_id == candidate.session_id)
            {
                continue;
            }
            let known = match &candidate.session_id {
                Some(id) => self
                    .ledger
                    .by_session(self.vendor, id)
                    .await
                    .map_err(|e| ledger_failed(key, e))?
                    .is_some(),
                None => false,
            };
            if !known {
                unknown.push(candidate);
            }
        }
        if unknown.is_empty() {
            return Ok(Reconciled::Mint(ticket));
        }
        if unknown.len() == 1 && others.is_empty() {
            let minted = unknown.pop().expect("one");
            if let Err(e) = check_urls(key, &minted) {
                let message = format!(
                    "{e}; the session {} is the one an unresolved create of this key made, and \
                     it is not adopted: delete it in CodeSignal, then run again",
                    shown(minted.session_id.as_deref().unwrap_or("(no id)"))
                );
                let _ = self.ledger.release_unknown(&ticket, &shown(&message)).await;
                return Err(failed_with(key, VendorEffect::Made, message));
            }
            let record = self
                .ledger
                .record_minted_as(&ticket, &minted)
                .await
                .map_err(|e| ledger_failed(key, e))?;
            // Its expiry is not in the look-up: extending sets one the ledger knows.
            return self.reuse(record, mint).await.map(Reconciled::Adopted);
        }
        Err(failed(
            key,
            format!(
                "the outcome is unknown: {} intent(s) for this candidate have no result \
                 (a create's reply was lost, or its run died) ({}), and CodeSignal holds {} pending session(s) of the \
                 candidate that no record knows ({}), so which was made for which key cannot be \
                 told. Nothing is minted again: delete in CodeSignal those of them invitoken made (none \
                 has reached an invite; one made there by hand is not ours to delete), then run \
                 again and each key is minted once",
                others.len() + 1,
                std::iter::once(seen)
                    .chain(&others)
                    .map(|r| r.key.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
                unknown.len(),
                shown(
                    &unknown
                        .iter()
                        .map(|m| m.session_id.as_deref().unwrap_or(&m.url))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            ),
        ))
    }

    /// The other pending intents of `seen`'s candidate.
    async fn others_pending(&self, seen: &MintRecord) -> Result<Vec<MintRecord>, MintError> {
        Ok(self
            .ledger
            .pending_for(&self.tenant, self.vendor, &seen.candidate_email)
            .await
            .map_err(|e| ledger_failed(&seen.key, e))?
            .into_iter()
            .filter(|r| r.key != seen.key)
            .collect())
    }

    /// Deletes the sessions of interview `interview` at the vendor (only event `event`'s, when
    /// given) and records them deleted. Every record of those keys gets an outcome; none is
    /// skipped silently.
    pub async fn cancel(
        &self,
        interview: &str,
        event: Option<&str>,
    ) -> Result<Vec<Outcome>, LedgerError> {
        // No event has an empty id: the database spells "no event" so, and this would select
        // the interview's own sessions.
        if event == Some("") {
            return Ok(Vec::new());
        }
        let records = self
            .ledger
            .select(&Filter {
                tenant: &self.tenant,
                vendor: Some(self.vendor),
                interview: Some(interview),
                event,
                state: None,
            })
            .await?;
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            outcomes.push(self.cancel_record(record).await);
        }
        Ok(outcomes)
    }

    /// Cancels the session of `key` if the ledger knows one: `None` when it has no record (no
    /// session was ever asked for).
    pub async fn cancel_key(&self, key: &MintKey) -> Result<Option<Outcome>, LedgerError> {
        let key = LedgerKey::new(self.vendor, key.clone()).with_tenant(self.tenant.clone());
        match self.ledger.get(&key).await? {
            Some(record) => Ok(Some(self.cancel_record(record).await)),
            None => Ok(None),
        }
    }

    /// Cancels the session of one record.
    pub async fn cancel_record(&self, record: MintRecord) -> Outcome {
        let (action, error) = match record.state {
            State::Deleted => (Action::AlreadyDeleted, None),
            // Deleting an interview that is over at CodeSignal would delete its results (its
            // recording, code and feedback): the ledger only forgets its spent link.
            State::Finished => match self.ledger.mark_deleted(&record.key).await {
                Ok(_) => (Action::Finished, None),
                Err(e) => (Action::Failed, Some(e.to_string())),
            },
            State::Pending => (
                Action::Unresolved,
                Some(format!(
                    "an intent to mint it has no result yet ({} attempt(s)), so whether CodeSignal \
                     made a session for it is unknown; nothing was deleted. A resolve of the same \
                     request settles it after the settle window, but also mints the request's \
                     other sessions: for an interview that is really cancelled, delete the \
                     candidate's pending sessions in CodeSignal by hand instead{}",
                    record.attempts,
                    record
                        .last_error
                        .as_deref()
                        .map(|e| format!(" (last error: {})", crate::shown(e)))
                        .unwrap_or_default()
                )),
            ),
            State::Failed | State::Minted => {
                let deleted = if record.state == State::Minted {
                    self.inner
                        .delete(&record.key.mint, record.session_id.as_deref())
                        .await
                        .map_err(|e| e.to_string())
                } else {
                    Ok(())
                };
                match deleted {
                    Ok(()) => match if record.state == State::Failed {
                        self.ledger.cancel_failed(&record.key).await
                    } else {
                        self.ledger.mark_deleted(&record.key).await
                    } {
                        Ok(_) if record.state == State::Failed => (Action::NothingMinted, None),
                        Ok(_) => (Action::Deleted, None),
                        Err(e) => (Action::Failed, Some(e.to_string())),
                    },
                    Err(e) => (Action::Failed, Some(e)),
                }
            }
        };
        Outcome::new(record, action, error)
    }

    /// Extends every upcoming session whose link would expire before its last event ends (plus
    /// the grace period): what to run daily for interviews booked more than 14 days ahead.
    pub async fn refresh(&self) -> Result<Vec<Outcome>, LedgerError> {
        let now = Utc::now();
        let mut outcomes = Vec::new();
        let minted = self
            .ledger
            .select(&Filter {
                tenant: &self.tenant,
                vendor: Some(self.vendor),
                state: Some(State::Minted),
                ..Filter::default()
            })
            .await?;
        // Times are compared here, not in SQL: SQLite keeps them as text, which compares by
        // its spelling rather than its instant.
        for record in minted {
            let Some(serves_until) = record.serves_until.filter(|s| *s > now) else {
                continue;
            };
            let outcome = match self.extend_record(&record, serves_until).await {
                Ok(None) => Outcome::new(record, Action::UpToDate, None),
                Ok(Some(updated)) => Outcome::new(updated, Action::Extended, None),
                Err(e) => Outcome::new(record, Action::Failed, Some(e.to_string())),
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// The derived sessions of `plan`'s keys not in `have`, one per key (serving the last
    /// of the key's events), each fit for an invite; none for a minter that derives nothing.
    fn derived_of(&self, plan: &Plan, have: &HashSet<ReadAhead>) -> Vec<Derived> {
        // Asked of one key first: a minter that derives nothing is not walked through.
        if plan
            .mints
            .first()
            .is_none_or(|m| self.inner.derived(m).is_none())
        {
            return Vec::new();
        }
        let mut by_key: HashMap<&MintKey, Derived> = HashMap::new();
        for mint in &plan.mints {
            if have.contains(&mint.key) {
                continue;
            }
            if let Some(d) = by_key.get_mut(&mint.key) {
                d.serves_until = d.serves_until.max(mint.serves_until);
                continue;
            }
            let Some(d) = self.derive(mint) else {
                if by_key.is_empty() {
                    // Derives nothing (or refuses its first link): the per-key path decides.
                    return Vec::new();
                }
                continue;
            };
            by_key.insert(&mint.key, d);
        }
        let mut derived: Vec<Derived> = by_key.into_values().collect();
        // One order for every writer (PostgreSQL takes the keys' locks in it).
        derived.sort_by(|a, b| a.key.cmp(&b.key));
        derived
    }

    /// The derived session of `mint` as the ledger records it, if the inner minter derives
    /// one with no vendor id and URLs fit for an invite (else the per-key path, which checks
    /// and refuses as it always has).
    fn derive(&self, mint: &PlannedMint) -> Option<Derived> {
        let minted = self.inner.derived(mint)?;
        let key = self.key(mint);
        if minted.session_id.is_some() || check_urls(&key, &minted).is_err() {
            return None;
        }
        Some(Derived {
            key,
            minted,
            serves_until: mint.serves_until,
            candidate_email: mint.candidate_email.to_ascii_lowercase(),
        })
    }

    /// [`Minter::mint`], uncounted when it fails (the caller counts failures once).
    async fn mint_once(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        // The warm path: read ahead by `prepare` (no key to build, no lock), or one read.
        let record = match self.ahead.start(&mint.key) {
            Some(record) if matches!(record.state, State::Minted | State::Finished) => {
                return self.reuse(record, mint).await;
            }
            ahead => ahead,
        };
        let key = self.key(mint);
        // Entered only past the warm path: a key with a minted record holds no intent to settle.
        let _minting = InProcess::enter(&self.in_process, &key);
        let record = match record {
            Some(record) => Some(record),
            None => self
                .ledger
                .get(&key)
                .await
                .map_err(|e| ledger_failed(&key, e))?,
        };
        let record = match record {
            Some(record) if matches!(record.state, State::Minted | State::Finished) => {
                return self.reuse(record, mint).await;
            }
            record => record,
        };
        // A derived session with no record: written `minted` at once, no intent.
        if record.is_none()
            && let Some(derived) = self.derive(mint)
        {
            let written = self
                .ledger
                .record_derived(std::slice::from_ref(&derived))
                .await
                .map_err(|e| ledger_failed(&key, e))?;
            if !written.is_empty() {
                self.count("minted");
                return Ok(self.inner.presented(derived.minted));
            }
            // Someone else's record came first: the path below reads it.
        }
        let own_pending = record.as_ref().is_some_and(|r| r.state == State::Pending);
        let by_email = self.lost == LostSessions::ByCandidate;
        // Lower case, as the look-up and the locks compare emails.
        let email = mint.candidate_email.to_ascii_lowercase();
        let intent = Intent {
            serves_until: Some(mint.serves_until),
            lease: Some(self.lease_delta()),
            candidate_email: &email,
        };
        let started = Instant::now();
        // Jittered: two workers that yielded to each other must not claim again in step.
        let mut poll = Backoff::new(
            Duration::from_millis(50),
            Duration::from_secs(1),
            Jitter::UpToDouble,
        );
        loop {
            let one_intent_per_candidate = if by_email {
                Some(self.email_locks.lock(&email).await)
            } else {
                None
            };
            // Checked under the candidate's lock: while another intent of the candidate is
            // unresolved, no create starts (a look-up could not tell the two apart). An intent
            // with its own unresolved record goes on to settle it.
            if by_email && !own_pending {
                let others = self
                    .ledger
                    .pending_for(&self.tenant, self.vendor, &email)
                    .await
                    .map_err(|e| ledger_failed(&key, e))?
                    .into_iter()
                    .filter(|r| r.key != key)
                    .collect::<Vec<_>>();
                if !others.is_empty() {
                    let waited = started.elapsed();
                    let worth_waiting = others.iter().all(|r| {
                        self.is_in_process(&r.key)
                            // Planned in this run, its mint about to start: a moment's grace.
                            || (waited < PLANNED_GRACE && self.is_planned(&r.key))
                            // Another worker's create in flight: it resolves or goes stale.
                            || !r.is_stale()
                    });
                    if !worth_waiting || waited >= self.wait {
                        return Err(candidate_blocked(&key, &others, self));
                    }
                    drop(one_intent_per_candidate);
                    tokio::time::sleep(poll.next_pause().min(self.wait - waited)).await;
                    continue;
                }
            }
            let claim = self
                .ledger
                .claim_with(&key, &intent)
                .await
                .map_err(|e| ledger_failed(&key, e))?;
            let ticket = match claim {
                Claim::Minted(record) => return self.reuse(record, mint).await,
                Claim::Mint(ticket) => ticket,
                Claim::Deleted(_) if self.remint_deleted => self
                    .ledger
                    .reopen(&key, &intent)
                    .await
                    .map_err(|e| ledger_failed(&key, e))?,
                Claim::Deleted(record) => {
                    return Err(MintError::Deleted {
                        key: Box::new(key.mint.clone()),
                        session_id: record.session_id,
                        deleted_at: record.updated_at,
                    });
                }
                Claim::Pending(record) => {
                    let settle_at = self.settles_at(&record);
                    let remaining = self.wait.saturating_sub(started.elapsed());
                    if record.is_stale()
                        && (settle_at - Utc::now())
                            > TimeDelta::from_std(remaining).unwrap_or(TimeDelta::MAX)
                    {
                        // Not to be settled within the time this mint may wait.
                        return Err(not_yet(&key, &record, settle_at));
                    }
                    if record.is_stale() && settle_at <= Utc::now() {
                        match self.reconcile(&record, mint).await? {
                            Reconciled::Adopted(minted) => return Ok(minted),
                            Reconciled::Mint(ticket) => {
                                return self.mint_leased(&ticket, mint).await;
                            }
                            Reconciled::Later => {}
                        }
                    }
                    let waited = started.elapsed();
                    if waited >= self.wait {
                        return Err(unresolved(&key, &record, waited));
                    }
                    drop(one_intent_per_candidate);
                    tokio::time::sleep(poll.next_pause().min(self.wait - waited)).await;
                    continue;
                }
            };
            // Across processes the candidate's lock is not shared: of two intents of one
            // candidate claimed at once, the later yields (records that it created nothing)
            // and waits, so two creates of one candidate are never unresolved together.
            if by_email && self.yields(&ticket, &email).await? {
                drop(one_intent_per_candidate);
                continue;
            }
            return self.mint_leased(&ticket, mint).await;
        }
    }
}

/// What a lifecycle command did with one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Deleted at the vendor and recorded deleted.
    Deleted,
    /// It was deleted before.
    AlreadyDeleted,
    /// No session was ever made (the last attempt failed); recorded deleted so none is made.
    NothingMinted,
    /// An intent with no result: it cannot be acted on until reconciled.
    Unresolved,
    /// Its life was extended.
    Extended,
    /// It lives long enough (or cannot live longer yet).
    UpToDate,
    /// The vendor or the ledger failed; `error` says why.
    Failed,
    /// It was over (`finished`) at the vendor: nothing was deleted there, where its results
    /// stay; recorded deleted, so no resolve hands out its spent link again.
    Finished,
}

/// One session's outcome in `cancel` or `refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Which session.
    #[serde(flatten)]
    pub key: LedgerKey,
    /// What was done.
    pub action: Action,
    /// Its vendor id.
    pub session_id: Option<String>,
    /// Its URL.
    pub url: Option<String>,
    /// When it expires (after the action).
    pub expires_at: Option<DateTime<Utc>>,
    /// The end of the last event it serves.
    pub serves_until: Option<DateTime<Utc>>,
    /// Why the action failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    fn new(record: MintRecord, action: Action, error: Option<String>) -> Outcome {
        Outcome {
            key: record.key,
            action,
            session_id: record.session_id,
            url: record.url,
            expires_at: record.expires_at,
            serves_until: record.serves_until,
            error,
        }
    }

    /// Whether the action did not do what was asked.
    pub fn is_failure(&self) -> bool {
        matches!(self.action, Action::Failed | Action::Unresolved)
    }
}

/// The ledger refused or could not go ahead, before any call to the vendor.
fn failed(key: &LedgerKey, message: String) -> MintError {
    failed_with(key, VendorEffect::Nothing, message)
}

/// The ledger's failure after a call to the vendor that did `effect`.
fn failed_with(key: &LedgerKey, effect: VendorEffect, message: String) -> MintError {
    MintError::Ledger {
        key: Box::new(key.mint.clone()),
        effect,
        message,
    }
}

fn ledger_failed(key: &LedgerKey, e: LedgerError) -> MintError {
    failed(key, e.to_string())
}

fn ledger_failed_with(key: &LedgerKey, effect: VendorEffect, e: LedgerError) -> MintError {
    failed_with(key, effect, e.to_string())
}

/// Both URLs of `minted` are fit for an invite.
fn check_urls(key: &LedgerKey, minted: &Minted) -> Result<(), MintError> {
    for url in std::iter::once(&minted.url).chain(&minted.short_url) {
        SafeUrl::parse(url).map_err(|source| MintError::UnsafeUrl {
            key: Box::new(key.mint.clone()),
            source,
        })?;
    }
    Ok(())
}

/// Marks a key as being minted by this process while alive.
struct InProcess<'a> {
    keys: &'a Mutex<HashMap<LedgerKey, usize>>,
    key: LedgerKey,
}

impl<'a> InProcess<'a> {
    fn enter(keys: &'a Mutex<HashMap<LedgerKey, usize>>, key: &LedgerKey) -> InProcess<'a> {
        *keys
            .lock()
            .expect("not poisoned")
            .entry(key.clone())
            .or_default() += 1;
        InProcess {
            keys,
            key: key.clone(),
        }
    }
}

impl Drop for InProcess<'_> {
    fn drop(&mut self) {
        let mut keys = self.keys.lock().expect("not poisoned");
        if let Some(n) = keys.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                keys.remove(&self.key);
            }
        }
    }
}

impl<M> LedgerMinter<M> {
    /// Counts one mint by outcome (`invitoken_mints_total{vendor, outcome}`): `reused` (the
    /// ledger had it, or a dead run's create was settled and adopted), `minted` (created now),
    /// `failed`.
    fn count(&self, outcome: &'static str) {
        metrics::counter!("invitoken_mints_total", "vendor" => self.vendor.as_str(), "outcome" => outcome)
            .increment(1);
    }

    fn settle_delta(&self) -> TimeDelta {
        TimeDelta::from_std(self.settle_after).unwrap_or(TimeDelta::minutes(5))
    }

    /// When the unresolved intent `record` may be settled by look-up: the settle window after
    /// the last moment its worker could have sent a create (its lease's end).
    fn settles_at(&self, record: &MintRecord) -> DateTime<Utc> {
        let last_send = record
            .lease_until
            .unwrap_or(record.updated_at + STALE_AFTER);
        // A session made offline (the sandbox's) cannot land late.
        if self.lost == LostSessions::ByKey {
            return last_send;
        }
        last_send + self.settle_delta()
    }

    fn settle_at_of(&self, record: &MintRecord) -> DateTime<Utc> {
        self.settles_at(record)
    }

    fn is_planned(&self, key: &LedgerKey) -> bool {
        key.tenant == self.tenant && key.vendor == self.vendor && self.ahead.is_planned(&key.mint)
    }

    fn is_in_process(&self, key: &LedgerKey) -> bool {
        self.in_process
            .lock()
            .expect("not poisoned")
            .contains_key(key)
    }
}

/// Another intent of the candidate is unresolved: no create starts for the candidate.
fn candidate_blocked<M>(
    key: &LedgerKey,
    others: &[MintRecord],
    minter: &LedgerMinter<M>,
) -> MintError {
    failed(
        key,
        format!(
            "not minted: the candidate has {} unresolved intent(s) in the mint ledger ({}), and \
             a session created now could not be told apart from one those may have made. Run \
             the request holding {} again after {} to settle {}, then this one",
            others.len(),
            others
                .iter()
                .map(|r| match &r.last_error {
                    Some(e) => format!("{}: {}", r.key, shown(e)),
                    None => r.key.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; "),
            if others.len() == 1 { "it" } else { "them" },
            others
                .iter()
                .map(|r| minter.settle_at_of(r))
                .max()
                .unwrap_or_else(Utc::now)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            if others.len() == 1 { "it" } else { "them" },
        ),
    )
}

/// An unresolved intent whose settle window has not passed.
fn not_yet(key: &LedgerKey, record: &MintRecord, settle_at: DateTime<Utc>) -> MintError {
    failed(
        key,
        format!(
            "the outcome of an earlier create is unknown{}; it is looked up only after {}, once \
             a create CodeSignal committed late must have landed. Nothing is minted meanwhile: \
             run again after that time",
            record
                .last_error
                .as_deref()
                .map_or(String::new(), |e| format!(" ({})", shown(e))),
            settle_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    )
}

fn unresolved(key: &LedgerKey, record: &MintRecord, waited: Duration) -> MintError {
    failed(
        key,
        format!(
            "the outcome is unknown: the mint ledger (vendor {}, tenant `{}`) holds an intent to \
             mint this session from {} (attempt {}), still unresolved after waiting {} s for \
             the worker that holds it{}. It is not minted again, since that could make a second \
             session: run again once that worker is done (a dead worker's intent is reconciled \
             after its lease runs out)",
            record.key.vendor.as_str(),
            record.key.tenant,
            record.updated_at.to_rfc3339(),
            record.attempts,
            waited.as_secs(),
            match record.lease_until {
                Some(until) => format!(", whose lease runs until {}", until.to_rfc3339()),
                None => format!(
                    " (no lease: it counts as abandoned {} min after it was written)",
                    STALE_AFTER.num_minutes()
                ),
            },
        ),
    )
}

impl<M: Sessions> Minter for LedgerMinter<M> {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        let result = self.mint_once(mint).await;
        if result.is_err() {
            self.count("failed");
        }
        result
    }

    /// Reads the plan's minted records in bulk. A record read here is what a per-key read would
    /// have said at this moment; states only leave `minted` for `deleted`, which a cancel racing
    /// this run could do either way.
    async fn prepare(&self, plan: &Plan) {
        let ids: BTreeSet<&str> = plan
            .mints
            .iter()
            .map(|m| m.key.interview_id.as_str())
            .collect();
        let ids: Vec<&str> = ids.into_iter().collect();
        {
            let mut maps = self.ahead.maps();
            Ahead::sweep(&mut maps, Instant::now());
            // The plan's interviews are read again below: an earlier read of theirs must not
            // outlive it (a key cancelled since is not in the new read).
            if !maps.records.is_empty() {
                maps.records.retain(|r| {
                    ids.binary_search(&r.record.key.mint.interview_id.as_str())
                        .is_err()
                });
            }
        }
        // A failed read is not fatal: each mint then reads for itself.
        let records: Vec<MintRecord> = self
            .ledger
            .minted_of(&self.tenant, self.vendor, &ids)
            .await
            .unwrap_or_default();
        // Every minted record of the plan's interviews is kept, the plan's keys (taken by their
        // first mint) and the few others of those interviews (swept by age): filtering them by
        // the plan's keys cost a tenth of a warm re-run, hashing tens of thousands of keys.
        let now = Instant::now();
        let derived = {
            let mut maps = self.ahead.maps();
            maps.records.reserve(records.len());
            for record in records {
                maps.records.replace(ReadAhead { at: now, record });
            }
            self.derived_of(plan, &maps.records)
        };
        // Derived sessions (the sandbox's) of keys with no minted record are recorded now, in
        // a few statements: there is nothing to be durable before, since making them has no
        // effect anywhere. A failure here is not fatal: each mint then goes its own way.
        let written = if derived.is_empty() {
            Vec::new()
        } else {
            self.ledger
                .record_derived(&derived)
                .await
                .unwrap_or_default()
        };
        let mut maps = self.ahead.maps();
        for record in written {
            maps.records.replace(ReadAhead { at: now, record });
        }
        if self.lost == LostSessions::ByCandidate {
            // Keys with a minted record will hold no intent this run: not planned.
            for m in &plan.mints {
                if !maps.records.contains(&m.key) {
                    maps.planned.insert(m.key.clone(), now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Product, Scope};

    fn key(interview: &str) -> LedgerKey {
        LedgerKey::new(
            Vendor::Sandbox,
            MintKey {
                scope: Scope::Interview,
                interview_id: interview.into(),
                event_id: None,
                product: Product::Live,
                template_id: None,
            },
        )
    }

    #[test]
    fn read_ahead_of_mints_that_never_started_is_dropped_by_age() {
        let ahead = Ahead::default();
        let now = Instant::now();
        {
            let mut maps = ahead.maps();
            let old = now.checked_sub(PLANNED_FOR.max(READ_AHEAD_FOR)).unwrap();
            maps.planned.insert(key("old").mint, old);
            maps.planned.insert(key("new").mint, now);
            Ahead::sweep(&mut maps, now + Duration::from_secs(1));
            assert_eq!(maps.planned.len(), 1);
        }
        assert!(ahead.is_planned(&key("new").mint) && !ahead.is_planned(&key("old").mint));
        assert_eq!(ahead.start(&key("new").mint), None);
        assert!(!ahead.is_planned(&key("new").mint));
    }
}
