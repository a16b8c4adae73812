//! The `invitoken` command: a thin shell over the library's [`crate::Engine`]. It parses
//! arguments (`cli`), builds the engine, calls one operation and prints its report: JSON on
//! stdout, diagnostics on stderr, and an exit code pipelines can rely on.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::engine::{self, check};
use crate::{Engine, EngineError, MinterConfig, Outcome, Request, ResolveError};
use clap::Parser;

use super::{
    Cli, CodeSignalArgs, Command, Failure, IcsArgs, LedgerArgs, MintArgs, code, exit, usage,
};

/// How many characters of one message line `say` prints at most.
const MAX_LINE: usize = 2000;

/// What a run needs besides its command.
struct Run {
    color: bool,
    cap: u64,
    tenant: String,
}

/// The `invitoken` program (`src/main.rs` only calls this).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let run = Run {
        color: cli.color.enabled(),
        cap: cli.max_file_size,
        tenant: cli.tenant,
    };
    let result = match cli.command {
        Command::Check { files, properties } => {
            let report = check::files(&files, &properties.options(), run.cap);
            checked(&report, files.len(), run.color)
        }
        Command::Plan { request } => plan(&run, &request),
        Command::Resolve {
            request,
            minting,
            ics,
        } => resolve(&run, &request, &minting, &ics),
        Command::Cancel {
            interview,
            event,
            sandbox,
            codesignal,
            ledger,
        } => cancel(
            &run,
            &interview,
            event.as_deref(),
            sandbox,
            &codesignal,
            &ledger,
        ),
        Command::Refresh {
            sandbox,
            codesignal,
            ledger,
        } => refresh(&run, sandbox, &codesignal, &ledger),
        Command::Links { interview, ledger } => links(&run, interview.as_deref(), &ledger),
        Command::Batch {
            inputs,
            out,
            in_place,
            report,
            properties,
            minting,
        } => {
            let job =
                super::batch_job(inputs, out, in_place, report, properties, &minting, run.cap);
            batch(&run, job, &minting)
        }
        Command::Serve(args) => super::serve::run(args).map_err(usage),
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

/// Prints `level: message` on stderr as one line: control characters escaped and the length
/// capped, so nothing a message quotes (a file name, an id, a server's answer) can move the
/// cursor or forge a line of its own. Rendered findings are escaped piece by piece instead.
fn say(level: &str, message: &str) {
    eprintln!("{level}: {}", crate::shown_with(message, MAX_LINE));
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(exit::USAGE, format!("cannot make the output: {e}")))?;
    text.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(exit::USAGE, format!("cannot write the output: {e}")))
}

/// The runtime minting runs on.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::MINT, format!("cannot start the runtime: {e}")))
}

/// Prints a diagnostic on stderr: a snippet as rendered, a line after `error: `.
fn show(d: &crate::Diagnostic, color: bool) {
    if d.is_snippet() {
        let _ = std::io::stderr()
            .lock()
            .write_all(d.render(color).as_bytes());
    } else {
        say("error", &d.render(color));
    }
}

/// Prints every diagnostic of a check; fails if there is any.
fn checked(report: &crate::CheckReport, inputs: usize, color: bool) -> Result<(), Failure> {
    report.errors.iter().for_each(|d| show(d, color));
    for file in &report.files {
        file.problems.iter().for_each(|d| show(d, color));
        for note in &file.notes {
            say("note", &format!("{}: {note}", file.name));
        }
    }
    let problems = report.problems();
    if problems > 0 {
        return Err(Failure::new(
            exit::INPUT,
            format!("{problems} problem(s) in {inputs} file(s)"),
        ));
    }
    eprintln!(
        "ok: {inputs} file(s), {} token(s), no problems",
        report.tokens()
    );
    Ok(())
}

/// Reads the request at `path` (`-`: stdin); its problems are printed.
fn load_request(run: &Run, path: &Path) -> Result<Request, Failure> {
    let name = engine::input_name(path);
    let json =
        engine::read_text(path, run.cap).map_err(|e| Failure::new(exit::INPUT, e.to_string()))?;
    Request::from_json(&json).map_err(|e| {
        let mut shown = check::request_error(&name, &e);
        let last = shown.pop().map(|d| d.render(false));
        shown.iter().for_each(|d| show(d, false));
        Failure {
            code: exit::INPUT,
            message: last,
        }
    })
}

