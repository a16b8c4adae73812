//! [`LedgerMinter`]: any [`Minter`] behind the durable ledger.

use std::time::Duration;

use tokio::time::Instant;

use super::{Claim, Ledger, LedgerError, LedgerKey, MintRecord, STALE_AFTER, Vendor};
use crate::mint::{ClientError, MintError, Minted, Minter};
use crate::plan::PlannedMint;

/// How long a mint waits by default for another worker's intent on the same key to resolve:
/// about as long as the CodeSignal client may take for one mint.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(150);

/// Mints through `inner` at most once per key, across runs and processes sharing the ledger:
///
/// 1. claim the key; a `minted` record is reused without calling `inner`;
/// 2. told to mint: call `inner`, then record the session, or record the failure when it is
///    known to have created nothing (a failure whose outcome is unknown leaves the intent
///    `pending`, for a look-up to reconcile);
/// 3. another worker's intent in flight: poll until it resolves, for at most the wait
///    ([`with_wait`](LedgerMinter::with_wait)); a stale intent (older than [`STALE_AFTER`]) or
///    one that does not resolve fails the mint, saying the outcome is unknown;
/// 4. a deleted session fails the mint: minting a new one is an explicit decision.
///
/// In a process, put the moka cache in front of this (one ledger round trip per key and run);
/// the ledger is what the next run, or another worker, sees.
#[derive(Debug, Clone)]
pub struct LedgerMinter<M> {
    inner: M,
    ledger: Ledger,
    vendor: Vendor,
    tenant: String,
    wait: Duration,
}

impl<M: Minter> LedgerMinter<M> {
    /// `inner` behind `ledger`, its sessions recorded as `vendor`'s in the default tenant.
    pub fn new(inner: M, ledger: Ledger, vendor: Vendor) -> LedgerMinter<M> {
        LedgerMinter {
            inner,
            ledger,
            vendor,
            tenant: super::DEFAULT_TENANT.to_owned(),
            wait: DEFAULT_WAIT,
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

fn unresolved(key: &LedgerKey, record: &MintRecord, waited: Option<Duration>) -> MintError {
    let age = record.age();
    let why = match waited {
        None => format!(
            "older than {} min, so the run that recorded it most likely stopped between creating the session and recording it",
            STALE_AFTER.num_minutes()
        ),
        Some(w) => format!(
            "still unresolved after waiting {} s for the worker that recorded it",
            w.as_secs()
        ),
    };
    failed(
        key,
        format!(
            "the outcome is unknown: the mint ledger ({}) holds an intent to mint this session from {} ({} s ago, attempt {}) with no result, {why}. \
             It is not minted again, since that could make a second session: look up the candidate's live interviews in CodeSignal and record the one made for this key, \
             or, if none exists, record the attempt as failed, then run again",
            key_ledger_hint(record),
            record.updated_at.to_rfc3339(),
            age.num_seconds(),
            record.attempts,
        ),
    )
}

fn key_ledger_hint(record: &MintRecord) -> String {
    format!(
        "vendor {}, tenant `{}`",
        record.key.vendor.as_str(),
        record.key.tenant
    )
}

impl<M: Minter> Minter for LedgerMinter<M> {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        let key = self.key(mint);
        let started = Instant::now();
        let mut poll = Duration::from_millis(50);
        loop {
            let claim = self
                .ledger
                .claim_serving(&key, Some(mint.serves_until))
                .await
                .map_err(|e| ledger_failed(&key, e))?;
            match claim {
                Claim::Minted(record) => {
                    return record.minted().ok_or_else(|| {
                        failed(&key, "the ledger's minted record has no URL".to_owned())
                    });
                }
                Claim::Mint(_) => {
                    return match self.inner.mint(mint).await {
                        Ok(minted) => {
                            // If this fails the intent stays pending: the session exists, and
                            // only a look-up can pair it with the key again.
                            self.ledger
                                .record_minted(&key, &minted)
                                .await
                                .map_err(|e| ledger_failed(&key, e))?;
                            Ok(minted)
                        }
                        Err(e) => {
                            if created_nothing(&e) {
                                self.ledger
                                    .record_failed(&key, &e.to_string())
                                    .await
                                    .map_err(|le| ledger_failed(&key, le))?;
                            }
                            Err(e)
                        }
                    };
                }
                Claim::Deleted(record) => {
                    return Err(failed(
                        &key,
                        format!(
                            "its session {} was deleted (cancelled) at {}; a new one is minted only when asked for explicitly",
                            record.session_id.as_deref().unwrap_or("(no id)"),
                            record.updated_at.to_rfc3339()
                        ),
                    ));
                }
                Claim::Pending(record) => {
                    if record.is_stale() {
                        return Err(unresolved(&key, &record, None));
                    }
                    let waited = started.elapsed();
                    if waited >= self.wait {
                        return Err(unresolved(&key, &record, Some(waited)));
                    }
                    tokio::time::sleep(poll.min(self.wait - waited)).await;
                    poll = (poll * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}
