//! The durable mint ledger: what was minted for which mint key, across runs, crashes and
//! machines.
//!
//! `createLiveInterview` has no idempotency key, and an in-process cache forgets when the
//! process ends. The ledger remembers: one row per [`LedgerKey`] (tenant,
//! vendor, product, scope, interview, event, template), unique in the database, with the
//! session's id, URL, expiry, state, attempts and last error. It is SQLite in one file by default
//! (`sqlite://path` or a plain path) and PostgreSQL for several workers or machines
//! (`postgres://...`); [`Ledger::open`] applies the embedded migrations (`migrations/sqlite`,
//! `migrations/postgres`) before anything else.
//!
//! # Write-ahead state machine
//!
//! An intent is recorded (and committed) *before* the API is called, the result after:
//!
//! ```text
//!   claim, no record        record_minted            mark_deleted
//!   ──────────────> pending ─────────────> minted ─────────────> deleted
//!                  │ ^  │ ^                  │                     │  │
//!    record_failed │ │  │ │ take_over        │ claim: Minted       │  │ reopen
//!                  v │  └─┘ (lease ran out:  │ (reuse; extend and  │  │ (--remint-deleted)
//!                 failed     attempts + 1)   │  update_expiry on   │  v
//!                  │  claim                  │  a reschedule)      │ pending
//!                  └──────> pending          │                     │
//!                  cancel_failed ────────────┴─────────> deleted <─┘
//! ```
//!
//! * `pending` holds a lease (`lease_until`) its worker renews ([`Ledger::renew`]) while the
//!   API call is in flight. Results are recorded only by the intent's holder
//!   ([`Ledger::record_minted_as`], [`Ledger::record_failed_as`] check `attempts`).
//! * `pending` → `minted`: the API answered with a session, or a look-up found the session a
//!   lost reply made.
//! * `pending` → `failed`: the API call is known to have created **nothing** (refused key,
//!   validation error, retries exhausted on failures that did not execute). A later claim turns
//!   `failed` back into `pending` (attempts + 1) and is told to mint.
//! * `pending` stays `pending` when the outcome is unknown (a lost reply, a crash, a database
//!   error after the API answered). Its holder does not settle it: a create CodeSignal commits
//!   late could land after any look-up. It records the error and gives up the lease
//!   ([`Ledger::release_unknown`]), and creates nothing more for the candidate in that run. An
//!   intent whose lease ran out ([`MintRecord::is_stale`]: its worker died or gave up) is
//!   settled once a settle window has passed since (a late commit must have landed by then):
//!   the next claimer takes it over ([`Ledger::take_over`], a compare-and-swap on attempts and
//!   lease) and looks the candidate's sessions up (`liveInterviews(candidateEmail:)`), minus
//!   those any record holds ([`Ledger::by_session`]); one left is adopted, none means nothing
//!   was made (mint), more, or other unresolved intents of the candidate, fail without
//!   minting. A live intent of another worker is waited for. See [`LedgerMinter`].
//! * `minted` → `deleted`: the session was deleted at CodeSignal (cancel);
//!   [`Ledger::mark_deleted`]. A claim then gets [`Claim::Deleted`]: minting anew
//!   ([`Ledger::reopen`]) is the caller's explicit decision.
//! * `minted` → `finished`: CodeSignal reported the interview over (its `liveInterviewFinished`
//!   webhook, confirmed by re-reading the session; [`Ledger::mark_finished`]). The link is
//!   spent: a claim answers [`Claim::Minted`] with it (nothing is minted or extended), `refresh`
//!   skips it, and a cancel records it `deleted` without deleting it at the vendor, which keeps
//!   the interview's results.
//!
//! Webhook deliveries are de-duplicated in a table of their own ([`Ledger::claim_delivery`]).
//!
//! # Racing workers
//!
//! [`Ledger::claim`] runs in one transaction that holds a lock for the key, so of several
//! processes or tasks claiming one key exactly one is told [`Claim::Mint`]:
//!
//! * SQLite: `BEGIN IMMEDIATE` takes the database's write lock before the first read (others
//!   wait up to the busy timeout), then `INSERT ... ON CONFLICT DO NOTHING` and a `SELECT`.
//! * PostgreSQL: `INSERT ... ON CONFLICT DO NOTHING` (a concurrent insert of the same key waits
//!   for the first to commit), then `SELECT ... FOR UPDATE`, which locks the row until commit, so
//!   two claims cannot both turn one `failed` row back into `pending`.
//!
//! A claim first reads without a lock: a `minted`, `pending` or `deleted` record is answered
//! from that read, so warm re-resolves neither write nor queue for the write lock. States only
//! leave `minted` for `deleted`, the same answer a claim an instant earlier would have had.
//!
//! # Backends
//!
//! [`Ledger`] holds an enum over a SQLite pool and a PostgreSQL pool rather than `sqlx::Any`:
//! each backend keeps its own types (TEXT vs TIMESTAMPTZ times, decoded by chrono either way)
//! and its own locking statement, and the queries, written once with `$n` placeholders (which
//! both drivers accept), are expanded for each pool by a macro. Queries are bound at run time
//! (`sqlx::query`), so the crate builds without a database.
//!
//! The [`LedgerMinter`] puts the ledger behind any [`Minter`](crate::Minter); a
//! [`Cached`](crate::Cached) in front of it is the in-process read-through cache (the CodeSignal
//! client behind it keeps none: [`CodeSignalConfig::behind_ledger`](crate::CodeSignalConfig::behind_ledger)).

mod migrations;
mod minter;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::mint::{Backoff, Jitter, Minted};
use crate::parse::{Product, Scope};
use crate::plan::MintKey;

pub use minter::{
    Action, DEFAULT_LEASE, DEFAULT_SETTLE_AFTER, DEFAULT_WAIT, LedgerMinter, Outcome,
};

pub use crate::mint::DEFAULT_TENANT;
pub use turns::{Turn, TurnClaim, TurnRecord};

/// How old a `pending` intent must be before it counts as left by a crash rather than still in
/// flight: longer than the CodeSignal client can spend on one mint (6 attempts within 120 s,
/// plus a look-up), with a wide margin.
pub const STALE_AFTER: TimeDelta = TimeDelta::minutes(10);

/// How long opening a PostgreSQL ledger waits for a connection.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many rows a SQLite connection's thread may send ahead of their reader.
const ROW_CHANNEL: usize = 1024;

/// How long a SQLite connection waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A webhook delivery as the ledger de-duplicates it: what CodeSignal's signature covers
/// (the event and its time, per tenant's hook) and the session its unsigned payload names
/// (`""` for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// The tenant whose hook received it.
    pub tenant: &'a str,
    /// Its `event`.
    pub event: &'a str,
    /// Its `triggeredOn` (milliseconds).
    pub triggered_on: i64,
    /// The live interview its payload names, `""` for none.
    pub session_id: &'a str,
}

/// What the ledger knew of a webhook delivery: see [`Ledger::claim_delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryClaim {
    /// A first delivery (or a redelivery of one not settled, or settled `failed`): act on it.
    Act,
    /// A redelivery of one acted on, with what that came to.
    Done {
        /// The recorded outcome.
        outcome: String,
    },
    /// The same signed (event, triggeredOn) naming another session than the first delivery
    /// did: a replayed signature, to be ignored.
    OtherSession {
        /// The session the first delivery named.
        first: String,
    },
}

/// Which minter made (or will make) a session: the same mint key may exist for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// CodeSignal's API.
    CodeSignal,
    /// The embedded sandbox.
    Sandbox,
}

// Text by hand rather than `strum`: two enums of two and four names, whose serde renames
// already give the JSON; a proc-macro crate would not pay for itself.
impl Vendor {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::CodeSignal => "codesignal",
            Vendor::Sandbox => "sandbox",
        }
    }

    fn parse(s: &str) -> Option<Vendor> {
        match s {
            "codesignal" => Some(Vendor::CodeSignal),
            "sandbox" => Some(Vendor::Sandbox),
            _ => None,
        }
    }
}

/// What a ledger row is keyed by: a [`MintKey`] within a tenant and a vendor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct LedgerKey {
    /// Whose sessions ([`DEFAULT_TENANT`] unless several share one ledger).
    pub tenant: String,
    /// Which minter.
    pub vendor: Vendor,
    /// Which session.
    #[serde(flatten)]
    pub mint: MintKey,
}

impl LedgerKey {
    /// The key of `mint` at `vendor` in the default tenant.
    pub fn new(vendor: Vendor, mint: MintKey) -> LedgerKey {
        LedgerKey {
            tenant: DEFAULT_TENANT.to_owned(),
            vendor,
            mint,
        }
    }

    /// The same key in `tenant`.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> LedgerKey {
        self.tenant = tenant.into();
        self
    }
}

impl std::fmt::Display for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.mint, self.vendor.as_str())?;
        if self.tenant != DEFAULT_TENANT {
            write!(f, " for tenant `{}`", self.tenant)?;
        }
        Ok(())
    }
}

fn scope_str(s: Scope) -> &'static str {
    match s {
        Scope::Interview => "interview",
        Scope::Event => "event",
    }
}

fn product_str(p: Product) -> &'static str {
    match p {
        Product::Live => "live",
        Product::Template => "template",
    }
}

/// Where a session is in its life; see the [module docs](self) for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// An intent: a mint was started and its result is not recorded (yet).
    Pending,
    /// The session exists; its URL is recorded.
    Minted,
    /// The session was deleted at the vendor.
    Deleted,
    /// The last attempt created nothing; a later claim may mint.
    Failed,
    /// The session is over at the vendor (CodeSignal's `liveInterviewFinished` webhook,
    /// confirmed over the API): its link is spent. A resolve still gets its URL (what the
    /// invites already hold; nothing is minted or extended), `refresh` skips it, and a cancel
    /// records it deleted without deleting it at the vendor, where its results stay.
    Finished,
}

