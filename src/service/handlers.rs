//! The routes: each extracts its input, calls the engine and maps the result; what an error
//! means for HTTP is decided once, in [`problem_of`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::auth::Tokens;
use super::config::ServiceConfig;
use super::problem::{PROBLEM_JSON, Problem};
use crate::engine::check;
use crate::{
    ClientError, Engine, EngineError, IcsOptions, MintRecord, Outcome, Request as Req,
    ResolveError, ResolveOptions, State as RecordState,
};

/// How long `/readyz` waits for the ledger.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The name a request body is shown as in findings.
const BODY: &str = "request";

/// What every route shares.
#[derive(Debug, Clone)]
pub(crate) struct State(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    engine: Arc<Engine>,
    config: ServiceConfig,
    tokens: Tokens,
    /// Each tenant's permits for requests in progress.
    permits: HashMap<String, Arc<Semaphore>>,
}

impl State {
    pub(crate) fn new(engine: Arc<Engine>, config: ServiceConfig, per_tenant: usize) -> State {
        let tokens = Tokens::new(&config);
        let permits = config
            .tenants
            .iter()
            .map(|t| (t.tenant.id.clone(), Arc::new(Semaphore::new(per_tenant))))
            .collect();
        State(Arc::new(Inner {
            engine,
            config,
            tokens,
            permits,
        }))
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.0.engine
    }

    fn shared_engine(&self) -> Arc<Engine> {
        Arc::clone(&self.0.engine)
    }

    /// The webhook of tenant `id`, if it has one.
    pub(crate) fn webhook(&self, id: &str) -> Option<&super::config::WebhookConfig> {
        self.0.config.tenant(id)?.webhook.as_ref()
    }
}

type AppState = axum::extract::State<State>;

/// The tenant a request acts as, from its bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Tenant(String);

/// Every `/v1` route: the bearer token names the tenant, or the answer is 401 naming nothing.
pub(crate) async fn authenticate(
    axum::extract::State(state): AppState,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let Some(tenant) = state.0.tokens.tenant(header).map(str::to_owned) else {
        return Problem::unauthorized().into_response();
    };
    tracing::Span::current().record("tenant", tenant.as_str());
    // Held until the answer is made; the request timeout bounds the wait.
    let _permit = match state.0.permits.get(&tenant) {
        Some(permits) => Some(Arc::clone(permits).acquire_owned().await),
        None => None,
    };
    request.extensions_mut().insert(Tenant(tenant));
    next.run(request).await
}

#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, description = "alive", body = String, content_type = "text/plain")))]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/readyz", tag = "probes", responses((status = 200, description = "the ledger answers", body = String, content_type = "text/plain"),
        (status = 503, description = "the ledger does not answer", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn readyz(axum::extract::State(state): AppState) -> Response {
    // A read by an id no interview has (PostgreSQL refuses NUL in text, so none of that).
    let probe = state
        .engine()
        .ledger()
        .list(Some(".invitoken-readyz-probe"));
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(_)) => "ready\n".into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the ledger failed");
            unavailable("the mint ledger does not answer; the service cannot mint until it does")
                .into_response()
        }
        Err(_) => unavailable("the mint ledger did not answer in time").into_response(),
    }
}

pub(crate) async fn no_route() -> Problem {
    Problem::not_found("no such route; the routes are under /v1 (see the README)")
}

/// A query's `remint_deleted`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reminting {
    #[serde(default)]
    remint_deleted: bool,
}

type Remint = Result<Query<Reminting>, axum::extract::rejection::QueryRejection>;

fn remint(query: Remint) -> Result<bool, Problem> {
    query.map(|q| q.0.remint_deleted).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "Bad query",
            format!(
                "{}; the only parameter is remint_deleted=true|false",
                crate::shown(&e.body_text())
            ),
        )
    })
}

