//! `invitoken batch`: resolve the tokens of many existing `.ics` files at once.
//!
//! The batch is planned as a whole before anything is minted: the candidate's copy and each
//! interviewer's copy of one event share its UID, so one key gets one URL across every file.
//! Then each key is minted once, and only then are files written, each atomically (a temp file
//! beside the target, then a rename), so no reader ever sees a partial file. Minting is all or
//! nothing: if a mint fails, no file is written (without a durable ledger, a half-written batch
//! would re-mint on the next run what it already showed nobody).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;

use crate::ics::rewrite::{self, IcsOptions, Problem, Scanned, Value};
use crate::mint::{Link, MintError, Minter, mint_all};
use crate::parse::Scope;
use crate::plan::{MintKey, Plan, PlannedMint};
use crate::util::fs::{FileId, sweep_leftovers};
use crate::util::shown;

pub use crate::util::fs::write_atomically;

/// One input file and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Where it is read from (as found: a symlink stays a symlink here).
    pub path: PathBuf,
    /// Its path relative to the input it was found under: its place in the output directory.
    pub relative: PathBuf,
    /// The file itself (device and inode): each real file is read once.
    pub id: FileId,
    /// Its real path, symlinks resolved: what `--in-place` replaces (a symlink's target, never
    /// the link).
    pub real: PathBuf,
}

/// A file [`discover`] passed over, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Skipped {
    /// The path found.
    pub path: PathBuf,
    /// Why it is not read.
    pub reason: String,
}

/// What [`discover`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discovery {
    /// The files to read, each real file once, in a stable order.
    pub inputs: Vec<Input>,
    /// Entries of the input folders that look like inputs but are not read: FIFOs, devices,
    /// sockets, symlinks to folders (never followed) and second names of a file already found.
    pub skipped: Vec<Skipped>,
}

/// Why the inputs could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// An input, or a folder under one, cannot be read.
    #[error("{}: {source}", shown(&path.display().to_string()))]
    Unreadable {
        /// The input or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An input named on the command line is not a regular file or a folder.
    #[error(
        "{} is {kind}: only regular files and folders are read",
        shown(&path.display().to_string())
    )]
    NotRegular {
        /// The input.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Two inputs would be written to one output path.
    #[error(
        "{} and {} would both be written as {}: give them in separate runs",
        shown(&first.display().to_string()),
        shown(&second.display().to_string()),
        shown(&relative.display().to_string())
    )]
    Collision {
        /// The first input.
        first: PathBuf,
        /// The second one.
        second: PathBuf,
        /// Their shared relative path.
        relative: PathBuf,
    },
}