impl State {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Minted => "minted",
            State::Deleted => "deleted",
            State::Failed => "failed",
            State::Finished => "finished",
        }
    }

    fn parse(s: &str) -> Option<State> {
        match s {
            "pending" => Some(State::Pending),
            "minted" => Some(State::Minted),
            "deleted" => Some(State::Deleted),
            "failed" => Some(State::Failed),
            "finished" => Some(State::Finished),
            _ => None,
        }
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MintRecord {
    /// Which session.
    #[serde(flatten)]
    pub key: LedgerKey,
    /// Where it is in its life.
    pub state: State,
    /// The vendor's id of the session (CodeSignal's live-interview id), once minted.
    pub session_id: Option<String>,
    /// The session's URL, once minted.
    pub url: Option<String>,
    /// The vendor's shortened URL, if recorded.
    pub short_url: Option<String>,
    /// When the row was first written.
    pub created_at: DateTime<Utc>,
    /// When the row last changed state (for `pending`: when the intent was recorded).
    pub updated_at: DateTime<Utc>,
    /// When the session expires, if known.
    pub expires_at: Option<DateTime<Utc>>,
    /// The end of the last event the link serves, as last claimed.
    pub serves_until: Option<DateTime<Utc>>,
    /// How many times the key's intent was taken: minting started, or a stale intent taken
    /// over to be reconciled.
    pub attempts: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// For a `pending` intent: until when its worker holds it. The worker renews the lease
    /// while its mint is in flight, so a lease that ran out means the worker died. `None` for
    /// intents recorded without one ([`STALE_AFTER`] after `updated_at` applies).
    pub lease_until: Option<DateTime<Utc>>,
    /// The candidate's email the session is for (`""` if unknown): the handle of CodeSignal's
    /// look-up, and what groups intents that one look-up could confuse.
    pub candidate_email: String,
}

impl MintRecord {
    /// How long ago the row last changed state: for a `pending` row, the age of the intent.
    pub fn age(&self) -> TimeDelta {
        (Utc::now() - self.updated_at).max(TimeDelta::zero())
    }

    /// Whether this is a `pending` intent whose worker is gone: its lease ran out (or, without
    /// a lease, it is older than [`STALE_AFTER`]). Such an intent was left by a run that died
    /// between calling the API and recording the result, not one still in flight.
    pub fn is_stale(&self) -> bool {
        self.is_stale_at(Utc::now())
    }

    /// [`is_stale`](MintRecord::is_stale) as of `now`.
    pub fn is_stale_at(&self, now: DateTime<Utc>) -> bool {
        self.state == State::Pending
            && match self.lease_until {
                Some(until) => until < now,
                None => now - self.updated_at > STALE_AFTER,
            }
    }

    /// What was minted, for a `minted` (or `finished`) row.
    pub fn minted(&self) -> Option<Minted> {
        match (self.state, &self.url) {
            (State::Minted | State::Finished, Some(url)) => Some(Minted {
                url: url.clone(),
                short_url: self.short_url.clone(),
                expires_at: self.expires_at,
                session_id: self.session_id.clone(),
            }),
            _ => None,
        }
    }
}

/// What a claim records with the intent it may write.
#[derive(Debug, Clone, Copy, Default)]
pub struct Intent<'a> {
    /// The end of the last event the link serves (for refreshing links that would expire
    /// too soon).
    pub serves_until: Option<DateTime<Utc>>,
    /// How long the intent is held before it counts as abandoned, unless renewed
    /// ([`Ledger::renew`]); `None`: [`STALE_AFTER`] after it was written.
    pub lease: Option<TimeDelta>,
    /// The candidate's email (`""` if unknown).
    pub candidate_email: &'a str,
}

/// The go-ahead to mint one key: the ledger holds this caller's `pending` intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintTicket {
    /// The key to mint.
    pub key: LedgerKey,
    /// Which attempt this is (1 for the first).
    pub attempt: i64,
}

/// What [`Ledger::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Claim {
    /// Already minted: reuse the URL.
    Minted(MintRecord),
    /// Mint now, then [`Ledger::record_minted`] or [`Ledger::record_failed`].
    Mint(MintTicket),
    /// Someone's intent with no result: in flight, or stale after a crash (see
    /// [`MintRecord::age`], [`MintRecord::is_stale`]). Reconcile by look-up; never mint blindly.
    Pending(MintRecord),
    /// The session was deleted (cancelled).
    Deleted(MintRecord),
}

/// A session derived offline, to record `minted` with no intent ([`Ledger::record_derived`]).
#[derive(Debug, Clone)]
pub(crate) struct Derived {
    pub(crate) key: LedgerKey,
    pub(crate) minted: Minted,
    /// The end of the last event the link serves.
    pub(crate) serves_until: DateTime<Utc>,
    /// The candidate's email, lower case (`""` if unknown).
    pub(crate) candidate_email: String,
}

/// Which records [`Ledger::select`] reads: those of one tenant, narrowed by what is given.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Filter<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) vendor: Option<Vendor>,
    pub(crate) interview: Option<&'a str>,
    /// An event's id: only the keys of that event (not the interview's own).
    pub(crate) event: Option<&'a str>,
    pub(crate) state: Option<State>,
}

/// Why a ledger operation failed. Cheap to clone (the database error is shared).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The location is not one the ledger can open.
    #[error(
        "cannot use `{location}` as a mint ledger: {reason}; give a file path, sqlite://PATH or postgres://..."
    )]
    Location {
        /// What was given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database exists and holds something other than a mint ledger (another application's
    /// tables, a file that is not SQLite): it was left as it was.
    #[error(
        "{location} is not a mint ledger: {reason}; it was left untouched. Point the ledger at a new file, or at an existing mint ledger"
    )]
    NotALedger {
        /// Where (a path, or a PostgreSQL URL without its credentials).
        location: String,
        /// What was found there.
        reason: String,
    },
    /// Opening the database or applying its migrations failed.
    #[error("cannot open the mint ledger at {location}: {source}")]
    Open {
        /// Where (a PostgreSQL URL without its password).
        location: String,
        /// Why.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A query failed.
    #[error("the mint ledger failed to {op}: {source}")]
    Database {
        /// What the ledger was doing.
        op: &'static str,
        /// Why.
        source: Arc<sqlx::Error>,
    },
    /// The record is not in a state that allows the change.
    #[error("the mint ledger cannot {op} {key}: its record is {}", .state.map_or("missing", State::as_str))]
    State {
        /// What was asked.
        op: &'static str,
        /// Which session (boxed: the error stays small on every `Result` path).
        key: Box<LedgerKey>,
        /// The record's state, `None` when there is none.
        state: Option<State>,
    },
    /// A row the ledger cannot read (written by a newer version, or edited by hand).
    #[error("the mint ledger holds a row it cannot read: {reason}")]
    Corrupt {
        /// What could not be read (a column, or a value no state or kind has).
        reason: String,
    },
}

/// Counts one ledger operation (`invitoken_ledger_operations_total{operation}`).
fn count(operation: &'static str) {
    metrics::counter!("invitoken_ledger_operations_total", "operation" => operation).increment(1);
}

fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> LedgerError {
    move |e| {
        // `op` is one of the ledger's own phrases, never input: a bounded label.
        metrics::counter!("invitoken_ledger_errors_total", "operation" => op).increment(1);
        LedgerError::Database {
            op,
            source: Arc::new(e),
        }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The durable mint ledger. Cloning shares the connection pool.
#[derive(Clone)]
pub struct Ledger {
    backend: Backend,
    location: String,
    /// Write-ahead steps waiting to be committed together (see `group.rs`).
    groups: Arc<group::Groups>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

// The columns of a record, in the order `record_from_row` reads them (by position: keep
// `COLUMNS` the same).
macro_rules! columns {
    () => {
        "tenant, vendor, product, scope, interview_id, event_id, template_id, state, session_id, \
         url, short_url, created_at, updated_at, expires_at, serves_until, attempts, last_error, \
         lease_until, candidate_email"
    };
}

/// The names of `columns!()`, by position (for messages).
const COLUMNS: [&str; 19] = [
    "tenant",
    "vendor",
    "product",
    "scope",
    "interview_id",
    "event_id",
    "template_id",
    "state",
    "session_id",
    "url",
    "short_url",
    "created_at",
    "updated_at",
    "expires_at",
    "serves_until",
    "attempts",
    "last_error",
    "lease_until",
    "candidate_email",
];

// The key's columns as the first seven parameters.
macro_rules! key_is {
    () => {
        "tenant = $1 AND vendor = $2 AND product = $3 AND scope = $4 AND interview_id = $5 \
         AND event_id = $6 AND template_id = $7"
    };
}

// Binds a `LedgerKey` as parameters $1 to $7.
macro_rules! bind_key {
    ($query:expr, $key:expr) => {{
        let key: &LedgerKey = $key;
        $query
            .bind(key.tenant.as_str())
            .bind(key.vendor.as_str())
            .bind(product_str(key.mint.product))
            .bind(scope_str(key.mint.scope))
            .bind(key.mint.interview_id.as_str())
            .bind(key.mint.event_id.as_deref().unwrap_or(""))
            .bind(key.mint.template_id.as_deref().unwrap_or(""))
    }};
}

// Runs `$body` with `$pool` bound to whichever pool the ledger has; the body is compiled once
// per backend, so one query text serves both.
macro_rules! on_pool {
    ($ledger:expr, $pool:ident => $body:expr) => {
        match &$ledger.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

// Written by hand rather than `#[derive(sqlx::FromRow)]`: the one function reads rows of both
// pools (a derive would need `sqlx::Type`/`Decode` impls of `Vendor`, `State`, `Scope` and
// `Product` for each backend, and nested keys flattened), the database spells "no event" and
// "no template" as "", and a value no enum knows must be `LedgerError::Corrupt` naming it.
fn record_from_row<'r, R>(row: &'r R) -> Result<MintRecord, LedgerError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    // By position in `columns!()` (every query reading records selects exactly those): a warm
    // re-run decodes tens of thousands of rows, and a look-up by name hashes the name each time.
    let corrupt = |i: usize| {
        move |e: sqlx::Error| LedgerError::Corrupt {
            reason: format!("column `{}`: {e}", COLUMNS[i]),
        }
    };
    let text = |i: usize| row.try_get::<String, _>(i).map_err(corrupt(i));
    let opt_text = |i: usize| row.try_get::<Option<String>, _>(i).map_err(corrupt(i));
    let time = |i: usize| row.try_get::<DateTime<Utc>, _>(i).map_err(corrupt(i));
    let opt_time = |i: usize| {
        row.try_get::<Option<DateTime<Utc>>, _>(i)
            .map_err(corrupt(i))
    };
    let bad = |what: &str, value: &str| LedgerError::Corrupt {
        reason: format!("{what} `{value}`"),
    };
    let none_if_empty = |s: String| if s.is_empty() { None } else { Some(s) };

    let vendor = text(1)?;
    let product = text(2)?;
    let scope = text(3)?;
    let state = text(7)?;
    Ok(MintRecord {
        key: LedgerKey {
            tenant: text(0)?,
            vendor: Vendor::parse(&vendor).ok_or_else(|| bad("vendor", &vendor))?,
            mint: MintKey {
                scope: match scope.as_str() {
                    "interview" => Scope::Interview,
                    "event" => Scope::Event,
                    _ => return Err(bad("scope", &scope)),
                },
                interview_id: text(4)?,
                event_id: none_if_empty(text(5)?),
                product: match product.as_str() {
                    "live" => Product::Live,
                    "template" => Product::Template,
                    _ => return Err(bad("product", &product)),
                },
                template_id: none_if_empty(text(6)?),
            },
        },
        state: State::parse(&state).ok_or_else(|| bad("state", &state))?,
        session_id: opt_text(8)?,
        url: opt_text(9)?,
        short_url: opt_text(10)?,
        created_at: time(11)?,
        updated_at: time(12)?,
        expires_at: opt_time(13)?,
        serves_until: opt_time(14)?,
        attempts: row.try_get::<i64, _>(15).map_err(corrupt(15))?,
        last_error: opt_text(16)?,
        lease_until: opt_time(17)?,
        candidate_email: text(18)?,
    })
}

// The body of a claim inside its transaction `$tx` (which the caller commits): a future of
// its answer. `$lock` is appended to the SELECT.
macro_rules! claim_in {
    ($tx:ident, $lock:expr, $key:expr, $intent:expr, $now:expr) => {
        async {
            let intent: &Intent = $intent;
            let lease_until = intent.lease.map(|l| $now + l);
            let inserted = bind_key!(
                sqlx::query(
                    "INSERT INTO mint_records (tenant, vendor, product, scope, interview_id, \
                 event_id, template_id, state, created_at, updated_at, serves_until, attempts, \
                 lease_until, candidate_email) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8, $9, 1, $10, $11) \
                 ON CONFLICT (tenant, vendor, product, scope, interview_id, event_id, \
                 template_id) DO NOTHING"
                ),
                $key
            )
            .bind($now)
            .bind(intent.serves_until)
            .bind(lease_until)
            .bind(intent.candidate_email)
            .execute(&mut *$tx)
            .await
            .map_err(db("record a mint intent"))?
            .rows_affected();
            if inserted == 1 {
                return Ok::<Claim, LedgerError>(Claim::Mint(MintTicket {
                    key: $key.clone(),
                    attempt: 1,
                }));
            }
            let select = format!(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM mint_records WHERE ",
                    key_is!(),
                    "{}"
                ),
                $lock
            );
            let row = bind_key!(sqlx::query(&select), $key)
                .fetch_one(&mut *$tx)
                .await
                .map_err(db("read a mint record"))?;
            let record = record_from_row(&row)?;
            let claim = match record.state {
                State::Minted | State::Finished => Claim::Minted(record),
                State::Pending => Claim::Pending(record),
                State::Deleted => Claim::Deleted(record),
                State::Failed => {
                    bind_key!(
                        sqlx::query(concat!(
                            "UPDATE mint_records SET state = 'pending', attempts = attempts + 1, \
                         updated_at = $8, serves_until = COALESCE($9, serves_until), \
                         lease_until = $10, candidate_email = $11 WHERE ",
                            key_is!()
                        )),
                        $key
                    )
                    .bind($now)
                    .bind(intent.serves_until)
                    .bind(lease_until)
                    .bind(intent.candidate_email)
                    .execute(&mut *$tx)
                    .await
                    .map_err(db("record a mint intent"))?;
                    Claim::Mint(MintTicket {
                        key: $key.clone(),
                        attempt: record.attempts + 1,
                    })
                }
            };
            Ok(claim)
        }
    };
}

/// The records a `minted_of` filter selects, read from SQLite as one JSON array: rows cross
/// from sqlx's connection thread one at a time, each waking the reader, and a warm re-run
/// reads tens of thousands. `None` when the query or anything in its answer is not as the
/// ledger writes it: the caller then reads the rows one by one, and a bad one is reported as
/// ever.
async fn minted_as_json(
    pool: &SqlitePool,
    filter: &str,
    tenant: &str,
    vendor: Vendor,
    ids: &[&str],
) -> Option<Vec<MintRecord>> {
    let sql = format!(
        concat!("SELECT json_group_array(json_array(", columns!(), ")){}"),
        filter
    );
    let json: String = ids
        .iter()
        .fold(
            sqlx::query_scalar(&sql).bind(tenant).bind(vendor.as_str()),
            |q, id| q.bind(*id),
        )
        .fetch_one(pool)
        .await
        .ok()?;
    serde_json::from_str::<Vec<JsonRecord>>(&json)
        .ok()?
        .into_iter()
        .map(JsonRecord::record)
        .collect()
}

/// A record as SQLite's `json_array` of `columns!()` spells it; the words and times borrowed
/// from the JSON text (they hold no escapes), read without a copy.
#[derive(serde::Deserialize)]
struct JsonRecord<'a>(
    String,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    String,
    String,
    String,
    #[serde(borrow)] Cow<'a, str>,
    Option<String>,
    Option<String>,
    Option<String>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    i64,
    Option<String>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    String,
);

impl JsonRecord<'_> {
    /// The record, or `None` for a value [`record_from_row`] would read otherwise (a time not
    /// in RFC 3339, which sqlx also accepts in other forms) or refuse.
    fn record(self) -> Option<MintRecord> {
        let time = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let opt_time = |s: Option<Cow<'_, str>>| match s {
            None => Some(None),
            Some(s) => time(&s).map(Some),
        };
        let none_if_empty = |s: String| if s.is_empty() { None } else { Some(s) };
        Some(MintRecord {
            key: LedgerKey {
                tenant: self.0,
                vendor: Vendor::parse(&self.1)?,
                mint: MintKey {
                    product: match &*self.2 {
                        "live" => Product::Live,
                        "template" => Product::Template,
                        _ => return None,
                    },
                    scope: match &*self.3 {
                        "interview" => Scope::Interview,
                        "event" => Scope::Event,
                        _ => return None,
                    },
                    interview_id: self.4,
                    event_id: none_if_empty(self.5),
                    template_id: none_if_empty(self.6),
                },
            },
            state: State::parse(&self.7)?,
            session_id: self.8,
            url: self.9,
            short_url: self.10,
            created_at: time(&self.11)?,
            updated_at: time(&self.12)?,
            expires_at: opt_time(self.13)?,
            serves_until: opt_time(self.14)?,
            attempts: self.15,
            last_error: self.16,
            lease_until: opt_time(self.17)?,
            candidate_email: self.18,
        })
    }
}

impl Ledger {
    /// Opens (creating if need be) the ledger at `location` and applies its migrations:
    ///
    /// * `postgres://...` or `postgresql://...`: a PostgreSQL database;
    /// * `sqlite://PATH`, `sqlite:PATH`, `file:PATH`, `file:///PATH` (percent-encoded, without
    ///   `?options`) or a plain path: a SQLite file, created with its parent folder, in WAL mode
    ///   with a busy timeout so several processes can share it.
    ///
    /// A database that holds anything but a mint ledger (another application's tables, a file
    /// that is not SQLite, a `mint_records` table our migrations did not make) is refused with
    /// [`LedgerError::NotALedger`] before anything is written to it.
    pub async fn open(location: &str) -> Result<Ledger, LedgerError> {
        match Place::parse(location)? {
            Place::Postgres(url) => Ledger::open_postgres(url, true)
                .await
                .map(|l| l.expect("created")),
            Place::Sqlite(path) => Ledger::open_sqlite(&path).await,
        }
    }

    /// Opens the ledger at `location` if there is one, as [`Ledger::open`] does, but creates
    /// nothing: `None` when there is no ledger yet (no file, an empty file, a PostgreSQL
    /// database without the ledger's tables). For commands that only read.
    pub async fn open_existing(location: &str) -> Result<Option<Ledger>, LedgerError> {
        match Place::parse(location)? {
            Place::Postgres(url) => Ledger::open_postgres(url, false).await,
            Place::Sqlite(path) => Ledger::open_sqlite_as(&path, false).await,
        }
    }

    /// Opens the SQLite ledger in the file at `path`, creating it if need be.
    pub async fn open_sqlite(path: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open_sqlite_as(path, true)
            .await
            .map(|l| l.expect("created"))
    }

