//! The engine: every operation of the CLI (and of the service) in one place, per tenant, over
//! one ledger. Front ends parse their input, build an [`Engine`], call it and print its typed,
//! serde-serialisable reports; nothing they do is needed by another front end.
//!
//! Tenants are separate: each has its own minter (the sandbox, or a CodeSignal client with its
//! key), its own cache and its own ledger rows. An operation names its tenant; one tenant can
//! never read, reuse or cancel another's sessions.

mod batch;
pub mod check;
mod config;
mod input;

use std::collections::HashMap;
use std::time::Duration;

use crate::ledger::{DEFAULT_LEASE, DEFAULT_SETTLE_AFTER, DEFAULT_TENANT};
use crate::{
    Cached, CalendarOptions, CodeSignalConfig, CodeSignalMinter, Ledger, LedgerError, LedgerMinter,
    MintError, MintKey, MintRecord, Minted, Minter, Outcome, Plan, PlannedMint, Request,
    Resolution, ResolveError, SandboxMinter, Vendor,
};

pub use batch::{BatchFailure, BatchJob, BatchReport, IcsRewrite, PreparedBatch};
pub use check::{CheckReport, CheckedFile, Diagnostic};
pub use config::{CodeSignalSettings, ConfigError, KeySource};
pub use input::{InputError, input_name, input_text, read_input, read_text};

/// How many links one tenant's cache holds at most.
const CACHE_CAPACITY: u64 = 1_000_000;

/// Which vendor mints a tenant's sessions.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MinterConfig {
    /// The embedded sandbox: offline links on `sandbox.invitoken.invalid`.
    Sandbox,
    /// CodeSignal, with this client configuration.
    CodeSignal(Box<CodeSignalConfig>),
}

impl MinterConfig {
    /// The vendor its sessions are recorded under.
    pub fn vendor(&self) -> Vendor {
        match self {
            MinterConfig::Sandbox => Vendor::Sandbox,
            MinterConfig::CodeSignal(_) => Vendor::CodeSignal,
        }
    }
}

/// One tenant: its id and how its sessions are minted.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TenantConfig {
    /// The tenant's id: its ledger rows are keyed by it.
    pub id: String,
    /// Its minter.
    pub minter: MinterConfig,
}

impl TenantConfig {
    /// Tenant `id`, minting with `minter`.
    pub fn new(id: impl Into<String>, minter: MinterConfig) -> TenantConfig {
        TenantConfig {
            id: id.into(),
            minter,
        }
    }
}

/// Why an operation failed. Nothing was output for it; what was minted is in the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine serves no tenant of this id.
    #[error("no tenant `{}`", crate::shown(.tenant))]
    UnknownTenant {
        /// The id asked for.
        tenant: String,
    },
    /// A setting is out of range or a minter cannot be made.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Resolving a request failed (templates, minting, rendering).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A batch could not start or stopped before writing.
    #[error(transparent)]
    Batch(Box<batch::BatchFailure>),
    /// An `.ics` file cannot be rewritten: every problem, with its line and column.
    #[error("{} problem(s) in the .ics file; nothing was written", .problems.len())]
    InvalidIcs {
        /// The problems.
        problems: Vec<crate::batch::FileError>,
    },
    /// Reading a session at CodeSignal failed (to confirm what a webhook said).
    #[error("reading session {} at CodeSignal failed: {source}", crate::shown(.session))]
    Vendor {
        /// The session's id.
        session: String,
        /// Why.
        source: crate::ClientError,
    },
    /// `cancel` found no session to cancel.
    #[error(
        "the mint ledger ({ledger}) holds no session of interview `{}`{} for this vendor; nothing \
         was cancelled (`invitoken links` shows what it holds)",
        crate::shown(.interview),
        .event.as_deref().map_or(String::new(), |e| format!(", event `{}`", crate::shown(e)))
    )]
    NothingToCancel {
        /// The shown location of the ledger.
        ledger: String,
        /// The interview named.
        interview: String,
        /// The event named, if one was.
        event: Option<String>,
    },
}