/// The failure of an operation on the request at `path`; template findings are printed.
fn failure(run: &Run, path: &Path, request: Option<&Request>, err: EngineError) -> Failure {
    match err {
        EngineError::Resolve(ResolveError::Templates(found)) => {
            let name = engine::input_name(path);
            let shown = request.map_or_else(Vec::new, |r| check::located(&name, r, &found));
            shown.iter().for_each(|d| show(d, run.color));
            Failure::new(
                exit::INPUT,
                format!(
                    "{name}: {} problem(s) in the templates; nothing was minted or output",
                    found.len()
                ),
            )
        }
        EngineError::Resolve(e) => Failure::new(exit::MINT, format!("{e}; no invite was output")),
        other => Failure::new(code(&other), other.to_string()),
    }
}

fn plan(run: &Run, path: &Path) -> Result<(), Failure> {
    let request = load_request(run, path)?;
    let plan = crate::plan(&request)
        .map_err(|e| failure(run, path, Some(&request), EngineError::Resolve(e)))?;
    print_json(&plan)
}

/// The engine over the ledger of `args` serving `run`'s tenant with `minter`. `existing`: a
/// command that only acts on what was recorded makes no ledger (`Ok(Err(note))` when there is
/// none).
fn engine(
    run: &Run,
    rt: &tokio::runtime::Runtime,
    args: &LedgerArgs,
    minter: MinterConfig,
    existing: bool,
) -> Result<Result<Engine, String>, Failure> {
    let ledger = match rt.block_on(args.open(existing)) {
        Ok(Ok(ledger)) => ledger,
        Ok(Err(none)) => return Ok(Err(none)),
        Err(e) => return Err(Failure::new(exit::USAGE, e)),
    };
    let engine = Engine::builder(ledger)
        .lease(std::time::Duration::from_secs(args.ledger_lease))
        .settle_after(std::time::Duration::from_secs(args.settle_after))
        .tenant(crate::TenantConfig::new(run.tenant.clone(), minter))
        .build()
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    Ok(Ok(engine))
}

fn resolve(run: &Run, path: &Path, minting: &MintArgs, ics: &IcsArgs) -> Result<(), Failure> {
    // Configuration first: a missing key is reported before the request is read.
    let deadline = Some(super::DEFAULT_RESOLVE_DEADLINE);
    let minter = minting
        .codesignal
        .minter(minting.sandbox, deadline)
        .map_err(usage)?;
    let request = load_request(run, path)?;
    // Before minting: a directory we cannot make would waste every session minted.
    if let Some(dir) = &ics.ics_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            let dir = crate::shown(&dir.display().to_string()).into_owned();
            Failure::new(
                exit::USAGE,
                format!("cannot make the --ics-dir folder {dir}: {e}"),
            )
        })?;
    }
    let mut options = crate::ResolveOptions::default();
    options.calendar.organizer = ics.organizer.clone();
    options.calendar.sequence = ics.sequence;
    options.concurrency = minting.codesignal.concurrency as usize;
    options.remint_deleted = minting.remint_deleted;
    let rt = runtime()?;
    let engine = engine(run, &rt, &minting.ledger, minter, false)?
        .map_err(|none| Failure::new(exit::USAGE, none))?;
    let resolution = rt
        .block_on(engine.resolve(&run.tenant, &request, &options))
        .map_err(|e| failure(run, path, Some(&request), e))?;
    for warning in engine::expiry_warnings(&resolution) {
        say("warning", &warning);
    }
    if let Some(dir) = &ics.ics_dir {
        crate::write_ics_files(dir, &resolution.invites).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("{e}; no .ics file was written (nor any output printed)"),
            )
        })?;
    }
    print_json(&resolution)
}

