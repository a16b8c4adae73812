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
//! [`resolve`] runs the whole pipeline. The token grammar is normative text in `grammar/`.
#![deny(missing_docs)]

pub mod batch;
pub mod ics;
pub mod ledger;
mod mint;
mod parse;
mod plan;
mod render;
mod request;
mod resolve;
mod util;

pub use ics::{CalendarOptions, IcsError, Organizer, invite_ics};
pub use ledger::{
    Action, Claim, Intent, Ledger, LedgerError, LedgerKey, LedgerMinter, MintRecord, Outcome,
    State, Vendor,
};
pub use mint::{
    ApiKey, Cached, ClientError, CodeSignalConfig, CodeSignalMinter, DEFAULT_ENDPOINT, KeyError,
    Link, LostSessions, MAX_EXPIRATION, MAX_RESPONSE_BYTES, MAX_URL_LEN, MIN_EXPIRATION, MintError,
    Minted, Minter, SafeUrl, SandboxMinter, SessionOp, Sessions, UrlError, VendorEffect, mint_all,
};
pub use parse::{
    Context, Finding, FindingKind, HtmlPlace, Piece, Product, Scope, Template, Token, Unknown,
    breaks_line, line_col, render_findings,
};
pub use plan::{
    Binding, Field, Invitation, InviteTemplates, Located, MintKey, Plan, PlannedMint, Role,
    TemplateSet, invitations,
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

/// The README's Rust examples run as doctests, so they cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
