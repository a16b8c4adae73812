//! The `invitoken` command: a thin shell over the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use invitoken::{
    ApiKey, CodeSignalConfig, CodeSignalMinter, Located, Plan, Request, RequestError, ResolveError,
    SandboxMinter, Template, TemplateSet, render_findings,
};

/// The default deadline of a `resolve` run, in seconds.
const DEFAULT_RESOLVE_DEADLINE: f64 = 120.0;

/// Exit codes: a contract with the pipelines that call us.
mod exit {
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
struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    /// The largest file read (templates, requests, .ics files), in bytes: 1 to 4294967296
    /// (4 GiB). Larger files are refused unread. Default 64 MiB.
    #[arg(long, global = true, value_name = "BYTES",
          default_value_t = invitoken::DEFAULT_MAX_FILE_SIZE,
          value_parser = clap::value_parser!(u64).range(1..=4 * 1024 * 1024 * 1024))]
    max_file_size: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Lint templates: every unknown or unsupported token, with where and how to fix it.
    ///
    /// A FILE ending in `.json` is read as a scheduling request, and all its templates are
    /// checked as `resolve` would see them. A FILE ending in `.ics` is read as `batch` reads it
    /// (the `.ics` files given together as one batch): check fails it exactly when batch would,
    /// at the same line and column. `-` reads a template from standard input.
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
}

/// How `resolve` and `batch` mint.
#[derive(clap::Args)]
struct MintArgs {
    /// Mint offline with the embedded sandbox: stable links on `sandbox.invitoken.invalid`.
    /// Always wins over a CodeSignal configuration.
    #[arg(long)]
    sandbox: bool,
    /// Mint a new session for a key whose session was deleted (cancelled); without this such a
    /// key fails the run.
    #[arg(long)]
    remint_deleted: bool,
    #[command(flatten)]
    codesignal: CodeSignalArgs,
    #[command(flatten)]
    ledger: LedgerArgs,
}

impl MintArgs {
    /// The CodeSignal configuration, or `None` for the sandbox: checked before any input is read.
    fn config(&self) -> Result<Option<CodeSignalConfig>, Failure> {
        self.config_with_deadline(None)
    }

    /// [`MintArgs::config`], with the deadline `default` unless one was given.
    fn config_with_deadline(
        &self,
        default: Option<f64>,
    ) -> Result<Option<CodeSignalConfig>, Failure> {
        self.codesignal.choose_within(self.sandbox, default)
    }

    /// The minter for `config` (from [`MintArgs::config`]) behind the ledger, made if need be.
    fn vendors(
        &self,
        config: Option<CodeSignalConfig>,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Vendors, Failure> {
        let ledger = self.ledger.open(runtime)?;
        Vendors::new(config, ledger, &self.ledger, self.remint_deleted)
    }
}

/// The durable mint ledger every command that mints uses: a re-run, a reschedule or another
/// worker gets the session already minted for a key, never a second one.
#[derive(clap::Args)]
struct LedgerArgs {
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
    ledger: Option<String>,
    /// Seconds a worker holds an intent to mint without renewing it. After a crash the next run
    /// reconciles the dead worker's intents once this has passed.
    #[arg(long, env = "INVITOKEN_LEDGER_LEASE", default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    ledger_lease: u64,
    /// Seconds after an unresolved intent's lease ended before a run settles it by looking the
    /// candidate's sessions up: CodeSignal may commit a create long after the client gave up on
    /// it, and "nothing found" proves nothing until such a late commit must have landed.
    #[arg(long, env = "INVITOKEN_SETTLE_AFTER", default_value_t = 300, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    settle_after: u64,
}

impl LedgerArgs {
    /// The ledger, made if there is none yet (commands that mint).
    fn open(&self, runtime: &tokio::runtime::Runtime) -> Result<invitoken::Ledger, Failure> {
        let location = self.location()?;
        runtime
            .block_on(invitoken::Ledger::open(&location))
            .map_err(|e| Failure::new(exit::USAGE, format!("the mint ledger: {e}")))
    }

