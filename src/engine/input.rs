//! Reading what an operation is given: files (capped, regular only) or standard input, as UTF-8
//! text with a located error where it is not.

use std::path::Path;

/// Why an input could not be read. The message names the input as shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The input could not be read (missing, a folder, a device, too large...).
    #[error("{message}")]
    Unreadable {
        /// The input, as shown.
        name: String,
        /// What went wrong and how to fix it (names the input).
        message: String,
    },
    /// The input is not UTF-8 text.
    #[error("{name}:{line}:{column}: not UTF-8 (byte {byte}); save the file as UTF-8")]
    NotUtf8 {
        /// The input, as shown.
        name: String,
        /// 1-based line of the first bad byte.
        line: usize,
        /// 1-based column (characters) of the first bad byte.
        column: usize,
        /// Its offset.
        byte: usize,
    },
}

/// `path` as shown in messages: `<stdin>` for `-`, else escaped (a file name may hold ESC or
/// CR) and capped.
pub fn input_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        crate::shown_path(path)
    }
}

/// The bytes of a template, request or .ics: a regular file of at most `cap` bytes, or `-` for
/// standard input (capped too).
pub fn read_input(path: &Path, cap: u64) -> Result<Vec<u8>, InputError> {
    if path == Path::new("-") {
        let unreadable = |message: String| InputError::Unreadable {
            name: "<stdin>".into(),
            message,
        };
        crate::read_capped(std::io::stdin().lock(), cap)
            .map_err(|e| unreadable(format!("cannot read <stdin>: {e}")))?
            .ok_or_else(|| stdin_too_large(cap))
    } else {
        crate::read_regular(path, cap)
            .map(|r| r.bytes)
            .map_err(|e| InputError::Unreadable {
                name: input_name(path),
                message: e.to_string(),
            })
    }
}

/// Standard input gave more than `cap` bytes.
pub(crate) fn stdin_too_large(cap: u64) -> InputError {
    InputError::Unreadable {
        name: "<stdin>".into(),
        message: format!(
            "<stdin> is larger than the limit of {cap} bytes; nothing of it was used \
             (raise the limit with --max-file-size)"
        ),
    }
}

/// Why the input `path` (`-`: standard input) could not be read on: `None` when it gave more than
/// `cap` bytes, else the error reading it. Says what [`read_input`] says.
pub(crate) fn read_failed(path: &Path, cap: u64, e: Option<std::io::Error>) -> InputError {
    if path == Path::new("-") {
        return match e {
            None => stdin_too_large(cap),
            Some(e) => InputError::Unreadable {
                name: "<stdin>".into(),
                message: format!("cannot read <stdin>: {e}"),
            },
        };
    }
    let path = path.to_path_buf();
    let e = match e {
        None => crate::ReadError::TooLarge {
            path: path.clone(),
            cap,
        },
        Some(source) => crate::ReadError::Io {
            path: path.clone(),
            source,
        },
    };
    InputError::Unreadable {
        name: input_name(&path),
        message: e.to_string(),
    }
}

/// `bytes` read from the input shown as `name`, as UTF-8 text.
pub fn input_text(name: &str, bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = String::from_utf8_lossy(&e.as_bytes()[..at]);
        let (line, column) = crate::line_col(&before, at);
        InputError::NotUtf8 {
            name: name.to_owned(),
            line,
            column,
            byte: at,
        }
    })
}

/// [`read_input`] then [`input_text`].
pub fn read_text(path: &Path, cap: u64) -> Result<String, InputError> {
    input_text(&input_name(path), read_input(path, cap)?)
}
