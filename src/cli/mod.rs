//! The command line: what `invitoken` accepts, and how each flag becomes a library setting.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod run;
pub(crate) mod serve;

pub use run::main;

/// The default deadline of a `resolve` run, in seconds.
pub(crate) const DEFAULT_RESOLVE_DEADLINE: f64 = 120.0;

/// Exit codes: a contract with the pipelines that call us.
pub(crate) mod exit {
    pub const OK: u8 = 0;
    /// A bad template or request.
    pub const INPUT: u8 = 1;
    /// Usage or configuration.
    pub const USAGE: u8 = 2;
    /// Minting failed.
    pub const MINT: u8 = 3;
}

#[derive(Parser)]
#[command(version, about = "Resolve CodeSignal link tokens in interview invites", long_about = None)]
pub(crate) struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub(crate) color: Color,
    /// The largest file read (templates, requests, .ics files), in bytes: 1 to 4294967296
    /// (4 GiB). Larger files are refused unread. Default 64 MiB.
    #[arg(long, global = true, value_name = "BYTES",
          default_value_t = crate::DEFAULT_MAX_FILE_SIZE,
          value_parser = clap::value_parser!(u64).range(1..=4 * 1024 * 1024 * 1024))]
    pub(crate) max_file_size: u64,
    /// The tenant whose sessions are minted, listed, cancelled or refreshed: the mint ledger
    /// keeps each tenant's sessions apart.
    #[arg(long, global = true, env = "INVITOKEN_TENANT", default_value = crate::DEFAULT_TENANT, value_name = "ID")]
    pub(crate) tenant: String,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Lint templates: every unknown or unsupported token, with where and how to fix it.
    ///
    /// A FILE ending in `.json` is read as a scheduling request, and all its templates are
    /// checked as `resolve` would see them. A FILE ending in `.ics` is read as `batch` reads it
    /// (the `.ics` files given together as one batch): check fails it exactly when batch would,
    /// at the same line and column. `-` reads a template from standard input. Plain text (and
    /// standard input that is not iCalendar) is read 1 MiB at a time, so memory does not grow
    /// with the file; HTML, `.json` and `.ics` are read whole. Both obey --max-file-size.
    Check {
        /// Template files (text, HTML), existing invites (`.ics`) or requests (`.json`); `-`
        /// for stdin.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        properties: IcsPropertyArgs,
    },
    /// Print the mints a request needs, without minting: a dry run.
    Plan {
        /// The scheduling request (JSON); `-` for stdin.
        request: PathBuf,
    },
    /// Mint every session of a request once and print the links and the rendered invites.
    Resolve {
        /// The scheduling request (JSON); `-` for stdin.
        request: PathBuf,
        #[command(flatten)]
        minting: MintArgs,
        #[command(flatten)]
        ics: IcsArgs,
    },
    /// Resolve the tokens of existing .ics files: folders recursively, one URL per key across
    /// the whole batch, each file written back changed only where a token was.
    #[command(group(clap::ArgGroup::new("destination").required(true).args(["out", "in_place"])))]
    Batch {
        /// .ics files, or folders searched recursively for `*.ics`.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Write results here, mirroring each file's path relative to its input folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace changed originals atomically (temp file + rename) instead.
        #[arg(long)]
        in_place: bool,
        /// Write a JSON report: per file its status, tokens, links and errors.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        #[command(flatten)]
        properties: IcsPropertyArgs,
        #[command(flatten)]
        minting: MintArgs,
    },
    /// Delete an interview's sessions (deleteLiveInterview) and record them deleted: the
    /// interview's own and every event's, or one event's with --event. Prints what was done
    /// with each, as JSON.
    Cancel {
        /// The interview whose sessions to delete.
        #[arg(long, value_name = "ID")]
        interview: String,
        /// Only this event's sessions (the interview's own link stays).
        #[arg(long, value_name = "ID")]
        event: Option<String>,
        /// The sandbox's sessions (nothing to delete remotely; recorded deleted).
        #[arg(long)]
        sandbox: bool,
        #[command(flatten)]
        codesignal: CodeSignalArgs,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// Extend the links of upcoming sessions that would expire before their last event ends
    /// (CodeSignal links live at most 336 hours; interviews booked further ahead need this).
    /// Run it daily. Prints each upcoming session's outcome as JSON.
    Refresh {
        /// The sandbox's sessions (they never expire; for trying the command).
        #[arg(long)]
        sandbox: bool,
        #[command(flatten)]
        codesignal: CodeSignalArgs,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// Print what the mint ledger knows, as JSON: every session's key, state, URL, expiry,
    /// attempts and last error. For support; it never shows secrets. It makes no ledger: where
    /// there is none yet, the list is empty.
    Links {
        /// Only this interview's sessions.
        #[arg(long, value_name = "ID")]
        interview: Option<String>,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// Run the HTTP service: the operations above for many tenants, each acting with its own
    /// bearer token (see the README's "Service" section).
    Serve(serve::ServeArgs),
}

/// How `resolve` and `batch` mint.
#[derive(clap::Args)]
pub(crate) struct MintArgs {
    /// Mint offline with the embedded sandbox: stable links on `sandbox.invitoken.invalid`.
    /// Always wins over a CodeSignal configuration.
    #[arg(long)]
    pub(crate) sandbox: bool,
    /// Mint a new session for a key whose session was deleted (cancelled); without this such a
    /// key fails the run.
    #[arg(long)]
    pub(crate) remint_deleted: bool,
    #[command(flatten)]
    pub(crate) codesignal: CodeSignalArgs,
    #[command(flatten)]
    pub(crate) ledger: LedgerArgs,
}

/// worker gets the session already minted for a key, never a second one.
#[derive(clap::Args)]
pub(crate) struct LedgerArgs {
    /// The mint ledger: a SQLite file (a path, `sqlite:PATH` or `file:PATH`), or
    /// `postgres://...` for several workers or machines. A database that is not a ledger is
    /// refused, untouched. Default: `$XDG_DATA_HOME/invitoken/ledger.sqlite3`
    /// (`~/.local/share/invitoken/...`).
    // `--help` would print the variable's value, password included.
    #[arg(
        long,
        env = "INVITOKEN_LEDGER",
        hide_env_values = true,
        value_name = "PATH|URL"
    )]
    pub(crate) ledger: Option<String>,
    /// Seconds a worker holds an intent to mint without renewing it. After a crash the next run
    /// reconciles the dead worker's intents once this has passed.
    #[arg(long, env = "INVITOKEN_LEDGER_LEASE", default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) ledger_lease: u64,
    /// Seconds after an unresolved intent's lease ended before a run settles it by looking the
    /// candidate's sessions up: CodeSignal may commit a create long after the client gave up on
    /// it, and "nothing found" proves nothing until such a late commit must have landed.
    #[arg(long, env = "INVITOKEN_SETTLE_AFTER", default_value_t = 300, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) settle_after: u64,
}

