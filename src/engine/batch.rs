//! `batch`: folders of existing `.ics` files resolved in one run, one URL per key, and the
//! sessions of cancelled events deleted.

use std::path::PathBuf;

use serde::Serialize;

use super::{Engine, EngineError};
use crate::batch::{
    self, BatchError, Destination, DiscoverError, OutOverInput, ReportPathError, Status,
};
use crate::ics::rewrite::IcsOptions;
use crate::{Action, LedgerError, MintKey, WriteError};

/// How many characters of one message of a batch report are kept: messages quote files (a 2 MB
/// line, a hostile UID).
const MAX_MESSAGE: usize = batch::MAX_ERROR_TEXT;

/// What a batch is asked to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BatchJob {
    /// `.ics` files, or folders searched recursively for `*.ics`.
    pub inputs: Vec<PathBuf>,
    /// Where results go.
    pub destination: Destination,
    /// Which properties decide a token's link.
    pub options: IcsOptions,
    /// Where to write the JSON report, if anywhere.
    pub report: Option<PathBuf>,
    /// The largest file read, in bytes.
    pub max_file_size: u64,
    /// Sessions minted at once.
    pub concurrency: usize,
    /// Mint a new session for a key whose session was deleted.
    pub remint_deleted: bool,
}

impl BatchJob {
    /// A batch of `inputs` written to `destination`, with the default options.
    pub fn new(inputs: Vec<PathBuf>, destination: Destination) -> BatchJob {
        BatchJob {
            inputs,
            destination,
            options: IcsOptions::default(),
            report: None,
            max_file_size: crate::DEFAULT_MAX_FILE_SIZE,
            concurrency: crate::DEFAULT_CONCURRENCY,
            remint_deleted: false,
        }
    }
}

/// What a batch did: its report (what `--report` writes), and notes for people.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BatchReport {
    /// Per file, the sessions in use, the cancellations.
    #[serde(flatten)]
    pub report: batch::Report,
    /// Things worth knowing that are not in the report (a cancelled key with no session).
    #[serde(skip)]
    pub notes: Vec<String>,
    /// How many files were found.
    #[serde(skip)]
    pub found: usize,
}

impl BatchReport {
    /// Files that failed (their originals are untouched).
    pub fn failed(&self) -> usize {
        self.report.count(&Status::Failed)
    }

    /// Sessions of cancelled events that could not be deleted.
    pub fn cancel_failed(&self) -> usize {
        self.report
            .cancellations
            .iter()
            .filter(|o| o.is_failure())
            .count()
    }

    /// What people should read, in order, each `("error" | "note", one line)`: files skipped,
    /// cancelled keys without a session, deletions that failed, each file's errors
    /// (`path:line:col: ...`) and notes, temp files removed.
    pub fn messages(&self) -> Vec<(&'static str, String)> {
        let shown = |p: &std::path::Path| crate::shown(&p.display().to_string()).into_owned();
        let r = &self.report;
        let mut out = Vec::new();
        for s in &r.skipped {
            out.push(("note", format!("{}: skipped: {}", shown(&s.path), s.reason)));
        }
        out.extend(self.notes.iter().map(|n| ("note", n.clone())));
        for o in r.cancellations.iter().filter(|o| o.is_failure()) {
            let error = o.error.as_deref().unwrap_or("failed");
            out.push((
                "error",
                format!("cancelling the session of {}: {error}", o.key),
            ));
        }
        for file in &r.files {
            let path = shown(&file.path);
            for error in &file.errors {
                let error = crate::shown_with(&error.to_string(), MAX_MESSAGE).into_owned();
                // `path:line:col: ...` for a located error, `path: ...` for one about the file.
                let gap = if error.starts_with(|c: char| c.is_ascii_digit()) {
                    ""
                } else {
                    " "
                };
                out.push(("error", format!("{path}:{gap}{error}")));
            }
            out.extend(file.notes.iter().map(|n| ("note", format!("{path}: {n}"))));
        }
        if r.leftovers_removed > 0 {
            out.push((
                "note",
                format!(
                    "removed {} temporary file(s) an interrupted earlier run left in the output \
                     folders",
                    r.leftovers_removed
                ),
            ));
        }
        out
    }

    /// The summary line: files by status, sessions in use and deleted.
    pub fn summary(&self) -> String {
        let deleted = self
            .report
            .cancellations
            .iter()
            .filter(|o| o.action == Action::Deleted)
            .count();
        format!(
            "batch: {} file(s): {} rewritten, {} unchanged, {} failed; {} session(s) in use, \
             {deleted} deleted for cancelled events",
            self.found,
            self.report.count(&Status::Rewritten),
            self.report.count(&Status::Unchanged),
            self.failed(),
            self.report.minted
        )
    }
}