/// Finds the `.ics` files of `inputs`: files as given, folders recursively (`*.ics`, any
/// case), in a stable order. Only regular files are taken: a FIFO, socket or device under a
/// folder is skipped with a reason, and named as an input it is an error. A symlink to a file is
/// followed; a symlink to a folder is not (so `..` links cannot loop). A file reached under two
/// names (symlinks, hard links, an input given twice) is taken once. Two inputs that would land on
/// one output path are an error.
pub fn discover(inputs: &[PathBuf]) -> Result<Discovery, DiscoverError> {
    let unreadable = |path: &Path, source| DiscoverError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| unreadable(input, e))?;
        if meta.is_file() {
            let name = input.file_name().map(PathBuf::from).unwrap_or_default();
            found.push((input.clone(), name, meta));
            continue;
        }
        if !meta.is_dir() {
            return Err(DiscoverError::NotRegular {
                path: input.clone(),
                kind: crate::util::fs::kind(&meta),
            });
        }
        let mut here = Vec::new();
        // The root is followed when it is a symlink (it was named); nothing under it is.
        for entry in walkdir::WalkDir::new(input)
            .follow_links(false)
            .min_depth(1)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(input).to_path_buf();
                unreadable(&path, e.into())
            })?;
            let path = entry.path();
            let is_ics = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("ics"));
            let t = entry.file_type();
            if t.is_dir() {
                continue;
            }
            let skip = |reason: String| Skipped {
                path: path.to_path_buf(),
                reason,
            };
            let meta = if t.is_symlink() {
                match std::fs::metadata(path) {
                    Ok(m) if m.is_dir() => {
                        skipped.push(skip(
                            "a symbolic link to a folder: not followed (name the folder as an \
                             input to read it)"
                                .into(),
                        ));
                        continue;
                    }
                    Ok(m) => m,
                    Err(e) if is_ics => {
                        skipped.push(skip(format!(
                            "a symbolic link that cannot be followed: {e}"
                        )));
                        continue;
                    }
                    Err(_) => continue,
                }
            } else {
                match entry.metadata() {
                    Ok(m) => m,
                    Err(e) => return Err(unreadable(path, e.into())),
                }
            };
            if !is_ics {
                continue;
            }
            if !meta.is_file() {
                skipped.push(skip(format!(
                    "{}, not a regular file: not read",
                    crate::util::fs::kind(&meta)
                )));
                continue;
            }
            let relative = path.strip_prefix(input).unwrap_or(path).to_path_buf();
            here.push((path.to_path_buf(), relative, meta));
        }
        here.sort_by(|a, b| a.0.cmp(&b.0));
        found.extend(here);
    }
    let mut first: HashMap<FileId, PathBuf> = HashMap::new();
    let mut taken = Vec::with_capacity(found.len());
    for (path, relative, meta) in found {
        let id = FileId::of(&path, &meta);
        if let Some(other) = first.get(&id) {
            skipped.push(Skipped {
                reason: format!(
                    "the same file as {}: read once",
                    shown(&other.display().to_string())
                ),
                path,
            });
            continue;
        }
        first.insert(id, path.clone());
        let real = std::fs::canonicalize(&path).map_err(|e| unreadable(&path, e))?;
        taken.push(Input {
            path,
            relative,
            id,
            real,
        });
    }
    let mut seen = HashMap::new();
    for input in &taken {
        if let Some(other) = seen.insert(&input.relative, &input.path) {
            return Err(DiscoverError::Collision {
                first: other.clone(),
                second: input.path.clone(),
                relative: input.relative.clone(),
            });
        }
    }
    Ok(Discovery {
        inputs: taken,
        skipped,
    })
}

/// Why `--report` cannot go where it was asked to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportPathError {
    /// It is an input of the batch.
    #[error(
        "the report {} is the input {}: choose a report path outside the batch's files",
        shown(&report.display().to_string()),
        shown(&input.display().to_string())
    )]
    Input {
        /// The report path.
        report: PathBuf,
        /// The input it is.
        input: PathBuf,
    },
    /// The batch writes there.
    #[error(
        "the report {} is where the batch writes {}: choose a report path outside the batch's files",
        shown(&report.display().to_string()),
        shown(&input.display().to_string())
    )]
    Output {
        /// The report path.
        report: PathBuf,
        /// The input whose result goes there.
        input: PathBuf,
    },
    /// An `.ics` name under an input folder: a later batch over the folder would read it.
    #[error(
        "the report {} is an .ics name under the input folder {}: a batch over that folder \
         would read it; choose a report path outside it or not ending in .ics",
        shown(&report.display().to_string()),
        shown(&folder.display().to_string())
    )]
    InInputFolder {
        /// The report path.
        report: PathBuf,
        /// The input folder.
        folder: PathBuf,
    },
    /// The mint ledger, or one of its companion files.
    #[error(
        "the report {} is the mint ledger's file {}: writing it there would lose every recorded \
         session; choose a report path outside the ledger",
        shown(&report.display().to_string()),
        shown(&ledger.display().to_string())
    )]
    Ledger {
        /// The report path.
        report: PathBuf,
        /// The ledger file it is.
        ledger: PathBuf,
    },
    /// A folder.
    #[error("the report {} is a folder: name a file", shown(&report.display().to_string()))]
    Folder {
        /// The report path.
        report: PathBuf,
    },
}

/// `--out` would replace an input: that is `--in-place` without its care for links, read-only
/// files and hard links.
#[derive(Debug, thiserror::Error)]
#[error(
    "--out {} would write {} over the input {}: give another folder, or use --in-place",
    shown(&dir.display().to_string()),
    shown(&target.display().to_string()),
    shown(&input.display().to_string())
)]
#[non_exhaustive]
pub struct OutOverInput {
    /// The `--out` folder.
    pub dir: PathBuf,
    /// The mirror path that is an input.
    pub target: PathBuf,
    /// The input it would replace.
    pub input: PathBuf,
}

