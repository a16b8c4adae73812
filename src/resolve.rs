//! The whole pipeline: request -> templates -> plan -> links -> invites.

use serde::Serialize;

use crate::ics::invite::{CalendarOptions, IcsError, invite_ics};
use crate::mint::{Link, MintError, Minter, mint_all};
use crate::plan::{Located, Plan, TemplateSet};
use crate::render::{Invite, RenderError, render};
use crate::request::Request;

pub use crate::util::DEFAULT_CONCURRENCY;

/// Everything a resolved request produced.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// One link per planned session.
    pub links: Vec<Link>,
    /// Every invite, with its tokens replaced.
    pub invites: Vec<Invite>,
}

/// Why a request could not be resolved. Nothing is output for it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// Unknown tokens, or tokens that cannot be bound: every one of them.
    #[error("{} problem(s) in the request's templates", .0.len())]
    Templates(Vec<Located>),
    /// A session could not be minted.
    #[error(transparent)]
    Mint(#[from] MintError),
    /// The invites could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// An invite's `.ics` could not be written.
    #[error(transparent)]
    Ics(#[from] IcsError),
}

/// Lexes and plans a request without minting anything.
pub fn plan(request: &Request) -> Result<Plan, ResolveError> {
    let templates = TemplateSet::parse(request).map_err(ResolveError::Templates)?;
    Plan::new(request, &templates).map_err(ResolveError::Templates)
}

/// Resolves a request: plans it, mints every session once with `minter`, renders every invite
/// and its `.ics` (default [`CalendarOptions`]: stamped now). Fails closed: on any error, no
/// invite is returned.
pub async fn resolve<M: Minter>(request: &Request, minter: &M) -> Result<Resolution, ResolveError> {
    resolve_with(request, minter, &CalendarOptions::default()).await
}

/// [`resolve`], with the organizer, sequence and stamp of the invites' `.ics` given.
pub async fn resolve_with<M: Minter>(
    request: &Request,
    minter: &M,
    calendar: &CalendarOptions,
) -> Result<Resolution, ResolveError> {
    resolve_limited(request, minter, calendar, DEFAULT_CONCURRENCY).await
}

/// [`resolve_with`], minting at most `concurrency` sessions at a time (1: one after another).
pub async fn resolve_limited<M: Minter>(
    request: &Request,
    minter: &M,
    calendar: &CalendarOptions,
    concurrency: usize,
) -> Result<Resolution, ResolveError> {
    let templates = TemplateSet::parse(request).map_err(ResolveError::Templates)?;
    let plan = Plan::new(request, &templates).map_err(ResolveError::Templates)?;
    let links = mint_all(minter, &plan, concurrency).await?;
    let mut invites = render(request, &templates, &links).map_err(|e| match e {
        RenderError::Unbound(found) => ResolveError::Templates(found),
        other => ResolveError::Render(other),
    })?;
    for invite in &mut invites {
        invite.ics = invite_ics(request, &links, invite, calendar)?;
    }
    Ok(Resolution { links, invites })
}