/// Which properties of an existing `.ics` decide its links (`batch`, and `check` of `.ics`).
#[derive(clap::Args)]
pub(crate) struct IcsPropertyArgs {
    /// The property naming an event's interview, on a VEVENT or its VCALENDAR.
    #[arg(long, default_value = "X-INTERVIEW-ID", value_name = "NAME")]
    pub(crate) interview_property: String,
    /// The property naming the CodeSignal template for Template links.
    #[arg(long, default_value = "X-CODESIGNAL-TEMPLATE-ID", value_name = "NAME")]
    pub(crate) template_property: String,
    /// The property naming the candidate (`;CN=name:mailto:email`).
    #[arg(long, default_value = "X-CANDIDATE", value_name = "NAME")]
    pub(crate) candidate_property: String,
}

impl IcsPropertyArgs {
    pub(crate) fn options(self) -> crate::IcsOptions {
        crate::IcsOptions {
            interview_property: self.interview_property,
            template_property: self.template_property,
            candidate_property: self.candidate_property,
        }
    }
}

/// The `.ics` of each resolved invite (always in the JSON as `ics`).
#[derive(clap::Args)]
pub(crate) struct IcsArgs {
    /// Also write each invite's .ics into DIR (made if missing): `candidate.ics` and
    /// `interviewer-<event_id>-<email local part>.ics`, atomically; nothing if resolve fails.
    #[arg(long, value_name = "DIR")]
    pub(crate) ics_dir: Option<PathBuf>,
    /// The invites' ORGANIZER, a calendar address.
    #[arg(long, default_value = crate::DEFAULT_ORGANIZER, value_name = "URI")]
    pub(crate) organizer: crate::Organizer,
    /// The invites' SEQUENCE: 0 for a first send; raise it to update invites already sent.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) sequence: u32,
}