/// Refuses an `--out` folder where a mirrored path is one of the inputs (the folder is an
/// input folder, or a symlink to one), compared with symlinks resolved and by device and inode.
pub fn check_out_dir(dir: &Path, inputs: &[Input]) -> Result<(), OutOverInput> {
    let by_path: HashMap<&Path, &Input> = inputs.iter().map(|i| (i.real.as_path(), i)).collect();
    let by_id: HashMap<FileId, &Input> = inputs.iter().map(|i| (i.id, i)).collect();
    for input in inputs {
        let target = dir.join(&input.relative);
        let id = std::fs::metadata(&target)
            .ok()
            .map(|m| FileId::of(&target, &m));
        let hit = by_path
            .get(resolved(&target).as_path())
            .or_else(|| id.and_then(|id| by_id.get(&id)));
        if let Some(hit) = hit {
            return Err(OutOverInput {
                dir: dir.to_path_buf(),
                target,
                input: hit.path.clone(),
            });
        }
    }
    Ok(())
}

/// Refuses a `--report` path that is an input, a file the batch writes, a file of the mint
/// ledger (`ledger`: [`crate::ledger::sqlite_files`]), a folder, or an `.ics` name under an
/// input folder. Paths are compared with symlinks resolved, and existing files by device and
/// inode, so `./x/../in.ics`, a symlink or a hard link cannot sneak past.
pub fn check_report_path(
    report: &Path,
    given: &[PathBuf],
    inputs: &[Input],
    destination: &Destination,
    ledger: &[PathBuf],
) -> Result<(), ReportPathError> {
    let at = resolved(report);
    let id = std::fs::metadata(report).ok().map(|m| {
        if m.is_dir() {
            Err(())
        } else {
            Ok(FileId::of(report, &m))
        }
    });
    if let Some(Err(())) = id {
        return Err(ReportPathError::Folder {
            report: report.to_path_buf(),
        });
    }
    let id = id.and_then(Result::ok);
    for file in ledger {
        let file_id = std::fs::metadata(file).ok().map(|m| FileId::of(file, &m));
        if resolved(file) == at || (id.is_some() && file_id == id) {
            return Err(ReportPathError::Ledger {
                report: report.to_path_buf(),
                ledger: file.clone(),
            });
        }
    }
    for input in inputs {
        if Some(input.id) == id || at == input.real {
            return Err(ReportPathError::Input {
                report: report.to_path_buf(),
                input: input.path.clone(),
            });
        }
        let written = match destination {
            Destination::Dir(dir) => dir.join(&input.relative),
            Destination::InPlace => input.real.clone(),
        };
        let written_id = std::fs::metadata(&written)
            .ok()
            .map(|m| FileId::of(&written, &m));
        if resolved(&written) == at || (id.is_some() && written_id == id) {
            return Err(ReportPathError::Output {
                report: report.to_path_buf(),
                input: input.path.clone(),
            });
        }
    }
    let is_ics = report
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ics"));
    for folder in given.iter().filter(|g| g.is_dir()) {
        if is_ics && at.starts_with(resolved(folder)) {
            return Err(ReportPathError::InInputFolder {
                report: report.to_path_buf(),
                folder: folder.clone(),
            });
        }
    }
    Ok(())
}

/// `path` made absolute, with the symlinks of its longest existing ancestor resolved. The rest
/// does not exist, so it holds no symlink, and its `..` parts are taken lexically, as
/// `create_dir_all` and the kernel will take them once it exists.
fn resolved(path: &Path) -> PathBuf {
    let Ok(absolute) = std::path::absolute(path) else {
        return path.to_path_buf();
    };
    let mut missing = Vec::new();
    let mut at = absolute.clone();
    loop {
        if let Ok(real) = std::fs::canonicalize(&at) {
            let mut out = real;
            for part in missing.iter().rev() {
                if part == ".." {
                    out.pop();
                } else {
                    out.push(part);
                }
            }
            return out;
        }
        match at.components().next_back() {
            Some(last) => missing.push(last.as_os_str().to_owned()),
            None => return absolute,
        }
        if !at.pop() {
            return absolute;
        }
    }
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
    /// Why it failed. In the JSON report each is its text (`line:col: ...` for one at a place
    /// in the file), as the CLI prints it.
    #[serde(serialize_with = "as_texts")]
    pub errors: Vec<FileError>,
    /// Things worth knowing that did not stop it.
    pub notes: Vec<String>,
}

