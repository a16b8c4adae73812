//! Small pieces every layer needs: text that is safe to show, and URLs without their secrets.
//!
//! Anything that reaches a terminal, a log line, an error message or the ledger's `last_error`
//! and did not come from us (a file name, a template excerpt, a server's message, a URL) goes
//! through [`shown`] or [`redact_url`] first. Files are read and written through [`fs`]: regular
//! files only, size-capped, written atomically.

pub(crate) mod fs;
pub(crate) mod html;
mod text;
mod url;

pub(crate) use text::needs_escape;
pub use text::{MAX_SHOWN, MAX_SHOWN_PATH, shown, shown_path, shown_with};
pub use url::{has_credentials, redact_url};

/// How many sessions are minted at once unless told otherwise: by `resolve`, and by the
/// CodeSignal client's own limit. Here, below both, so the client needs nothing from above it.
pub const DEFAULT_CONCURRENCY: usize = 8;