    /// [`Ledger::open_sqlite`]; with `create` false, `None` instead of a new ledger.
    async fn open_sqlite_as(path: &Path, create: bool) -> Result<Option<Ledger>, LedgerError> {
        let location = crate::shown_path(path);
        let open = |e: Box<dyn std::error::Error + Send + Sync>| LedgerError::Open {
            location: location.clone(),
            source: Arc::from(e),
        };
        // Look before touching: connecting switches the file to WAL for good and migrating adds
        // tables, which must not happen to another application's database.
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(LedgerError::NotALedger {
                    location,
                    reason: "it is not a regular file".to_owned(),
                });
            }
            Ok(_) => match while_busy(|| inspect_sqlite(path)).await {
                Ok(Found::Ledger) => {}
                Ok(Found::Empty) if !create => return Ok(None),
                Ok(Found::Empty) => {}
                Ok(Found::Other(reason)) => {
                    return Err(LedgerError::NotALedger { location, reason });
                }
                Err(e) if is_not_a_database(&e) => {
                    return Err(LedgerError::NotALedger {
                        location,
                        reason: "it is not a SQLite database".to_owned(),
                    });
                }
                Err(e) => return Err(open(e.into())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !create {
                    return Ok(None);
                }
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| open(e.into()))?;
                }
            }
            Err(e) => return Err(open(e.into())),
        }
        let pool = while_busy(|| Self::open_sqlite_once(path))
            .await
            .map_err(|e| open(e.into()))?;
        Ok(Some(Ledger {
            backend: Backend::Sqlite(pool),
            location,
            groups: Arc::default(),
        }))
    }

    /// One attempt at [`Ledger::open_sqlite`]: connect, then migrate under a write lock.
    async fn open_sqlite_once(path: &Path) -> Result<SqlitePool, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The ledger is what stops a second mint after a crash or power loss: commits are
            // synced, not only written.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            // Rows cross from sqlx's connection thread in a channel: a warm re-run reads tens
            // of thousands, and with the default 50 the two threads woke each other every few.
            .row_buffer_size(ROW_CHANNEL)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        // SQLite's migrator takes no lock, and two processes opening a new file at once would
        // both create the table: migrate inside one write transaction (the migrator's own
        // transactions nest as savepoints), so the second waits and then finds it applied.
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        migrations::SQLITE.migrator().run(&mut *tx).await?;
        tx.commit().await?;
        Ok(pool)
    }

    async fn open_postgres(url: &str, create: bool) -> Result<Option<Ledger>, LedgerError> {
        let location = crate::util::redact_url(url);
        let open = |e: Box<dyn std::error::Error + Send + Sync>| LedgerError::Open {
            location: location.clone(),
            source: Arc::from(e),
        };
        let options =
            sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| LedgerError::Location {
                location: location.clone(),
                reason: e.to_string(),
            })?;
        // One connection first: a refused connection or a wrong password is reported at once,
        // with its reason (the pool would retry until its timeout and say only that).
        let first =
            tokio::time::timeout(PG_CONNECT_TIMEOUT, sqlx::Connection::connect_with(&options))
                .await
                .map_err(|_| {
                    open(format!("no answer within {} s", PG_CONNECT_TIMEOUT.as_secs()).into())
                })?;
        let first: sqlx::PgConnection = first.map_err(|e| open(e.into()))?;
        let _ = sqlx::Connection::close(first).await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(PG_CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| open(e.into()))?;
        // Look before migrating: never add to or alter tables our migrations did not make.
        // Other tables may share the database (PostgreSQL databases often serve several
        // applications); the ledger's tables are in `LEDGER_TABLES`.
        let migrator = migrations::POSTGRES.migrator();
        // Look and migrate under one advisory lock (a session lock: a process that dies drops
        // it): the look is two statements (the catalog, then `_sqlx_migrations`), and a process
        // that looked while another was migrating could see the migration recorded and its
        // table missing. Under the lock, every opener sees the database before or after.
        let mut conn = pool.acquire().await.map_err(|e| open(e.into()))?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(OPEN_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(|e| open(e.into()))?;
        let found = inspect_postgres(&mut conn, &migrator)
            .await
            .map_err(|e| open(e.into()))?;
        match found {
            Found::Ledger => {}
            Found::Empty if create => {}
            refused => {
                // Closing the pool closes this connection too, and with it the lock.
                drop(conn);
                pool.close().await;
                return match refused {
                    Found::Other(reason) => Err(LedgerError::NotALedger { location, reason }),
                    _ => Ok(None),
                };
            }
        }
        // sqlx's migrator takes an advisory lock of its own, on another key.
        let migrated = migrator.run_direct(&mut *conn).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(OPEN_LOCK)
            .execute(&mut *conn)
            .await;
        migrated.map_err(|e| open(e.into()))?;
        unlocked.map_err(|e| open(e.into()))?;
        drop(conn);
        Ok(Some(Ledger {
            backend: Backend::Postgres(pool),
            location,
            groups: Arc::default(),
        }))
    }

    /// Where the ledger is, as it may be shown: a path escaped, a PostgreSQL URL without its
    /// credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The default SQLite ledger file: `$XDG_DATA_HOME/invitoken/ledger.sqlite3`, else
    /// `~/.local/share/invitoken/ledger.sqlite3`; `None` without a home.
    pub fn default_path() -> Option<PathBuf> {
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/share"))
            })?;
        Some(data.join("invitoken").join("ledger.sqlite3"))
    }

    /// Claims `key`: records a `pending` intent if there is no record (or only a `failed`
    /// one) and answers [`Claim::Mint`], else says what is there. Of concurrent claims of one
    /// key, in any number of processes, exactly one gets [`Claim::Mint`].
    pub async fn claim(&self, key: &LedgerKey) -> Result<Claim, LedgerError> {
        self.claim_serving(key, None).await
    }

    /// [`claim`](Ledger::claim), recording the end of the last event the link serves when it
    /// writes an intent (for refreshing links that would expire too soon).
    pub async fn claim_serving(
        &self,
        key: &LedgerKey,
        serves_until: Option<DateTime<Utc>>,
    ) -> Result<Claim, LedgerError> {
        let intent = Intent {
            serves_until,
            ..Intent::default()
        };
        self.claim_with(key, &intent).await
    }

    /// [`claim`](Ledger::claim), writing `intent`'s details with the intent it records.
    pub async fn claim_with(
        &self,
        key: &LedgerKey,
        intent: &Intent<'_>,
    ) -> Result<Claim, LedgerError> {
        count("claim");
        // Fast path without a lock: a record that needs no write (the warm re-resolve) is
        // answered from one read. Only "no record" and `failed` take the lock below, which
        // reads again before it writes.
        if let Some(record) = self.get(key).await? {
            match record.state {
                State::Minted | State::Finished => return Ok(Claim::Minted(record)),
                State::Pending => return Ok(Claim::Pending(record)),
                State::Deleted => return Ok(Claim::Deleted(record)),
                State::Failed => {}
            }
        }
        // Committed with the other claims and results that arrive meanwhile (`group.rs`);
        // answered only once durable.
        let op = group::Op::Claim {
            key: key.clone(),
            serves_until: intent.serves_until,
            lease: intent.lease,
            candidate_email: intent.candidate_email.to_owned(),
        };
        match self.grouped(op).await {
            group::Done::Claim(claim) => claim,
            group::Done::Minted(_) => unreachable!("a claim is answered as a claim"),
        }
    }

    /// The write of [`claim_with`](Ledger::claim_with) in a transaction of its own.
    async fn claim_alone(
        &self,
        key: &LedgerKey,
        intent: &Intent<'_>,
    ) -> Result<Claim, LedgerError> {
        let now = Utc::now();
        match &self.backend {
            Backend::Sqlite(pool) => {
                // The write lock first: no other connection can slip in between the read and
                // the write.
                let mut tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(db("lock the ledger"))?;
                let claim = claim_in!(tx, "", key, intent, now).await?;
                tx.commit().await.map_err(db("commit a mint claim"))?;
                Ok(claim)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(db("begin a transaction"))?;
                let claim = claim_in!(tx, " FOR UPDATE", key, intent, now).await?;
                tx.commit().await.map_err(db("commit a mint claim"))?;
                Ok(claim)
            }
        }
    }

    /// Records what a `pending` intent minted. Recording the same URL again is a no-op.
    pub async fn record_minted(
        &self,
        key: &LedgerKey,
        minted: &Minted,
    ) -> Result<MintRecord, LedgerError> {
        self.record_minted_if(key, None, minted).await
    }

    /// [`record_minted`](Ledger::record_minted) for the intent `ticket` took: refused if the
    /// intent was taken over since (its worker lost the lease), so a late result never
    /// overwrites the new holder's.
    pub async fn record_minted_as(
        &self,
        ticket: &MintTicket,
        minted: &Minted,
    ) -> Result<MintRecord, LedgerError> {
        count("record_minted");
        // Committed with the other results and claims that arrive meanwhile (`group.rs`).
        let op = group::Op::Minted {
            ticket: ticket.clone(),
            minted: minted.clone(),
        };
        match self.grouped(op).await {
            group::Done::Minted(record) => record,
            group::Done::Claim(_) => unreachable!("a result is answered as a result"),
        }
    }

    /// The UPDATE that records a minted session (of attempt `attempt` only, when given).
    fn record_minted_sql(attempt: Option<i64>) -> String {
        format!(
            concat!(
                "UPDATE mint_records SET state = 'minted', url = $8, session_id = $9, \
                 expires_at = $10, updated_at = $11, short_url = $12, last_error = NULL, \
                 lease_until = NULL WHERE ",
                key_is!(),
                " AND state = 'pending'{} RETURNING ",
                columns!()
            ),
            attempt.map_or(String::new(), |a| format!(" AND attempts = {a}"))
        )
    }

    async fn record_minted_if(
        &self,
        key: &LedgerKey,
        attempt: Option<i64>,
        minted: &Minted,
    ) -> Result<MintRecord, LedgerError> {
        let now = Utc::now();
        let sql = Ledger::record_minted_sql(attempt);
        let row = on_pool!(self, pool => bind_key!(
            sqlx::query(&sql),
            key
        )
        .bind(minted.url.as_str())
        .bind(minted.session_id.as_deref())
        .bind(minted.expires_at)
        .bind(now)
        .bind(minted.short_url.as_deref())
        .fetch_optional(pool)
        .await
        .map_err(db("record a minted session"))?
        .map(|row| record_from_row(&row))
        .transpose()?);
        match row {
            Some(record) => Ok(record),
            None => Ledger::already_minted(key, self.get(key).await?, minted),
        }
    }

    /// Records that the `pending` attempt of `key` created nothing, so a later claim may mint.
    /// Only for failures known not to have created a session: an unknown outcome stays
    /// `pending`.
    pub async fn record_failed(
        &self,
        key: &LedgerKey,
        error: &str,
    ) -> Result<MintRecord, LedgerError> {
        self.transition(
            key,
            "record a failed attempt for",
            "state = 'failed', last_error = $8, updated_at = $9",
            "state = 'pending'",
            Some(error),
        )
        .await
    }

    /// [`record_failed`](Ledger::record_failed) for the intent `ticket` took (refused if it was
    /// taken over since).
    pub async fn record_failed_as(
        &self,
        ticket: &MintTicket,
        error: &str,
    ) -> Result<MintRecord, LedgerError> {
        count("record_failed");
        self.transition(
            &ticket.key,
            "record a failed attempt for",
            "state = 'failed', last_error = $8, updated_at = $9",
            &format!("state = 'pending' AND attempts = {}", ticket.attempt),
            Some(error),
        )
        .await
    }

    /// Records that a `failed` key (no session was ever made) was cancelled; refused if it
    /// changed since it was read (a session may exist now).
    pub async fn cancel_failed(&self, key: &LedgerKey) -> Result<MintRecord, LedgerError> {
        count("cancel_failed");
        self.transition(
            key,
            "mark as cancelled",
            "state = 'deleted', updated_at = $9",
            "state = 'failed'",
            None,
        )
        .await
    }

    /// Records that the session of `key` was deleted at the vendor (or, for a `failed` key, that
    /// its interview was cancelled before any session existed). Deleting a deleted one is a
    /// no-op. A `pending` key cannot be deleted: its session may exist and be unknown.
    pub async fn mark_deleted(&self, key: &LedgerKey) -> Result<MintRecord, LedgerError> {
        count("mark_deleted");
        self.transition(
            key,
            "mark as deleted",
            "state = 'deleted', updated_at = $9",
            "state IN ('minted', 'deleted', 'failed', 'finished')",
            None,
        )
        .await
    }

    /// Records that the `minted` session of `key` is over at the vendor: `finished`, its link
    /// spent. Marking a finished one again is a no-op.
    pub async fn mark_finished(&self, key: &LedgerKey) -> Result<MintRecord, LedgerError> {
        self.transition(
            key,
            "mark as finished",
            "updated_at = CASE WHEN state = 'finished' THEN updated_at ELSE $9 END, \
             state = 'finished'",
            "state IN ('minted', 'finished')",
            None,
        )
        .await
    }

    /// Claims a webhook delivery for acting on it, durably: the first delivery of
    /// (tenant, event, triggeredOn) is recorded with the session it names and answered
    /// [`DeliveryClaim::Act`]; a redelivery is answered what the first one came to (or `Act`
    /// again while that is unsettled, or `failed`: acting is idempotent), and a delivery
    /// naming another session under the same signature [`DeliveryClaim::OtherSession`].
    pub async fn claim_delivery(
        &self,
        delivery: &Delivery<'_>,
    ) -> Result<DeliveryClaim, LedgerError> {
        let now = Utc::now();
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO webhook_deliveries (tenant, event, triggered_on, session_id, outcome, \
             received_at, updated_at) VALUES ($1, $2, $3, $4, 'received', $5, $5) \
             ON CONFLICT (tenant, event, triggered_on) DO NOTHING"
        )
        .bind(delivery.tenant)
        .bind(delivery.event)
        .bind(delivery.triggered_on)
        .bind(delivery.session_id)
        .bind(now)
        .execute(pool)
        .await
        .map_err(db("record a webhook delivery"))?
        .rows_affected());
        if inserted == 1 {
            return Ok(DeliveryClaim::Act);
        }
        let (first, outcome): (String, String) = on_pool!(self, pool => sqlx::query_as(
            "SELECT session_id, outcome FROM webhook_deliveries \
             WHERE tenant = $1 AND event = $2 AND triggered_on = $3"
        )
        .bind(delivery.tenant)
        .bind(delivery.event)
        .bind(delivery.triggered_on)
        .fetch_one(pool)
        .await
        .map_err(db("read a webhook delivery"))?);
        Ok(if first != delivery.session_id {
            DeliveryClaim::OtherSession { first }
        } else if outcome == "received" || outcome == "failed" {
            DeliveryClaim::Act
        } else {
            DeliveryClaim::Done { outcome }
        })
    }

    /// Records what was done with a delivery claimed by [`Ledger::claim_delivery`].
    pub async fn settle_delivery(
        &self,
        delivery: &Delivery<'_>,
        outcome: &str,
    ) -> Result<(), LedgerError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE webhook_deliveries SET outcome = $5, updated_at = $6 \
             WHERE tenant = $1 AND event = $2 AND triggered_on = $3 AND session_id = $4"
        )
        .bind(delivery.tenant)
        .bind(delivery.event)
        .bind(delivery.triggered_on)
        .bind(delivery.session_id)
        .bind(outcome)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map_err(db("settle a webhook delivery"))?
        .rows_affected());
        Ok(())
    }

    /// Gives up the `pending` intent `ticket` took, whose create's outcome is unknown: its
    /// lease ends now and `error` is kept, so the intent stays `pending` (nothing may be minted
    /// for the key blindly) and a later run settles it by look-up. Refused if it was taken over
    /// since.
    pub async fn release_unknown(
        &self,
        ticket: &MintTicket,
        error: &str,
    ) -> Result<MintRecord, LedgerError> {
        count("release_unknown");
        self.transition(
            &ticket.key,
            "give up the intent of",
            "last_error = $8, lease_until = $9",
            &format!("state = 'pending' AND attempts = {}", ticket.attempt),
            Some(error),
        )
        .await
    }

    /// Extends the lease of the `pending` intent taken as `attempt` to `until`. `false` when the
    /// intent is no longer that one (recorded, or taken over after the lease ran out).
    pub async fn renew(
        &self,
        key: &LedgerKey,
        attempt: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        count("renew");
        let done = on_pool!(self, pool => bind_key!(
            sqlx::query(concat!(
                "UPDATE mint_records SET lease_until = $8 WHERE ",
                key_is!(),
                " AND state = 'pending' AND attempts = $9"
            )),
            key
        )
        .bind(until)
        .bind(attempt)
        .execute(pool)
        .await
        .map_err(db("renew a lease"))?
        .rows_affected());
        Ok(done == 1)
    }

    /// Takes over the stale `pending` intent `seen` (as read, so nobody renewed or took it since)
    /// for reconciling: attempts + 1, a new lease. `None` when someone else got there first.
    pub async fn take_over(
        &self,
        seen: &MintRecord,
        lease: TimeDelta,
    ) -> Result<Option<MintTicket>, LedgerError> {
        count("take_over");
        let now = Utc::now();
        let done = on_pool!(self, pool => bind_key!(
            sqlx::query(concat!(
                "UPDATE mint_records SET attempts = attempts + 1, updated_at = $8, \
                 lease_until = $9 WHERE ",
                key_is!(),
                " AND state = 'pending' AND attempts = $10 \
                 AND lease_until IS NOT DISTINCT FROM $11 AND updated_at = $12"
            )),
            &seen.key
        )
        .bind(now)
        .bind(now + lease)
        .bind(seen.attempts)
        .bind(seen.lease_until)
        .bind(seen.updated_at)
        .execute(pool)
        .await
        .map_err(db("take over a stale intent"))?
        .rows_affected());
        Ok((done == 1).then(|| MintTicket {
            key: seen.key.clone(),
            attempt: seen.attempts + 1,
        }))
    }

    /// Turns the `deleted` record of `key` back into a `pending` intent (attempts + 1), to
    /// mint a new session: only on the caller's explicit request.
    pub async fn reopen(
        &self,
        key: &LedgerKey,
        intent: &Intent<'_>,
    ) -> Result<MintTicket, LedgerError> {
        count("reopen");
        let now = Utc::now();
        let record = self
            .transition_with(
                key,
                "mint anew",
                "state = 'pending', attempts = attempts + 1, updated_at = $9, url = NULL, \
                 short_url = NULL, session_id = NULL, expires_at = NULL, \
                 last_error = $8, lease_until = $10, serves_until = COALESCE($11, serves_until)",
                "state = 'deleted'",
                Some("replaces a deleted session"),
                now,
                &[intent.lease.map(|l| now + l), intent.serves_until],
            )
            .await?;
        Ok(MintTicket {
            key: key.clone(),
            attempt: record.attempts,
        })
    }

    /// Records a `minted` session's new expiry (after extending it) and the end of the last
    /// event it serves; either only moves later.
    pub async fn update_expiry(
        &self,
        key: &LedgerKey,
        expires_at: Option<DateTime<Utc>>,
        serves_until: DateTime<Utc>,
    ) -> Result<MintRecord, LedgerError> {
        count("update_expiry");
        let now = Utc::now();
        self.transition_with(
            key,
            "record the new expiry of",
            // Never backwards: a worker acting on an older read must not undo a later one.
            "expires_at = CASE WHEN expires_at IS NULL OR expires_at < $10 THEN $10 \
             ELSE expires_at END, \
             serves_until = CASE WHEN serves_until IS NULL OR serves_until < $11 THEN $11 \
             ELSE serves_until END, updated_at = $9",
            "state = 'minted'",
            None,
            now,
            &[expires_at, Some(serves_until)],
        )
        .await
    }

    /// The `pending` intents of one candidate at `vendor` in `tenant` (what a look-up by email
    /// could mistake for one another).
    pub async fn pending_for(
        &self,
        tenant: &str,
        vendor: Vendor,
        candidate_email: &str,
    ) -> Result<Vec<MintRecord>, LedgerError> {
        count("pending_for");
        on_pool!(self, pool => sqlx::query(concat!(
            "SELECT ", columns!(), " FROM mint_records \
             WHERE vendor = $1 AND candidate_email = $2 AND state = 'pending' AND tenant = $3"
        ))
        .bind(vendor.as_str())
        .bind(candidate_email)
        .bind(tenant)
        .fetch_all(pool)
        .await
        .map_err(db("list pending intents"))?
        .iter()
        .map(record_from_row)
        .collect())
    }

    /// The `minted` records of `interviews` at `vendor` in `tenant`: a warm re-run's reads in a
    /// few queries (ids in chunks) instead of one per key.
    pub async fn minted_of(
        &self,
        tenant: &str,
        vendor: Vendor,
        interviews: &[&str],
    ) -> Result<Vec<MintRecord>, LedgerError> {
        count("minted_of");
        use futures::StreamExt as _;
        const CHUNK: usize = 500;
        // Two chunks at a time: the database makes one while the other is decoded here. A
        // plain loop rather than a stream of a closure's futures, which would not be `Send`
        // for every borrow (as in `mint_all`).
        let mut chunks = interviews.chunks(CHUNK);
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut records = Vec::new();
        loop {
            while in_flight.len() < 2 {
                match chunks.next() {
                    Some(ids) => in_flight.push(self.minted_chunk(tenant, vendor, ids)),
                    None => break,
                }
            }
            match in_flight.next().await {
                Some(chunk) => records.extend(chunk?),
                None => return Ok(records),
            }
        }
    }

    /// [`minted_of`](Ledger::minted_of) for one chunk of interviews.
    async fn minted_chunk(
        &self,
        tenant: &str,
        vendor: Vendor,
        ids: &[&str],
    ) -> Result<Vec<MintRecord>, LedgerError> {
        let mut n = self.placeholders(1);
        let (tenant_is, vendor_is) = (n(), n());
        let placeholders: Vec<String> = ids.iter().map(|_| n()).collect();
        let filter = format!(
            " FROM mint_records WHERE tenant = {tenant_is} AND vendor = {vendor_is} \
             AND state = 'minted' AND interview_id IN ({})",
            placeholders.join(", ")
        );
        if let Backend::Sqlite(pool) = &self.backend
            && let Some(rows) = minted_as_json(pool, &filter, tenant, vendor, ids).await
        {
            return Ok(rows);
        }
        let sql = format!(concat!("SELECT ", columns!(), "{}"), filter);
        Ok(on_pool!(self, pool => ids
            .iter()
            .fold(sqlx::query(&sql).bind(tenant).bind(vendor.as_str()), |q, id| q.bind(*id))
            .fetch_all(pool)
            .await
            .map_err(db("read minted records"))?
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?))
    }

    /// Records sessions a minter derived offline ([`Sessions::derived`](crate::Sessions::derived):
    /// the sandbox's links, made with no effect anywhere) as `minted`, with no intent before
    /// them: one multi-row insert per chunk, so a cold run commits (and syncs) once per chunk
    /// rather than twice per key. A key that has a record in any state keeps it untouched (a
    /// `deleted` one stays deleted, a `pending` one is settled as ever); the records written
    /// are returned.
    pub(crate) async fn record_derived(
        &self,
        derived: &[Derived],
    ) -> Result<Vec<MintRecord>, LedgerError> {
        count("record_derived");
        // 15 parameters a row: well under SQLite's 32,766 and PostgreSQL's 65,535 a statement.
        const PER_ROW: usize = 15;
        const CHUNK: usize = 500;
        let now = Utc::now();
        let mut written = Vec::with_capacity(derived.len());
        for rows in derived.chunks(CHUNK) {
            let mut values = String::with_capacity(rows.len() * PER_ROW * 8);
            let mut n = self.placeholders(1);
            for i in 0..rows.len() {
                if i > 0 {
                    values.push_str(", ");
                }
                // The key, then 'minted', session id, URL, short URL, both stamps, expiry, end
                // served, attempts and email: bound in this order below.
                values.push('(');
                for _ in 0..7 {
                    values.push_str(&n());
                    values.push_str(", ");
                }
                values.push_str("'minted'");
                for _ in 0..7 {
                    values.push_str(", ");
                    values.push_str(&n());
                }
                values.push_str(", 1, ");
                values.push_str(&n());
                values.push(')');
            }
            let sql = format!(
                concat!(
                    "INSERT INTO mint_records (tenant, vendor, product, scope, interview_id, \
                     event_id, template_id, state, session_id, url, short_url, created_at, \
                     updated_at, expires_at, serves_until, attempts, candidate_email) VALUES {} \
                     ON CONFLICT (tenant, vendor, product, scope, interview_id, event_id, \
                     template_id) DO NOTHING RETURNING ",
                    columns!()
                ),
                values
            );
            let records = on_pool!(self, pool => {
                let mut query = sqlx::query(&sql);
                for d in rows {
                    query = bind_key!(query, &d.key)
                        .bind(d.minted.session_id.as_deref())
                        .bind(d.minted.url.as_str())
                        .bind(d.minted.short_url.as_deref())
                        .bind(now)
                        .bind(now)
                        .bind(d.minted.expires_at)
                        .bind(d.serves_until)
                        .bind(d.candidate_email.as_str());
                }
                query
                    .fetch_all(pool)
                    .await
                    .map_err(db("record derived sessions"))?
                    .iter()
                    .map(record_from_row)
                    .collect::<Result<Vec<_>, _>>()?
            });
            written.extend(records);
        }
        Ok(written)
    }

    /// The placeholders of a statement with many parameters, in the order they are bound,
    /// from the `from`th: `$n` for PostgreSQL, `?` for SQLite, which looks a numbered
    /// parameter up by walking a list of all of them (binding thousands of `$n` took
    /// quadratic time: 2.7 s for 13,334 derived records).
    fn placeholders(&self, from: usize) -> impl FnMut() -> String {
        let numbered = matches!(self.backend, Backend::Postgres(_));
        let mut next = from;
        move || {
            next += 1;
            if numbered {
                format!("${}", next - 1)
            } else {
                "?".to_owned()
            }
        }
    }

    /// The record holding the vendor's session `session_id`, in any tenant.
    pub async fn by_session(
        &self,
        vendor: Vendor,
        session_id: &str,
    ) -> Result<Option<MintRecord>, LedgerError> {
        count("by_session");
        on_pool!(self, pool => sqlx::query(concat!(
            "SELECT ", columns!(), " FROM mint_records WHERE vendor = $1 AND session_id = $2"
        ))
        .bind(vendor.as_str())
        .bind(session_id)
        .fetch_optional(pool)
        .await
        .map_err(db("find a session"))?
        .map(|row| record_from_row(&row))
        .transpose())
    }

    // One conditional UPDATE: `set` may use $8 (text) and $9 (now); `from` says which states
    // allow it.
    async fn transition(
        &self,
        key: &LedgerKey,
        op: &'static str,
        set: &str,
        from: &str,
        text: Option<&str>,
    ) -> Result<MintRecord, LedgerError> {
        self.transition_with(key, op, set, from, text, Utc::now(), &[])
            .await
    }

    // `transition` with more times bound as $10, $11, ...
    #[allow(clippy::too_many_arguments)]
    async fn transition_with(
        &self,
        key: &LedgerKey,
        op: &'static str,
        set: &str,
        from: &str,
        text: Option<&str>,
        now: DateTime<Utc>,
        times: &[Option<DateTime<Utc>>],
    ) -> Result<MintRecord, LedgerError> {
        let sql = format!(
            concat!(
                "UPDATE mint_records SET {} WHERE ",
                key_is!(),
                " AND {} RETURNING ",
                columns!()
            ),
            set, from
        );
        let row = on_pool!(self, pool => times.iter().fold(
            bind_key!(sqlx::query(&sql), key).bind(text).bind(now),
            |q, t| q.bind(*t),
        )
            .fetch_optional(pool)
            .await
            .map_err(db("update a mint record"))?
            .map(|row| record_from_row(&row))
            .transpose()?);
        match row {
            Some(record) => Ok(record),
            None => Err(LedgerError::State {
                op,
                key: Box::new(key.clone()),
                state: self.get(key).await?.map(|r| r.state),
            }),
        }
    }

    /// The record of `key`, if any.
    pub async fn get(&self, key: &LedgerKey) -> Result<Option<MintRecord>, LedgerError> {
        count("get");
        on_pool!(self, pool => bind_key!(
            sqlx::query(concat!("SELECT ", columns!(), " FROM mint_records WHERE ", key_is!())),
            key
        )
        .fetch_optional(pool)
        .await
        .map_err(db("read a mint record"))?
        .map(|row| record_from_row(&row))
        .transpose())
    }

    /// Every record, or those of one interview, in a stable order.
    pub async fn list(&self, interview: Option<&str>) -> Result<Vec<MintRecord>, LedgerError> {
        on_pool!(self, pool => sqlx::query(concat!(
            "SELECT ", columns!(), " FROM mint_records \
             WHERE ($1 IS NULL OR interview_id = $1) \
             ORDER BY tenant, interview_id, scope DESC, event_id, product, template_id, vendor"
        ))
        .bind(interview)
        .fetch_all(pool)
        .await
        .map_err(db("list mint records"))?
        .iter()
        .map(record_from_row)
        .collect())
    }

    /// The records of `tenant`, of `vendor` only and of interview `interview` only when given,
    /// in the order of [`Ledger::list`]. Filtered by the database: one tenant's listing never
    /// reads another's rows.
    pub async fn list_for(
        &self,
        tenant: &str,
        vendor: Option<Vendor>,
        interview: Option<&str>,
    ) -> Result<Vec<MintRecord>, LedgerError> {
        count("list_for");
        self.select(&Filter {
            tenant,
            vendor,
            interview,
            ..Filter::default()
        })
        .await
    }

    /// The records `filter` selects, filtered by the database.
    pub(crate) async fn select(&self, filter: &Filter<'_>) -> Result<Vec<MintRecord>, LedgerError> {
        on_pool!(self, pool => sqlx::query(concat!(
            "SELECT ", columns!(), " FROM mint_records \
             WHERE tenant = $1 AND ($2 IS NULL OR vendor = $2) \
             AND ($3 IS NULL OR interview_id = $3) AND ($4 IS NULL OR event_id = $4) \
             AND ($5 IS NULL OR state = $5) \
             ORDER BY tenant, interview_id, scope DESC, event_id, product, template_id, vendor"
        ))
        .bind(filter.tenant)
        .bind(filter.vendor.map(Vendor::as_str))
        .bind(filter.interview)
        .bind(filter.event)
        .bind(filter.state.map(State::as_str))
        .fetch_all(pool)
        .await
        .map_err(db("list mint records"))?
        .iter()
        .map(record_from_row)
        .collect())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// Where a ledger lives, from the location a user gave.
#[derive(Debug, PartialEq, Eq)]
enum Place<'a> {
    Postgres(&'a str),
    Sqlite(PathBuf),
}

impl<'a> Place<'a> {
    fn parse(location: &'a str) -> Result<Place<'a>, LedgerError> {
        let refuse = |reason: &str| LedgerError::Location {
            location: shown_location(location),
            reason: reason.to_owned(),
        };
        let scheme = |name: &str| {
            location
                .get(..name.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(name))
        };
        if scheme("postgres://") || scheme("postgresql://") {
            return Ok(Place::Postgres(location));
        }
        if scheme("postgres:") || scheme("postgresql:") {
            return Err(refuse("a PostgreSQL URL starts with postgres://"));
        }
        let path = if scheme("sqlite:") {
            // sqlx's form: `sqlite://PATH` and `sqlite:PATH` alike, relative or absolute.
            let rest = &location["sqlite:".len()..];
            url_path(rest.strip_prefix("//").unwrap_or(rest)).map_err(|r| refuse(&r))?
        } else if scheme("file:") {
            // RFC 8089: `file:///abs`, `file://localhost/abs`; SQLite's `file:rel` too.
            let rest = &location["file:".len()..];
            let rest = match rest.strip_prefix("//") {
                Some(authority_and_path) => {
                    let slash = authority_and_path
                        .find('/')
                        .unwrap_or(authority_and_path.len());
                    let host = &authority_and_path[..slash];
                    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                        return Err(refuse("a file: URL on another host is not a local file"));
                    }
                    &authority_and_path[slash..]
                }
                None => rest,
            };
            url_path(rest).map_err(|r| refuse(&r))?
        } else if location.contains("://") {
            return Err(refuse("only SQLite and PostgreSQL are supported"));
        } else {
            location.to_owned()
        };
        if path.is_empty() || path == ":memory:" {
            return Err(refuse(
                "the ledger must be a file (an in-memory one would forget at exit)",
            ));
        }
        Ok(Place::Sqlite(PathBuf::from(path)))
    }
}

/// The path of a `sqlite:` or `file:` URL: percent-decoded, with no `?options` or `#fragment`
/// (the ledger sets its own options; silently dropping `?mode=ro` would write to a file meant
/// to be read only).
fn url_path(rest: &str) -> Result<String, String> {
    if rest.contains(['?', '#']) {
        return Err(
            "options in a ledger URL (`?...`) are not supported, the ledger sets its own \
             (write `%3F` for a `?` in a file name)"
                .to_owned(),
        );
    }
    percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map(|p| p.into_owned())
        .map_err(|_| "its percent-encoded path is not UTF-8".to_owned())
}

/// The files of the SQLite ledger at `location` (as given to [`Ledger::open`]): the database and
/// its `-wal`, `-shm` and `-journal` companions; none for PostgreSQL or a location that is no
/// ledger. Nothing else may write over them: the ledger is what keeps a session from being
/// minted twice.
pub fn sqlite_files(location: &str) -> Vec<PathBuf> {
    match Place::parse(location) {
        Ok(Place::Sqlite(path)) => {
            let mut files = vec![path.clone()];
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                files.push(PathBuf::from(name));
            }
            files
        }
        _ => Vec::new(),
    }
}