    /// The ledger if there is one, else `Err` with the note to print (commands that only act
    /// on what was recorded make no ledger).
    fn open_existing(
        &self,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Result<invitoken::Ledger, String>, Failure> {
        let location = self.location()?;
        match runtime.block_on(invitoken::Ledger::open_existing(&location)) {
            Ok(Some(ledger)) => Ok(Ok(ledger)),
            Ok(None) => Ok(Err(format!(
                "there is no mint ledger at {} (nothing was minted with it yet)",
                invitoken::ledger::shown_location(&location)
            ))),
            Err(e) => Err(Failure::new(exit::USAGE, format!("the mint ledger: {e}"))),
        }
    }

    fn location(&self) -> Result<String, Failure> {
        Ok(match &self.ledger {
            Some(location) => location.clone(),
            None => invitoken::Ledger::default_path()
                .ok_or_else(|| {
                    Failure::new(
                        exit::USAGE,
                        "no place for the mint ledger: neither XDG_DATA_HOME nor HOME is set; \
                         pass --ledger PATH (or set INVITOKEN_LEDGER)",
                    )
                })?
                .display()
                .to_string(),
        })
    }
}

/// Which properties of an existing `.ics` decide its links (`batch`, and `check` of `.ics`).
#[derive(clap::Args)]
struct IcsPropertyArgs {
    /// The property naming an event's interview, on a VEVENT or its VCALENDAR.
    #[arg(long, default_value = "X-INTERVIEW-ID", value_name = "NAME")]
    interview_property: String,
    /// The property naming the CodeSignal template for Template links.
    #[arg(long, default_value = "X-CODESIGNAL-TEMPLATE-ID", value_name = "NAME")]
    template_property: String,
    /// The property naming the candidate (`;CN=name:mailto:email`).
    #[arg(long, default_value = "X-CANDIDATE", value_name = "NAME")]
    candidate_property: String,
}

impl IcsPropertyArgs {
    fn options(self) -> invitoken::ics::rewrite::IcsOptions {
        invitoken::ics::rewrite::IcsOptions {
            interview_property: self.interview_property,
            template_property: self.template_property,
            candidate_property: self.candidate_property,
        }
    }
}

/// The `.ics` of each resolved invite (always in the JSON as `ics`).
#[derive(clap::Args)]
struct IcsArgs {
    /// Also write each invite's .ics into DIR (made if missing): `candidate.ics` and
    /// `interviewer-<event_id>-<email local part>.ics`, atomically; nothing if resolve fails.
    #[arg(long, value_name = "DIR")]
    ics_dir: Option<PathBuf>,
    /// The invites' ORGANIZER, a calendar address.
    #[arg(long, default_value = invitoken::ics::invite::DEFAULT_ORGANIZER, value_name = "URI")]
    organizer: invitoken::Organizer,
    /// The invites' SEQUENCE: 0 for a first send; raise it to update invites already sent.
    #[arg(long, default_value_t = 0, value_name = "N")]
    sequence: u32,
}

/// How to reach CodeSignal. The key comes from `--api-key-file` or `CODESIGNAL_API_KEY`.
#[derive(clap::Args)]
struct CodeSignalArgs {
    /// Read the CodeSignal API key from this file instead of `CODESIGNAL_API_KEY`.
    #[arg(long, value_name = "PATH")]
    api_key_file: Option<PathBuf>,
    /// CodeSignal's GraphQL endpoint.
    #[arg(long, env = "CODESIGNAL_ENDPOINT", hide_env_values = true, default_value = invitoken::DEFAULT_ENDPOINT, value_name = "URL")]
    codesignal_endpoint: String,
    /// Time limit of one request to CodeSignal, in seconds.
    #[arg(
        long,
        env = "CODESIGNAL_TIMEOUT",
        default_value_t = 30.0,
        value_name = "SECONDS"
    )]
    codesignal_timeout: f64,
    /// Put CodeSignal's shortened URLs in the invites.
    #[arg(long)]
    short_urls: bool,
    /// How long links outlive the end of the last event they serve, in minutes.
    #[arg(long, default_value_t = 120, value_name = "MINUTES")]
    grace_minutes: u32,
    /// Requests to CodeSignal in flight at once.
    #[arg(long, default_value_t = invitoken::DEFAULT_CONCURRENCY as u64, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// Requests started per second at most (0: no limit).
    #[arg(long, default_value_t = 25.0, value_name = "PER_SECOND")]
    rate_limit: f64,
    /// The deadline of the whole run, in seconds: no request to CodeSignal starts, and none is
    /// waited for, after it; the run then fails saying what it was waiting for. Default for
    /// `resolve`: 120; for `batch`, `cancel` and `refresh`: none.
    #[arg(long, env = "INVITOKEN_DEADLINE", value_name = "SECONDS")]
    deadline: Option<f64>,
}

impl CodeSignalArgs {
    /// [`CodeSignalArgs::choose`], with the run's deadline: `--deadline`, else `default`.
    fn choose_within(
        &self,
        sandbox: bool,
        default: Option<f64>,
    ) -> Result<Option<CodeSignalConfig>, Failure> {
        let Some(config) = self.choose(sandbox)? else {
            return Ok(None);
        };
        match self.deadline.or(default) {
            Some(seconds) => config
                .with_deadline_secs(seconds)
                .map(Some)
                .map_err(|e| Failure::new(exit::USAGE, e.to_string())),
            None => Ok(Some(config)),
        }
    }

