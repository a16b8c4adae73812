//! The `invitoken` command: a thin shell over the library.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use invitoken::{
    ApiKey, CodeSignalConfig, CodeSignalMinter, Located, Plan, Request, RequestError, ResolveError,
    SandboxMinter, Template, TemplateSet, render_findings,
};

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
    /// checked as `resolve` would see them. `-` reads a template from standard input.
    Check {
        /// Template files (text, HTML, iCalendar) or requests (`.json`); `-` for stdin.
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        /// Mint offline with the embedded sandbox: stable links on `sandbox.invitoken.invalid`.
        /// Always wins over a CodeSignal configuration.
        #[arg(long)]
        sandbox: bool,
        #[command(flatten)]
        codesignal: CodeSignalArgs,
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
        /// The property naming an event's interview, on a VEVENT or its VCALENDAR.
        #[arg(long, default_value = "X-INTERVIEW-ID", value_name = "NAME")]
        interview_property: String,
        /// The property naming the CodeSignal template for Template links.
        #[arg(long, default_value = "X-CODESIGNAL-TEMPLATE-ID", value_name = "NAME")]
        template_property: String,
        /// The property naming the candidate (`;CN=name:mailto:email`).
        #[arg(long, default_value = "X-CANDIDATE", value_name = "NAME")]
        candidate_property: String,
        /// Mint offline with the embedded sandbox.
        #[arg(long)]
        sandbox: bool,
        #[command(flatten)]
        codesignal: CodeSignalArgs,
    },
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
    #[arg(long, env = "CODESIGNAL_ENDPOINT", default_value = invitoken::DEFAULT_ENDPOINT, value_name = "URL")]
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
    /// Record every session in this durable ledger (a SQLite file, or `postgres://...`) and
    /// reuse what it holds, so a re-run, or another worker, never mints one session twice.
    #[arg(long, env = "INVITOKEN_LEDGER", value_name = "PATH|URL")]
    ledger: Option<String>,
    /// Requests started per second at most (0: no limit).
    #[arg(long, default_value_t = 25.0, value_name = "PER_SECOND")]
    rate_limit: f64,
}

impl CodeSignalArgs {
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
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                Failure::new(
                    exit::USAGE,
                    format!("cannot read the API key file {}: {e}", path.display()),
                )
            })?,
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
        config.endpoint = self.codesignal_endpoint.parse().map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!(
                    "CODESIGNAL_ENDPOINT `{}` is not a URL: {e}",
                    self.codesignal_endpoint
                ),
            )
        })?;
        if !(self.codesignal_timeout.is_finite() && self.codesignal_timeout > 0.0) {
            return Err(Failure::new(
                exit::USAGE,
                "the CodeSignal timeout must be a positive number of seconds",
            ));
        }
        config.timeout = std::time::Duration::from_secs_f64(self.codesignal_timeout);
        config.short_urls = self.short_urls;
        config.grace = chrono::TimeDelta::minutes(self.grace_minutes.into());
        config.concurrency = self.concurrency as usize;
        config.rate_limit = (self.rate_limit > 0.0).then_some(self.rate_limit);
        Ok(Some(config))
    }
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
        Command::Check { files } => check(&files, color),
        Command::Plan { request } => plan(&request, color),
        Command::Resolve {
            request,
            sandbox,
            codesignal,
            ics,
        } => resolve(&request, sandbox, &codesignal, &ics, color),
        Command::Batch {
            inputs,
            out,
            in_place,
            report,
            interview_property,
            template_property,
            candidate_property,
            sandbox,
            codesignal,
        } => {
            let destination = match out {
                Some(dir) if !in_place => invitoken::batch::Destination::Dir(dir),
                _ => invitoken::batch::Destination::InPlace,
            };
            let options = invitoken::ics::rewrite::IcsOptions {
                interview_property,
                template_property,
                candidate_property,
            };
            batch(
                &inputs,
                &destination,
                &options,
                report.as_deref(),
                sandbox,
                &codesignal,
            )
        }
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(failure) => {
            if let Some(message) = failure.message {
                eprintln!("error: {message}");
            }
            ExitCode::from(failure.code)
        }
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    let result = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
    };
    result.map_err(|e| Failure::new(exit::INPUT, format!("cannot read {}: {e}", name(path))))?;
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

fn name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