/// Why a batch did not run, or stopped before writing (or could not write its report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchFailure {
    /// The inputs could not be listed.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// `--out` would replace an input.
    #[error(transparent)]
    OutOverInput(#[from] OutOverInput),
    /// The report cannot go where it was asked to.
    #[error(transparent)]
    ReportPath(#[from] ReportPathError),
    /// Minting failed: nothing was written.
    #[error(transparent)]
    Run(#[from] BatchError),
    /// The ledger failed while a cancelled event's session was being deleted.
    #[error("cancelling the session of {key}: {source}")]
    Cancel {
        /// The cancelled key.
        key: MintKey,
        /// Why.
        source: LedgerError,
    },
    /// The report could not be written.
    #[error("the report: {0}")]
    Report(WriteError),
    /// The report could not be made.
    #[error("the report could not be made: {0}")]
    ReportJson(String),
}

impl BatchJob {
    /// Finds the inputs and refuses outputs or a report that would replace an input or a file
    /// of the ledger at `ledger` (its location), before anything is opened, minted or written:
    /// even opening a SQLite ledger rewrites its files.
    // Called once per batch: the error's size costs nothing.
    #[allow(clippy::result_large_err)]
    pub fn prepare(self, ledger: &str) -> Result<PreparedBatch, BatchFailure> {
        let discovery = batch::discover(&self.inputs)?;
        if let Destination::Dir(dir) = &self.destination {
            batch::check_out_dir(dir, &discovery.inputs)?;
        }
        if let Some(report) = &self.report {
            let ledger = crate::ledger::sqlite_files(ledger);
            batch::check_report_path(
                report,
                &self.inputs,
                &discovery.inputs,
                &self.destination,
                &ledger,
            )?;
        }
        Ok(PreparedBatch {
            job: self,
            discovery,
            ledger: ledger.to_owned(),
        })
    }
}

/// A batch whose inputs are found and whose outputs are checked ([`BatchJob::prepare`]).
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    job: BatchJob,
    discovery: batch::Discovery,
    ledger: String,
}

impl PreparedBatch {
    /// How many files it will read.
    pub fn files(&self) -> usize {
        self.discovery.inputs.len()
    }
}

impl Engine {
    /// Runs a prepared batch for `tenant`: mints each key once, writes the files, deletes the
    /// sessions of cancelled events and writes the report. `progress` is called once per file
    /// scanned and once per file written.
    pub async fn batch(
        &self,
        tenant: &str,
        prepared: PreparedBatch,
        progress: &(dyn Fn() + Sync),
    ) -> Result<BatchReport, EngineError> {
        let tenant = self.tenant(tenant)?;
        // Prepared against another ledger: check again (reading only) against this one's.
        let PreparedBatch { job, discovery, .. } = if prepared.ledger == self.ledger.location() {
            prepared
        } else {
            prepared.job.prepare(self.ledger.location())?
        };
        let files = discovery.inputs.len();
        let minter = self.minter(tenant, job.remint_deleted);
        let mut report = batch::run(
            discovery.inputs,
            &job.destination,
            &job.options,
            job.max_file_size,
            &minter,
            job.concurrency,
            progress,
        )
        .await
        .map_err(BatchFailure::from)?;
        report.skipped = discovery.skipped;
        // Sessions of cancelled events that exist are deleted (the files are written already,
        // with those tokens removed).
        let mut notes = Vec::new();
        for key in &report.cancelled {
            match self.cancel_key(tenant, minter.inner(), key).await {
                Ok(Some(outcome)) => report.cancellations.push(outcome),
                Ok(None) => notes.push(format!(
                    "{key} is cancelled, and the mint ledger records no session for it: \
                     nothing to delete (if one was minted under another interview id, name it \
                     with `invitoken links` and cancel it with `invitoken cancel`)"
                )),
                Err(source) => {
                    return Err(BatchFailure::Cancel {
                        key: key.clone(),
                        source,
                    }
                    .into());
                }
            }
        }
        // The report's messages quote files: shown safe, in the JSON report as on a terminal.
        for file in &mut report.files {
            for text in &mut file.notes {
                if let std::borrow::Cow::Owned(safe) = crate::shown_with(text, MAX_MESSAGE) {
                    *text = safe;
                }
            }
        }
        if let Some(path) = &job.report {
            let json = serde_json::to_vec_pretty(&report)
                .map_err(|e| BatchFailure::ReportJson(e.to_string()))?;
            crate::write_atomically(path, &json).map_err(BatchFailure::Report)?;
        }
        Ok(BatchReport {
            report,
            notes,
            found: files,
        })
    }
}

/// One `.ics` file rewritten by [`Engine::rewrite_ics`], and what was done with the sessions of
/// its cancelled events.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct IcsRewrite {
    /// The file, its tokens, links and notes.
    #[serde(flatten)]
    pub file: batch::Rewritten,
    /// What was done with each cancelled key's session.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cancellations: Vec<crate::Outcome>,
}

impl Engine {
    /// Rewrites one `.ics` file held in memory for `tenant`, by batch's rules (lossless, one
    /// URL per key, cancelled events' tokens removed and their sessions deleted, fail closed).
    pub async fn rewrite_ics(
        &self,
        tenant: &str,
        bytes: &[u8],
        options: &IcsOptions,
        resolve: &super::ResolveOptions,
    ) -> Result<IcsRewrite, EngineError> {
        let tenant = self.tenant(tenant)?;
        let minter = self.minter(tenant, resolve.remint_deleted);
        let file = batch::rewrite_one(bytes, options, &minter, resolve.concurrency)
            .await
            .map_err(|e| match e {
                batch::RewriteError::Invalid(problems) => EngineError::InvalidIcs { problems },
                batch::RewriteError::Batch(e) => BatchFailure::Run(e).into(),
            })?;
        let mut cancellations = Vec::new();
        for key in &file.cancelled {
            match self.cancel_key(tenant, minter.inner(), key).await {
                Ok(Some(outcome)) => cancellations.push(outcome),
                Ok(None) => {}
                Err(source) => {
                    return Err(BatchFailure::Cancel {
                        key: key.clone(),
                        source,
                    }
                    .into());
                }
            }
        }
        Ok(IcsRewrite {
            file,
            cancellations,
        })
    }
}
