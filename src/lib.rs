//! invitoken resolves the link tokens in interview calendar invites.
//!
//! A scheduling request ([`Request`]) carries an interview, its events and people, and invite
//! templates with tokens like `$Interview.CodeSignal.Live.Link`. The data goes through four
//! stages, one module each:
//!
//! 1. **parse**: [`Template::parse`] lexes a template into text and [`Token`]s, or fails with a
//!    [`Finding`] for every unknown token ([`render_findings`] shows them with a caret).
//! 2. **plan**: [`Plan::new`] groups token occurrences into one [`PlannedMint`] per session.
//! 3. **mint**: a [`Minter`] makes one URL per planned mint; [`SandboxMinter`] is the offline
//!    default. Every URL passes [`SafeUrl`] before it can reach an invite.
//! 4. **render**: [`render`] writes each [`Invite`], each value as its token's [`Context`]
//!    says: decided once when the templates are parsed (an HTML body's by a WHATWG tokenizer),
//!    followed alike by the planner and the renderer.
//!
//! [`resolve`] runs the whole pipeline. [`Engine`] runs every operation of the CLI (and of any
//! other front end) per tenant, over the durable [`Ledger`]. The token grammar is normative text
//! in `grammar/`.
//!
//! # Layers
//!
//! Each module uses only the modules below it: imports point down (a doc link, or a unit test,
//! may point up). The CLI (`src/cli/`, which `src/main.rs` only calls) and the service
//! (`src/service/`) sit on top and use the engine.
//!
//! ```text
//!  cli                the `invitoken` command (its `serve` starts the service)
//!  service            the HTTP service: routes, tokens, webhooks, the refresher, metrics
//!  engine             every operation, per tenant: check, plan, resolve, batch, links, cancel, refresh
//!  batch    resolve   many .ics files, one URL per key | one request: plan, mint, render
//!  ics                an .ics per invite (invite); lossless rewriting of .ics files (rewrite, line)
//!  render             invites with their values, escaped for their context
//!  ledger             durable intents and records around any Minter (SQLite, PostgreSQL)
//!  mint               the Minter seam: sandbox, CodeSignal client, SafeUrl, the link cache
//!  plan               invites, one walk over token occurrences, bindings, planned mints
//!  parse    request   templates, tokens, findings | the validated request
//!  util               terminal-safe text, URL redaction, capped and atomic file I/O, HTML escaping
//! ```
//!
//! The byte-level scanner (`ics::line`, `ics::rewrite`) and the ledger's SQL are private; what
//! users need is re-exported here. [`internals`] exposes the scanner to this crate's own tests
//! and benches only: it is not API.
#![deny(missing_docs)]

pub mod batch;
/// The `invitoken` command line: its arguments, exit codes and output, over [`Engine`]. Its
/// entry point is [`cli::main`]; the rest is the program's, not an API.
#[doc(hidden)]
pub mod cli;
pub mod engine;
mod ics;
mod ledger;
mod mint;
mod parse;
mod plan;
mod render;
mod request;
mod resolve;
pub mod service;
mod util;

pub use engine::{
    BatchJob, BatchReport, CheckReport, CheckedFile, CodeSignalSettings, ConfigError, Diagnostic,
    Engine, EngineBuilder, EngineError, ErrorKind, KeySource, MinterConfig, ResolveOptions,
    TenantConfig, WebhookOutcome,
};
pub use ics::invite::{DEFAULT_ORGANIZER, file_names, html_to_text, write_ics_files};
pub use ics::rewrite::{IcsOptions, is_icalendar};
pub use ics::{CalendarOptions, IcsError, Organizer, invite_ics, invite_uid};
pub use ledger::{
    Action, Claim, DEFAULT_LEASE, DEFAULT_SETTLE_AFTER, DEFAULT_TENANT, DEFAULT_WAIT, Delivery,
    DeliveryClaim, Intent, Ledger, LedgerError, LedgerKey, LedgerMinter, MintRecord, MintTicket,
    Outcome, STALE_AFTER, State, Turn, TurnClaim, TurnRecord, Vendor, shown_location, sqlite_files,
};
pub use mint::{
    ApiKey, Cached, ClientError, CodeSignalConfig, CodeSignalMinter, DEFAULT_ENDPOINT, KeyError,
    Link, LostSessions, MAX_EXPIRATION, MAX_RESPONSE_BYTES, MAX_URL_LEN, MIN_EXPIRATION, MintCache,
    MintError, Minted, Minter, SafeUrl, SandboxMinter, SessionOp, Sessions, UrlError, VendorEffect,
    mint_all,
};
pub use parse::{
    Context, Finding, FindingKind, HtmlPlace, Piece, Product, Scope, Template, Token, Unknown,
    breaks_line, line_col, render_findings,
};
pub use plan::{
    Binding, Field, Invitation, InviteTemplates, InviteWalk, Located, MintKey, Occurrence, Part,
    Plan, PlannedMint, Role, TemplateSet, invitations, invites,
};
pub use render::{Invite, RenderError, escape_html, format_time, one_line, render};
pub use request::{
    Candidate, CodeSignalOptions, Event, Format, Interview, Interviewer, Invalid, InviteTemplate,
    Request, RequestError, Templates,
};
pub use resolve::{
    DEFAULT_CONCURRENCY, Resolution, ResolveError, plan, resolve, resolve_limited, resolve_with,
};
pub use util::fs::{
    DEFAULT_MAX_FILE_SIZE, FileId, MAX_KEY_FILE_SIZE, ReadError, Regular, WriteError, read_capped,
    read_regular, write_all_or_nothing, write_atomically,
};
pub use util::{
    MAX_SHOWN, MAX_SHOWN_PATH, has_credentials, redact_url, shown, shown_path, shown_with,
};

/// The `.ics` scanner, for this crate's tests and benches: not API, no stability promise.
#[doc(hidden)]
pub mod internals {
    pub use crate::ics::{line, rewrite};
}

/// The README's Rust examples run as doctests, so they cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