    /// `None` for the sandbox, else the CodeSignal configuration, which must then exist.
    fn choose(&self, sandbox: bool) -> Result<Option<CodeSignalConfig>, Failure> {
        if sandbox {
            return Ok(None);
        }
        match self.config()? {
            Some(config) => Ok(Some(config)),
            None => Err(Failure::new(
                exit::USAGE,
                "no CodeSignal configuration: set CODESIGNAL_API_KEY (or pass --api-key-file) to \
                 an API key with the LiveInterview permission, or pass --sandbox to mint offline \
                 links on sandbox.invitoken.invalid",
            )),
        }
    }

    /// The client configuration, or `None` when no key is configured.
    fn config(&self) -> Result<Option<CodeSignalConfig>, Failure> {
        let raw = match &self.api_key_file {
            Some(path) => read_key_file(path)?,
            None => match std::env::var("CODESIGNAL_API_KEY") {
                Ok(key) => key,
                Err(std::env::VarError::NotPresent) => return Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(Failure::new(
                        exit::USAGE,
                        "CODESIGNAL_API_KEY is not valid UTF-8; paste the key alone",
                    ));
                }
            },
        };
        let api_key = ApiKey::parse(&raw).map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
        let mut config = CodeSignalConfig::new(api_key);
        // Not echoed: a URL that does not parse may still hold a secret.
        config.endpoint = self.codesignal_endpoint.parse().map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("the CodeSignal endpoint (--codesignal-endpoint or CODESIGNAL_ENDPOINT) is not a URL: {e}"),
            )
        })?;
        CodeSignalConfig::check_endpoint(&config.endpoint)
            .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
        let usage = |e: invitoken::ClientError| Failure::new(exit::USAGE, e.to_string());
        config = config
            .with_timeout_secs(self.codesignal_timeout)
            .and_then(|c| c.with_rate_limit(self.rate_limit))
            .map_err(usage)?;
        config.short_urls = self.short_urls;
        config.grace = chrono::TimeDelta::minutes(self.grace_minutes.into());
        config.concurrency = self.concurrency as usize;
        config.check().map_err(usage)?;
        Ok(Some(config))
    }
}

/// The API key file's text. It may be a pipe (`--api-key-file <(pass show codesignal)`), so it
/// is not held to regular files, but it is capped: a key is short, and `/dev/zero` is endless.
fn read_key_file(path: &Path) -> Result<String, Failure> {
    let shown = invitoken::shown(&path.display().to_string()).into_owned();
    let fail = |what: String| {
        Failure::new(
            exit::USAGE,
            format!("cannot read the API key file {shown}: {what}"),
        )
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(fail("it is a folder".into()));
    }
    let bytes = invitoken::read_capped(file, invitoken::MAX_KEY_FILE_SIZE)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| {
            fail(format!(
                "larger than {} bytes, so not a key file",
                invitoken::MAX_KEY_FILE_SIZE
            ))
        })?;
    // Never quote its bytes: they may be the key.
    String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))
}