/// What kind of failure an [`EngineError`] is: what a front end maps to an exit code or an
/// HTTP status without reading messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is wrong (a template, a request, a file): fix it and run again.
    Input,
    /// A setting or the set-up is wrong (a key, a path, an output over an input).
    Config,
    /// Nothing is recorded for what was named (an interview to cancel, a tenant).
    NotFound,
    /// A session asked for was deleted (cancelled): minting a new one is an explicit decision
    /// (`remint_deleted`).
    Deleted,
    /// Minting, the vendor or the ledger failed.
    Mint,
}

impl EngineError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use batch::BatchFailure as B;
        if self
            .mint_error()
            .is_some_and(|e| matches!(e, MintError::Deleted { .. }))
        {
            return ErrorKind::Deleted;
        }
        match self {
            EngineError::UnknownTenant { .. } | EngineError::NothingToCancel { .. } => {
                ErrorKind::NotFound
            }
            EngineError::Config(_) => ErrorKind::Config,
            EngineError::Resolve(ResolveError::Templates(_)) | EngineError::InvalidIcs { .. } => {
                ErrorKind::Input
            }
            EngineError::Batch(b) => match **b {
                B::Discover(_) => ErrorKind::Input,
                B::OutOverInput(_) | B::ReportPath(_) | B::Report(_) => ErrorKind::Config,
                _ => ErrorKind::Mint,
            },
            _ => ErrorKind::Mint,
        }
    }
}

impl EngineError {
    /// The mint error behind this one, if a mint failed: its key, and what the failed call did
    /// at the vendor ([`MintError::effect`]).
    pub fn mint_error(&self) -> Option<&MintError> {
        match self {
            EngineError::Resolve(ResolveError::Mint(e)) => Some(e),
            EngineError::Batch(b) => match &**b {
                batch::BatchFailure::Run(crate::batch::BatchError::Mint(e)) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }
}

impl From<batch::BatchFailure> for EngineError {
    fn from(e: batch::BatchFailure) -> EngineError {
        EngineError::Batch(Box::new(e))
    }
}

/// What [`Engine::session_finished`] did with a session a webhook said is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// CodeSignal confirmed it `over`: recorded `finished`.
    Finished,
    /// It was recorded `finished` before: nothing to do.
    AlreadyFinished,
    /// CodeSignal does not report it `over` (or knows no such session): nothing changed.
    NotOver,
    /// The ledger holds it, but not as a minted session (deleted, pending, failed): nothing
    /// changed.
    NotMinted,
    /// Not a CodeSignal session of this tenant's ledger (or the tenant mints with the
    /// sandbox): nothing changed, and CodeSignal was not asked.
    Unknown,
}

impl WebhookOutcome {
    /// Its name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Finished => "finished",
            WebhookOutcome::AlreadyFinished => "already_finished",
            WebhookOutcome::NotOver => "not_over",
            WebhookOutcome::NotMinted => "not_minted",
            WebhookOutcome::Unknown => "unknown",
        }
    }
}

/// What a resolve may do beyond the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolveOptions {
    /// The invites' calendar fields (organizer, sequence, stamp).
    pub calendar: CalendarOptions,
    /// Sessions minted at once.
    pub concurrency: usize,
    /// Mint a new session for a key whose session was deleted (cancelled); otherwise such a
    /// key fails the resolve.
    pub remint_deleted: bool,
}

impl Default for ResolveOptions {
    fn default() -> ResolveOptions {
        ResolveOptions {
            calendar: CalendarOptions::default(),
            concurrency: crate::DEFAULT_CONCURRENCY,
            remint_deleted: false,
        }
    }
}

/// One tenant's state in the engine: its configuration, its CodeSignal client (whose
/// connections, rate and concurrency limits all its operations share) and its cache of links.
#[derive(Debug)]
struct Tenant {
    config: TenantConfig,
    client: Option<CodeSignalMinter>,
    cache: crate::mint::MintCache,
}

/// Builds an [`Engine`].
#[derive(Debug)]
pub struct EngineBuilder {
    ledger: Ledger,
    lease: Duration,
    settle_after: Duration,
    tenants: Vec<TenantConfig>,
}

impl EngineBuilder {
    /// How long a worker holds an intent without renewing it.
    pub fn lease(mut self, lease: Duration) -> EngineBuilder {
        self.lease = lease;
        self
    }

