//! `invitoken batch`: resolve the tokens of many existing `.ics` files at once.
//!
//! The batch is planned as a whole before anything is minted: the candidate's copy and each
//! interviewer's copy of one event share its UID, so one key gets one URL across every file.
//! Then each key is minted once, and only then are files written, each atomically (a temp file
//! beside the target, then a rename), so no reader ever sees a partial file. Minting is all or
//! nothing: if a mint fails, no file is written (without a durable ledger, a half-written batch
//! would re-mint on the next run what it already showed nobody).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;

use crate::ics::rewrite::{self, IcsOptions, Problem, Scanned, Value};
use crate::mint::{Link, MintError, Minter, mint_all};
use crate::parse::Scope;
use crate::plan::{MintKey, Plan, PlannedMint};

/// One input file and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Where it is read from.
    pub path: PathBuf,
    /// Its path relative to the input it was found under: its place in the output directory.
    pub relative: PathBuf,
}

/// Finds the `.ics` files of `inputs`: files as given, folders recursively (`*.ics`, any
/// case), in a stable order. Two inputs that would land on one output path are an error.
pub fn discover(inputs: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut found = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| format!("{}: {e}", input.display()))?;
        if meta.is_dir() {
            let mut stack = vec![input.clone()];
            let mut here = Vec::new();
            while let Some(dir) = stack.pop() {
                let entries =
                    std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                for entry in entries {
                    let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("ics"))
                    {
                        let relative = path.strip_prefix(input).unwrap_or(&path).to_path_buf();
                        here.push(Input { path, relative });
                    }
                }
            }
            here.sort_by(|a, b| a.path.cmp(&b.path));
            found.extend(here);
        } else {
            let name = input.file_name().map(PathBuf::from).unwrap_or_default();
            found.push(Input {
                path: input.clone(),
                relative: name,
            });
        }
    }
    let mut seen = HashMap::new();
    for input in &found {
        if let Some(other) = seen.insert(&input.relative, &input.path) {
            return Err(format!(
                "{} and {} would both be written as {}: give them in separate runs",
                other.display(),
                input.path.display(),
                input.relative.display()
            ));
        }
    }
    Ok(found)
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Tokens resolved; the file was written.
    Rewritten,
    /// No token: copied byte for byte to the output (or, in place, left alone).
    Unchanged,
    /// Not written; see its errors. The original is untouched.
    Failed,
}

/// One link a file got.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileLink {
    /// Which session.
    #[serde(flatten)]
    pub key: MintKey,
    /// Its URL; `None` for tokens removed from a cancelled event.
    pub url: Option<String>,
}

/// The report on one file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileReport {
    /// The input path.
    pub path: PathBuf,
    /// Where it was written, if it was.
    pub output: Option<PathBuf>,
    /// What happened.
    pub status: Status,
    /// Tokens found in it.
    pub tokens: usize,
    /// The sessions its tokens got, one entry per key.
    pub links: Vec<FileLink>,
    /// Why it failed, each with `line:col`.
    pub errors: Vec<String>,
    /// Things worth knowing that did not stop it.
    pub notes: Vec<String>,
}

/// The report on a whole batch (`--report FILE` writes it as JSON).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// One entry per input file, in input order.
    pub files: Vec<FileReport>,
    /// Sessions the batch's live events use (minted now, or found in the ledger).
    pub minted: usize,
    /// Event keys whose tokens appear only in cancelled events (METHOD:CANCEL or
    /// STATUS:CANCELLED): their sessions, if any exist, are to be deleted. The CLI does that
    /// through the ledger. Interview keys are never among them: the interview's link may serve
    /// events this batch does not hold.
    pub cancelled: Vec<MintKey>,
    /// What was done with each cancelled key's session (filled by the caller that cancels).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cancellations: Vec<crate::ledger::Outcome>,
    /// Temp files of an interrupted earlier run removed from the folders written to.
    pub leftovers_removed: usize,
}

impl Report {
    /// How many files ended with `status`.
    pub fn count(&self, status: &Status) -> usize {
        self.files.iter().filter(|f| &f.status == status).count()
    }
}

/// Where results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Mirror the inputs' relative paths under this directory.
    Dir(PathBuf),
    /// Replace each changed original atomically; leave unchanged ones alone.
    InPlace,
}

/// A file read and scanned.
struct Loaded {
    input: Input,
    bytes: Vec<u8>,
    scanned: Result<Scanned, Vec<String>>,
}

/// Reads and scans every input, in parallel.
fn load(inputs: Vec<Input>, options: &IcsOptions, progress: &(dyn Fn() + Sync)) -> Vec<Loaded> {
    inputs
        .into_par_iter()
        .map(|input| {
            let loaded = match std::fs::read(&input.path) {
                Err(e) => Loaded {
                    input,
                    bytes: Vec::new(),
                    scanned: Err(vec![format!("cannot read it: {e}")]),
                },
                Ok(bytes) => {
                    let scanned = rewrite::scan(&bytes, options)
                        .map_err(|problems| problems.iter().map(Problem::to_string).collect());
                    Loaded {
                        input,
                        bytes,
                        scanned,
                    }
                }
            };
            progress();
            loaded
        })
        .collect()
}

