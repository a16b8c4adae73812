//! The background refresher: every `--refresh-every`, extends every tenant's upcoming links as
//! `invitoken refresh` does, one replica at a time.
//!
//! Replicas on one ledger take turns through the ledger ([`Ledger::take_turn`]), one turn per
//! tenant: the replica that takes a tenant's turn holds a lease, renews it while it works and, when done, sets
//! the next run one period later; the others see the turn held or not due and sleep until it
//! may be theirs. A replica killed mid-run leaves a lease that runs out, and the next replica
//! to look runs the refresh again (refreshing twice only extends links that are still short).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use crate::{Engine, Ledger, LedgerError, TurnClaim};

/// The prefix of the ledger's names of the refresher's turns: one turn per tenant
/// (`refresh/acme`), so replicas serving different sets of tenants on one ledger still
/// refresh each tenant once per period.
pub const REFRESH_JOB: &str = "refresh/";

/// The default period of the refresher: an hour.
pub const DEFAULT_REFRESH_EVERY: Duration = Duration::from_secs(3600);

/// The default lease of the refresher's turn; renewed while it runs.
pub const DEFAULT_REFRESH_LEASE: Duration = Duration::from_secs(60);

/// What one look at the turns did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tick {
    /// The tenants this replica refreshed.
    pub ran: Vec<String>,
    /// The tenants whose refresh this replica ran and that answered an error (logged; tried
    /// again next period).
    pub failed: Vec<String>,
    /// The tenants another replica holds or that are not due, and why.
    pub skipped: Vec<(String, TurnClaim)>,
    /// Whether `stop` ended the look before every tenant was seen (it is checked before a turn
    /// is taken, never in the middle of a tenant's refresh).
    pub stopped: bool,
}

/// One replica's refresher over an engine.
#[derive(Debug, Clone)]
pub struct Refresher {
    engine: Arc<Engine>,
    every: Duration,
    lease: Duration,
    holder: String,
}

impl Refresher {
    /// Refreshes `engine`'s tenants every `every` (at least a second), holding each tenant's
    /// turn with leases of `lease` (at least a second).
    pub fn new(engine: Arc<Engine>, every: Duration, lease: Duration) -> Refresher {
        Refresher {
            engine,
            every: every.max(Duration::from_secs(1)),
            lease: lease.max(Duration::from_secs(1)),
            holder: format!(
                "{}-{}-{:08x}",
                hostname(),
                std::process::id(),
                fastrand::u32(..)
            ),
        }
    }

    /// Who this replica is in the ledger's `service_turns` (host, process id, a random part).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn ledger(&self) -> &Ledger {
        self.engine.ledger()
    }

    /// The ledger's name of `tenant`'s refresh turn.
    pub fn job(tenant: &str) -> String {
        format!("{REFRESH_JOB}{tenant}")
    }

    /// Looks at every tenant's turn as at `now` and refreshes the tenants whose turn this
    /// replica takes, renewing the lease meanwhile. `stop` turning true ends the look between
    /// two tenants.
    pub async fn tick(
        &self,
        now: DateTime<Utc>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Tick, LedgerError> {
        let lease = delta(self.lease);
        // The clock of this look: `now`, advancing with real time (so a test's `now` in the
        // future stays consistent across the turns it takes and ends).
        let began = std::time::Instant::now();
        let clock = || now + delta(began.elapsed());
        let mut tenants: Vec<String> = self.engine.tenants().map(str::to_owned).collect();
        tenants.sort();
        let mut tick = Tick::default();
        for tenant in tenants {
            if *stop.borrow() {
                tick.stopped = true;
                break;
            }
            let claim = self
                .ledger()
                .take_turn(&Self::job(&tenant), &self.holder, clock(), lease)
                .await?;
            let TurnClaim::Taken(mut turn) = claim else {
                metrics::counter!("invitoken_refresh_runs_total", "outcome" => "skipped")
                    .increment(1);
                tick.skipped.push((tenant, claim));
                continue;
            };
            tracing::info!(tenant = %crate::shown(&tenant), holder = %self.holder,
                "refresher: refreshing the tenant's upcoming links");
            let result = {
                let refresh = self.engine.refresh(&tenant);
                let mut refresh = std::pin::pin!(refresh);
                // Renew at a third of the lease, so one slow answer does not lose it.
                let mut renew = tokio::time::interval(self.lease / 3);
                renew.tick().await;
                loop {
                    tokio::select! {
                        result = &mut refresh => break result,
                        _ = renew.tick() => {
                            match self.ledger().renew_turn(&mut turn, clock() + lease).await {
                                Ok(true) => {}
                                Ok(false) => tracing::warn!(
                                    "refresher: the turn was taken over (this replica was too slow \
                                     to renew its lease); finishing this tenant"
                                ),
                                Err(e) => tracing::warn!(error = %e, "refresher: cannot renew the turn"),
                            }
                        }
                    }
                }
            };
            let outcome = match result {
                Ok(outcomes) => {
                    tracing::info!(tenant = %crate::shown(&tenant), refreshed = outcomes.len(),
                        "refresher: tenant refreshed");
                    "ran"
                }
                Err(e) => {
                    tracing::warn!(tenant = %crate::shown(&tenant), error = %e,
                        "refresher: the tenant's refresh failed; it is tried again next period");
                    "failed"
                }
            };
            metrics::counter!("invitoken_refresh_runs_total", "outcome" => outcome).increment(1);
            let end = clock();
            if !self
                .ledger()
                .end_turn(&turn, end, end + delta(self.every), true)
                .await?
            {
                tracing::warn!("refresher: the turn had been taken over before the run ended");
            }
            if outcome == "ran" {
                tick.ran.push(tenant);
            } else {
                tick.failed.push(tenant);
            }
        }
        Ok(tick)
    }

    /// Looks at the turns until `stop` turns true: after each look, sleeps until a turn may be
    /// this replica's (with some jitter, so replicas do not all ask at once), at most a period.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let pause = match self.tick(Utc::now(), &stop).await {
                Ok(tick) if tick.stopped => return,
                Ok(tick) => tick
                    .skipped
                    .iter()
                    .map(|(_, claim)| until(claim.look_again_at()))
                    .min()
                    .unwrap_or(self.every),
                Err(e) => {
                    tracing::warn!(error = %e, "refresher: the ledger did not answer; trying again");
                    self.lease
                }
            };
            let pause = pause.min(self.every) + jitter(self.every);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// How long until `at` (zero if past).
fn until(at: DateTime<Utc>) -> Duration {
    (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

/// Up to 1% of the period, at most a second.
fn jitter(every: Duration) -> Duration {
    let most = (every / 100).min(Duration::from_secs(1));
    most.mul_f64(fastrand::f64())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty() && h.len() <= 64 && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or_else(|| "replica".to_owned())
}