    /// How long after an unresolved intent's lease ended a run may settle it by look-up.
    pub fn settle_after(mut self, settle_after: Duration) -> EngineBuilder {
        self.settle_after = settle_after;
        self
    }

    /// Serves `tenant` too.
    pub fn tenant(mut self, tenant: TenantConfig) -> EngineBuilder {
        self.tenants.push(tenant);
        self
    }

    /// The engine; a tenant given twice, or a CodeSignal configuration out of range, is refused.
    pub fn build(self) -> Result<Engine, ConfigError> {
        let mut tenants = HashMap::new();
        for config in self.tenants {
            // Behind the ledger, the client neither caches nor looks lost replies up itself:
            // the ledger settles them, and the tenant's cache is the one cache.
            let client = match &config.minter {
                MinterConfig::Sandbox => None,
                MinterConfig::CodeSignal(c) => Some(
                    CodeSignalMinter::new((**c).clone().behind_ledger())
                        .map_err(|e| ConfigError::new(e.to_string()))?,
                ),
            };
            let id = config.id.clone();
            let tenant = Tenant {
                config,
                client,
                cache: crate::mint::MintCache::new(CACHE_CAPACITY),
            };
            if tenants.insert(id.clone(), tenant).is_some() {
                return Err(ConfigError::new(format!(
                    "tenant `{}` is configured twice",
                    crate::shown(&id)
                )));
            }
        }
        Ok(Engine {
            ledger: self.ledger,
            lease: self.lease,
            settle_after: self.settle_after,
            tenants,
        })
    }
}

/// Every operation, per tenant, over one ledger. Cheap to share (`Arc<Engine>`); safe to keep
/// running: its caches are bounded and invalidated by cancels, and each operation gets its own
/// deadline.
#[derive(Debug)]
pub struct Engine {
    ledger: Ledger,
    lease: Duration,
    settle_after: Duration,
    tenants: HashMap<String, Tenant>,
}

/// A tenant's minter for one operation, behind the ledger.
enum Vendors {
    Sandbox(LedgerMinter<SandboxMinter>),
    CodeSignal(Box<LedgerMinter<CodeSignalMinter>>),
}

/// Runs `$body` with `$m` bound to the ledger minter, whichever vendor it has.
macro_rules! on_vendor {
    ($vendors:expr, $m:ident => $body:expr) => {
        match $vendors {
            Vendors::Sandbox($m) => $body,
            Vendors::CodeSignal($m) => $body,
        }
    };
}

impl Vendors {
    async fn cancel_key(&self, key: &MintKey) -> Result<Option<Outcome>, LedgerError> {
        on_vendor!(self, m => m.cancel_key(key).await)
    }

    async fn cancel(
        &self,
        interview: &str,
        event: Option<&str>,
    ) -> Result<Vec<Outcome>, LedgerError> {
        on_vendor!(self, m => m.cancel(interview, event).await)
    }

    async fn refresh(&self) -> Result<Vec<Outcome>, LedgerError> {
        on_vendor!(self, m => m.refresh().await)
    }
}

impl Minter for Vendors {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        on_vendor!(self, m => m.mint(mint).await)
    }

    async fn prepare(&self, plan: &Plan) {
        on_vendor!(self, m => m.prepare(plan).await)
    }
}

impl Engine {
    /// An engine over `ledger`, with no tenant yet.
    pub fn builder(ledger: Ledger) -> EngineBuilder {
        EngineBuilder {
            ledger,
            lease: DEFAULT_LEASE,
            settle_after: DEFAULT_SETTLE_AFTER,
            tenants: Vec::new(),
        }
    }

    /// An engine over `ledger` serving the default tenant only, minting with `minter`.
    pub fn single(ledger: Ledger, minter: MinterConfig) -> Result<Engine, ConfigError> {
        Engine::builder(ledger)
            .tenant(TenantConfig::new(DEFAULT_TENANT, minter))
            .build()
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The ids of the tenants served.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }

    fn tenant(&self, id: &str) -> Result<&Tenant, EngineError> {
        self.tenants
            .get(id)
            .ok_or_else(|| EngineError::UnknownTenant {
                tenant: id.to_owned(),
            })
    }