/// Copies of one event must agree on its interview: a copy without `X-INTERVIEW-ID` takes the
/// one its other copies name; copies naming different interviews fail.
fn reconcile(loaded: &mut [Loaded], options: &IcsOptions) {
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in loaded.iter() {
        if let Ok(s) = &l.scanned {
            for e in &s.events {
                if let Some(id) = &e.interview_id {
                    named.entry(e.uid.clone()).or_default().insert(id.clone());
                }
            }
        }
    }
    for l in loaded.iter_mut() {
        let Ok(s) = &mut l.scanned else { continue };
        let mut errors = Vec::new();
        for e in &mut s.events {
            match named.get(&e.uid) {
                Some(ids) if ids.len() > 1 => errors.push(format!(
                    "{}:1: copies of event `{}` name different interviews in {}: {}",
                    e.line,
                    e.uid,
                    options.interview_property,
                    ids.iter().cloned().collect::<Vec<_>>().join(", ")
                )),
                Some(ids) if e.interview_id.is_none() => {
                    e.interview_id = ids.iter().next().cloned();
                }
                _ => {}
            }
        }
        if !errors.is_empty() {
            l.scanned = Err(errors);
            continue;
        }
        let events = s.events.clone();
        for o in &mut s.occurrences {
            if let Some(e) = o.event
                && let Some(id) = &events[e].interview_id
            {
                o.key.interview_id = id.clone();
            }
        }
    }
}

/// The batch's mints: every key of a token in a live (not cancelled) event, once.
fn plan(loaded: &[Loaded]) -> Plan {
    let mut mints: BTreeMap<MintKey, PlannedMint> = BTreeMap::new();
    let far = Utc::now() + crate::mint::MAX_EXPIRATION;
    for l in loaded {
        let Ok(s) = &l.scanned else { continue };
        for o in &s.occurrences {
            let event = o.event.map(|e| &s.events[e]);
            if event.is_some_and(|e| e.cancelled) {
                continue;
            }
            let ends: DateTime<Utc> = event.and_then(|e| e.ends).unwrap_or(far);
            let (email, name) = event.and_then(|e| e.candidate.clone()).unwrap_or_default();
            let mint = mints.entry(o.key.clone()).or_insert_with(|| PlannedMint {
                key: o.key.clone(),
                occurrences: 0,
                serves_until: ends,
                interviewer_id: None,
                candidate_name: name,
                candidate_email: email,
            });
            mint.occurrences += 1;
            mint.serves_until = mint.serves_until.max(ends);
        }
    }
    let mut mints: Vec<PlannedMint> = mints.into_values().collect();
    mints.sort_by_key(|m| (m.key.scope != Scope::Interview, m.key.clone()));
    Plan { mints }
}

/// Why a batch stopped before writing anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// A mint failed: nothing was written.
    #[error("minting failed, so no file was written: {0}")]
    Mint(#[from] MintError),
    /// A minted URL holds a token shape: written into a file, it would be a token there, and
    /// the next batch over the file would mint it or fail.
    #[error(
        "the link minted for {key} holds a token shape ({url}), so no file was written: \
         ask the vendor why its URL holds one"
    )]
    TokenInLink {
        /// Whose link.
        key: MintKey,
        /// The URL, redacted and terminal-safe.
        url: String,
    },
}

/// What `check` says of one `.ics` file: what `batch` would say of it before minting.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileCheck {
    /// The input path.
    pub path: PathBuf,
    /// Tokens batch would resolve in it.
    pub tokens: usize,
    /// Why batch would fail it, each with `line:col`, exactly as batch reports them.
    pub errors: Vec<String>,
    /// Things worth knowing that would not stop it.
    pub notes: Vec<String>,
}

/// Reads `inputs` as [`run`] does, up to where it would mint: the same scanner, and the copies
/// of an event reconciled across the files given together. So `check` fails a file exactly when
/// batch would, at the same line and column.
pub fn check(inputs: Vec<Input>, options: &IcsOptions) -> Vec<FileCheck> {
    let mut loaded = load(inputs, options, &|| {});
    reconcile(&mut loaded, options);
    loaded
        .into_iter()
        .map(|l| match l.scanned {
            Ok(s) => FileCheck {
                path: l.input.path,
                tokens: s.occurrences.len(),
                errors: Vec::new(),
                notes: s.notes,
            },
            Err(errors) => FileCheck {
                path: l.input.path,
                tokens: 0,
                errors,
                notes: Vec::new(),
            },
        })
        .collect()
}