fn batch(run: &Run, job: crate::BatchJob, minting: &MintArgs) -> Result<(), Failure> {
    let minter = minting
        .codesignal
        .minter(minting.sandbox, None)
        .map_err(usage)?;
    // Before the ledger is opened (which rewrites its files): a report over it is refused.
    let location = minting.ledger.location().map_err(usage)?;
    let prepared = job.prepare(&location).map_err(|e| {
        let e = EngineError::from(e);
        Failure::new(code(&e), e.to_string())
    })?;
    let rt = runtime()?;
    let engine = engine(run, &rt, &minting.ledger, minter, false)?
        .map_err(|none| Failure::new(exit::USAGE, none))?;
    // Progress on a terminal only: one tick per file scanned and per file written.
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(2 * prepared.files() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        bar.set_message("scanning and writing .ics files");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let result = rt.block_on(engine.batch(&run.tenant, prepared, &|| bar.inc(1)));
    bar.finish_and_clear();
    let report = result.map_err(|e| Failure::new(code(&e), e.to_string()))?;
    for (level, message) in report.messages() {
        say(level, &message);
    }
    eprintln!("{}", report.summary());
    let (failed, cancel_failed) = (report.failed(), report.cancel_failed());
    if cancel_failed > 0 && failed == 0 {
        return Err(Failure::new(
            exit::MINT,
            format!("{cancel_failed} session(s) of cancelled events could not be deleted"),
        ));
    }
    if failed > 0 {
        return Err(Failure::new(
            exit::INPUT,
            format!("{failed} file(s) failed; their originals are untouched"),
        ));
    }
    Ok(())
}

fn cancel(
    run: &Run,
    interview: &str,
    event: Option<&str>,
    sandbox: bool,
    codesignal: &CodeSignalArgs,
    ledger: &LedgerArgs,
) -> Result<(), Failure> {
    let minter = codesignal.minter(sandbox, None).map_err(usage)?;
    let rt = runtime()?;
    let engine = engine(run, &rt, ledger, minter, true)?
        .map_err(|none| Failure::new(exit::INPUT, format!("{none}; nothing was cancelled")))?;
    let outcomes = rt
        .block_on(engine.cancel(&run.tenant, interview, event))
        .map_err(|e| Failure::new(code(&e), e.to_string()))?;
    print_json(&outcomes)?;
    lifecycle_summary("cancel", &outcomes)
}

fn refresh(
    run: &Run,
    sandbox: bool,
    codesignal: &CodeSignalArgs,
    ledger: &LedgerArgs,
) -> Result<(), Failure> {
    let minter = codesignal.minter(sandbox, None).map_err(usage)?;
    let rt = runtime()?;
    let outcomes = match engine(run, &rt, ledger, minter, true)? {
        Ok(engine) => rt
            .block_on(engine.refresh(&run.tenant))
            .map_err(|e| Failure::new(exit::MINT, e.to_string()))?,
        Err(none) => {
            say("note", &format!("{none}: nothing to refresh"));
            Vec::new()
        }
    };
    print_json(&outcomes)?;
    for o in &outcomes {
        if let Some(note) = engine::still_short(o) {
            say("note", &note);
        }
    }
    lifecycle_summary("refresh", &outcomes)
}

/// One line on stderr per command; a failure exit when any session failed.
fn lifecycle_summary(command: &str, outcomes: &[Outcome]) -> Result<(), Failure> {
    let failed: Vec<_> = outcomes.iter().filter(|o| o.is_failure()).collect();
    for o in &failed {
        say(
            "error",
            &format!("{}: {}", o.key, o.error.as_deref().unwrap_or("failed")),
        );
    }
    eprintln!("{command}: {}", engine::summary(outcomes));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            exit::MINT,
            format!("{} session(s) failed ({command})", failed.len()),
        ))
    }
}

fn links(run: &Run, interview: Option<&str>, ledger: &LedgerArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    // A read: no ledger is made. None is an empty list, since nothing was minted.
    let records = match engine(run, &rt, ledger, MinterConfig::Sandbox, true)? {
        Ok(engine) => rt
            .block_on(engine.links(&run.tenant, interview))
            .map_err(|e| Failure::new(exit::MINT, e.to_string()))?,
        Err(none) => {
            say("note", &format!("{none}: nothing to list"));
            Vec::new()
        }
    };
    print_json(&records)
}
