//! Group commit of the ledger's write-ahead steps: claims (intents) and recorded results that
//! arrive while a group is being written wait for it, then go together into the next one: one
//! transaction, so one synced commit, for as many keys as arrived meanwhile, instead of one
//! each. A cold run's mints start and end `--concurrency` at a time, so its claims and results
//! arrive together.
//!
//! Nothing about a single key changes: each step runs the same statements as alone, and its
//! caller gets its answer only after the group's commit, so no API call starts before its
//! intent is durable, and a result is answered recorded only once it is. If anything in a group
//! fails at the database (a statement, or the commit), the group is rolled back and every step
//! of it is written again on its own: one bad key fails alone, and a result already made by
//! the API is recorded if the database takes it at all; otherwise its intent stays `pending`
//! and is settled by look-up, as ever. A commit whose outcome was lost leaves nothing worse
//! than one that failed: a claim written twice finds its own intent `pending` and mints
//! nothing, a result written twice is a no-op.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::oneshot;

use super::{
    Backend, Claim, Intent, Ledger, LedgerError, LedgerKey, MintRecord, MintTicket, State, db,
    product_str, record_from_row, scope_str,
};
use crate::mint::Minted;

/// One write-ahead step waiting for its group.
pub(super) enum Op {
    /// [`Ledger::claim_with`]'s write.
    Claim {
        key: LedgerKey,
        serves_until: Option<DateTime<Utc>>,
        lease: Option<TimeDelta>,
        candidate_email: String,
    },
    /// [`Ledger::record_minted_as`].
    Minted { ticket: MintTicket, minted: Minted },
}

impl Op {
    fn key(&self) -> &LedgerKey {
        match self {
            Op::Claim { key, .. } => key,
            Op::Minted { ticket, .. } => &ticket.key,
        }
    }
}

/// A step's answer.
pub(super) enum Done {
    Claim(Result<Claim, LedgerError>),
    Minted(Result<MintRecord, LedgerError>),
}

impl Done {
    /// Whether the database failed it (rather than answering it, refusals included).
    fn failed_at_the_database(&self) -> bool {
        matches!(
            self,
            Done::Claim(Err(LedgerError::Database { .. }))
                | Done::Minted(Err(LedgerError::Database { .. }))
        )
    }
}

type Queued = (Op, oneshot::Sender<Done>);

/// The steps waiting for the next group, and the turn to write one.
#[derive(Default)]
pub(super) struct Groups {
    queue: Mutex<Vec<Queued>>,
    writing: tokio::sync::Mutex<()>,
}