/// How to reach CodeSignal. The key comes from `--api-key-file` or `CODESIGNAL_API_KEY`.
#[derive(clap::Args)]
pub(crate) struct CodeSignalArgs {
    /// Read the CodeSignal API key from this file instead of `CODESIGNAL_API_KEY`.
    #[arg(long, value_name = "PATH")]
    pub(crate) api_key_file: Option<PathBuf>,
    /// CodeSignal's GraphQL endpoint.
    #[arg(long, env = "CODESIGNAL_ENDPOINT", hide_env_values = true, default_value = crate::DEFAULT_ENDPOINT, value_name = "URL")]
    pub(crate) codesignal_endpoint: String,
    /// Time limit of one request to CodeSignal, in seconds.
    #[arg(
        long,
        env = "CODESIGNAL_TIMEOUT",
        default_value_t = 30.0,
        value_name = "SECONDS"
    )]
    pub(crate) codesignal_timeout: f64,
    /// Put CodeSignal's shortened URLs in the invites.
    #[arg(long)]
    pub(crate) short_urls: bool,
    /// How long links outlive the end of the last event they serve, in minutes.
    #[arg(long, default_value_t = 120, value_name = "MINUTES")]
    pub(crate) grace_minutes: u32,
    /// Requests to CodeSignal in flight at once.
    #[arg(long, default_value_t = crate::DEFAULT_CONCURRENCY as u64, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub(crate) concurrency: u64,
    /// Requests started per second at most (0: no limit).
    #[arg(long, default_value_t = 25.0, value_name = "PER_SECOND")]
    pub(crate) rate_limit: f64,
    /// The deadline of the whole run, in seconds: no request to CodeSignal starts, and none is
    /// waited for, after it; the run then fails saying what it was waiting for. Default for
    /// `resolve`: 120; for `batch`, `cancel` and `refresh`: none.
    #[arg(long, env = "INVITOKEN_DEADLINE", value_name = "SECONDS")]
    pub(crate) deadline: Option<f64>,
}

impl CodeSignalArgs {
    /// Where the API key is read from: `--api-key-file`, else `CODESIGNAL_API_KEY`.
    pub(crate) fn key_source(&self) -> crate::KeySource {
        match &self.api_key_file {
            Some(path) => crate::KeySource::File(path.clone()),
            None => crate::KeySource::Env("CODESIGNAL_API_KEY".into()),
        }
    }

    /// The client's settings, with the run's deadline: `--deadline`, else `default`.
    pub(crate) fn settings(&self, default_deadline: Option<f64>) -> crate::CodeSignalSettings {
        crate::CodeSignalSettings {
            endpoint: self.codesignal_endpoint.clone(),
            timeout_secs: self.codesignal_timeout,
            short_urls: self.short_urls,
            grace_minutes: self.grace_minutes,
            concurrency: self.concurrency as usize,
            rate_limit: self.rate_limit,
            deadline_secs: self.deadline.or(default_deadline),
        }
    }
}