    /// The tenant's minter for one operation: a new run of its CodeSignal client (its deadline,
    /// and its refusal to send more after a final failure, are the operation's), behind the
    /// ledger.
    fn vendors(&self, tenant: &Tenant, remint_deleted: bool) -> Vendors {
        let id = tenant.config.id.clone();
        match (&tenant.config.minter, &tenant.client) {
            (MinterConfig::CodeSignal(config), Some(client)) => {
                let wait = config::ledger_wait(config);
                Vendors::CodeSignal(Box::new(
                    LedgerMinter::new(client.next_run(), self.ledger.clone(), Vendor::CodeSignal)
                        .with_tenant(id)
                        .with_lease(self.lease)
                        .with_wait(wait)
                        .with_settle_after(self.settle_after)
                        .remint_deleted(remint_deleted),
                ))
            }
            _ => Vendors::Sandbox(
                LedgerMinter::new(
                    SandboxMinter::for_tenant(&id),
                    self.ledger.clone(),
                    Vendor::Sandbox,
                )
                .with_tenant(id)
                .with_lease(self.lease)
                .remint_deleted(remint_deleted),
            ),
        }
    }

    /// The tenant's minter for one operation behind its cache.
    fn minter(&self, tenant: &Tenant, remint_deleted: bool) -> Cached<Vendors> {
        Cached::sharing(self.vendors(tenant, remint_deleted), &tenant.cache)
    }

    /// Lexes and plans `request` without minting: a dry run.
    pub fn plan(&self, request: &Request) -> Result<Plan, EngineError> {
        Ok(crate::plan(request)?)
    }

    /// Checks a request's templates as `resolve` would see them.
    pub fn check_request(&self, name: &str, request: &Request) -> CheckedFile {
        check::request(name, request)
    }

    /// Resolves `request` for `tenant`: plans it, mints every session once, renders every
    /// invite and its `.ics`. Fails closed: on any error, no invite is returned.
    pub async fn resolve(
        &self,
        tenant: &str,
        request: &Request,
        options: &ResolveOptions,
    ) -> Result<Resolution, EngineError> {
        let tenant = self.tenant(tenant)?;
        let minter = self.minter(tenant, options.remint_deleted);
        Ok(
            crate::resolve_limited(request, &minter, &options.calendar, options.concurrency)
                .await?,
        )
    }

    /// What the ledger holds of `tenant`'s sessions (one interview's, or all), for every vendor.
    pub async fn links(
        &self,
        tenant: &str,
        interview: Option<&str>,
    ) -> Result<Vec<MintRecord>, EngineError> {
        let tenant = self.tenant(tenant)?;
        Ok(self
            .ledger
            .list_for(&tenant.config.id, None, interview)
            .await?)
    }

    /// Deletes `tenant`'s sessions of `interview` (only event `event`'s, when given) at the
    /// vendor and records them deleted; the tenant's cache forgets them, so a later resolve in
    /// this process cannot hand one out. An interview with no session is an error.
    pub async fn cancel(
        &self,
        tenant: &str,
        interview: &str,
        event: Option<&str>,
    ) -> Result<Vec<Outcome>, EngineError> {
        let tenant = self.tenant(tenant)?;
        let vendors = self.vendors(tenant, false);
        // Before and after: a resolve racing the cancel must not keep a deleted link cached.
        tenant.cache.invalidate_interview(interview, event).await;
        let outcomes = vendors.cancel(interview, event).await?;
        tenant.cache.invalidate_interview(interview, event).await;
        if outcomes.is_empty() {
            return Err(EngineError::NothingToCancel {
                ledger: self.ledger.location().to_owned(),
                interview: interview.to_owned(),
                event: event.map(str::to_owned),
            });
        }
        Ok(outcomes)
    }

    /// Extends `tenant`'s upcoming sessions whose links would expire before their last event
    /// ends.
    pub async fn refresh(&self, tenant: &str) -> Result<Vec<Outcome>, EngineError> {
        let tenant = self.tenant(tenant)?;
        let vendors = self.vendors(tenant, false);
        Ok(vendors.refresh().await?)
    }