/// A failure with its exit code and the last line `main` prints (details may be on stderr).
struct Failure {
    code: u8,
    message: Option<String>,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: Some(message.into()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let result = match cli.command {
        Command::Check { files, properties } => {
            check(&files, cli.max_file_size, &properties.options(), color)
        }
        Command::Plan { request } => plan(&request, cli.max_file_size, color),
        Command::Resolve {
            request,
            minting,
            ics,
        } => resolve(&request, cli.max_file_size, &minting, &ics, color),
        Command::Cancel {
            interview,
            event,
            sandbox,
            codesignal,
            ledger,
        } => cancel(&interview, event.as_deref(), sandbox, &codesignal, &ledger),
        Command::Refresh {
            sandbox,
            codesignal,
            ledger,
        } => refresh(sandbox, &codesignal, &ledger),
        Command::Links { interview, ledger } => links(interview.as_deref(), &ledger),
        Command::Batch {
            inputs,
            out,
            in_place,
            report,
            properties,
            minting,
        } => {
            let destination = match out {
                Some(dir) if !in_place => invitoken::batch::Destination::Dir(dir),
                _ => invitoken::batch::Destination::InPlace,
            };
            let options = properties.options();
            batch(
                &inputs,
                &destination,
                &options,
                report.as_deref(),
                cli.max_file_size,
                &minting,
            )
        }
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(failure) => {
            if let Some(message) = failure.message {
                say("error", &message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Reads a template or request: a regular file of at most `cap` bytes, or `-` for stdin (capped
/// too).
fn read(path: &Path, cap: u64) -> Result<String, Failure> {
    text(path, read_bytes(path, cap)?)
}

/// The bytes of a template, request or .ics: a regular file of at most `cap` bytes, or `-` for
/// stdin (capped too).
fn read_bytes(path: &Path, cap: u64) -> Result<Vec<u8>, Failure> {
    let bytes = if path == Path::new("-") {
        invitoken::read_capped(std::io::stdin().lock(), cap)
            .map_err(|e| Failure::new(exit::INPUT, format!("cannot read <stdin>: {e}")))?
            .ok_or_else(|| {
                Failure::new(
                    exit::INPUT,
                    format!(
                        "<stdin> is larger than the limit of {cap} bytes; nothing of it was used \
                         (raise the limit with --max-file-size)"
                    ),
                )
            })?
    } else {
        invitoken::read_regular(path, cap)
            .map_err(|e| Failure::new(exit::INPUT, e.to_string()))?
            .bytes
    };
    Ok(bytes)
}

/// `bytes` read from `path` as UTF-8 text, or an error that says where it is not.
fn text(path: &Path, bytes: Vec<u8>) -> Result<String, Failure> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
        let (line, col) = invitoken::line_col(&text, at);
        Failure::new(
            exit::INPUT,
            format!(
                "{}:{line}:{col}: not UTF-8 (byte {at}); save the file as UTF-8",
                name(path)
            ),
        )
    })
}

/// `path` as shown in messages: escaped (a file name may hold ESC or CR) and capped.
fn name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        invitoken::shown_path(path)
    }
}

/// How many characters of one message line `say` prints at most.
const MAX_LINE: usize = 2000;

/// Prints `level: message` on stderr as one line: control characters escaped and the length
/// capped, so nothing a message quotes (a file name, an id, a server's answer) can move the
/// cursor or forge a line of its own. Every message that quotes anything goes through here;
/// rendered findings are escaped piece by piece instead (they are several lines).
fn say(level: &str, message: &str) {
    eprintln!("{level}: {}", invitoken::shown_with(message, MAX_LINE));
}

fn load_request(path: &Path, cap: u64) -> Result<(String, Request), Failure> {
    let json = read(path, cap)?;
    let request = Request::from_json(&json).map_err(|e| match e {
        RequestError::Json {
            path: field,
            message,
            line,
            column,
        } => Failure::new(
            exit::INPUT,
            format!("{}:{line}:{column}: {field}: {message}", name(path)),
        ),
        RequestError::Invalid(problems) => {
            for p in &problems {
                say("error", &format!("{}: {p}", name(path)));
            }
            Failure::new(
                exit::INPUT,
                format!(
                    "{}: {} problem(s) in the request",
                    name(path),
                    problems.len()
                ),
            )
        }
        other => Failure::new(exit::INPUT, format!("{}: {other}", name(path))),
    })?;
    Ok((json, request))
}

/// Shows findings located in a request's templates, each against its own template text.
fn report_located(path: &Path, request: &Request, found: &[Located], color: bool) {
    let mut stderr = std::io::stderr().lock();
    for l in found {
        let source = template_text(request, l.field);
        let origin = format!("{}#{}", name(path), l.field.pointer());
        let text = render_findings(&origin, source, std::slice::from_ref(&l.finding), color);
        let _ = stderr.write_all(text.as_bytes());
    }
}

fn template_text(request: &Request, field: invitoken::Field) -> &str {
    use invitoken::Field::*;
    let t = &request.templates;
    let (template, subject) = match field {
        CandidateSubject => (&t.candidate, true),
        CandidateBody => (&t.candidate, false),
        InterviewerSubject => (&t.interviewer, true),
        InterviewerBody => (&t.interviewer, false),
    };
    let template = template.as_ref().expect("a finding's template exists");
    if subject {
        &template.subject
    } else {
        &template.body
    }
}

fn template_failure(path: &Path, request: &Request, err: ResolveError, color: bool) -> Failure {
    match err {
        ResolveError::Templates(found) => {
            report_located(path, request, &found, color);
            Failure::new(
                exit::INPUT,
                format!(
                    "{}: {} problem(s) in the templates; nothing was minted or output",
                    name(path),
                    found.len()
                ),
            )
        }
        ResolveError::Mint(e) => Failure::new(exit::MINT, format!("{e}; no invite was output")),
        other => Failure::new(exit::MINT, format!("{other}; no invite was output")),
    }
}

fn check(
    files: &[PathBuf],
    cap: u64,
    options: &invitoken::ics::rewrite::IcsOptions,
    color: bool,
) -> Result<(), Failure> {
    let mut problems = 0;
    let mut tokens = 0;
    // `.ics` files are read by batch's own scanner, together, as one batch would read them.
    let (ics, files_rest): (Vec<&PathBuf>, Vec<&PathBuf>) = files
        .iter()
        .partition(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("ics")));
    let ics: Vec<PathBuf> = ics.into_iter().cloned().collect();
    let checked = if ics.is_empty() {
        Vec::new()
    } else {
        match invitoken::batch::check(&ics, options, cap) {
            Ok(checked) => checked,
            Err(e) => {
                say("error", &e.to_string());
                problems += 1;
                Vec::new()
            }
        }
    };
    for file in checked {
        let shown_path = file.path.display().to_string();
        let shown_path = invitoken::shown(&shown_path);
        for error in &file.errors {
            say("error", &format!("{shown_path}:{error}"));
        }
        for note in &file.notes {
            say("note", &format!("{shown_path}: {note}"));
        }
        problems += file.errors.len();
        tokens += file.tokens;
    }
    for path in files_rest {
        if path.extension().is_some_and(|e| e == "json") {
            let (_, request) = match load_request(path, cap) {
                Ok(r) => r,
                Err(f) => {
                    if let Some(m) = f.message {
                        say("error", &m);
                    }
                    problems += 1;
                    continue;
                }
            };
            let checked = TemplateSet::parse(&request).and_then(|templates| {
                tokens += [&templates.candidate, &templates.interviewer]
                    .into_iter()
                    .flatten()
                    .map(|t| t.subject.tokens().count() + t.body.tokens().count())
                    .sum::<usize>();
                Plan::new(&request, &templates)
            });
            if let Err(found) = checked {
                report_located(path, &request, &found, color);
                problems += found.len();
            }
            continue;
        }
        let source = match read_bytes(path, cap) {
            // An iCalendar stream named otherwise (stdin, `.txt`): read as batch reads it.
            Ok(bytes) if invitoken::ics::rewrite::is_icalendar(&bytes) => {
                match invitoken::ics::rewrite::scan(&bytes, options) {
                    Ok(scanned) => tokens += scanned.occurrences.len(),
                    Err(found) => {
                        for p in &found {
                            say("error", &format!("{}:{p}", name(path)));
                        }
                        problems += found.len();
                    }
                }
                continue;
            }
            Ok(bytes) => text(path, bytes),
            Err(f) => Err(f),
        };
        let source = match source {
            Ok(s) => s,
            Err(f) => {
                say("error", &f.message.unwrap_or_default());
                problems += 1;
                continue;
            }
        };
        // An HTML template is checked where its tokens stand, as `resolve` checks an HTML body.
        let html = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
        let checked = Template::parse(&source).and_then(|t| {
            invitoken::Context::of_template(&t, false, html).map(|_| t.tokens().count())
        });
        match checked {
            Ok(n) => tokens += n,
            Err(found) => {
                eprint!("{}", render_findings(&name(path), &source, &found, color));
                problems += found.len();
            }
        }
    }
    if problems > 0 {
        return Err(Failure::new(
            exit::INPUT,
            format!("{problems} problem(s) in {} file(s)", files.len()),
        ));
    }
    eprintln!(
        "ok: {} file(s), {tokens} token(s), no problems",
        files.len()
    );
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(value).expect("our types serialize");
    text.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(exit::USAGE, format!("cannot write the output: {e}")))
}