impl CodeSignalArgs {
    /// The minter a command chose: the sandbox, or CodeSignal (whose key must then be set),
    /// with the run's deadline `--deadline`, else `deadline`.
    pub(crate) fn minter(
        &self,
        sandbox: bool,
        deadline: Option<f64>,
    ) -> Result<crate::MinterConfig, String> {
        if sandbox {
            return Ok(crate::MinterConfig::Sandbox);
        }
        match self
            .settings(deadline)
            .config(&self.key_source())
            .map_err(|e| e.to_string())?
        {
            Some(config) => Ok(crate::MinterConfig::CodeSignal(Box::new(config))),
            None => Err(
                "no CodeSignal configuration: set CODESIGNAL_API_KEY (or pass \
                         --api-key-file) to an API key with the LiveInterview permission, or \
                         pass --sandbox to mint offline links on sandbox.invitoken.invalid"
                    .to_owned(),
            ),
        }
    }
}

impl LedgerArgs {
    /// The ledger; `existing`: only one that exists (`Ok(Err(note))` when there is none: a
    /// command that only acts on what was recorded makes no ledger).
    pub(crate) async fn open(
        &self,
        existing: bool,
    ) -> Result<Result<crate::Ledger, String>, String> {
        let location = self.location()?;
        let opened = if existing {
            crate::Ledger::open_existing(&location).await
        } else {
            crate::Ledger::open(&location).await.map(Some)
        }
        .map_err(|e| format!("the mint ledger: {e}"))?;
        Ok(opened.ok_or_else(|| {
            format!(
                "there is no mint ledger at {} (nothing was minted with it yet)",
                crate::shown_location(&location)
            )
        }))
    }

    /// The ledger's location: `--ledger`, `INVITOKEN_LEDGER`, else the default path.
    pub(crate) fn location(&self) -> Result<String, String> {
        match &self.ledger {
            Some(location) => Ok(location.clone()),
            None => crate::Ledger::default_path()
                .map(|p| p.display().to_string())
                .ok_or_else(|| {
                    "no place for the mint ledger: neither XDG_DATA_HOME nor HOME is set; pass \
                     --ledger PATH (or set INVITOKEN_LEDGER)"
                        .to_owned()
                }),
        }
    }
}

impl Color {
    /// Whether diagnostics are coloured: `auto` on a terminal unless `NO_COLOR` is set.
    pub(crate) fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// The batch the `batch` command's flags describe.
pub(crate) fn batch_job(
    inputs: Vec<PathBuf>,
    out: Option<PathBuf>,
    in_place: bool,
    report: Option<PathBuf>,
    properties: IcsPropertyArgs,
    minting: &MintArgs,
    max_file_size: u64,
) -> crate::BatchJob {
    let destination = match out {
        Some(dir) if !in_place => crate::batch::Destination::Dir(dir),
        _ => crate::batch::Destination::InPlace,
    };
    let mut job = crate::BatchJob::new(inputs, destination);
    job.options = properties.options();
    job.report = report;
    job.max_file_size = max_file_size;
    job.concurrency = minting.codesignal.concurrency as usize;
    job.remint_deleted = minting.remint_deleted;
    job
}

/// A failure with its exit code and the last line `main` prints (details may be on stderr).
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: Option<String>,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: Some(message.into()),
        }
    }
}

/// A usage or configuration failure.
pub(crate) fn usage(message: String) -> Failure {
    Failure::new(exit::USAGE, message)
}

/// The exit code of a failed operation.
pub(crate) fn code(e: &crate::EngineError) -> u8 {
    match e.kind() {
        crate::ErrorKind::Input | crate::ErrorKind::NotFound => exit::INPUT,
        crate::ErrorKind::Config => exit::USAGE,
        _ => exit::MINT,
    }
}