/// `location` (as given to [`Ledger::open`]) as it may be shown in a message: a URL without its
/// credentials, a path escaped.
pub fn shown_location(location: &str) -> String {
    if location.contains("://") {
        crate::redact_url(location)
    } else {
        crate::shown_with(location, crate::MAX_SHOWN_PATH).into_owned()
    }
}

/// What a database holds, as far as the ledger is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// Nothing of anyone's: a ledger may be made there.
    Empty,
    /// A mint ledger (of this version or an older one).
    Ledger,
    /// Something else, described: to be left alone.
    Other(String),
}

/// The tables a ledger has (its migrations and sqlx's record of them).
const LEDGER_TABLES: [&str; 4] = [
    "mint_records",
    "webhook_deliveries",
    "service_turns",
    "_sqlx_migrations",
];

/// Reads `path` without writing anything to it (a read-only connection that sets no journal
/// mode) and says whether it is empty, a ledger, or someone else's.
async fn inspect_sqlite(path: &Path) -> Result<Found, sqlx::Error> {
    use sqlx::Connection as _;
    // A read-only connection to a database in WAL mode makes `-wal` and `-shm` files beside
    // it, and cannot remove them when it closes: another application's folder would keep two
    // files of ours. Without a `-wal` file (nor a rollback `-journal` left by a crash, which
    // an immutable read would ignore) the main file holds every commit, so it is read as
    // immutable, which makes neither (and takes no lock: a write racing this look reads as an
    // error, never as a change).
    let beside = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        Path::new(&name).exists()
    };
    let settled = !beside("-wal") && !beside("-journal");
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(settled)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let objects: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .fetch_all(&mut conn)
    .await?;
    let application_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut conn)
        .await?;
    let user_version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await?;
    let has = |table: &str| objects.iter().any(|(t, n, _)| t == "table" && n == table);
    let applied: Vec<(i64, Vec<u8>)> = if has("_sqlx_migrations") {
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations")
            .fetch_all(&mut conn)
            .await?
    } else {
        Vec::new()
    };
    conn.close().await?;
    let foreign: Vec<&str> = objects
        .iter()
        .filter(|(_, _, table)| !LEDGER_TABLES.contains(&table.as_str()))
        .map(|(_, name, _)| name.as_str())
        .collect();
    if !foreign.is_empty() {
        return Ok(Found::Other(format!(
            "it is a SQLite database with other tables ({})",
            names(&foreign)
        )));
    }
    // The marks an application may leave on a database before it has tables; the ledger
    // sets neither.
    if application_id != 0 || user_version != 0 {
        return Ok(Found::Other(format!(
            "it is another application's SQLite file (application_id {application_id}, \
             user_version {user_version})"
        )));
    }
    Ok(judge(
        has("mint_records"),
        &applied,
        &migrations::SQLITE.migrator(),
    ))
}