fn plan(path: &Path, cap: u64, color: bool) -> Result<(), Failure> {
    let (_, request) = load_request(path, cap)?;
    let plan = invitoken::plan(&request).map_err(|e| template_failure(path, &request, e, color))?;
    print_json(&plan)
}

fn resolve(
    path: &Path,
    cap: u64,
    minting: &MintArgs,
    ics: &IcsArgs,
    color: bool,
) -> Result<(), Failure> {
    // Configuration first: a missing key is reported before the request is read.
    let config = minting.config_with_deadline(Some(DEFAULT_RESOLVE_DEADLINE))?;
    let (_, request) = load_request(path, cap)?;
    // Before minting: a directory we cannot make would waste every session minted.
    if let Some(dir) = &ics.ics_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!(
                    "cannot make the --ics-dir folder {}: {e}",
                    invitoken::shown(&dir.display().to_string())
                ),
            )
        })?;
    }
    let calendar = invitoken::CalendarOptions {
        organizer: ics.organizer.clone(),
        sequence: ics.sequence,
        stamp: chrono::Utc::now(),
    };
    let runtime = runtime()?;
    let minter = minting.vendors(config, &runtime)?.cached();
    let resolution = runtime
        .block_on(invitoken::resolve_limited(
            &request,
            &minter,
            &calendar,
            minting.codesignal.concurrency as usize,
        ))
        .map_err(|e| template_failure(path, &request, e, color))?;
    for link in resolution.links.iter().filter(|l| l.expires_too_soon()) {
        say(
            "warning",
            &format!(
                "the link for {} expires at {}, before its last event ends at {}: \
                 CodeSignal links live at most 336 hours; extend it before then",
                link.key,
                link.expires_at
                    .expect("expires_too_soon implies a time")
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                link.serves_until
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        );
    }
    if let Some(dir) = &ics.ics_dir {
        invitoken::ics::invite::write_ics_files(dir, &resolution.invites).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("{e}; no .ics file was written (nor any output printed)"),
            )
        })?;
    }
    print_json(&resolution)
}