fn load_request(path: &Path) -> Result<(String, Request), Failure> {
    let json = read(path)?;
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
                eprintln!("error: {}: {p}", name(path));
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

fn check(files: &[PathBuf], color: bool) -> Result<(), Failure> {
    let mut problems = 0;
    let mut tokens = 0;
    for path in files {
        if path.extension().is_some_and(|e| e == "json") {
            let (_, request) = match load_request(path) {
                Ok(r) => r,
                Err(f) => {
                    if let Some(m) = f.message {
                        eprintln!("error: {m}");
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
        let source = match read(path) {
            Ok(s) => s,
            Err(f) => {
                eprintln!("error: {}", f.message.unwrap_or_default());
                problems += 1;
                continue;
            }
        };
        match Template::parse(&source) {
            Ok(t) => tokens += t.tokens().count(),
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

fn plan(path: &Path, color: bool) -> Result<(), Failure> {
    let (_, request) = load_request(path)?;
    let plan = invitoken::plan(&request).map_err(|e| template_failure(path, &request, e, color))?;
    print_json(&plan)
}

fn resolve(
    path: &Path,
    sandbox: bool,
    codesignal: &CodeSignalArgs,
    ics: &IcsArgs,
    color: bool,
) -> Result<(), Failure> {
    let config = codesignal.choose(sandbox)?;
    let (_, request) = load_request(path)?;
    let ics_failure = |dir: &Path, e: std::io::Error| {
        Failure::new(
            exit::USAGE,
            format!("cannot write .ics files in {}: {e}", dir.display()),
        )
    };
    // Before minting: a directory we cannot make would waste every session minted.
    if let Some(dir) = &ics.ics_dir {
        std::fs::create_dir_all(dir).map_err(|e| ics_failure(dir, e))?;
    }
    let calendar = invitoken::CalendarOptions {
        organizer: ics.organizer.clone(),
        sequence: ics.sequence,
        stamp: chrono::Utc::now(),
    };
    let runtime = runtime()?;
    let minter = AnyMinter::new(config, codesignal.ledger.as_deref(), &runtime)?;
    let resolution = runtime
        .block_on(invitoken::resolve_with(&request, &minter, &calendar))
        .map_err(|e| template_failure(path, &request, e, color))?;
    for link in resolution.links.iter().filter(|l| l.expires_too_soon()) {
        eprintln!(
            "warning: the link for {} expires at {}, before its last event ends at {}: \
             CodeSignal links live at most 336 hours; extend it before then",
            link.key,
            link.expires_at
                .expect("expires_too_soon implies a time")
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            link.serves_until
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    if let Some(dir) = &ics.ics_dir {
        invitoken::ics::invite::write_ics_files(dir, &resolution.invites)
            .map_err(|e| ics_failure(dir, e))?;
    }
    print_json(&resolution)
}

fn batch(
    inputs: &[PathBuf],
    destination: &invitoken::batch::Destination,
    options: &invitoken::ics::rewrite::IcsOptions,
    report_path: Option<&Path>,
    sandbox: bool,
    codesignal: &CodeSignalArgs,
) -> Result<(), Failure> {
    use invitoken::batch::{self, Status};
    let config = codesignal.choose(sandbox)?;
    let found = batch::discover(inputs).map_err(|e| Failure::new(exit::INPUT, e))?;
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
    let concurrency = codesignal.concurrency as usize;
    let minter = AnyMinter::new(config, codesignal.ledger.as_deref(), &runtime)?;
    let result = runtime.block_on(batch::run(
        found,
        destination,
        options,
        &minter,
        concurrency,
        &tick,
    ));
    bar.finish_and_clear();
    let report = result.map_err(|e| Failure::new(exit::MINT, e.to_string()))?;
    for file in &report.files {
        for error in &file.errors {
            eprintln!("error: {}:{error}", file.path.display());
        }
        for note in &file.notes {
            eprintln!("note: {}: {note}", file.path.display());
        }
    }
    if let Some(path) = report_path {
        let json = serde_json::to_vec_pretty(&report).expect("a report serialises");
        batch::write_atomically(path, &json).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("cannot write the report {}: {e}", path.display()),
            )
        })?;
    }
    let failed = report.count(&Status::Failed);
    eprintln!(
        "batch: {files} file(s): {} rewritten, {} unchanged, {failed} failed; {} session(s) minted",
        report.count(&Status::Rewritten),
        report.count(&Status::Unchanged),
        report.minted
    );
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

/// The minter a command runs with: the sandbox or CodeSignal, behind the durable ledger when
/// `--ledger` is given. (The CodeSignal client's moka cache sits behind the ledger here: one
/// ledger claim per key and run, then at most one create.)
enum AnyMinter {
    Sandbox(SandboxMinter),
    CodeSignal(CodeSignalMinter),
    SandboxLedger(invitoken::LedgerMinter<SandboxMinter>),
    CodeSignalLedger(invitoken::LedgerMinter<CodeSignalMinter>),
}

impl AnyMinter {
    fn new(
        config: Option<CodeSignalConfig>,
        ledger: Option<&str>,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<AnyMinter, Failure> {
        let ledger = match ledger {
            None => None,
            Some(location) => Some(
                runtime
                    .block_on(invitoken::Ledger::open(location))
                    .map_err(|e| Failure::new(exit::USAGE, format!("the ledger: {e}")))?,
            ),
        };
        let codesignal = match config {
            None => None,
            Some(config) => Some(
                CodeSignalMinter::new(config)
                    .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?,
            ),
        };
        use invitoken::{LedgerMinter, Vendor};
        Ok(match (codesignal, ledger) {
            (None, None) => AnyMinter::Sandbox(SandboxMinter::default()),
            (Some(m), None) => AnyMinter::CodeSignal(m),
            (None, Some(l)) => AnyMinter::SandboxLedger(LedgerMinter::new(
                SandboxMinter::default(),
                l,
                Vendor::Sandbox,
            )),
            (Some(m), Some(l)) => {
                AnyMinter::CodeSignalLedger(LedgerMinter::new(m, l, Vendor::CodeSignal))
            }
        })
    }
}

impl invitoken::Minter for AnyMinter {
    async fn mint(
        &self,
        mint: &invitoken::PlannedMint,
    ) -> Result<invitoken::Minted, invitoken::MintError> {
        match self {
            AnyMinter::Sandbox(m) => m.mint(mint).await,
            AnyMinter::CodeSignal(m) => m.mint(mint).await,
            AnyMinter::SandboxLedger(m) => m.mint(mint).await,
            AnyMinter::CodeSignalLedger(m) => m.mint(mint).await,
        }
    }
}
