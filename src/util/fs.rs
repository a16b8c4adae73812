//! Files as invitoken reads and writes them.
//!
//! Reading: only regular files, each under a size cap that is enforced while reading (a file
//! that grows, or a `/proc` file that reports size 0, cannot slip past a metadata check). A FIFO
//! is opened without blocking and refused on the opened handle's own metadata, so neither a
//! FIFO without a writer nor a device such as `/dev/zero` can hang or flood a run, and a file
//! swapped between a check and the open is still judged as what was opened.
//!
//! Writing: every file goes through a temp file beside its target and a rename, so a reader sees
//! the old file or the new one, never part of one; the temp file is removed on every error path
//! (it is dropped). A replaced file keeps its mode, group and, where permitted, owner; a new one
//! gets the mode any program gets (`0666` less the umask). Several files that belong together
//! ([`write_all_or_nothing`]) are all staged before the first rename, and renamed ones are
//! rolled back if a later one fails.

use std::fs::{File, Metadata};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::util::shown;

/// The default cap on the size of a file read (`--max-file-size`): 64 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// The cap on an API key file: a key is short, and the file is read whole into memory.
pub const MAX_KEY_FILE_SIZE: u64 = 64 * 1024;

/// The names temp files get (an interrupted run's leftovers are recognised by them).
pub const TEMP_PREFIX: &str = ".invitoken-";
/// See [`TEMP_PREFIX`].
pub const TEMP_SUFFIX: &str = ".tmp";

/// One file on disk, whatever its names: device and inode. Two paths (a symlink, a hard link, a
/// `..` detour) with one `FileId` are one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes (`path` is its name; used off Unix only).
    pub fn of(path: &Path, meta: &Metadata) -> FileId {
        #[cfg(unix)]
        {
            let _ = path;
            use std::os::unix::fs::MetadataExt;
            FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            use std::hash::{Hash, Hasher};
            let _ = meta;
            let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            let mut h = std::collections::hash_map::DefaultHasher::new();
            real.hash(&mut h);
            FileId {
                dev: 0,
                ino: h.finish(),
            }
        }
    }
}

/// What a file that is not a regular one is, for messages ("a FIFO").
pub fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    if t.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("cannot read {}: {source}", shown(&path.display().to_string()))]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A FIFO, socket, device or folder: only regular files are read.
    #[error("{} is {kind}, not a regular file: only regular files are read", shown(&path.display().to_string()))]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is ("a FIFO (named pipe)").
        kind: &'static str,
    },
    /// Larger than the cap.
    #[error(
        "{} is larger than the limit of {cap} bytes; nothing of it was used (raise the limit with --max-file-size)",
        shown(&path.display().to_string())
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap, in bytes.
        cap: u64,
    },
}

/// A regular file read whole.
#[derive(Debug)]
pub struct Regular {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its metadata, from the handle it was read through.
    pub meta: Metadata,
}

/// Reads the regular file `path` (a symlink is followed), refusing anything else and anything
/// larger than `cap` bytes.
pub fn read_regular(path: &Path, cap: u64) -> Result<Regular, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (file, meta) = open_regular(path, cap)?;
    let bytes = read_capped(file, cap)
        .map_err(io)?
        .ok_or_else(|| ReadError::TooLarge {
            path: path.to_path_buf(),
            cap,
        })?;
    Ok(Regular { bytes, meta })
}

/// Opens the regular file `path` (a symlink is followed) to be read, refusing anything else and
/// anything larger than `cap` bytes now. A reader that reads on past `cap` (the file grew)
/// refuses it then, with [`ReadError::TooLarge`].
pub fn open_regular(path: &Path, cap: u64) -> Result<(File, Metadata), ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = open_nonblocking(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            kind: kind(&meta),
        });
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            cap,
        });
    }
    Ok((file, meta))
}

/// Reads `reader` to its end, or `None` once it gives more than `cap` bytes (it is read no
/// further: at most `cap + 1` bytes are taken, so an endless source costs `cap`).
pub fn read_capped(reader: impl Read, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}

/// Opens `path` for reading without blocking on a FIFO that has no writer (and without making a
/// terminal device our controlling terminal). Regular files ignore `O_NONBLOCK`, so the handle
/// reads them as usual.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Why a file could not be written; the target is as it was.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", shown(&path.display().to_string()))]
pub struct WriteError {
    /// The target that was not written.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// A file written to its temp name, waiting for its rename.
struct Staged {
    target: PathBuf,
    dir: PathBuf,
    temp: tempfile::NamedTempFile,
}

/// The folder `target` is written in.
fn folder_of(target: &Path) -> &Path {
    match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to a temp file beside `target`, synced, with the permissions `target` should
/// end with.
fn stage(target: &Path, bytes: &[u8]) -> std::io::Result<Staged> {
    let dir = folder_of(target);
    std::fs::create_dir_all(dir)?;
    // A file being replaced: its own metadata (not a symlink's target's: the link itself is
    // what the rename replaces). A new file: 0666 less the umask, as any program creates it.
    let existing = std::fs::symlink_metadata(target)
        .ok()
        .filter(Metadata::is_file);
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    if existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(dir)?;
    if let Some(meta) = &existing {
        keep_owner(temp.as_file(), meta)?;
        temp.as_file().set_permissions(meta.permissions())?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(Staged {
        target: target.to_path_buf(),
        dir: dir.to_path_buf(),
        temp,
    })
}

/// Gives `file` the owner and group of `meta`'s file: the group always (refusing the write if
/// it cannot be kept, as a new group could widen who reads the file), the owner where permitted
/// (only root may give a file away). Before the mode is set: a change of owner clears set-id
/// bits.
#[cfg(unix)]
fn keep_owner(file: &File, meta: &Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, fchown};
    let ours = file.metadata()?;
    if ours.uid() == meta.uid() && ours.gid() == meta.gid() {
        return Ok(());
    }
    if fchown(file, Some(meta.uid()), Some(meta.gid())).is_ok() {
        return Ok(());
    }
    if ours.gid() == meta.gid() {
        return Ok(());
    }
    fchown(file, None, Some(meta.gid())).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot keep its group (gid {}): {e}; the original is untouched",
                meta.gid()
            ),
        )
    })
}