fn batch(
    inputs: &[PathBuf],
    destination: &invitoken::batch::Destination,
    options: &invitoken::ics::rewrite::IcsOptions,
    report_path: Option<&Path>,
    max_size: u64,
    minting: &MintArgs,
) -> Result<(), Failure> {
    use invitoken::batch::{self, Status};
    let config = minting.config()?;
    let discovery =
        batch::discover(inputs).map_err(|e| Failure::new(exit::INPUT, e.to_string()))?;
    for s in &discovery.skipped {
        eprintln!(
            "note: {}: skipped: {}",
            invitoken::shown(&s.path.display().to_string()),
            s.reason
        );
    }
    // Before anything is minted or written: an output or a report would replace the input it
    // names.
    if let batch::Destination::Dir(dir) = destination {
        batch::check_out_dir(dir, &discovery.inputs)
            .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    }
    if let Some(report) = report_path {
        let ledger = invitoken::ledger::sqlite_files(&minting.ledger.location()?);
        batch::check_report_path(report, inputs, &discovery.inputs, destination, &ledger)
            .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    }
    let found = discovery.inputs;
    let files = found.len();
    // Progress on a terminal only: one tick per file scanned and per file written.
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(2 * files as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .expect("a valid template"),
        );
        bar.set_message("scanning and writing .ics files");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let tick = || bar.inc(1);
    let runtime = runtime()?;
    let concurrency = minting.codesignal.concurrency as usize;
    let minter = minting.vendors(config, &runtime)?.cached();
    let result = runtime.block_on(batch::run(
        found,
        destination,
        options,
        max_size,
        &minter,
        concurrency,
        &tick,
    ));
    bar.finish_and_clear();
    let mut report = result.map_err(|e| Failure::new(exit::MINT, e.to_string()))?;
    report.skipped = discovery.skipped;
    // Sessions of cancelled events that exist are deleted (the files are written already, with
    // those tokens removed).
    for key in &report.cancelled {
        match runtime.block_on(minter.inner().cancel_key(key)) {
            Ok(Some(outcome)) => report.cancellations.push(outcome),
            Ok(None) => say(
                "note",
                &format!(
                    "{key} is cancelled, and the mint ledger records no session for it: \
                     nothing to delete (if one was minted under another interview id, name it \
                     with `invitoken links` and cancel it with `invitoken cancel`)"
                ),
            ),
            Err(e) => {
                return Err(Failure::new(
                    exit::MINT,
                    format!("cancelling the session of {key}: {e}"),
                ));
            }
        }
    }
    let cancel_failed = report
        .cancellations
        .iter()
        .filter(|o| o.is_failure())
        .count();
    for o in report.cancellations.iter().filter(|o| o.is_failure()) {
        say(
            "error",
            &format!(
                "cancelling the session of {}: {}",
                o.key,
                o.error.as_deref().unwrap_or("failed")
            ),
        );
    }
    // The report's messages quote files (a 2 MB line, a hostile UID): shown as they are
    // printed, in the JSON report as on stderr.
    for file in &mut report.files {
        for text in file.errors.iter_mut().chain(&mut file.notes) {
            if let std::borrow::Cow::Owned(safe) = invitoken::shown_with(text, MAX_LINE) {
                *text = safe;
            }
        }
    }
    for file in &report.files {
        let path = invitoken::shown(&file.path.display().to_string()).into_owned();
        for error in &file.errors {
            // `path:line:col: ...` for a located error, `path: ...` for one about the file.
            let gap = if error.starts_with(|c: char| c.is_ascii_digit()) {
                ""
            } else {
                " "
            };
            say("error", &format!("{path}:{gap}{error}"));
        }
        for note in &file.notes {
            say("note", &format!("{path}: {note}"));
        }
    }
    if let Some(path) = report_path {
        let json = serde_json::to_vec_pretty(&report).expect("a report serialises");
        batch::write_atomically(path, &json)
            .map_err(|e| Failure::new(exit::USAGE, format!("the report: {e}")))?;
    }
    if report.leftovers_removed > 0 {
        eprintln!(
            "note: removed {} temporary file(s) an interrupted earlier run left in the output folders",
            report.leftovers_removed
        );
    }
    let failed = report.count(&Status::Failed);
    let deleted = report
        .cancellations
        .iter()
        .filter(|o| o.action == invitoken::Action::Deleted)
        .count();
    eprintln!(
        "batch: {files} file(s): {} rewritten, {} unchanged, {failed} failed; {} session(s) \
         in use, {deleted} deleted for cancelled events",
        report.count(&Status::Rewritten),
        report.count(&Status::Unchanged),
        report.minted
    );
    if cancel_failed > 0 && failed == 0 {
        return Err(Failure::new(
            exit::MINT,
            format!("{cancel_failed} session(s) of cancelled events could not be deleted"),
        ));
    }
    if failed > 0 {
        return Err(Failure {
            code: exit::INPUT,
            message: Some(format!(
                "{failed} file(s) failed; their originals are untouched"
            )),
        });
    }
    Ok(())
}