/// The body as UTF-8 text.
fn text(body: &Bytes) -> Result<&str, Problem> {
    std::str::from_utf8(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "not-utf8",
            "The body is not UTF-8",
            format!(
                "the body is not UTF-8 text (byte {}): send it as UTF-8",
                e.valid_up_to()
            ),
        )
    })
}

/// The body as a checked request, or 422 with every problem.
fn request(body: &Bytes) -> Result<Req, Problem> {
    Req::from_json(text(body)?).map_err(|e| {
        Problem::invalid(
            "invalid-request",
            format!("{e}; nothing was minted"),
            check::request_error(BODY, &e),
        )
    })
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or("").trim();
    Some(essence.to_ascii_lowercase())
}

/// `POST /v1/check`: a request, a template or an `.ics` by its content type.
#[utoipa::path(post, path = "/v1/check", tag = "v1", security(("bearer" = [])),
    request_body(content = String, description = "a request (application/json), a template (text/plain, text/html) or an .ics (text/calendar)"),
    responses((status = 200, description = "no problem: the tokens found", body = Object),
        (status = 401, description = "no or an unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "the body is over --max-body", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "another media type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a bad request or template: findings with line, column, help, field", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn check(headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let checked = match content_type(&headers).as_deref() {
        None | Some("application/json") => check::request_json(BODY, text(&body)?),
        Some("text/calendar") => check::ics(BODY, &body, &IcsOptions::default()),
        Some("text/plain") => check::template(BODY, text(&body)?, false),
        Some("text/html") => check::template(BODY, text(&body)?, true),
        Some(_) => {
            return Err(unsupported(
                "application/json, text/calendar, text/plain or text/html",
            ));
        }
    };
    if checked.problems.is_empty() {
        Ok(Json(checked).into_response())
    } else {
        Err(Problem::invalid(
            "invalid-input",
            format!("{} problem(s) found", checked.problems.len()),
            checked.problems,
        ))
    }
}

