//! Turns at a job that one replica at a time must do (the service's refresher): a row per job
//! in `service_turns`, taken with a lease that its holder renews while it works. A holder that
//! dies leaves a lease that runs out; another replica then takes the turn.
//!
//! Every write is a compare-and-swap on the row's `generation` as it was read, and times are
//! compared here, not in SQL (SQLite keeps them as text), so the same statements serve both
//! backends and two replicas can never both think they hold a turn.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row;

use super::{Backend, Ledger, LedgerError, count, db};

/// A turn at a job, held until [`Turn::lease_until`] unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Turn {
    /// The job.
    pub name: String,
    /// Who holds it (a replica's id).
    pub holder: String,
    /// Until when, unless renewed.
    pub lease_until: DateTime<Utc>,
    generation: i64,
}

/// The answer to [`Ledger::take_turn`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnClaim {
    /// The caller holds the turn: do the job, then [`Ledger::end_turn`].
    Taken(Turn),
    /// Another replica holds it (its lease has not run out).
    Held {
        /// Who.
        holder: String,
        /// Until when, unless renewed.
        lease_until: DateTime<Utc>,
    },
    /// The job is not due yet.
    NotDue {
        /// When it is.
        due_at: DateTime<Utc>,
    },
}

impl TurnClaim {
    /// When it is worth asking again (for a taken turn: when its lease runs out).
    pub fn look_again_at(&self) -> DateTime<Utc> {
        match self {
            TurnClaim::Taken(turn) => turn.lease_until,
            TurnClaim::Held { lease_until, .. } => *lease_until,
            TurnClaim::NotDue { due_at } => *due_at,
        }
    }
}

/// What the ledger says of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnRecord {
    /// The job.
    pub name: String,
    /// Who holds it now (`None`: nobody, or a lease that ran out).
    pub holder: Option<String>,
    /// When it is next due.
    pub due_at: DateTime<Utc>,
    /// How many runs ended (with [`Ledger::end_turn`]).
    pub runs: i64,
    /// Who ran it last.
    pub last_holder: Option<String>,
    /// When the last run ended.
    pub last_run_at: Option<DateTime<Utc>>,
}

/// The row as read.
struct Row_ {
    holder: String,
    lease_until: Option<DateTime<Utc>>,
    due_at: DateTime<Utc>,
    generation: i64,
    runs: i64,
    last_holder: String,
    last_run_at: Option<DateTime<Utc>>,
}

macro_rules! read_row {
    ($pool:expr, $name:expr) => {{
        let row = sqlx::query(
            "SELECT holder, lease_until, due_at, generation, runs, last_holder, last_run_at \
             FROM service_turns WHERE name = $1",
        )
        .bind($name)
        .fetch_optional($pool)
        .await
        .map_err(db("read a job's turn"))?;
        match row {
            None => None,
            Some(row) => {
                let corrupt = |e: sqlx::Error| LedgerError::Corrupt {
                    reason: format!("service_turns: {e}"),
                };
                Some(Row_ {
                    holder: row.try_get("holder").map_err(corrupt)?,
                    lease_until: row.try_get("lease_until").map_err(corrupt)?,
                    due_at: row.try_get("due_at").map_err(corrupt)?,
                    generation: row.try_get("generation").map_err(corrupt)?,
                    runs: row.try_get("runs").map_err(corrupt)?,
                    last_holder: row.try_get("last_holder").map_err(corrupt)?,
                    last_run_at: row.try_get("last_run_at").map_err(corrupt)?,
                })
            }
        }
    }};
}