/// The runtime minting runs on.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::MINT, format!("cannot start the runtime: {e}")))
}

/// The vendor a command works with, behind the durable ledger.
enum Vendors {
    Sandbox(invitoken::LedgerMinter<SandboxMinter>),
    CodeSignal(Box<invitoken::LedgerMinter<CodeSignalMinter>>),
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
    /// The sandbox (`config` is `None`) or CodeSignal, behind `ledger` (opened from `args`).
    fn new(
        config: Option<CodeSignalConfig>,
        ledger: invitoken::Ledger,
        args: &LedgerArgs,
        remint_deleted: bool,
    ) -> Result<Vendors, Failure> {
        use invitoken::{LedgerMinter, Vendor};
        let lease = std::time::Duration::from_secs(args.ledger_lease);
        let settle_after = std::time::Duration::from_secs(args.settle_after);
        Ok(match config {
            None => Vendors::Sandbox(
                LedgerMinter::new(SandboxMinter::default(), ledger, Vendor::Sandbox)
                    .with_lease(lease)
                    .remint_deleted(remint_deleted),
            ),
            Some(config) => {
                // A lost reply is settled by the ledger, which knows every recorded session;
                // the one cache is the `Cached` in front of the ledger.
                let config = config.behind_ledger();
                // Waiting for another worker's intent stays within the run's deadline.
                let wait = config
                    .deadline
                    .map_or(invitoken::ledger::DEFAULT_WAIT, |d| {
                        d.min(invitoken::ledger::DEFAULT_WAIT)
                    });
                let client = CodeSignalMinter::new(config)
                    .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
                Vendors::CodeSignal(Box::new(
                    LedgerMinter::new(client, ledger, Vendor::CodeSignal)
                        .with_lease(lease)
                        .with_wait(wait)
                        .with_settle_after(settle_after)
                        .remint_deleted(remint_deleted),
                ))
            }
        })
    }

    /// Behind an in-process cache: one ledger read per key and run.
    fn cached(self) -> invitoken::Cached<Vendors> {
        invitoken::Cached::new(self, 1_000_000)
    }

    async fn cancel_key(
        &self,
        key: &invitoken::MintKey,
    ) -> Result<Option<invitoken::Outcome>, invitoken::LedgerError> {
        on_vendor!(self, m => m.cancel_key(key).await)
    }

    async fn cancel(
        &self,
        interview: &str,
        event: Option<&str>,
    ) -> Result<Vec<invitoken::Outcome>, invitoken::LedgerError> {
        on_vendor!(self, m => m.cancel(interview, event).await)
    }

    async fn refresh(&self) -> Result<Vec<invitoken::Outcome>, invitoken::LedgerError> {
        on_vendor!(self, m => m.refresh().await)
    }

    fn ledger(&self) -> &invitoken::Ledger {
        on_vendor!(self, m => m.ledger())
    }
}

impl invitoken::Minter for Vendors {
    async fn mint(
        &self,
        mint: &invitoken::PlannedMint,
    ) -> Result<invitoken::Minted, invitoken::MintError> {
        on_vendor!(self, m => m.mint(mint).await)
    }