/// Why one file of a batch was not written (or, for `check`, would not be).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Something in the file, at a line and column: the text is `line:col: message`.
    #[error("{0}")]
    At(Problem),
    /// Replaced by another file between [`discover`] and reading it.
    #[error("replaced by another file while the batch ran: not read (run the batch again)")]
    Replaced,
    /// Not a regular file any more (a FIFO, a device...).
    #[error("{kind}, not a regular file: not read")]
    NotRegular {
        /// What it is ("a FIFO (named pipe)").
        kind: &'static str,
    },
    /// Larger than the cap.
    #[error("larger than the limit of {cap} bytes: not read (raise it with --max-file-size)")]
    TooLarge {
        /// The cap, in bytes.
        cap: u64,
    },
    /// Opening or reading it failed.
    #[error("cannot read it: {message}")]
    Unreadable {
        /// The kind of I/O error.
        kind: std::io::ErrorKind,
        /// The I/O error's text.
        message: String,
    },
    /// In place: read-only, so it is not replaced.
    #[error(
        "read-only (no write permission bit): not rewritten, so its tokens stay unresolved; \
         make it writable (chmod u+w) or use --out"
    )]
    ReadOnly,
    /// In place: other hard links would keep the old text.
    #[error(
        "has {links} hard links: replacing it would leave the other names with its tokens \
         unresolved; not rewritten (use --out, or remove the other links)"
    )]
    HardLinks {
        /// How many names the file has.
        links: u64,
    },
    /// In place: it changed after it was read.
    #[error("changed on disk since it was read: not rewritten (run the batch again)")]
    Changed,
    /// Writing the result failed; the target is as it was.
    #[error("cannot write {}: {message}", shown(&target.display().to_string()))]
    Write {
        /// The file that was not written.
        target: PathBuf,
        /// The kind of I/O error.
        kind: std::io::ErrorKind,
        /// The I/O error's text.
        message: String,
    },
}

impl FileError {
    /// Where in the file, for an error at a place in it.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            FileError::At(p) => Some(p),
            _ => None,
        }
    }
}

/// How many characters of one error's text a report keeps (it quotes the file).
pub const MAX_ERROR_TEXT: usize = 2000;

/// Each error as its text, made terminal-safe and capped at [`MAX_ERROR_TEXT`] characters, as
/// the CLI prints it.
fn as_texts<S: serde::Serializer>(errors: &[FileError], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        errors
            .iter()
            .map(|e| crate::shown_with(&e.to_string(), MAX_ERROR_TEXT).into_owned()),
    )
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
    /// Entries of the input folders not read (filled by the caller, from [`Discovery`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
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
    /// The file as it was read; `--in-place` replaces it only if it is still that file.
    stamp: Option<Stamp>,
    scanned: Result<Scanned, Vec<FileError>>,
}

