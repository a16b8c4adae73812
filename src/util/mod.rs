//! Small pieces every layer needs: text that is safe to show, and URLs without their secrets.
//!
//! Anything that reaches a terminal, a log line, an error message or the ledger's `last_error`
//! and did not come from us (a file name, a template excerpt, a server's message, a URL) goes
//! through [`shown`] or [`redact_url`] first.

mod text;
mod url;

pub(crate) use text::needs_escape;
pub use text::{MAX_SHOWN, shown, shown_with};
pub use url::redact_url;