#[cfg(not(unix))]
fn keep_owner(_file: &File, _meta: &Metadata) -> std::io::Result<()> {
    Ok(())
}

impl Staged {
    /// Renames the temp file over the target and syncs the folder, so that after a power cut
    /// the folder holds the new file, not the old one (or, for a new file, none).
    fn commit(self) -> std::io::Result<()> {
        self.temp.persist(&self.target).map_err(|e| e.error)?;
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

/// Writes `bytes` to `target` through a temp file in the same folder and a rename: readers see
/// the old file or the new one, never part of one. A replaced file keeps its mode, group and
/// (where permitted) owner; a new one gets `0666` less the umask. A symlink at `target` is
/// replaced by the file, never written through (resolve it first to write its target).
pub fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let error = |source| WriteError {
        path: target.to_path_buf(),
        source,
    };
    stage(target, bytes).map_err(error)?.commit().map_err(error)
}

/// Writes every `(target, bytes)` or none. Every file is staged (written and synced under a
/// temp name beside its target) before the first rename; then each is renamed over its target,
/// and if a rename fails, the targets already renamed get their previous file back (or are
/// removed, if new). Nothing is left behind on an error path.
///
/// "None" holds against errors, not crashes: a process killed between two renames leaves some
/// targets new and some old (each one whole), plus temp files that the next write into the
/// folder sweeps away ([`sweep_leftovers`]).
pub fn write_all_or_nothing(files: &[(PathBuf, &[u8])]) -> Result<(), WriteError> {
    // A folder where a file should be cannot be renamed over: found before anything is staged.
    for (target, _) in files {
        if let Ok(meta) = std::fs::symlink_metadata(target)
            && meta.is_dir()
        {
            return Err(WriteError {
                path: target.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "a folder is in the way",
                ),
            });
        }
    }
    let mut staged = Vec::with_capacity(files.len());
    for (target, bytes) in files {
        let s = stage(target, bytes).map_err(|source| WriteError {
            path: target.clone(),
            source,
        })?;
        staged.push(s);
    }
    // What each target was before: a hard link to it under a temp name (removed when dropped),
    // or nothing for a target that is new.
    let mut done: Vec<(PathBuf, Option<tempfile::NamedTempFile<()>>)> = Vec::new();
    for s in staged {
        let target = s.target.clone();
        let fail = |source, done: Vec<_>| {
            roll_back(done);
            WriteError {
                path: target.clone(),
                source,
            }
        };
        let before = match std::fs::symlink_metadata(&target) {
            Ok(_) => match tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .suffix(TEMP_SUFFIX)
                .make_in(&s.dir, |p| std::fs::hard_link(&target, p))
            {
                Ok(link) => Some(link),
                Err(e) => return Err(fail(e, done)),
            },
            Err(_) => None,
        };
        if let Err(e) = s.commit() {
            return Err(fail(e, done));
        }
        done.push((target, before));
    }
    Ok(())
}

/// Puts back what [`write_all_or_nothing`] replaced, newest first.
fn roll_back(done: Vec<(PathBuf, Option<tempfile::NamedTempFile<()>>)>) {
    for (target, before) in done.into_iter().rev() {
        let _ = match before {
            Some(link) => link.persist(&target).map(|_| ()).map_err(|e| e.error),
            None => std::fs::remove_file(&target),
        };
    }
}

/// Removes the temp files a run killed mid-write (SIGKILL, power loss) left in `dir`, where
/// nothing removes them otherwise. Only names of [`write_atomically`]'s pattern, and only
/// regular files, are touched. A batch writing into the same folder at this moment would see
/// its rename fail (and report that file as failed, original untouched), never a partial file.
pub(crate) fn sweep_leftovers(dir: &Path) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reads_stop_one_byte_past_the_cap() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap().unwrap(), b"abc");
        assert!(read_capped(&b"abcd"[..], 3).unwrap().is_none());
        // An endless source costs the cap, not memory without end.
        assert!(read_capped(std::io::repeat(b'x'), 1024).unwrap().is_none());
    }

    #[test]
    fn a_later_failure_rolls_back_earlier_renames() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.ics");
        std::fs::write(&a, "old a").unwrap();
        let b = dir.path().join("b.ics");
        // A target whose folder cannot be made: staging fails before any rename.
        std::fs::write(dir.path().join("blocker"), "").unwrap();
        let c = dir.path().join("blocker").join("c.ics");
        let err = write_all_or_nothing(&[(a.clone(), b"new a"), (b.clone(), b"new b"), (c, b"c")])
            .unwrap_err();
        assert!(err.path.ends_with("blocker/c.ics"), "{err}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert!(!b.exists());
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.ics", "blocker"]);
    }

    #[test]
    fn rollback_restores_the_replaced_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.ics");
        std::fs::write(&a, "old a").unwrap();
        let b = dir.path().join("b.ics");
        let staged_a = stage(&a, b"new a").unwrap();
        let staged_b = stage(&b, b"new b").unwrap();
        let link = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .make_in(dir.path(), |p| std::fs::hard_link(&a, p))
            .unwrap();
        staged_a.commit().unwrap();
        staged_b.commit().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        roll_back(vec![(a.clone(), Some(link)), (b.clone(), None)]);
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert!(!b.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