/// The advisory lock key under which a PostgreSQL ledger is looked at and migrated on open
/// ("invitoke" in ASCII).
const OPEN_LOCK: i64 = 0x696e_7669_746f_6b65;

/// Says whether a PostgreSQL database (its current schema) is empty of ledger tables, a ledger,
/// or holds a `mint_records` or migration record of someone else's. Reads only.
async fn inspect_postgres(
    conn: &mut sqlx::PgConnection,
    migrator: &sqlx::migrate::Migrator,
) -> Result<Found, sqlx::Error> {
    let (records, migrations): (bool, bool) = sqlx::query_as(
        "SELECT to_regclass('mint_records') IS NOT NULL, \
         to_regclass('_sqlx_migrations') IS NOT NULL",
    )
    .fetch_one(&mut *conn)
    .await?;
    let applied: Vec<(i64, Vec<u8>)> = if migrations {
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations")
            .fetch_all(&mut *conn)
            .await?
    } else {
        Vec::new()
    };
    Ok(judge(records, &applied, migrator))
}

/// The verdict on a database from its ledger tables and the migrations it records as applied:
/// each must be one of ours, checksum included (sqlx would apply ours between someone else's
/// before noticing), and a `mint_records` table must come from our first migration.
fn judge(records: bool, applied: &[(i64, Vec<u8>)], ours: &sqlx::migrate::Migrator) -> Found {
    let foreign: Vec<String> = applied
        .iter()
        .filter(|(version, checksum)| {
            !ours
                .iter()
                .any(|m| m.version == *version && m.checksum.as_ref() == checksum.as_slice())
        })
        .map(|(version, _)| version.to_string())
        .collect();
    if !foreign.is_empty() {
        return Found::Other(format!(
            "it records migrations that are not this version's mint ledger's ({}): another \
             application's, or a newer invitoken's",
            names(&foreign)
        ));
    }
    let first = ours.iter().map(|m| m.version).min();
    let created = applied.iter().any(|(v, _)| Some(*v) == first);
    match (records, created) {
        (true, true) => Found::Ledger,
        (true, false) => Found::Other(
            "it has a `mint_records` table that the ledger's migrations did not make".to_owned(),
        ),
        (false, true) => Found::Other(
            "it records the ledger's migrations but has no `mint_records` table".to_owned(),
        ),
        (false, false) if !applied.is_empty() => Found::Other(
            "it records some of the ledger's migrations, but not the one that makes its table"
                .to_owned(),
        ),
        // An empty `_sqlx_migrations` is what a migrator leaves before its first migration.
        (false, false) => Found::Empty,
    }
}