/// What identifies one version of a file: which file, its size and its modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    id: FileId,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Stamp {
    fn of(path: &Path, meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            id: FileId::of(path, meta),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// Reads every input (regular files only, at most `max_size` bytes each) and scans it, in
/// parallel. In place, a read-only file that would change fails here, before anything is minted
/// for it.
fn load(
    inputs: Vec<Input>,
    options: &IcsOptions,
    max_size: u64,
    destination: &Destination,
    progress: &(dyn Fn() + Sync),
) -> Vec<Loaded> {
    inputs
        .into_par_iter()
        .map(|input| {
            let loaded = match read_input(&input, max_size) {
                Err(e) => Loaded {
                    input,
                    bytes: Vec::new(),
                    stamp: None,
                    scanned: Err(vec![e]),
                },
                Ok((bytes, meta)) => {
                    let mut scanned = rewrite::scan(&bytes, options)
                        .map_err(|problems| problems.into_iter().map(FileError::At).collect());
                    let changes = scanned.as_ref().is_ok_and(|s| !s.is_unchanged());
                    if *destination == Destination::InPlace
                        && changes
                        && let Some(why) = not_replaceable(&meta)
                    {
                        scanned = Err(vec![why]);
                    }
                    Loaded {
                        stamp: Some(Stamp::of(&input.real, &meta)),
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

/// Why `--in-place` must not replace the file `meta` describes, if it must not: it is read-only
/// (its owner said so), or it has other hard links (a new file under this name would leave the
/// other names with the old text, tokens and all).
fn not_replaceable(meta: &std::fs::Metadata) -> Option<FileError> {
    if meta.permissions().readonly() {
        return Some(FileError::ReadOnly);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Some(FileError::HardLinks {
                links: meta.nlink(),
            });
        }
    }
    None
}

/// The bytes of `input`, if it is still the regular file [`discover`] found and within the cap.
fn read_input(input: &Input, max_size: u64) -> Result<(Vec<u8>, std::fs::Metadata), FileError> {
    use crate::util::fs::ReadError;
    match crate::util::fs::read_regular(&input.path, max_size) {
        Ok(r) if FileId::of(&input.real, &r.meta) != input.id => Err(FileError::Replaced),
        Ok(r) => Ok((r.bytes, r.meta)),
        Err(ReadError::NotRegular { kind, .. }) => Err(FileError::NotRegular { kind }),
        Err(ReadError::TooLarge { cap, .. }) => Err(FileError::TooLarge { cap }),
        Err(ReadError::Io { source, .. }) => Err(FileError::Unreadable {
            kind: source.kind(),
            message: source.to_string(),
        }),
    }
}

/// Copies of one event must agree on its interview: a copy without `X-INTERVIEW-ID` takes the
/// one its other copies name; copies naming different interviews fail.
fn reconcile(loaded: &mut [Loaded], options: &IcsOptions) {
    let mut scans: Vec<&mut Scan> = loaded.iter_mut().map(|l| &mut l.scanned).collect();
    reconcile_scans(&mut scans, options);
}

/// What a file's scan gave: its tokens and events, or why it fails.
type Scan = Result<Scanned, Vec<FileError>>;

/// [`reconcile`], over the scans of the files read together.
fn reconcile_scans(loaded: &mut [&mut Scan], options: &IcsOptions) {
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in loaded.iter() {
        if let Ok(s) = &**l {
            for e in &s.events {
                if let Some(id) = &e.interview_id {
                    named.entry(e.uid.clone()).or_default().insert(id.clone());
                }
            }
        }
    }
    for l in loaded.iter_mut() {
        let Ok(s) = &mut **l else { continue };
        let mut errors = Vec::new();
        for e in &mut s.events {
            match named.get(&e.uid) {
                Some(ids) if ids.len() > 1 => errors.push(FileError::At(Problem::on_line(
                    e.line,
                    format!(
                        "copies of event `{}` name different interviews in {}: {}",
                        e.uid,
                        options.interview_property,
                        ids.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    None,
                ))),
                Some(ids) if e.interview_id.is_none() => {
                    e.interview_id = ids.iter().next().cloned();
                }
                _ => {}
            }
        }
        if !errors.is_empty() {
            **l = Err(errors);
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

/// The batch's mints: every key of a token not in a cancelled event or calendar, once.
fn plan(loaded: &[Loaded]) -> Plan {
    plan_scans(loaded.iter().map(|l| &l.scanned))
}

/// [`plan`], over the scans of the files read together.
fn plan_scans<'a>(scans: impl Iterator<Item = &'a Scan>) -> Plan {
    let mut mints: BTreeMap<MintKey, PlannedMint> = BTreeMap::new();
    let far = Utc::now() + crate::mint::MAX_EXPIRATION;
    for l in scans {
        let Ok(s) = l else { continue };
        for o in &s.occurrences {
            if o.cancelled {
                continue;
            }
            let event = o.event.map(|e| &s.events[e]);
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
    /// The runtime shut down before the files could be read or written.
    #[error("the runtime shut down before the batch's files were read or written")]
    Interrupted,
}

/// What `check` says of one `.ics` file: what `batch` would say of it before minting.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileCheck {
    /// The input path.
    pub path: PathBuf,
    /// Tokens batch would resolve in it.
    pub tokens: usize,
    /// Why batch would fail it, exactly as batch reports them.
    #[serde(serialize_with = "as_texts")]
    pub errors: Vec<FileError>,
    /// Things worth knowing that would not stop it.
    pub notes: Vec<String>,
}

/// Reads `inputs` as [`run`] does, up to where it would mint: the same scanner, and the copies
/// of an event reconciled across the files given together. So `check` fails a file exactly when
/// batch would, at the same line and column.
///
/// `inputs` are found as [`discover`] finds them (regular files only, each once), and read under
/// the cap `max_size`. `check` writes nothing, so the in-place rules (read-only, hard links) do
/// not apply.
pub fn check(
    inputs: &[PathBuf],
    options: &IcsOptions,
    max_size: u64,
) -> Result<Vec<FileCheck>, DiscoverError> {
    let found = discover(inputs)?;
    let nowhere = Destination::Dir(PathBuf::new());
    let mut loaded = load(found.inputs, options, max_size, &nowhere, &|| {});
    reconcile(&mut loaded, options);
    Ok(loaded
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
        .collect())
}

/// Runs a batch: scans `inputs` (each at most `max_size` bytes), mints each key once with
/// `minter`, writes to `destination`. `progress` is called once per file scanned and once per
/// file written.
#[allow(clippy::too_many_arguments)]
pub async fn run<M: Minter>(
    inputs: Vec<Input>,
    destination: &Destination,
    options: &IcsOptions,
    max_size: u64,
    minter: &M,
    concurrency: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Report, BatchError> {
    let (read_options, read_destination) = (options.clone(), destination.clone());
    let mut loaded = off_runtime(progress, move |tick| {
        load(inputs, &read_options, max_size, &read_destination, tick)
    })
    .await?;
    reconcile(&mut loaded, options);
    let plan = plan(&loaded);
    let links: Vec<Link> = mint_all(minter, &plan, concurrency).await?;
    if let Some(link) = links.iter().find(|l| !rewrite::inert(l.url.as_str())) {
        return Err(BatchError::TokenInLink {
            key: link.key.clone(),
            url: crate::shown(&crate::redact_url(link.url.as_str())).into_owned(),
        });
    }
    let owned: Vec<(MintKey, String)> = links
        .iter()
        .map(|l| (l.key.clone(), l.url.as_str().to_owned()))
        .collect();
    let write_destination = destination.clone();
    let (loaded, files, leftovers_removed) = off_runtime(progress, move |tick| {
        let destination = &write_destination;
        let urls: HashMap<&MintKey, &str> = owned.iter().map(|(k, u)| (k, u.as_str())).collect();
        let targets: BTreeSet<PathBuf> = loaded
            .iter()
            .filter_map(|l| target(l, destination).parent().map(Path::to_path_buf))
            .collect();
        let leftovers_removed: usize = targets.iter().map(|d| sweep_leftovers(d)).sum();
        let files: Vec<FileReport> = loaded
            .par_iter()
            .map(|l| {
                let report = write_one(l, &urls, destination);
                tick();
                report
            })
            .collect();
        (loaded, files, leftovers_removed)
    })
    .await?;
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
        skipped: Vec::new(),
    })
}

/// One `.ics` file rewritten in memory ([`rewrite_one`]).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rewritten {
    /// The file with its tokens resolved (byte-identical where no token was).
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Tokens found in it.
    pub tokens: usize,
    /// The sessions its tokens got, one entry per key (`url: None`: removed, a cancelled event).
    pub links: Vec<FileLink>,
    /// Event keys whose tokens appear only in cancelled events: their sessions, if any, are to
    /// be deleted.
    pub cancelled: Vec<MintKey>,
    /// Things worth knowing that did not stop it.
    pub notes: Vec<String>,
}

/// Why one `.ics` file could not be rewritten. Nothing was written; a mint error says what
/// was minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// The file is not one batch can rewrite: every problem, with its line and column.
    #[error("{} problem(s) in the file", .0.len())]
    Invalid(Vec<FileError>),
    /// Minting failed, or a link cannot go into the file.
    #[error(transparent)]
    Batch(#[from] BatchError),
}

/// Rewrites one `.ics` file held in memory by batch's rules (the same scanner, one URL per
/// key with `minter`, cancelled events' tokens removed, lossless elsewhere): what a service
/// does with an uploaded file. Fails closed: on any problem no byte of output.
pub async fn rewrite_one<M: Minter>(
    bytes: &[u8],
    options: &IcsOptions,
    minter: &M,
    concurrency: usize,
) -> Result<Rewritten, RewriteError> {
    let mut scan: Scan = rewrite::scan(bytes, options)
        .map_err(|problems| problems.into_iter().map(FileError::At).collect());
    reconcile_scans(&mut [&mut scan], options);
    let plan = plan_scans(std::iter::once(&scan));
    let scanned = scan.map_err(RewriteError::Invalid)?;
    let links: Vec<Link> = mint_all(minter, &plan, concurrency)
        .await
        .map_err(BatchError::from)?;
    if let Some(link) = links.iter().find(|l| !rewrite::inert(l.url.as_str())) {
        return Err(BatchError::TokenInLink {
            key: link.key.clone(),
            url: crate::shown(&crate::redact_url(link.url.as_str())).into_owned(),
        }
        .into());
    }
    let urls: HashMap<&MintKey, &str> = links.iter().map(|l| (&l.key, l.url.as_str())).collect();
    let mut notes = scanned.notes.clone();
    let mut removed = 0;
    let out = if scanned.is_unchanged() {
        bytes.to_vec()
    } else {
        scanned.write(bytes, |i| match urls.get(&scanned.occurrences[i].key) {
            Some(url) => Value::Url(url),
            None => {
                removed += 1;
                Value::Removed
            }
        })
    };
    if removed > 0 {
        notes.push(format!(
            "{removed} token(s) of cancelled events removed (no link goes out for a cancelled event)"
        ));
    }
    let links = rewrite::keys(&scanned.occurrences)
        .into_keys()
        .map(|key| FileLink {
            key: key.clone(),
            url: urls.get(key).map(|u| u.to_string()),
        })
        .collect();
    let live: HashSet<&MintKey> = plan.mints.iter().map(|m| &m.key).collect();
    let cancelled: BTreeSet<MintKey> = scanned
        .occurrences
        .iter()
        .filter(|o| {
            o.event
                .and_then(|e| scanned.events.get(e))
                .is_some_and(|e| e.cancelled)
        })
        .map(|o| o.key.clone())
        .filter(|k| k.scope == Scope::Event && !live.contains(k))
        .collect();
    Ok(Rewritten {
        bytes: out,
        tokens: scanned.occurrences.len(),
        links,
        cancelled: cancelled.into_iter().collect(),
        notes,
    })
}

/// Runs blocking file work (reading, scanning, writing: rayon underneath) on tokio's blocking
/// pool, so [`run`] works on any runtime, a current-thread one included (`block_in_place`
/// panics there). `progress` stays on the caller's task: the work ticks a channel it drains.
async fn off_runtime<T: Send + 'static>(
    progress: &(dyn Fn() + Sync),
    work: impl FnOnce(&(dyn Fn() + Sync)) -> T + Send + 'static,
) -> Result<T, BatchError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let handle = tokio::task::spawn_blocking(move || {
        let tick = move || {
            // The receiver lives until the work is done; a send cannot fail before then.
            let _ = tx.send(());
        };
        work(&tick)
    });
    // Ends when the work returns and drops its sender.
    while rx.recv().await.is_some() {
        progress();
    }
    match handle.await {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime shutting down cancels a blocking task, before it started.
        Err(_) => Err(BatchError::Interrupted),
    }
}

thread_local! {
    /// The output buffer of [`write_one`] on this thread, kept from file to file.
    static OUTPUT: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The largest output buffer a thread keeps for its next file: a batch of huge files must not
/// leave that much memory behind on every thread of rayon's pool (a process serving requests
/// runs batches too). A 10,000-event calendar's output is 6 MB.
const KEEP_BUFFER: usize = 8 << 20;

fn write_one(l: &Loaded, urls: &HashMap<&MintKey, &str>, destination: &Destination) -> FileReport {
    // Each worker thread keeps its output buffer from file to file: paging in a fresh one for
    // every file cost a 5.6 MB calendar a sixth of its rewrite.
    let mut buffer = OUTPUT.take();
    let report = write_with(l, urls, destination, &mut buffer);
    if buffer.capacity() <= KEEP_BUFFER {
        OUTPUT.set(buffer);
    }
    report
}

/// [`write_one`], with `buffer` for the rewritten bytes.
fn write_with(
    l: &Loaded,
    urls: &HashMap<&MintKey, &str>,
    destination: &Destination,
    buffer: &mut Vec<u8>,
) -> FileReport {
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
        s.write_into(
            &l.bytes,
            |i| match urls.get(&s.occurrences[i].key) {
                Some(url) => Value::Url(url),
                None => {
                    removed += 1;
                    Value::Removed
                }
            },
            buffer,
        );
        Some(&*buffer)
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
    if *destination == Destination::InPlace && bytes.is_some() {
        let now = std::fs::metadata(&target).map(|m| Stamp::of(&target, &m));
        if now.ok() != l.stamp {
            report.errors.push(FileError::Changed);
            return report;
        }
    }
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
        Err(e) => report.errors.push(FileError::Write {
            kind: e.source.kind(),
            message: e.source.to_string(),
            target: e.path,
        }),
    }
    report
}

/// Where the result of `l` goes: in place, the real file (a symlink's target; the link stays).
fn target(l: &Loaded, destination: &Destination) -> PathBuf {
    match destination {
        Destination::Dir(dir) => dir.join(&l.input.relative),
        Destination::InPlace => l.input.real.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::SandboxMinter;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const CALENDAR: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//invitoken test//EN\r\n\
        BEGIN:VEVENT\r\nUID:evt-1@example.com\r\nDTSTAMP:20270101T000000Z\r\n\
        DTSTART:20270302T080000Z\r\nDTEND:20270302T090000Z\r\n\
        DESCRIPTION:Join $Event.CodeSignal.Live.Link\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    // `#[tokio::test]` is a current-thread runtime, as in the README's library example: there
    // `block_in_place` panicked ("can call blocking only when running on the multi-threaded
    // runtime").
    #[tokio::test]
    async fn run_works_on_a_current_thread_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("invite.ics");
        std::fs::write(&input, CALENDAR).unwrap();
        let broken = dir.path().join("broken.ics");
        std::fs::write(&broken, "not a calendar").unwrap();
        let out = dir.path().join("out");
        let inputs = discover(&[input, broken]).unwrap().inputs;
        let ticks = AtomicUsize::new(0);
        let report = run(
            inputs,
            &Destination::Dir(out.clone()),
            &IcsOptions::default(),
            crate::DEFAULT_MAX_FILE_SIZE,
            &SandboxMinter::default(),
            1,
            &|| {
                ticks.fetch_add(1, Ordering::Relaxed);
            },
        )
        .await
        .unwrap();
        // Two files read, two reported on.
        assert_eq!(ticks.load(Ordering::Relaxed), 4);
        assert_eq!(report.minted, 1);
        assert_eq!(report.count(&Status::Rewritten), 1);
        let written = std::fs::read_to_string(out.join("invite.ics")).unwrap();
        assert!(!written.contains('$'), "{written}");
        assert!(written.contains("https://"), "{written}");
        // The failed file keeps its problem typed, with its place.
        let failed = report
            .files
            .iter()
            .find(|f| f.status == Status::Failed)
            .unwrap();
        let problem = failed.errors[0].problem().expect("an error at a place");
        assert_eq!((problem.line, problem.col), (1, 1));
        assert!(!out.join("broken.ics").exists());
    }

    #[test]
    fn report_errors_serialise_as_their_text() {
        let problem = Problem::on_line(7, "bad", Some("fix it".into()));
        let report = FileCheck {
            path: "a.ics".into(),
            tokens: 0,
            errors: vec![
                FileError::At(problem),
                FileError::TooLarge { cap: 10 },
                FileError::Unreadable {
                    kind: std::io::ErrorKind::Other,
                    message: format!("x\u{1b}[2J{}", "y".repeat(3000)),
                },
            ],
            notes: Vec::new(),
        };
        let json = serde_json::to_value(&report).unwrap();
        let errors = json["errors"].as_array().unwrap();
        assert_eq!(errors[0], "7:1: bad (help: fix it)");
        assert_eq!(
            errors[1],
            "larger than the limit of 10 bytes: not read (raise it with --max-file-size)"
        );
        let long = errors[2].as_str().unwrap();
        assert!(long.starts_with("cannot read it: x\\u{1b}[2Jyyy"), "{long}");
        assert!(long.ends_with("more characters)"), "{long}");
    }
}