impl Ledger {
    /// Takes the turn at job `name` for `holder` until `now + lease`, if the job is due (a job
    /// never run is due at once) and nobody holds it (or its holder's lease ran out before
    /// `now`). Of replicas asking at once, exactly one gets it.
    pub async fn take_turn(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<TurnClaim, LedgerError> {
        count("take_turn");
        macro_rules! take {
            ($pool:expr) => {{
                let pool = $pool;
                sqlx::query(
                    "INSERT INTO service_turns (name, due_at) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(now)
                .execute(pool)
                .await
                .map_err(db("record a job"))?;
                let Some(row) = read_row!(pool, name) else {
                    return Err(LedgerError::Corrupt {
                        reason: "service_turns lost a row".to_owned(),
                    });
                };
                if let Some(until) = row
                    .lease_until
                    .filter(|u| *u > now && !row.holder.is_empty())
                {
                    return Ok(TurnClaim::Held {
                        holder: row.holder,
                        lease_until: until,
                    });
                }
                if row.due_at > now {
                    return Ok(TurnClaim::NotDue { due_at: row.due_at });
                }
                let lease_until = now + lease;
                let taken = sqlx::query(
                    "UPDATE service_turns SET holder = $1, lease_until = $2, \
                     generation = generation + 1 WHERE name = $3 AND generation = $4",
                )
                .bind(holder)
                .bind(lease_until)
                .bind(name)
                .bind(row.generation)
                .execute(pool)
                .await
                .map_err(db("take a job's turn"))?
                .rows_affected();
                if taken == 1 {
                    Ok(TurnClaim::Taken(Turn {
                        name: name.to_owned(),
                        holder: holder.to_owned(),
                        lease_until,
                        generation: row.generation + 1,
                    }))
                } else {
                    // Someone wrote in between: whoever it was holds it now (or just finished).
                    match read_row!(pool, name) {
                        Some(r) if !r.holder.is_empty() && r.lease_until.is_some() => {
                            Ok(TurnClaim::Held {
                                holder: r.holder,
                                lease_until: r.lease_until.unwrap_or(lease_until),
                            })
                        }
                        Some(r) => Ok(TurnClaim::NotDue { due_at: r.due_at }),
                        None => Err(LedgerError::Corrupt {
                            reason: "service_turns lost a row".to_owned(),
                        }),
                    }
                }
            }};
        }
        match &self.backend {
            Backend::Sqlite(pool) => take!(pool),
            Backend::Postgres(pool) => take!(pool),
        }
    }

    /// Extends `turn`'s lease to `until`; `false` when it is no longer held by `turn` (its
    /// lease ran out and someone else took it).
    pub async fn renew_turn(
        &self,
        turn: &mut Turn,
        until: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        count("renew_turn");
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE service_turns SET lease_until = $1, generation = generation + 1 \
             WHERE name = $2 AND generation = $3",
        )
        .bind(until)
        .bind(&turn.name)
        .bind(turn.generation)
        .execute(pool)
        .await
        .map_err(db("renew a job's turn"))?
        .rows_affected());
        if done == 1 {
            turn.generation += 1;
            turn.lease_until = until;
        }
        Ok(done == 1)
    }

    /// Ends `turn`: the job is next due at `next_due`; `ran` says whether a run was completed
    /// (counted and recorded as the last), or the turn is handed back undone (a replica
    /// stopping mid-run). `false` when the turn was no longer `turn`'s.
    pub async fn end_turn(
        &self,
        turn: &Turn,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
        ran: bool,
    ) -> Result<bool, LedgerError> {
        count("end_turn");
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE service_turns SET holder = '', lease_until = NULL, due_at = $1, \
             generation = generation + 1, runs = runs + $2, \
             last_holder = CASE WHEN $2 = 1 THEN $3 ELSE last_holder END, \
             last_run_at = CASE WHEN $2 = 1 THEN $4 ELSE last_run_at END \
             WHERE name = $5 AND generation = $6",
        )
        .bind(next_due)
        .bind(i64::from(ran))
        .bind(&turn.holder)
        .bind(now)
        .bind(&turn.name)
        .bind(turn.generation)
        .execute(pool)
        .await
        .map_err(db("end a job's turn"))?
        .rows_affected());
        Ok(done == 1)
    }

    /// What the ledger holds of job `name` (`None`: never asked for).
    pub async fn turn_record(&self, name: &str) -> Result<Option<TurnRecord>, LedgerError> {
        let now = Utc::now();
        let row = on_pool!(self, pool => read_row!(pool, name));
        Ok(row.map(|r| TurnRecord {
            name: name.to_owned(),
            holder: (!r.holder.is_empty() && r.lease_until.is_some_and(|u| u > now))
                .then_some(r.holder),
            due_at: r.due_at,
            runs: r.runs,
            last_holder: (!r.last_holder.is_empty()).then_some(r.last_holder),
            last_run_at: r.last_run_at,
        }))
    }
}