/// A few names for a message: escaped, at most five, then how many more.
fn names<S: AsRef<str>>(names: &[S]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(5)
        .map(|n| format!("`{}`", crate::shown(n.as_ref())))
        .collect();
    if names.len() > 5 {
        shown.push(format!("{} more", names.len() - 5));
    }
    shown.join(", ")
}

/// Whether SQLite said the file is not a database (SQLITE_NOTADB).
fn is_not_a_database(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 26),
        _ => false,
    }
}

// After the macros they use.
mod group;
mod turns;

/// `attempt` until SQLite stops saying the database is busy, for [`BUSY_TIMEOUT`] at most.
/// Processes opening one new file at once contend for it (switching to WAL takes an exclusive
/// lock, before the busy timeout is in force).
async fn while_busy<T, F, Fut>(mut attempt: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let started = std::time::Instant::now();
    let mut backoff = Backoff::new(
        Duration::from_millis(10),
        Duration::from_millis(500),
        Jitter::UpToDouble,
    );
    loop {
        match attempt().await {
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                tokio::time::sleep(backoff.next_pause()).await;
            }
            result => return result,
        }
    }
}

/// Whether SQLite said the database is busy or locked (another process holds it).
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
        sqlx::Error::Migrate(m) => match &**m {
            sqlx::migrate::MigrateError::Execute(e) => is_busy(e),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(location: &str) -> PathBuf {
        match Place::parse(location) {
            Ok(Place::Sqlite(path)) => path,
            other => panic!("{location}: {other:?}"),
        }
    }

    fn refused(location: &str) -> String {
        match Place::parse(location) {
            Err(e) => e.to_string(),
            Ok(place) => panic!("{location}: accepted as {place:?}"),
        }
    }

    #[test]
    fn sqlite_and_file_urls_name_the_file_they_mean() {
        assert_eq!(sqlite("ledger.db"), Path::new("ledger.db"));
        assert_eq!(sqlite("sqlite:ledger.db"), Path::new("ledger.db"));
        assert_eq!(sqlite("sqlite://ledger.db"), Path::new("ledger.db"));
        assert_eq!(sqlite("sqlite:///tmp/a%20b.db"), Path::new("/tmp/a b.db"));
        assert_eq!(sqlite("SQLite:x.db"), Path::new("x.db"));
        assert_eq!(sqlite("file:ledger.db"), Path::new("ledger.db"));
        assert_eq!(sqlite("file:/tmp/x.db"), Path::new("/tmp/x.db"));
        assert_eq!(sqlite("file:///tmp/x%3Fy.db"), Path::new("/tmp/x?y.db"));
        assert_eq!(sqlite("file://localhost/tmp/x.db"), Path::new("/tmp/x.db"));
        // A plain path is taken literally.
        assert_eq!(sqlite("a%20b?.db"), Path::new("a%20b?.db"));
    }

    #[test]
    fn url_forms_sqlite_would_read_differently_are_refused() {
        for location in [
            "file:x.db?mode=ro",
            "sqlite:x.db?mode=rwc",
            "file:x.db#frag",
            "file://server/share/x.db",
            "file::memory:",
            "sqlite::memory:",
            ":memory:",
            "",
            "sqlite://",
            "file:%ff.db",
            "postgres:host/db",
        ] {
            assert!(refused(location).contains("cannot use"), "{location}");
        }
    }

    #[test]
    fn refused_locations_show_no_credentials() {
        for location in [
            "mysql://u:hunter2@h/db",
            "redis://:hunter2@h/0",
            "http://h/x?password=hunter2",
            "mysql://u:hunter2@h/db\u{1b}[2J",
        ] {
            let err = refused(location);
            assert!(!err.contains("hunter2"), "{err}");
            assert!(!err.contains('\u{1b}'), "{err}");
        }
    }

    /// The JSON read of minted records gives what the row read gives, field for field, and
    /// leaves a row it cannot read exactly to the row read.
    #[tokio::test]
    async fn minted_records_read_as_json_are_those_read_as_rows() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open_sqlite(&dir.path().join("l.sqlite3"))
            .await
            .unwrap();
        let key = |interview: &str, event: Option<&str>, template: Option<&str>| {
            LedgerKey::new(
                Vendor::CodeSignal,
                MintKey {
                    scope: if event.is_some() {
                        Scope::Event
                    } else {
                        Scope::Interview
                    },
                    interview_id: interview.to_owned(),
                    event_id: event.map(str::to_owned),
                    product: if template.is_some() {
                        Product::Template
                    } else {
                        Product::Live
                    },
                    template_id: template.map(str::to_owned),
                },
            )
        };
        let keys = [
            key("int-1", None, None),
            key("int-1", Some("evt-\"1\"\n\u{2028}"), None),
            key("int-2 ü", None, Some("tpl-9")),
        ];
        let expires = Utc::now() + TimeDelta::days(3);
        for (i, k) in keys.iter().enumerate() {
            let intent = Intent {
                serves_until: (i != 1).then_some(expires),
                lease: Some(TimeDelta::seconds(30)),
                candidate_email: "a@example.org",
            };
            let Claim::Mint(ticket) = ledger.claim_with(k, &intent).await.unwrap() else {
                panic!("a fresh key is minted")
            };
            let minted = Minted {
                url: format!("https://example.com/{i}?a=\"b\""),
                short_url: (i == 0).then(|| "https://ex.am/ple".to_owned()),
                expires_at: (i != 2).then_some(expires),
                session_id: Some(format!("s-{i}")),
            };
            ledger.record_minted_as(&ticket, &minted).await.unwrap();
        }
        let Backend::Sqlite(pool) = &ledger.backend else {
            unreachable!()
        };
        let filter = " FROM mint_records WHERE tenant = ? AND vendor = ? AND state = 'minted' \
                      AND interview_id IN (?, ?)";
        let ids = ["int-1", "int-2 ü"];
        let mut as_json = minted_as_json(pool, filter, DEFAULT_TENANT, Vendor::CodeSignal, &ids)
            .await
            .expect("read as JSON");
        let mut as_rows = ledger
            .select(&Filter {
                tenant: DEFAULT_TENANT,
                state: Some(State::Minted),
                ..Filter::default()
            })
            .await
            .unwrap();
        as_json.sort_by(|a, b| a.key.cmp(&b.key));
        as_rows.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(as_json.len(), 3);
        assert_eq!(as_json, as_rows);

        // A time in another form sqlx reads: not the JSON read's to guess, the rows' to read.
        sqlx::query("UPDATE mint_records SET updated_at = '2026-11-30 16:02:13' WHERE interview_id = 'int-1'")
            .execute(pool)
            .await
            .unwrap();
        assert_eq!(
            minted_as_json(pool, filter, DEFAULT_TENANT, Vendor::CodeSignal, &ids).await,
            None
        );
        let read = ledger
            .minted_of(DEFAULT_TENANT, Vendor::CodeSignal, &ids)
            .await
            .unwrap();
        assert_eq!(read.len(), 3);
        assert!(
            read.iter()
                .filter(|r| r.key.mint.interview_id == "int-1")
                .all(|r| r.updated_at.to_rfc3339() == "2026-11-30T16:02:13+00:00")
        );
        ledger.close().await;
    }

    /// Claims and results written in groups: each answered as alone, each durable when
    /// answered, and a refusal in a group fails only its own step.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_claims_and_results_are_answered_as_alone_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let ledger = Ledger::open_sqlite(&path).await.unwrap();
        let key = |i: usize| {
            LedgerKey::new(
                Vendor::CodeSignal,
                MintKey {
                    scope: Scope::Interview,
                    interview_id: format!("int-{i}"),
                    event_id: None,
                    product: Product::Live,
                    template_id: None,
                },
            )
        };
        // Every key claimed twice at once: one claim mints, the other finds its intent.
        let claims = futures::future::join_all((0..64).flat_map(|i| {
            let ledger = &ledger;
            [i, i].map(move |i| async move { ledger.claim(&key(i)).await.unwrap() })
        }))
        .await;
        let tickets: Vec<MintTicket> = claims
            .iter()
            .filter_map(|c| match c {
                Claim::Mint(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(tickets.len(), 64, "one claim of each key mints");
        assert!(
            claims
                .iter()
                .all(|c| matches!(c, Claim::Mint(_) | Claim::Pending(_)))
        );
        // Durable once answered: another connection's read sees every intent.
        let other = Ledger::open_sqlite(&path).await.unwrap();
        for i in 0..64 {
            assert_eq!(
                other.get(&key(i)).await.unwrap().unwrap().state,
                State::Pending
            );
        }
        // Results at once, one of them under a ticket that is no longer the intent's.
        let stale = MintTicket {
            key: key(0),
            attempt: 7,
        };
        let minted = |i: usize| Minted {
            url: format!("https://example.com/{i}"),
            short_url: None,
            expires_at: None,
            session_id: Some(format!("s-{i}")),
        };
        let results = futures::future::join_all(std::iter::once(&stale).chain(&tickets).map(|t| {
            let i: usize = t.key.mint.interview_id[4..].parse().unwrap();
            let ledger = &ledger;
            async move { (t.attempt, ledger.record_minted_as(t, &minted(i)).await) }
        }))
        .await;
        for (attempt, result) in &results {
            match attempt {
                7 => assert!(
                    matches!(result, Err(LedgerError::State { .. })),
                    "{result:?}"
                ),
                _ => assert_eq!(result.as_ref().unwrap().state, State::Minted),
            }
        }
        for i in 0..64 {
            let record = other.get(&key(i)).await.unwrap().unwrap();
            assert_eq!(record.url.as_deref(), Some(minted(i).url.as_str()));
        }
        ledger.close().await;
        other.close().await;
    }

    #[test]
    fn a_database_is_a_ledger_only_with_our_migrations() {
        let ours = migrations::SQLITE.migrator();
        let applied: Vec<(i64, Vec<u8>)> = ours
            .iter()
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect();
        assert_eq!(judge(false, &[], &ours), Found::Empty);
        assert_eq!(judge(true, &applied, &ours), Found::Ledger);
        // An older ledger: its first migrations only.
        assert_eq!(judge(true, &applied[..1], &ours), Found::Ledger);
        assert!(matches!(judge(true, &[], &ours), Found::Other(_)));
        assert!(matches!(judge(false, &applied, &ours), Found::Other(_)));
        assert!(matches!(
            judge(false, &applied[1..], &ours),
            Found::Other(_)
        ));
        // Someone else's migration, or one of ours with another checksum.
        let mut theirs = applied.clone();
        theirs.push((1, vec![0; 48]));
        assert!(matches!(judge(true, &theirs, &ours), Found::Other(_)));
        let mut changed = applied.clone();
        changed[0].1[0] ^= 1;
        assert!(matches!(judge(true, &changed, &ours), Found::Other(_)));
    }
}