impl Groups {
    fn take(&self) -> Vec<Queued> {
        // Pushes and takes are single calls: a panic elsewhere leaves the queue whole.
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

// The steps of `$group` in the transaction `$tx`, their answers in order; returns `Err(())`
// from the enclosing function at the first the database fails. `$lock` as for `claim_in!`.
macro_rules! group_in {
    ($self:ident, $tx:ident, $lock:expr, $group:expr) => {{
        let mut done = Vec::with_capacity($group.len());
        for (op, _) in $group {
            let now = Utc::now();
            let answer = match op {
                Op::Claim {
                    key,
                    serves_until,
                    lease,
                    candidate_email,
                } => {
                    let intent = Intent {
                        serves_until: *serves_until,
                        lease: *lease,
                        candidate_email,
                    };
                    Done::Claim(claim_in!($tx, $lock, key, &intent, now).await)
                }
                Op::Minted { ticket, minted } => Done::Minted(
                    async {
                        let sql = Ledger::record_minted_sql(Some(ticket.attempt));
                        let row = bind_key!(sqlx::query(&sql), &ticket.key)
                            .bind(minted.url.as_str())
                            .bind(minted.session_id.as_deref())
                            .bind(minted.expires_at)
                            .bind(now)
                            .bind(minted.short_url.as_deref())
                            .fetch_optional(&mut *$tx)
                            .await
                            .map_err(db("record a minted session"))?;
                        if let Some(row) = row {
                            return record_from_row(&row);
                        }
                        let row = bind_key!(
                            sqlx::query(concat!(
                                "SELECT ",
                                columns!(),
                                " FROM mint_records WHERE ",
                                key_is!()
                            )),
                            &ticket.key
                        )
                        .fetch_optional(&mut *$tx)
                        .await
                        .map_err(db("read a mint record"))?;
                        let record = row.map(|row| record_from_row(&row)).transpose()?;
                        Ledger::already_minted(&ticket.key, record, minted)
                    }
                    .await,
                ),
            };
            if answer.failed_at_the_database() {
                return Err(());
            }
            done.push(answer);
        }
        done
    }};
}

impl Ledger {
    /// Writes `op` in the next group and answers it once that is committed.
    pub(super) async fn grouped(&self, op: Op) -> Done {
        let is_claim = matches!(op, Op::Claim { .. });
        let (reply, answer) = oneshot::channel();
        self.groups
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((op, reply));
        {
            let _writing = self.groups.writing.lock().await;
            // Everything queued while the last group was written (this step, unless that
            // group took it).
            let group = self.groups.take();
            if !group.is_empty() {
                let ledger = self.clone();
                // A task of its own: a caller that stops waiting cannot cut a group short
                // between its commit and its answers.
                let _ = tokio::spawn(async move { ledger.write_group(group).await }).await;
            }
        }
        match answer.await {
            Ok(done) => done,
            // The group's task died (a panic, or the runtime shutting down): unknown whether
            // it was committed; the caller fails without an API call, or keeps its intent.
            Err(_) => {
                let e = db("write a group of ledger steps")(sqlx::Error::WorkerCrashed);
                if is_claim {
                    Done::Claim(Err(e))
                } else {
                    Done::Minted(Err(e))
                }
            }
        }
    }

    async fn write_group(&self, mut group: Vec<Queued>) {
        if group.len() > 1 {
            // One order for every writer: PostgreSQL locks the rows in it.
            group.sort_by(|a, b| a.0.key().cmp(b.0.key()));
            if let Ok(done) = self.write_together(&group).await {
                for ((_, reply), answer) in group.into_iter().zip(done) {
                    let _ = reply.send(answer);
                }
                return;
            }
        }
        for (op, reply) in group {
            let answer = match &op {
                Op::Claim {
                    key,
                    serves_until,
                    lease,
                    candidate_email,
                } => Done::Claim(
                    self.claim_alone(
                        key,
                        &Intent {
                            serves_until: *serves_until,
                            lease: *lease,
                            candidate_email,
                        },
                    )
                    .await,
                ),
                Op::Minted { ticket, minted } => Done::Minted(
                    self.record_minted_if(&ticket.key, Some(ticket.attempt), minted)
                        .await,
                ),
            };
            let _ = reply.send(answer);
        }
    }

    /// The steps of `group` in one transaction; `Err` when the database failed any of them
    /// or the commit (all rolled back).
    async fn write_together(&self, group: &[Queued]) -> Result<Vec<Done>, ()> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(drop)?;
                let done = group_in!(self, tx, "", group);
                tx.commit().await.map_err(drop)?;
                Ok(done)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(drop)?;
                let done = group_in!(self, tx, " FOR UPDATE", group);
                tx.commit().await.map_err(drop)?;
                Ok(done)
            }
        }
    }

    /// What recording `minted` for `key` answers when its UPDATE changed nothing: the same URL
    /// recorded already is a no-op, anything else a refusal naming the record's state.
    pub(super) fn already_minted(
        key: &LedgerKey,
        record: Option<MintRecord>,
        minted: &Minted,
    ) -> Result<MintRecord, LedgerError> {
        match record {
            Some(r) if r.state == State::Minted && r.url.as_deref() == Some(&minted.url) => Ok(r),
            other => Err(LedgerError::State {
                op: "record a minted session for",
                key: Box::new(key.clone()),
                state: other.map(|r| r.state),
            }),
        }
    }
}
