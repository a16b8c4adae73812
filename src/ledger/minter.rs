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
    Claim, Intent, Ledger, LedgerError, LedgerKey, MintRecord, MintTicket, STALE_AFTER, State,
    Vendor,
};
use crate::mint::{ClientError, EmailLocks, MintError, Minted, Minter, Sessions};
use crate::plan::{MintKey, Plan, PlannedMint};

/// How long a mint waits by default for another worker's intent on the same key to resolve:
/// about as long as the CodeSignal client may take for one mint.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(150);

/// How long a worker holds an intent without renewing it. It renews every third of that while
/// its mint is in flight, so an intent whose lease ran out was left by a worker that died, and
/// the next run reconciles it after at most this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How many times one mint may settle an unknown outcome by look-up and send its create again.
const MAX_SETTLES: usize = 3;

/// How long a worker waits after a create with an unknown outcome before looking it up.
const SETTLE_PAUSE: Duration = Duration::from_secs(1);

/// Mints through `inner` at most once per key, across runs and processes sharing the ledger:
///
/// 1. A `minted` record is reused without calling `inner` (one read, no lock). When the key's
///    last event now ends later than recorded (a reschedule), or the link expires before it,
///    the session is extended ([`Sessions::extend`]) and the new expiry recorded.
/// 2. Otherwise claim the key (write-ahead): told to mint, call `inner` while renewing the
///    intent's lease, then record the session, or record the failure when it is known to have
///    created nothing (a failure whose outcome is unknown leaves the intent `pending`).
/// 3. Another worker's live intent on the key: poll until it resolves, for at most the wait
///    ([`with_wait`](LedgerMinter::with_wait)).
/// 4. A stale intent (its lease ran out: the worker died between the API call and recording
///    the result) is taken over and reconciled with a look-up ([`Sessions::candidates`]): the one
///    session no ledger record knows is adopted; none means nothing was made, and the key is
///    minted; more than one, or other dead intents of the same candidate, cannot be told apart
///    and fail the mint, saying so. It is never minted blindly.
/// 5. A deleted session fails the mint unless [`remint_deleted`](LedgerMinter::remint_deleted)
///    was asked for: minting a new one is an explicit decision.
///
/// For CodeSignal, one process takes at most one intent per candidate email at a time (a
/// look-up by email could not tell two lost creates of one candidate apart).
///
/// Put a read-through cache ([`Cached`](crate::Cached)) in front of this: one ledger read per
/// key and process; the ledger is what the next run, or another worker, sees.
#[derive(Debug, Clone)]
pub struct LedgerMinter<M> {
    inner: M,
    ledger: Ledger,
    vendor: Vendor,
    tenant: String,
    wait: Duration,
    lease: Duration,
    remint_deleted: bool,
    email_locks: EmailLocks,
    /// Minted records read ahead by [`Minter::prepare`], taken by the first mint of each key.
    read_ahead: Arc<Mutex<HashMap<LedgerKey, MintRecord>>>,
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
            inner,
            ledger,
            vendor,
            tenant: super::DEFAULT_TENANT.to_owned(),
            wait: DEFAULT_WAIT,
            lease: DEFAULT_LEASE,
            remint_deleted: false,
            email_locks: EmailLocks::default(),
            read_ahead: Arc::default(),
        }
    }

    /// Records sessions under `tenant`.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> LedgerMinter<M> {
        self.tenant = tenant.into();
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

    /// Mints `mint` under `ticket` and records the outcome.
    async fn mint_leased(
        &self,
        ticket: &MintTicket,
        mint: &PlannedMint,
    ) -> Result<Minted, MintError> {
        let key = &ticket.key;
        // An unknown outcome is settled at once by look-up (this worker holds the intent); a
        // look-up that finds nothing lets the create be sent again, a few times at most.
        for _ in 0..MAX_SETTLES {
            match self.leased(ticket, self.inner.mint(mint)).await {
                Ok(minted) => {
                    // If this fails the intent stays pending: the session exists, and only a
                    // look-up can pair it with the key again.
                    self.ledger
                        .record_minted_as(ticket, &minted)
                        .await
                        .map_err(|e| ledger_failed(key, e))?;
                    return Ok(minted);
                }
                Err(e) if created_nothing(&e) => {
                    self.ledger
                        .record_failed_as(ticket, &e.to_string())
                        .await
                        .map_err(|le| ledger_failed(key, le))?;
                    return Err(e);
                }
                // An answer that may not go into an invite (a hostile URL, a body off the
                // schema) is not looked past: the intent stays pending, the mint fails.
                Err(e) if !outcome_unknown(&e) => return Err(e),
                Err(e) => {
                    // Give a create that timed out a moment to land before looking.
                    tokio::time::sleep(SETTLE_PAUSE).await;
                    let settled = self.settle(ticket, mint).await;
                    match settled {
                        Ok(Reconciled::Adopted(minted)) => return Ok(minted),
                        Ok(Reconciled::Mint(_)) => continue,
                        // Another worker of the candidate is minting: the next run settles it.
                        Ok(Reconciled::Later) => return Err(e),
                        Err(settle) => return Err(failed(key, format!("{e}; then {settle}"))),
                    }
                }
            }
        }
        Err(failed(
            key,
            format!(
                "{MAX_SETTLES} creates had an unknown outcome and the look-up found none of \
                 them; the intent stays pending for the next run to look up again"
            ),
        ))
    }

    /// A `minted` record for `mint`: extended if its link would expire before the (possibly
    /// rescheduled) last event ends; the new end recorded.
    async fn reuse(
        &self,
        key: &LedgerKey,
        record: MintRecord,
        mint: &PlannedMint,
    ) -> Result<Minted, MintError> {
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
        if !(later || short) {
            return Ok(minted);
        }
        if let Some(updated) = self.extend_record(&record, serves_until).await? {
            minted.expires_at = updated.expires_at;
        }
        Ok(minted)
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
        let by_email = self.vendor == Vendor::CodeSignal;
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
        let by_email = self.vendor == Vendor::CodeSignal;
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
        let mut unknown = Vec::new();
        for candidate in found {
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
            let record = self
                .ledger
                .record_minted_as(&ticket, &minted)
                .await
                .map_err(|e| ledger_failed(key, e))?;
            // Its expiry is not in the look-up: extending sets one the ledger knows.
            return self.reuse(key, record, mint).await.map(Reconciled::Adopted);
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
                unknown
                    .iter()
                    .map(|m| m.session_id.as_deref().unwrap_or(&m.url))
                    .collect::<Vec<_>>()
                    .join(", ")
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
        let records = self.records(Some(interview)).await?;
        let mut outcomes = Vec::new();
        for record in records {
            if event.is_some() && record.key.mint.event_id.as_deref() != event {
                continue;
            }
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
            State::Pending => (
                Action::Unresolved,
                Some(format!(
                    "an intent to mint it has no result yet ({} attempt(s)); if no worker is \
                     minting it, run resolve again to reconcile it, then cancel",
                    record.attempts
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
        for record in self.records(None).await? {
            let upcoming = record.serves_until.is_some_and(|s| s > now);
            if record.state != State::Minted || !upcoming {
                continue;
            }
            let serves_until = record.serves_until.expect("upcoming");
            let outcome = match self.extend_record(&record, serves_until).await {
                Ok(None) => Outcome::new(record, Action::UpToDate, None),
                Ok(Some(updated)) => Outcome::new(updated, Action::Extended, None),
                Err(e) => Outcome::new(record, Action::Failed, Some(e.to_string())),
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// This minter's records (its vendor and tenant), of one interview or all.
    async fn records(&self, interview: Option<&str>) -> Result<Vec<MintRecord>, LedgerError> {
        Ok(self
            .ledger
            .list(interview)
            .await?
            .into_iter()
            .filter(|r| r.key.vendor == self.vendor && r.key.tenant == self.tenant)
            .collect())
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

fn failed(key: &LedgerKey, message: String) -> MintError {
    MintError::Failed {
        key: key.mint.to_string(),
        message,
    }
}

fn ledger_failed(key: &LedgerKey, e: LedgerError) -> MintError {
    failed(key, e.to_string())
}

/// Whether `e` says the attempt created no session, so the key may be minted again. Anything
/// else (an unknown outcome, a URL from a session that exists, an error this code does not know)
/// keeps the intent `pending`.
fn created_nothing(e: &MintError) -> bool {
    match e {
        MintError::CodeSignal { source, .. } => matches!(
            source,
            ClientError::InsecureEndpoint(_)
                | ClientError::Unauthorized
                | ClientError::AccessDenied
                | ClientError::GraphQl(_)
                | ClientError::Status { .. }
                | ClientError::GaveUp { .. }
                | ClientError::Setup(_)
        ),
        // A minter's own failure (the sandbox's, a wrapper's) before it made anything.
        MintError::Failed { .. } => true,
        _ => false,
    }
}

/// Whether `e` says a create may or may not have made a session (a lost reply).
fn outcome_unknown(e: &MintError) -> bool {
    matches!(
        e,
        MintError::CodeSignal {
            source: ClientError::OutcomeUnknown { .. },
            ..
        }
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
        let key = self.key(mint);
        // The warm path: read ahead by `prepare`, or one read; no lock.
        let ahead = self.read_ahead.lock().expect("not poisoned").remove(&key);
        let record = match ahead {
            Some(record) => Some(record),
            None => self
                .ledger
                .get(&key)
                .await
                .map_err(|e| ledger_failed(&key, e))?,
        };
        if let Some(record) = record
            && record.state == State::Minted
        {
            return self.reuse(&key, record, mint).await;
        }
        let by_email = self.vendor == Vendor::CodeSignal;
        let lock = by_email.then(|| self.email_locks.of(&mint.candidate_email));
        let _one_intent_per_candidate = match &lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        // Lower case, as the look-up and the locks compare emails.
        let email = mint.candidate_email.to_ascii_lowercase();
        let intent = Intent {
            serves_until: Some(mint.serves_until),
            lease: Some(self.lease_delta()),
            candidate_email: &email,
        };
        let started = Instant::now();
        let mut poll = Duration::from_millis(50);
        loop {
            let claim = self
                .ledger
                .claim_with(&key, &intent)
                .await
                .map_err(|e| ledger_failed(&key, e))?;
            let ticket = match claim {
                Claim::Minted(record) => return self.reuse(&key, record, mint).await,
                Claim::Mint(ticket) => ticket,
                Claim::Deleted(_) if self.remint_deleted => self
                    .ledger
                    .reopen(&key, &intent)
                    .await
                    .map_err(|e| ledger_failed(&key, e))?,
                Claim::Deleted(record) => {
                    return Err(failed(
                        &key,
                        format!(
                            "its session {} was deleted (cancelled) at {}; a new one is minted \
                             only when asked for explicitly (--remint-deleted)",
                            record.session_id.as_deref().unwrap_or("(no id)"),
                            record.updated_at.to_rfc3339()
                        ),
                    ));
                }
                Claim::Pending(record) => {
                    if record.is_stale() {
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
                    tokio::time::sleep(poll.min(self.wait - waited)).await;
                    poll = (poll * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            return self.mint_leased(&ticket, mint).await;
        }
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
        let Ok(records) = self.ledger.minted_of(&self.tenant, self.vendor, &ids).await else {
            return;
        };
        let planned: HashSet<&MintKey> = plan.mints.iter().map(|m| &m.key).collect();
        let mut ahead = self.read_ahead.lock().expect("not poisoned");
        for record in records {
            if planned.contains(&record.key.mint) {
                ahead.insert(record.key.clone(), record);
            }
        }
    }
}