#[utoipa::path(post, path = "/v1/plan", tag = "v1", security(("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "the CLI's request JSON (README: The request)"),
    responses((status = 200, description = "the mints the request needs (the CLI's plan)", body = Object),
        (status = 401, description = "no or an unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "the body is over --max-body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a bad request or template: findings with line, column, help, field", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn plan(
    axum::extract::State(state): AppState,
    body: Bytes,
) -> Result<Response, Problem> {
    let request = request(&body)?;
    match state.engine().plan(&request) {
        Ok(plan) => Ok(Json(plan).into_response()),
        Err(e) => Err(problem_of(e, Some(&request))),
    }
}

#[utoipa::path(post, path = "/v1/resolve", tag = "v1", security(("bearer" = [])), params(("remint_deleted" = Option<bool>, Query, description = "mint new sessions for keys whose sessions were deleted (cancelled); without it such a request is 409")), request_body(content = Object, content_type = "application/json", description = "the CLI's request JSON (README: The request)"),
    responses((status = 200, description = "the CLI's resolve output: links, invites and their .ics", body = Object),
        (status = 401, description = "no or an unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "a session the request needs was deleted (cancelled); send ?remint_deleted=true to mint new ones", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "the body is over --max-body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a bad request or template: findings with line, column, help, field", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "CodeSignal refused (the tenant's settings must change)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "minting, CodeSignal or the ledger failed for now; retry (Retry-After)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn resolve(
    axum::extract::State(state): AppState,
    axum::Extension(Tenant(tenant)): axum::Extension<Tenant>,
    query: Remint,
    body: Bytes,
) -> Result<Response, Problem> {
    let remint_deleted = remint(query)?;
    let request = request(&body)?;
    let options = ResolveOptions {
        remint_deleted,
        ..ResolveOptions::default()
    };
    if !remint_deleted {
        refuse_deleted(&state, &tenant, &request).await?;
    }
    let engine = state.shared_engine();
    let (result, request) = detached(async move {
        let result = engine.resolve(&tenant, &request, &options).await;
        (result, request)
    })
    .await?;
    match result {
        Ok(resolution) => Ok(Json(resolution).into_response()),
        Err(e) => Err(problem_of(e, Some(&request))),
    }
}

#[utoipa::path(post, path = "/v1/ics", tag = "v1", security(("bearer" = [])), params(("remint_deleted" = Option<bool>, Query, description = "mint new sessions for keys whose sessions were deleted (cancelled); without it such a request is 409")),
    request_body(content = String, content_type = "text/calendar", description = "one .ics file"),
    responses((status = 200, description = "the file with its tokens resolved, by batch's rules (lossless; cancelled events' tokens removed and their sessions deleted)", body = String, content_type = "text/calendar"),
        (status = 401, description = "no or an unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "a session the file needs was deleted (cancelled)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "the body is over --max-body", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "not text/calendar", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "the file cannot be rewritten: findings with line and column", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "CodeSignal refused (the tenant's settings must change)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "minting, CodeSignal or the ledger failed for now; retry (Retry-After)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn ics(
    axum::extract::State(state): AppState,
    axum::Extension(Tenant(tenant)): axum::Extension<Tenant>,
    headers: HeaderMap,
    query: Remint,
    body: Bytes,
) -> Result<Response, Problem> {
    let remint_deleted = remint(query)?;
    if let Some(kind) = content_type(&headers)
        && kind != "text/calendar"
    {
        return Err(unsupported("text/calendar"));
    }
    let options = ResolveOptions {
        remint_deleted,
        ..ResolveOptions::default()
    };
    let engine = state.shared_engine();
    let rewrite = detached(async move {
        engine
            .rewrite_ics(&tenant, &body, &IcsOptions::default(), &options)
            .await
    })
    .await?
    .map_err(|e| problem_of(e, None))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/calendar; charset=utf-8"),
        )],
        rewrite.file.bytes,
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/interviews/{id}/links", tag = "v1", security(("bearer" = [])), params(("id" = String, Path, description = "the interview id")),
    responses((status = 200, description = "the ledger's records of the interview (the CLI's links)", body = Vec<Object>),
        (status = 401, description = "no or an unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "this tenant has no session of the interview", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn links(
    axum::extract::State(state): AppState,
    axum::Extension(Tenant(tenant)): axum::Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Vec<MintRecord>>, Problem> {
    let records = state
        .engine()
        .links(&tenant, Some(&id))
        .await
        .map_err(|e| problem_of(e, None))?;
    if records.is_empty() {
        return Err(no_interview(&id));
    }
    Ok(Json(records))
}

#[utoipa::path(delete, path = "/v1/interviews/{id}", tag = "v1", security(("bearer" = [])), params(("id" = String, Path, description = "the interview id")),
    responses((status = 200, description = "what was done with each session (the CLI's cancel)", body = Vec<Object>),
        (status = 401, description = "no or an unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "this tenant has no session of the interview", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "some sessions could not be deleted: outcomes says which", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "minting, CodeSignal or the ledger failed for now; retry (Retry-After)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn cancel_interview(
    axum::extract::State(state): AppState,
    axum::Extension(Tenant(tenant)): axum::Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Outcome>>, Problem> {
    let engine = state.shared_engine();
    outcomes(detached(async move { engine.cancel(&tenant, &id, None).await }).await?)
}

#[utoipa::path(delete, path = "/v1/interviews/{id}/events/{event_id}", tag = "v1", security(("bearer" = [])), params(("id" = String, Path, description = "the interview id"), ("event_id" = String, Path, description = "the event id")),
    responses((status = 200, description = "what was done with each of the event's sessions", body = Vec<Object>),
        (status = 401, description = "no or an unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "this tenant has no session of the interview", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "some sessions could not be deleted: outcomes says which", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "minting, CodeSignal or the ledger failed for now; retry (Retry-After)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn cancel_event(
    axum::extract::State(state): AppState,
    axum::Extension(Tenant(tenant)): axum::Extension<Tenant>,
    Path((id, event)): Path<(String, String)>,
) -> Result<Json<Vec<Outcome>>, Problem> {
    let engine = state.shared_engine();
    outcomes(detached(async move { engine.cancel(&tenant, &id, Some(&event)).await }).await?)
}

#[utoipa::path(post, path = "/v1/refresh", tag = "v1", security(("bearer" = [])),
    responses((status = 200, description = "each upcoming session's outcome (the CLI's refresh)", body = Vec<Object>),
        (status = 401, description = "no or an unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "some sessions could not be extended: outcomes says which", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "minting, CodeSignal or the ledger failed for now; retry (Retry-After)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn refresh(
    axum::extract::State(state): AppState,
    axum::Extension(Tenant(tenant)): axum::Extension<Tenant>,
) -> Result<Json<Vec<Outcome>>, Problem> {
    let engine = state.shared_engine();
    outcomes(detached(async move { engine.refresh(&tenant).await }).await?)
}

/// Runs `work` (an operation that mints or deletes) on a task of its own, so that neither the
/// request timeout nor a client that hangs up cuts it short: a mint cut short leaves an intent
/// that blocks its key until its lease runs out, so the client's retry would wait; finished, it
/// is recorded, and the retry gets the same sessions at once.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, Problem> {
    use tracing::Instrument;
    tokio::spawn(work.instrument(tracing::Span::current()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "an operation failed unexpectedly");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the operation failed unexpectedly (a bug: please report it); what was minted is \
                 recorded, so sending the request again is safe",
            )
        })
}

/// A cancel's or refresh's outcomes: 502 listing them all when any session failed.
fn outcomes(result: Result<Vec<Outcome>, EngineError>) -> Result<Json<Vec<Outcome>>, Problem> {
    let outcomes = result.map_err(|e| problem_of(e, None))?;
    let failed = outcomes.iter().filter(|o| o.is_failure()).count();
    if failed == 0 {
        return Ok(Json(outcomes));
    }
    let mut p = Problem::new(
        StatusCode::BAD_GATEWAY,
        "sessions-failed",
        "Some sessions failed",
        format!(
            "{failed} of {} session(s) failed at the vendor (each outcome says why); the others \
             are done and recorded; send the same request again to retry the failed ones",
            outcomes.len()
        ),
    );
    p.outcomes = Some(outcomes);
    Err(p)
}

/// 409 when a session the request needs was deleted (cancelled) and `remint_deleted` was not
/// asked for: read from the ledger before minting, so no mint is even attempted.
async fn refuse_deleted(state: &State, tenant: &str, request: &Req) -> Result<(), Problem> {
    let Ok(plan) = state.engine().plan(request) else {
        // Bad templates: the resolve itself answers 422 with the findings.
        return Ok(());
    };
    let vendor = match state.0.config.tenant(tenant) {
        Some(t) => t.tenant.minter.vendor(),
        None => return Ok(()),
    };
    let interview = &request.interview().id;
    let records = state
        .engine()
        .links(tenant, Some(interview))
        .await
        .map_err(|e| problem_of(e, None))?;
    let deleted: Vec<String> = records
        .iter()
        .filter(|r| r.state == RecordState::Deleted && r.key.vendor == vendor)
        .filter(|r| plan.mints.iter().any(|m| m.key == r.key.mint))
        .map(|r| r.key.mint.to_string())
        .collect();
    if deleted.is_empty() {
        return Ok(());
    }
    Err(conflict(&format!(
        "the session(s) of {} were deleted (cancelled)",
        deleted.join("; ")
    )))
}

fn conflict(what: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "session-deleted",
        "A session was deleted",
        format!(
            "{}; nothing was minted. To mint new sessions for them, send the request again with \
             ?remint_deleted=true",
            crate::shown(what)
        ),
    )
}

fn no_interview(id: &str) -> Problem {
    Problem::not_found(format!(
        "no session of interview `{}` is recorded for this tenant",
        crate::shown(id)
    ))
}

fn unsupported(expected: &str) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        format!("send the body as {expected}"),
    )
}

fn unavailable(detail: &str) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service unavailable",
        detail,
    )
    .retry_after(5)
}

/// What an engine failure means for the client. `request`: the request whose templates a
/// finding is located in.
pub(crate) fn problem_of(e: EngineError, request: Option<&Req>) -> Problem {
    let problem = match &e {
        EngineError::Resolve(ResolveError::Templates(found)) => Problem::invalid(
            "invalid-template",
            format!("{}; nothing was minted", e),
            request.map_or_else(Vec::new, |r| check::located(BODY, r, found)),
        ),
        EngineError::Resolve(ResolveError::Render(crate::RenderError::Unbound(found))) => {
            Problem::invalid(
                "invalid-template",
                format!("{e}; no invite was output"),
                request.map_or_else(Vec::new, |r| check::located(BODY, r, found)),
            )
        }
        EngineError::InvalidIcs { problems } => Problem::invalid(
            "invalid-ics",
            format!("{e}"),
            problems
                .iter()
                .map(|p| check::file_error(BODY, p))
                .collect(),
        ),
        EngineError::NothingToCancel { interview, .. } => no_interview(interview),
        EngineError::UnknownTenant { .. } => Problem::not_found("no such tenant"),
        _ if is_deleted_session(&e) => conflict(&e.to_string()),
        _ => mint_problem(&e),
    };
    if problem.status >= 500 {
        tracing::warn!(status = problem.status, error = %e, "request failed");
    }
    problem
}

/// Whether `e` is a mint refused because the key's session was deleted.
fn is_deleted_session(e: &EngineError) -> bool {
    e.kind() == crate::ErrorKind::Deleted
}

/// A failure of minting, the vendor or the ledger: 503 when a retry may succeed, 502 when the
/// vendor refuses and the service's operator must act. Nothing is minted twice on a retry: the
/// ledger records every session.
fn mint_problem(e: &EngineError) -> Problem {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut client = None;
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<ClientError>() {
            client = Some(c);
            break;
        }
        source = s.source();
    }
    let retry = "send the same request again later: what was minted is recorded and will be reused";
    match client {
        Some(
            ClientError::Unauthorized
            | ClientError::AccessDenied { .. }
            | ClientError::InsecureEndpoint { .. }
            | ClientError::EndpointCredentials { .. }
            | ClientError::Redirect { .. }
            | ClientError::Tls { .. }
            | ClientError::GraphQl { .. }
            | ClientError::TooLarge { .. }
            | ClientError::Malformed { .. },
        ) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "vendor-refused",
            "CodeSignal refused",
            format!(
                "{e}; retrying will not help until the service's operator fixes this tenant's \
                 CodeSignal settings (tenants.toml)"
            ),
        ),
        Some(ClientError::Status { status, .. }) if *status < 500 && *status != 429 => {
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "vendor-refused",
                "CodeSignal refused",
                format!("{e}; retrying will not help until the request or the settings change"),
            )
        }
        _ if matches!(e.kind(), crate::ErrorKind::Config) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "configuration",
            "The service is misconfigured",
            format!("{e}; the service's operator must fix it"),
        ),
        _ => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "mint-failed",
            "Minting failed",
            format!("{e}; {retry}"),
        )
        .retry_after(30),
    }
}

/// Every error answer not made by a route (no route, wrong method, body over the limit, the
/// timeout) as a problem too.
pub(crate) async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    let problem = match status {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            "body-too-large",
            reason,
            "the body is over this service's limit (--max-body); split the work (one interview \
             or one .ics per request)",
        ),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "The request took too long",
            "the request did not finish in time; send it again: what was minted is recorded and \
             will be reused",
        )
        .retry_after(5),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method-not-allowed",
            reason,
            "this route does not take this method",
        ),
        _ => Problem::new(status, "http", reason, reason),
    };
    let mut out = problem.into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}