/// Runs a batch: scans `inputs`, mints each key once with `minter`, writes to `destination`.
/// `progress` is called once per file scanned and once per file written.
pub async fn run<M: Minter>(
    inputs: Vec<Input>,
    destination: &Destination,
    options: &IcsOptions,
    minter: &M,
    concurrency: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Report, BatchError> {
    let mut loaded = tokio::task::block_in_place(|| load(inputs, options, progress));
    reconcile(&mut loaded, options);
    let plan = plan(&loaded);
    let links: Vec<Link> = mint_all(minter, &plan, concurrency).await?;
    if let Some(link) = links.iter().find(|l| !rewrite::inert(l.url.as_str())) {
        return Err(BatchError::TokenInLink {
            key: link.key.clone(),
            url: crate::shown(&crate::redact_url(link.url.as_str())).into_owned(),
        });
    }
    let urls: HashMap<&MintKey, &str> = links.iter().map(|l| (&l.key, l.url.as_str())).collect();
    let targets: BTreeSet<PathBuf> = loaded
        .iter()
        .filter_map(|l| target(l, destination).parent().map(Path::to_path_buf))
        .collect();
    let leftovers_removed = targets.iter().map(|d| sweep_leftovers(d)).sum();
    let files = tokio::task::block_in_place(|| {
        loaded
            .par_iter()
            .map(|l| {
                let report = write_one(l, &urls, destination);
                progress();
                report
            })
            .collect()
    });
    let live: HashSet<&MintKey> = plan.mints.iter().map(|m| &m.key).collect();
    let cancelled: BTreeSet<MintKey> = loaded
        .iter()
        .filter_map(|l| l.scanned.as_ref().ok())
        .flat_map(|s| {
            s.occurrences
                .iter()
                .filter(|o| o.event.is_some_and(|e| s.events[e].cancelled))
                .map(|o| o.key.clone())
        })
        // An event's cancellation ends its own sessions only: the interview's link serves
        // events this batch may not hold (cancel those with `invitoken cancel --interview`).
        .filter(|k| k.scope == Scope::Event && !live.contains(k))
        .collect();
    Ok(Report {
        files,
        minted: links.len(),
        cancelled: cancelled.into_iter().collect(),
        cancellations: Vec::new(),
        leftovers_removed,
    })
}

fn write_one(l: &Loaded, urls: &HashMap<&MintKey, &str>, destination: &Destination) -> FileReport {
    let mut report = FileReport {
        path: l.input.path.clone(),
        output: None,
        status: Status::Failed,
        tokens: 0,
        links: Vec::new(),
        errors: Vec::new(),
        notes: Vec::new(),
    };
    let s = match &l.scanned {
        Err(errors) => {
            report.errors = errors.clone();
            return report;
        }
        Ok(s) => s,
    };
    report.tokens = s.occurrences.len();
    report.notes = s.notes.clone();
    let mut removed = 0;
    let bytes = if s.is_unchanged() {
        None
    } else {
        Some(
            s.write(&l.bytes, |i| match urls.get(&s.occurrences[i].key) {
                Some(url) => Value::Url(url),
                None => {
                    removed += 1;
                    Value::Removed
                }
            }),
        )
    };
    if removed > 0 {
        report.notes.push(format!(
            "{removed} token(s) of cancelled events removed (no link goes out for a cancelled event)"
        ));
    }
    for (key, _) in rewrite::keys(&s.occurrences) {
        report.links.push(FileLink {
            key: key.clone(),
            url: urls.get(key).map(|u| u.to_string()),
        });
    }
    let target = target(l, destination);
    let write = match (&bytes, destination) {
        (None, Destination::InPlace) => {
            report.status = Status::Unchanged;
            return report;
        }
        (None, Destination::Dir(_)) => write_atomically(&target, &l.bytes),
        (Some(bytes), _) => write_atomically(&target, bytes),
    };
    match write {
        Ok(()) => {
            report.status = if bytes.is_some() {
                Status::Rewritten
            } else {
                Status::Unchanged
            };
            report.output = Some(target);
        }
        Err(e) => report
            .errors
            .push(format!("cannot write {}: {e}", target.display())),
    }
    report
}

/// Where the result of `l` goes.
fn target(l: &Loaded, destination: &Destination) -> PathBuf {
    match destination {
        Destination::Dir(dir) => dir.join(&l.input.relative),
        Destination::InPlace => l.input.path.clone(),
    }
}

/// The names [`write_atomically`] gives its temp files.
const TEMP_PREFIX: &str = ".invitoken-";
const TEMP_SUFFIX: &str = ".tmp";

/// Removes the temp files a run killed mid-write (SIGKILL, power loss) left in `dir`, where
/// nothing removes them otherwise. Only names of [`write_atomically`]'s pattern, and only
/// regular files, are touched. A batch writing into the same folder at this moment would see
/// its rename fail (and report that file as failed, original untouched), never a partial file.
fn sweep_leftovers(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(TEMP_PREFIX)
                && name.ends_with(TEMP_SUFFIX)
                && e.file_type().is_ok_and(|t| t.is_file())
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// Writes `bytes` to `target` through a temp file in the same directory and a rename: readers
/// see the old file or the new one, never part of one. Keeps an existing file's permissions.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(target) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    temp.persist(target).map_err(|e| e.error)?;
    // The rename is in the folder's entries: sync them too, so that after a power cut the
    // folder holds the new file, not the old one (or, for a new file, none).
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