    /// Acts on CodeSignal's word that session `session_id` is finished (its
    /// `liveInterviewFinished` webhook, whose payload is not signed): only a session the
    /// ledger holds as `tenant`'s minted CodeSignal session, and that CodeSignal, asked with
    /// the tenant's key, reports `over`, is recorded `finished`. Everything else changes
    /// nothing. The ledger is read first, so an unknown id costs no API call.
    pub async fn session_finished(
        &self,
        tenant: &str,
        session_id: &str,
    ) -> Result<WebhookOutcome, EngineError> {
        let tenant = self.tenant(tenant)?;
        let Some(client) = &tenant.client else {
            return Ok(WebhookOutcome::Unknown);
        };
        let Some(record) = self
            .ledger
            .by_session(Vendor::CodeSignal, session_id)
            .await?
            .filter(|r| r.key.tenant == tenant.config.id)
        else {
            return Ok(WebhookOutcome::Unknown);
        };
        match record.state {
            crate::State::Finished => return Ok(WebhookOutcome::AlreadyFinished),
            crate::State::Minted => {}
            _ => return Ok(WebhookOutcome::NotMinted),
        }
        let status = client
            .next_run()
            .session_status(session_id)
            .await
            .map_err(|source| EngineError::Vendor {
                session: session_id.to_owned(),
                source,
            })?;
        if status.as_deref() != Some("over") {
            return Ok(WebhookOutcome::NotOver);
        }
        // A race with a cancel (now `deleted`) fails the transition: reported as a ledger
        // error, and CodeSignal's redelivery finds it no longer minted.
        self.ledger.mark_finished(&record.key).await?;
        Ok(WebhookOutcome::Finished)
    }

    /// Cancels the session of `key` if the ledger knows one (`None`: it has no record).
    async fn cancel_key(
        &self,
        tenant: &Tenant,
        vendors: &Vendors,
        key: &MintKey,
    ) -> Result<Option<Outcome>, LedgerError> {
        tenant.cache.invalidate(key).await;
        let outcome = vendors.cancel_key(key).await;
        tenant.cache.invalidate(key).await;
        outcome
    }
}

/// Warnings for people about a resolution: links that expire before their last event ends.
pub fn expiry_warnings(resolution: &Resolution) -> Vec<String> {
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    resolution
        .links
        .iter()
        .filter_map(|link| {
            let expires = link.expires_at.filter(|_| link.expires_too_soon())?;
            Some(format!(
                "the link for {} expires at {}, before its last event ends at {}: CodeSignal \
                 links live at most 336 hours; extend it before then",
                link.key,
                at(expires),
                at(link.serves_until)
            ))
        })
        .collect()
}

/// A note for a refreshed session whose link still expires before its last event ends.
pub fn still_short(outcome: &Outcome) -> Option<String> {
    let (expires, serves_until) = outcome.expires_at.zip(outcome.serves_until)?;
    (expires < serves_until).then(|| {
        format!(
            "the link for {} still expires before its last event ends ({}): it is booked more \
             than 336 hours ahead; run refresh again later",
            outcome.key,
            serves_until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    })
}

/// `N session(s): 2 deleted, 1 failed`: what a cancel or refresh did, by action.
pub fn summary(outcomes: &[Outcome]) -> String {
    use crate::Action;
    let count = |a: Action| outcomes.iter().filter(|o| o.action == a).count();
    let counts: Vec<String> = [
        (Action::Deleted, "deleted"),
        (Action::AlreadyDeleted, "already deleted"),
        (Action::NothingMinted, "never minted"),
        (Action::Extended, "extended"),
        (Action::UpToDate, "up to date"),
        (Action::Unresolved, "unresolved"),
        (Action::Failed, "failed"),
        (Action::Finished, "over (kept at the vendor)"),
    ]
    .into_iter()
    .filter(|(a, _)| count(*a) > 0)
    .map(|(a, name)| format!("{} {name}", count(a)))
    .collect();
    format!(
        "{} session(s){}{}",
        outcomes.len(),
        if counts.is_empty() { "" } else { ": " },
        counts.join(", ")
    )
}