    async fn prepare(&self, plan: &invitoken::Plan) {
        on_vendor!(self, m => m.prepare(plan).await)
    }
}

fn cancel(
    interview: &str,
    event: Option<&str>,
    sandbox: bool,
    codesignal: &CodeSignalArgs,
    ledger: &LedgerArgs,
) -> Result<(), Failure> {
    let config = codesignal.choose_within(sandbox, None)?;
    let runtime = runtime()?;
    let opened = match ledger.open_existing(&runtime)? {
        Ok(opened) => opened,
        Err(none) => {
            return Err(Failure::new(
                exit::INPUT,
                format!("{none}; nothing was cancelled"),
            ));
        }
    };
    let vendors = Vendors::new(config, opened, ledger, false)?;
    let outcomes = runtime
        .block_on(vendors.cancel(interview, event))
        .map_err(|e| Failure::new(exit::MINT, e.to_string()))?;
    if outcomes.is_empty() {
        return Err(Failure::new(
            exit::INPUT,
            format!(
                "the mint ledger ({}) holds no session of interview `{interview}`{} for this \
                 vendor; nothing was cancelled (`invitoken links` shows what it holds)",
                vendors.ledger().location(),
                event.map_or(String::new(), |e| format!(", event `{e}`"))
            ),
        ));
    }
    print_json(&outcomes)?;
    lifecycle_summary("cancel", &outcomes)
}

fn refresh(sandbox: bool, codesignal: &CodeSignalArgs, ledger: &LedgerArgs) -> Result<(), Failure> {
    let config = codesignal.choose_within(sandbox, None)?;
    let runtime = runtime()?;
    let opened = match ledger.open_existing(&runtime)? {
        Ok(opened) => opened,
        Err(none) => {
            say("note", &format!("{none}: nothing to refresh"));
            print_json(&Vec::<invitoken::Outcome>::new())?;
            return lifecycle_summary("refresh", &[]);
        }
    };
    let vendors = Vendors::new(config, opened, ledger, false)?;
    let outcomes = runtime
        .block_on(vendors.refresh())
        .map_err(|e| Failure::new(exit::MINT, e.to_string()))?;
    print_json(&outcomes)?;
    let short: Vec<_> = outcomes
        .iter()
        .filter(|o| o.expires_at.zip(o.serves_until).is_some_and(|(e, s)| e < s))
        .collect();
    for o in &short {
        say(
            "note",
            &format!(
                "the link for {} still expires before its last event ends ({}): it is booked \
                 more than 336 hours ahead; run refresh again later",
                o.key,
                o.serves_until
                    .expect("zipped")
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        );
    }
    lifecycle_summary("refresh", &outcomes)
}

/// One line on stderr per command; a failure exit when any session failed.
fn lifecycle_summary(command: &str, outcomes: &[invitoken::Outcome]) -> Result<(), Failure> {
    use invitoken::Action;
    let count = |a: Action| outcomes.iter().filter(|o| o.action == a).count();
    let failed: Vec<_> = outcomes.iter().filter(|o| o.is_failure()).collect();
    for o in &failed {
        say(
            "error",
            &format!("{}: {}", o.key, o.error.as_deref().unwrap_or("failed")),
        );
    }
    let counts: Vec<String> = [
        (Action::Deleted, "deleted"),
        (Action::AlreadyDeleted, "already deleted"),
        (Action::NothingMinted, "never minted"),
        (Action::Extended, "extended"),
        (Action::UpToDate, "up to date"),
        (Action::Unresolved, "unresolved"),
        (Action::Failed, "failed"),
    ]
    .into_iter()
    .filter(|(a, _)| count(*a) > 0)
    .map(|(a, name)| format!("{} {name}", count(a)))
    .collect();
    eprintln!(
        "{command}: {} session(s){}{}",
        outcomes.len(),
        if counts.is_empty() { "" } else { ": " },
        counts.join(", ")
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            exit::MINT,
            format!("{} session(s) failed ({command})", failed.len()),
        ))
    }
}

fn links(interview: Option<&str>, ledger: &LedgerArgs) -> Result<(), Failure> {
    let runtime = runtime()?;
    // A read: no ledger is made. None is an empty list (and a note), since nothing was minted.
    let ledger = match ledger.open_existing(&runtime)? {
        Ok(opened) => opened,
        Err(none) => {
            say("note", &format!("{none}: nothing to list"));
            return print_json(&Vec::<invitoken::MintRecord>::new());
        }
    };
    let records = runtime
        .block_on(ledger.list(interview))
        .map_err(|e| Failure::new(exit::MINT, e.to_string()))?;
    print_json(&records)
}
