//! A fake CodeSignal GraphQL API: a real HTTP/1.1 server on 127.0.0.1 for the client's tests, the
//! benches and `cargo run --example fake_codesignal`.
//!
//! Every request is parsed and validated against `codesignal.graphql` (a copy of the schema subset
//! CodeSignal publishes) with `apollo-compiler`, its variables are coerced to their declared types,
//! and the operation runs on `apollo-compiler`'s executor, so aliases, fragments, `__typename`,
//! `@skip`/`@include` and null propagation behave as on a real GraphQL server. What the fake adds
//! is a record of everything it received and faults injected on demand ([`Fault`]).
//!
//! Order of work for one request: the configured latency; `POST /graphql` with a JSON body, else
//! 404/405/415/413; the `Authorization` header (exactly `Bearer <key>`), else 401; the document is
//! parsed, validated and its variables coerced, else 400 with the GraphQL errors (as Apollo
//! Server answers); then the first queued fault whose [`Op`] matches is taken and applied. Refused
//! and invalid requests are recorded but take no fault.
//!
//! Only the test code uses this; it depends on dev-dependencies only, never on the crate itself.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apollo_compiler::ast;
use apollo_compiler::executable::{Operation, OperationType};
use apollo_compiler::parser::Parser;
use apollo_compiler::request::coerce_variable_values;
use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{GraphQLError, JsonMap, JsonValue};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Node, Schema};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The schema subset the fake serves (a verbatim copy of `shared/codesignal/schema.graphql`).
pub const SCHEMA: &str = include_str!("codesignal.graphql");

/// The key [`FakeConfig::default`] accepts.
pub const DEFAULT_API_KEY: &str = "test-key-0123456789abcdef";

/// The suffix [`Fault::EvilUrl`] appends to both URLs of the reply.
pub const EVIL_SUFFIX: &str = "\r\nATTENDEE:mailto:evil@example.com";

/// Limits: this is a loopback test server, but nothing it keeps or reads is unbounded.
const MAX_BODY: usize = 1 << 20;
const MAX_CONNECTIONS: usize = 256;
const MAX_RECEIVED: usize = 100_000;
const MAX_SESSIONS: usize = 100_000;
const MAX_PAGE: i64 = 10_000;
const RECURSION_LIMIT: usize = 64;
const TOKEN_LIMIT: usize = 20_000;
const HANG: Duration = Duration::from_secs(3600);

/// How the fake starts.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The only key accepted, as `Authorization: Bearer <api_key>`.
    pub api_key: String,
    /// Added to every request before it is looked at (default none).
    pub latency: Duration,
    /// Print one line per request to stderr (the example turns it on).
    pub log_requests: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            api_key: DEFAULT_API_KEY.into(),
            latency: Duration::ZERO,
            log_requests: false,
        }
    }
}

/// Which requests a fault applies to, and what kind of request was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// As a fault's target: every request. As a received request's kind: one that is not one of
    /// the others (unparsable, another field, or refused before its body was read).
    Any,
    /// `createLiveInterview`.
    Create,
    /// `liveInterview`, `liveInterviews` (and the template queries).
    Query,
    /// `editLiveInterview`.
    Edit,
    /// `deleteLiveInterview`.
    Delete,
}

impl Op {
    fn matches(self, request: Op) -> bool {
        self == Op::Any || self == request
    }
}

/// A fault injected into the one next valid, authorized request whose [`Op`] matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This one request is slow (on top of the configured latency); then it is served normally.
    Latency(Duration),
    /// HTTP status `code` with a plain-text body; not executed. N x 503 = push it N times.
    Status(u16),
    /// HTTP 429 with `Retry-After: <retry_after_secs>`; not executed.
    TooManyRequests { retry_after_secs: u64 },
    /// HTTP 200 with a GraphQL error "Rate limit exceeded" (`extensions.code` "RATE_LIMITED");
    /// not executed.
    GraphQlRateLimit,
    /// Never answers (the connection stays open for an hour); not executed.
    Hang,
    /// HTTP 200 with the field null and the error "Access Denied" at its path; not executed.
    AccessDenied,
    /// HTTP 401 as for a wrong key, even though the key was right; not executed.
    Unauthorized,
    /// Executed (a create makes its session), then the connection is closed with no response.
    LoseReply,
    /// Executed, then the reply is held back this long (past the client's timeout).
    LoseReplyAfter(Duration),
    /// Executed, but the reply's `url` and `shortenedUrl` end with [`EVIL_SUFFIX`] (the stored
    /// session keeps its clean URLs).
    EvilUrl,
    /// Executed, but the reply is HTTP 200 JSON off the schema: `{"data":{"<field>":{"id":5}}}`.
    MalformedBody,
    /// Committed this long after the request arrived, whatever became of the connection (the
    /// work goes on in a task of its own, as on a server whose client timed out); the reply,
    /// if anyone still waits for it, follows the commit.
    LateCommit(Duration),
    /// Executed, then answered with garbage instead of the result.
    GarbageAfterCommit(Garbage),
    /// Not executed: HTTP `status` with `Location: location`.
    Redirect { status: u16, location: String },
    /// Executed, then answered HTTP 200 with a JSON body of about `size` bytes (a session whose
    /// `candidateName` is huge): with a `Content-Length`, or `streamed` in chunks without one.
    HugeBody { size: usize, streamed: bool },
    /// Not executed: HTTP 200, `data` null (or the field null) and one GraphQL error with this
    /// message, as written.
    ErrorMessage(String),
    /// Executed, and answered with the field null and one GraphQL error with this message.
    ExecutedWithError(String),
    /// Executed, but the reply's session carries `url` twice: first its own, then one on
    /// `evil.example` (what a parser letting the last key win would take).
    DuplicateUrl,
    /// Executed, but only the reply's `shortenedUrl` ends with [`EVIL_SUFFIX`].
    EvilShortUrl,
    /// Executed, but the reply's `url` ends with this text.
    UrlSuffix(String),
    /// Executed, but a list in the reply names every session twice.
    ListTwice,
    /// Executed, then answered HTTP `status` with `body` as written, where `{session}` stands
    /// for the field's real answer (its JSON).
    ExecutedThen { status: u16, body: String },
}

/// What [`Fault::GarbageAfterCommit`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// HTTP 200, `text/html`, an HTML page.
    Html,
    /// HTTP 200, `application/json`, text that is not JSON.
    NotJson,
    /// HTTP 200, `{"data":{"<field>":null}}` without an error.
    NullField,
    /// The connection is reset after the request was read (no response).
    Reset,
}

/// One HTTP request as the fake saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    pub op: Op,
    /// The first top-level field, e.g. "createLiveInterview" ("" when there is none to be read).
    pub field: String,
    /// The request's `variables` as sent (null when absent).
    pub variables: Value,
    /// That field's arguments as written, with the variables substituted (an object).
    pub arguments: Value,
    /// Whether `Authorization` was exactly `Bearer <api_key>`.
    pub authorized: bool,
    /// The HTTP status answered; 0 when no response was sent ([`Fault::Hang`],
    /// [`Fault::LoseReply`]).
    pub status: u16,
}

/// A live interview as the fake stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub candidate_email: Option<String>,
    pub candidate_name: Option<String>,
    pub interviewer_id: Option<String>,
    pub template_id: Option<String>,
    pub lock_template: Option<bool>,
    pub expiration_time_ms: Option<i64>,
    /// A `LiveInterviewStatus` value: "pending", "deleted", ...
    pub status: String,
    pub url: String,
    pub shortened_url: String,
    pub created_at_ms: i64,
}

/// The running fake. Dropping it stops the server and every connection it holds.
pub struct FakeCodeSignal {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl fmt::Debug for FakeCodeSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCodeSignal")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

struct Shared {
    api_key: String,
    log: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    latency: Duration,
    faults: VecDeque<(Op, Fault)>,
    received: VecDeque<Received>,
    sessions: Vec<Session>,
    creates: usize,
    next_id: u64,
    /// `createLiveInterview` requests being served now, and the most there ever were at once.
    creates_in_flight: usize,
    max_creates_in_flight: usize,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not take every later request down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, received: Received) {
        let mut state = self.state();
        if state.received.len() >= MAX_RECEIVED {
            state.received.pop_front();
        }
        state.received.push_back(received);
    }
}

impl Drop for FakeCodeSignal {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeCodeSignal {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime.
    pub async fn start(config: FakeConfig) -> FakeCodeSignal {
        FakeCodeSignal::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config)
            .await
            .expect("bind 127.0.0.1:0 for the fake CodeSignal")
    }

    /// Binds `addr` (the example's `--port`) and serves on the current tokio runtime.
    pub async fn start_on(addr: SocketAddr, config: FakeConfig) -> std::io::Result<FakeCodeSignal> {
        schema(); // Parse the schema now, not inside the first request.
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            api_key: config.api_key,
            log: config.log_requests,
            state: Mutex::new(State {
                latency: config.latency,
                next_id: 1,
                ..State::default()
            }),
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(FakeCodeSignal {
            addr,
            shared,
            server,
        })
    }

    /// Numbers the next sessions from `n` (`li-<n>`...): a test on a ledger that outlives it (a
    /// shared PostgreSQL database) takes ids no earlier run recorded, as real sessions would.
    pub fn set_next_id(&self, n: u64) {
        self.shared.state.lock().unwrap().next_id = n;
    }

    /// `http://127.0.0.1:PORT/graphql`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Queues `fault` for the one next valid, authorized request whose kind `on` matches (FIFO).
    pub fn push_fault(&self, on: Op, fault: Fault) {
        self.shared.state().faults.push_back((on, fault));
    }

    /// Faults queued and not yet taken.
    pub fn pending_faults(&self) -> usize {
        self.shared.state().faults.len()
    }

    /// Latency added to every request from now on.
    pub fn set_latency(&self, d: Duration) {
        self.shared.state().latency = d;
    }

    /// Every HTTP request, in the order the fake decided on them, refused ones included.
    pub fn received(&self) -> Vec<Received> {
        self.shared.state().received.iter().cloned().collect()
    }

    /// Every session, seeded or created, oldest first, in its current state.
    pub fn sessions(&self) -> Vec<Session> {
        self.shared.state().sessions.clone()
    }

    /// The most `createLiveInterview` requests served at the same time (from when the request
    /// was read to when it was answered, faults' delays included).
    pub fn max_creates_in_flight(&self) -> usize {
        self.shared.state().max_creates_in_flight
    }

    /// How many `createLiveInterview` really created a session.
    pub fn creates(&self) -> usize {
        self.shared.state().creates
    }

    /// Sets the `LiveInterviewStatus` of session `id` (as when the interview ends: "over");
    /// `false` when the fake has no such session.
    pub fn set_status(&self, id: &str, status: &str) -> bool {
        let mut state = self.shared.state();
        match state.sessions.iter_mut().find(|s| s.id == id) {
            Some(s) => {
                s.status = status.to_owned();
                true
            }
            None => false,
        }
    }

    /// Adds a session that existed before (not counted in [`FakeCodeSignal::creates`]).
    pub fn seed_session(&self, s: Session) {
        self.shared.state().sessions.push(s);
    }
}

/// The schema, parsed and validated once per process.
pub fn schema() -> &'static Valid<Schema> {
    static SCHEMA_CELL: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA_CELL.get_or_init(|| {
        Schema::parse_and_validate(SCHEMA, "codesignal.graphql")
            .expect("tests/support/codesignal.graphql is a valid schema")
    })
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here, so aborting this task (on drop) also aborts every connection, hung ones included.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            connections.join_next().await;
            continue;
        }
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: wait instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |request| handle(shared.clone(), request));
            // An error here is a client gone away or a deliberately lost reply.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Returned by the service to make hyper drop the connection without writing a response.
#[derive(Debug)]
struct LostReply;

impl fmt::Display for LostReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reply deliberately lost")
    }
}

impl std::error::Error for LostReply {}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &Value) -> Reply {
    reply_text(status, body.to_string())
}

fn reply_text(status: StatusCode, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn errors(status: StatusCode, message: &str) -> Reply {
    reply(status, &json!({"errors": [{"message": message}]}))
}

/// What is known of a request before it is validated: enough to record it and to match faults.
struct Seen {
    op: Op,
    field: String,
    /// The field's response key (its alias, if any).
    key: String,
    variables: Value,
    arguments: Value,
    authorized: bool,
}

impl Seen {
    fn new(authorized: bool) -> Seen {
        Seen {
            op: Op::Any,
            field: String::new(),
            key: String::new(),
            variables: Value::Null,
            arguments: json!({}),
            authorized,
        }
    }

    fn received(&self, status: u16) -> Received {
        Received {
            op: self.op,
            field: self.field.clone(),
            variables: self.variables.clone(),
            arguments: self.arguments.clone(),
            authorized: self.authorized,
            status,
        }
    }
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Reply, LostReply> {
    let latency = shared.state().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let authorized = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key == shared.api_key);
    let mut seen = Seen::new(authorized);
    let outcome = serve_request(&shared, request, &mut seen).await;
    if seen.op == Op::Create {
        shared.state().creates_in_flight -= 1;
    }
    let status = match &outcome {
        Outcome::Reply(r) | Outcome::Late(r, _) => r.status().as_u16(),
        Outcome::Hang | Outcome::Lose => 0,
    };
    shared.record(seen.received(status));
    if shared.log {
        let what = match &outcome {
            Outcome::Hang => " (hangs)",
            Outcome::Lose => " (reply lost)",
            Outcome::Late(..) => " (reply late)",
            Outcome::Reply(_) => "",
        };
        let field = if seen.field.is_empty() {
            "-"
        } else {
            &seen.field
        };
        eprintln!("fake CodeSignal: {:?} {field} -> {status}{what}", seen.op);
    }
    match outcome {
        Outcome::Reply(r) => Ok(r),
        Outcome::Late(r, after) => {
            tokio::time::sleep(after).await;
            Ok(r)
        }
        Outcome::Hang => {
            tokio::time::sleep(HANG).await;
            Ok(errors(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout"))
        }
        Outcome::Lose => Err(LostReply),
    }
}

enum Outcome {
    Reply(Reply),
    Late(Reply, Duration),
    Hang,
    Lose,
}

async fn serve_request(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    seen: &mut Seen,
) -> Outcome {
    if request.uri().path() != "/graphql" {
        return Outcome::Reply(errors(StatusCode::NOT_FOUND, "Not Found"));
    }
    if request.method() != Method::POST {
        let mut r = errors(StatusCode::METHOD_NOT_ALLOWED, "Only POST is served");
        r.headers_mut()
            .insert("allow", HeaderValue::from_static("POST"));
        return Outcome::Reply(r);
    }
    let json_body = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_body {
        return Outcome::Reply(errors(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST body sent with no or invalid Content-Type: send application/json",
        ));
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Outcome::Reply(errors(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large or cut off",
            ));
        }
    };
    let graphql = GraphQlRequest::from_body(&body);
    if let Ok(g) = &graphql {
        seen.variables = g.variables.clone();
        classify(g, seen);
    }
    if seen.op == Op::Create {
        let mut state = shared.state();
        state.creates_in_flight += 1;
        state.max_creates_in_flight = state.max_creates_in_flight.max(state.creates_in_flight);
    }
    if !seen.authorized {
        return Outcome::Reply(errors(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    let graphql = match graphql {
        Ok(g) => g,
        Err(message) => return Outcome::Reply(errors(StatusCode::BAD_REQUEST, &message)),
    };
    let prepared = match prepare(&graphql) {
        Ok(p) => p,
        Err(body) => return Outcome::Reply(reply(StatusCode::BAD_REQUEST, &body)),
    };
    let fault = {
        let mut state = shared.state();
        let at = state.faults.iter().position(|(on, _)| on.matches(seen.op));
        at.and_then(|i| state.faults.remove(i)).map(|(_, f)| f)
    };
    if let Some(Fault::Latency(d)) = fault {
        tokio::time::sleep(d).await;
    }
    let key = seen.key.clone();
    match fault {
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = Response::new(Full::new(Bytes::from(
                status.canonical_reason().unwrap_or("Error"),
            )));
            *r.status_mut() = status;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return Outcome::Reply(r);
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut r = errors(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Outcome::Reply(r);
        }
        Some(Fault::GraphQlRateLimit) => {
            return Outcome::Reply(reply(
                StatusCode::OK,
                &json!({"data": null, "errors": [{
                    "message": "Rate limit exceeded",
                    "extensions": {"code": "RATE_LIMITED"},
                }]}),
            ));
        }
        Some(Fault::Hang) => return Outcome::Hang,
        Some(Fault::AccessDenied) => {
            let data = if root_field_is_nullable(&prepared, &seen.field) {
                json!({ key.as_str(): null })
            } else {
                Value::Null
            };
            return Outcome::Reply(reply(
                StatusCode::OK,
                &json!({"data": data, "errors": [{"message": "Access Denied", "path": [key]}]}),
            ));
        }
        Some(Fault::Unauthorized) => {
            return Outcome::Reply(errors(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
        _ => {}
    }
    let mut look = Look::default();
    match &fault {
        Some(Fault::EvilUrl) => {
            look.url_suffix = EVIL_SUFFIX.into();
            look.short_suffix = EVIL_SUFFIX.into();
        }
        Some(Fault::EvilShortUrl) => look.short_suffix = EVIL_SUFFIX.into(),
        Some(Fault::UrlSuffix(suffix)) => look.url_suffix = suffix.clone(),
        Some(Fault::ListTwice) => look.twice = true,
        _ => {}
    }
    match fault {
        Some(Fault::Redirect { status, location }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
            let mut r = errors(status, "Moved");
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(hyper::header::LOCATION, v);
            }
            return Outcome::Reply(r);
        }
        Some(Fault::ErrorMessage(message)) => {
            let data = if root_field_is_nullable(&prepared, &seen.field) {
                json!({ key.as_str(): null })
            } else {
                Value::Null
            };
            return Outcome::Reply(reply(
                StatusCode::OK,
                &json!({"data": data, "errors": [{"message": message, "path": [key]}]}),
            ));
        }
        Some(Fault::LateCommit(after)) => {
            // Its own task: dropping the connection does not cancel the commit.
            let shared = shared.clone();
            let work = tokio::spawn(async move {
                tokio::time::sleep(after).await;
                execute(&shared, &prepared, Look::default())
            });
            return match work.await {
                Ok(r) => Outcome::Reply(r),
                Err(_) => Outcome::Lose,
            };
        }
        _ => {}
    }
    let response = execute(shared, &prepared, look);
    match fault {
        Some(Fault::GarbageAfterCommit(garbage)) => match garbage {
            Garbage::Html => {
                let mut r = reply_text(
                    StatusCode::OK,
                    "<html><body><h1>Service temporarily unavailable</h1></body></html>".into(),
                );
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
                Outcome::Reply(r)
            }
            Garbage::NotJson => Outcome::Reply(reply_text(StatusCode::OK, "}{ not json".into())),
            Garbage::NullField => Outcome::Reply(reply(
                StatusCode::OK,
                &json!({"data": { key.as_str(): null }}),
            )),
            Garbage::Reset => Outcome::Lose,
        },
        Some(Fault::HugeBody { size, streamed }) => {
            let filler = "x".repeat(size);
            let mut r = reply_text(
                StatusCode::OK,
                format!(
                    r#"{{"data":{{"{key}":{{"id":"li-huge","url":"https://app.codesignal.com/live-interview/huge","shortenedUrl":"https://codesignal.co/huge","status":"pending","candidateEmail":null,"candidateName":"{filler}"}}}}}}"#
                ),
            );
            if streamed {
                // Chunked, without a length: the client learns the size only while reading.
                r.headers_mut().insert(
                    hyper::header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                );
            }
            Outcome::Reply(r)
        }
        Some(Fault::ExecutedWithError(message)) => Outcome::Reply(reply(
            StatusCode::OK,
            &json!({"data": { key.as_str(): null }, "errors": [{"message": message, "path": [key]}]}),
        )),
        Some(Fault::DuplicateUrl) => {
            let text = String::from_utf8_lossy(
                &http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default(),
            )
            .into_owned();
            // The session's own `url` comes first; a second one follows it, which a parser
            // that lets the last one win would take.
            let text = text.replacen(
                r#""shortenedUrl":"#,
                r#""url":"https://evil.example/phish","shortenedUrl":"#,
                1,
            );
            Outcome::Reply(reply_text(StatusCode::OK, text))
        }
        Some(Fault::ExecutedThen { status, body }) => {
            let text = http_body_util::BodyExt::collect(response.into_body())
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let answer = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| v.get("data").and_then(|d| d.get(key.as_str())).cloned())
                .unwrap_or(Value::Null);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Outcome::Reply(reply_text(
                status,
                body.replace("{session}", &answer.to_string()),
            ))
        }
        Some(Fault::LoseReply) => Outcome::Lose,
        Some(Fault::LoseReplyAfter(d)) => Outcome::Late(response, d),
        Some(Fault::MalformedBody) => Outcome::Reply(reply(
            StatusCode::OK,
            &json!({"data": { key.as_str(): {"id": 5} }}),
        )),
        _ => Outcome::Reply(response),
    }
}

/// The JSON body of a GraphQL-over-HTTP POST.
struct GraphQlRequest {
    query: String,
    operation_name: Option<String>,
    variables: Value,
}

impl GraphQlRequest {
    fn from_body(body: &[u8]) -> Result<GraphQlRequest, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("The body is not JSON: {e}"))?;
        let Value::Object(mut map) = value else {
            return Err("The body must be a JSON object".into());
        };
        let query = match map.remove("query") {
            Some(Value::String(q)) => q,
            _ => return Err("GraphQL operations must contain a non-empty `query`".into()),
        };
        let operation_name = match map.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) => Some(n),
            Some(_) => return Err("`operationName` must be a string".into()),
        };
        let variables = match map.remove("variables") {
            None | Some(Value::Null) => Value::Null,
            Some(v @ Value::Object(_)) => v,
            Some(_) => return Err("`variables` must be an object".into()),
        };
        Ok(GraphQlRequest {
            query,
            operation_name,
            variables,
        })
    }
}

fn parser() -> Parser {
    Parser::new()
        .recursion_limit(RECURSION_LIMIT)
        .token_limit(TOKEN_LIMIT)
}

/// Reads the operation's first top-level field from the syntax alone (valid or not), to record it
/// and to match faults.
fn classify(request: &GraphQlRequest, seen: &mut Seen) {
    let document = match parser().parse_ast(request.query.as_str(), "request.graphql") {
        Ok(d) => d,
        Err(e) => e.partial,
    };
    let operations: Vec<&Node<ast::OperationDefinition>> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            ast::Definition::OperationDefinition(o) => Some(o),
            _ => None,
        })
        .collect();
    let operation = match &request.operation_name {
        Some(name) => operations
            .iter()
            .find(|o| o.name.as_ref().is_some_and(|n| n.as_str() == name)),
        None if operations.len() == 1 => operations.first(),
        None => None,
    };
    let Some(operation) = operation else { return };
    let Some(field) = first_field(&document, &operation.selection_set, 0) else {
        return;
    };
    seen.op = match (operation.operation_type, field.name.as_str()) {
        (ast::OperationType::Mutation, "createLiveInterview") => Op::Create,
        (ast::OperationType::Mutation, "editLiveInterview") => Op::Edit,
        (ast::OperationType::Mutation, "deleteLiveInterview") => Op::Delete,
        (
            ast::OperationType::Query,
            "liveInterview" | "liveInterviews" | "interviewTemplate" | "interviewTemplates",
        ) => Op::Query,
        _ => Op::Any,
    };
    seen.field = field.name.to_string();
    seen.key = field.alias.as_ref().unwrap_or(&field.name).to_string();
    let mut arguments = serde_json::Map::new();
    for argument in &field.arguments {
        if let Some(v) = substitute(&argument.value, operation, &request.variables, 0) {
            arguments.insert(argument.name.to_string(), v);
        }
    }
    seen.arguments = Value::Object(arguments);
}

fn first_field<'a>(
    document: &'a ast::Document,
    selections: &'a [ast::Selection],
    depth: usize,
) -> Option<&'a Node<ast::Field>> {
    if depth > RECURSION_LIMIT {
        return None;
    }
    selections.iter().find_map(|s| match s {
        ast::Selection::Field(f) => Some(f),
        ast::Selection::InlineFragment(i) => first_field(document, &i.selection_set, depth + 1),
        ast::Selection::FragmentSpread(spread) => {
            document.definitions.iter().find_map(|d| match d {
                ast::Definition::FragmentDefinition(f) if f.name == spread.fragment_name => {
                    first_field(document, &f.selection_set, depth + 1)
                }
                _ => None,
            })
        }
    })
}

/// A literal argument as JSON, with variables replaced by the values sent (or their defaults).
/// `None` for a variable neither sent nor defaulted: the argument is then absent.
fn substitute(
    value: &ast::Value,
    operation: &ast::OperationDefinition,
    variables: &Value,
    depth: usize,
) -> Option<Value> {
    if depth > RECURSION_LIMIT {
        return Some(Value::Null);
    }
    Some(match value {
        ast::Value::Null => Value::Null,
        ast::Value::Enum(e) => Value::String(e.to_string()),
        ast::Value::Variable(name) => {
            if let Some(v) = variables.get(name.as_str()) {
                return Some(v.clone());
            }
            let default = operation
                .variables
                .iter()
                .find(|d| d.name == *name)
                .and_then(|d| d.default_value.as_ref())?;
            return substitute(default, operation, variables, depth + 1);
        }
        ast::Value::String(s) => Value::String(s.clone()),
        ast::Value::Float(f) => f
            .try_to_f64()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(f.as_str().into()), Value::Number),
        ast::Value::Int(i) => i
            .as_str()
            .parse::<i64>()
            .map_or_else(|_| Value::String(i.as_str().into()), Value::from),
        ast::Value::Boolean(b) => Value::Bool(*b),
        ast::Value::List(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, operation, variables, depth + 1).unwrap_or(Value::Null))
                .collect(),
        ),
        ast::Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter_map(|(k, v)| {
                    substitute(v, operation, variables, depth + 1).map(|v| (k.to_string(), v))
                })
                .collect(),
        ),
    })
}

/// A request that passed parsing, validation and variable coercion.
struct Prepared {
    document: Valid<ExecutableDocument>,
    operation_name: Option<String>,
    variables: Valid<JsonMap>,
}

impl Prepared {
    fn operation(&self) -> Option<&Node<Operation>> {
        self.document
            .operations
            .get(self.operation_name.as_deref())
            .ok()
    }
}

/// The body of a 400 answer: `errors`, each with its `extensions.code`, and no `data`.
fn graphql_errors(code: &str, errors: impl IntoIterator<Item = GraphQLError>) -> Value {
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|e| {
            let mut e = serde_json::to_value(e).unwrap_or_else(|_| json!({}));
            e["extensions"]["code"] = json!(code);
            e
        })
        .collect();
    json!({ "errors": errors })
}

/// Parses, validates and coerces; on failure the 400 answer Apollo Server would give.
fn prepare(request: &GraphQlRequest) -> Result<Prepared, Value> {
    let schema = schema();
    let ast = parser()
        .parse_ast(request.query.as_str(), "request.graphql")
        .map_err(|e| {
            graphql_errors("GRAPHQL_PARSE_FAILED", e.errors.iter().map(|d| d.to_json()))
        })?;
    let document = ast.to_executable_validate(schema).map_err(|e| {
        graphql_errors(
            "GRAPHQL_VALIDATION_FAILED",
            e.errors.iter().map(|d| d.to_json()),
        )
    })?;
    let operation = document
        .operations
        .get(request.operation_name.as_deref())
        .map_err(|e| graphql_errors("BAD_REQUEST", [e.to_graphql_error(&document.sources)]))?;
    let raw: JsonMap = match &request.variables {
        Value::Null => JsonMap::new(),
        v => serde_json::from_value(v.clone()).map_err(|e| {
            graphql_errors(
                "BAD_USER_INPUT",
                [GraphQLError {
                    message: format!("`variables` is not a JSON object: {e}"),
                    locations: Vec::new(),
                    path: Vec::new(),
                    extensions: JsonMap::new(),
                }],
            )
        })?,
    };
    let variables = coerce_variable_values(schema, operation, &raw)
        .map_err(|e| graphql_errors("BAD_USER_INPUT", [e.to_graphql_error(&document.sources)]))?;
    Ok(Prepared {
        operation_name: request.operation_name.clone(),
        document,
        variables,
    })
}

fn root_field_is_nullable(prepared: &Prepared, field: &str) -> bool {
    let Some(operation) = prepared.operation() else {
        return true;
    };
    schema()
        .type_field(operation.object_type(), field)
        .map_or(true, |f| !f.ty.is_non_null())
}

fn execute(shared: &Shared, prepared: &Prepared, look: Look) -> Reply {
    let Some(operation) = prepared.operation() else {
        return errors(StatusCode::BAD_REQUEST, "No such operation");
    };
    let root = Root {
        type_name: match operation.operation_type {
            OperationType::Mutation => "Mutation",
            _ => "Query",
        },
        shared,
        look,
    };
    let result = Execution::new(schema(), &prepared.document)
        .operation(operation)
        .coerced_variable_values(&prepared.variables)
        .execute_sync(&root);
    match result {
        // Straight to text: a `Value` would sort the keys, and GraphQL keeps the selection order.
        Ok(mut response) => {
            for e in &mut response.errors {
                // apollo-compiler prefixes resolvers' messages; a server shows them as written.
                if let Some(m) = e.message.strip_prefix("resolver error: ") {
                    e.message = m.to_owned();
                }
            }
            match serde_json::to_string(&response) {
                Ok(text) => reply_text(StatusCode::OK, text),
                Err(e) => errors(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        Err(e) => reply(
            StatusCode::BAD_REQUEST,
            &graphql_errors(
                "BAD_REQUEST",
                [e.to_graphql_error(&prepared.document.sources)],
            ),
        ),
    }
}

struct Root<'s> {
    type_name: &'static str,
    shared: &'s Shared,
    look: Look,
}

/// How the reply shows sessions (faults that change the answer, not the store).
#[derive(Clone, Debug, Default)]
struct Look {
    url_suffix: String,
    short_suffix: String,
    twice: bool,
}

fn field_error(message: impl Into<String>) -> FieldError {
    FieldError {
        message: message.into(),
    }
}

fn arg<'a>(info: &'a ResolveInfo<'_>, name: &str) -> Option<&'a JsonValue> {
    info.arguments().get(name).filter(|v| !v.is_null())
}

fn str_arg(info: &ResolveInfo<'_>, name: &str) -> Option<String> {
    arg(info, name).and_then(|v| v.as_str()).map(str::to_owned)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A stable short code for the `n`th session, spread out so that it does not look sequential.
fn short_code(n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut x = n.wrapping_mul(2_654_435_761) % 36u64.pow(6);
    let mut code = [b'0'; 6];
    for c in code.iter_mut().rev() {
        *c = ALPHABET[(x % 36) as usize];
        x /= 36;
    }
    String::from_utf8_lossy(&code).into_owned()
}

/// Applies the fields present in a `LiveInterviewInput` (an explicit null clears one).
fn apply_input(session: &mut Session, input: &JsonMap) -> Result<(), FieldError> {
    let text = |name: &str| input.get(name).map(|v| v.as_str().map(str::to_owned));
    if let Some(ms) = input.get("expirationTime").and_then(JsonValue::as_i64)
        && !(3_600_000..=1_209_600_000).contains(&ms)
    {
        return Err(field_error(
            "expirationTime must be between 1 and 336 hours",
        ));
    }
    if let Some(v) = text("candidateEmail") {
        session.candidate_email = v;
    }
    if let Some(v) = text("candidateName") {
        session.candidate_name = v;
    }
    if let Some(v) = text("interviewerId") {
        session.interviewer_id = v;
    }
    if let Some(v) = text("templateId") {
        session.template_id = v;
    }
    if let Some(v) = input.get("lockTemplate") {
        session.lock_template = v.as_bool();
    }
    if let Some(v) = input.get("expirationTime") {
        session.expiration_time_ms = v.as_i64();
    }
    Ok(())
}

impl ObjectValue for Root<'_> {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let look = self.look.clone();
        let object = |s: Session| {
            ResolvedValue::object(LiveInterview {
                session: s,
                look: look.clone(),
            })
        };
        let mut state = self.shared.state();
        match (self.type_name, info.field_name()) {
            ("Query", "liveInterview") => {
                let id = str_arg(info, "liveInterviewId").unwrap_or_default();
                let found = state.sessions.iter().find(|s| s.id == id).cloned();
                Ok(found.map_or_else(ResolvedValue::null, object))
            }
            ("Query", "liveInterviews") => {
                let email = str_arg(info, "candidateEmail");
                let first = arg(info, "first").and_then(JsonValue::as_i64);
                let offset = arg(info, "offset").and_then(JsonValue::as_i64).unwrap_or(0);
                if offset < 0 || first.is_some_and(|f| f < 0) {
                    return Err(field_error("first and offset must not be negative"));
                }
                if first.is_some_and(|f| f > MAX_PAGE) {
                    return Err(field_error(format!("first must be at most {MAX_PAGE}")));
                }
                let page: Vec<ResolvedValue<'a>> = state
                    .sessions
                    .iter()
                    .filter(|s| email.is_none() || s.candidate_email == email)
                    .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                    .take(first.map_or(usize::MAX, |f| usize::try_from(f).unwrap_or(0)))
                    .cloned()
                    .flat_map(|s| {
                        let times = if self.look.twice { 2 } else { 1 };
                        std::iter::repeat_n(s, times)
                    })
                    .map(object)
                    .collect();
                Ok(ResolvedValue::list(page))
            }
            ("Query", "interviewTemplate") => Ok(ResolvedValue::null()),
            ("Query", "interviewTemplates") => Ok(ResolvedValue::object(NoTemplates)),
            ("Mutation", "createLiveInterview") => {
                if state.sessions.len() >= MAX_SESSIONS {
                    return Err(field_error("The fake holds too many sessions"));
                }
                let mut n = state.next_id;
                // Ids seeded by a test may be taken: the next free one (each formatted once).
                let id = loop {
                    let id = format!("li-{n}");
                    if !state.sessions.iter().any(|s| s.id == id) {
                        break id;
                    }
                    n += 1;
                };
                state.next_id = n + 1;
                let mut session = Session {
                    url: format!("https://app.codesignal.com/live-interview/{id}"),
                    shortened_url: format!("https://codesignal.co/{}", short_code(n)),
                    id,
                    candidate_email: None,
                    candidate_name: None,
                    interviewer_id: None,
                    template_id: None,
                    lock_template: None,
                    expiration_time_ms: None,
                    status: "pending".into(),
                    created_at_ms: now_ms(),
                };
                if let Some(input) = arg(info, "interviewFields").and_then(JsonValue::as_object) {
                    apply_input(&mut session, input)?;
                }
                state.sessions.push(session.clone());
                state.creates += 1;
                Ok(object(session))
            }
            ("Mutation", "editLiveInterview") => {
                let id = str_arg(info, "id").unwrap_or_default();
                let Some(session) = state.sessions.iter_mut().find(|s| s.id == id) else {
                    return Err(field_error(format!("Live interview {id} not found")));
                };
                let mut edited = session.clone();
                if let Some(input) = arg(info, "interviewFields").and_then(JsonValue::as_object) {
                    apply_input(&mut edited, input)?;
                }
                *session = edited.clone();
                Ok(object(edited))
            }
            ("Mutation", "deleteLiveInterview") => {
                let id = str_arg(info, "id").unwrap_or_default();
                let Some(session) = state.sessions.iter_mut().find(|s| s.id == id) else {
                    return Err(field_error(format!("Live interview {id} not found")));
                };
                session.status = "deleted".into();
                Ok(ResolvedValue::leaf(id))
            }
            _ => Err(self.unknown_field_error(info)),
        }
    }
}

struct LiveInterview {
    session: Session,
    look: Look,
}

fn opt_leaf<'a>(v: Option<String>) -> ResolvedValue<'a> {
    v.map_or_else(ResolvedValue::null, ResolvedValue::leaf)
}

impl ObjectValue for LiveInterview {
    fn type_name(&self) -> &str {
        "LiveInterview"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let s = &self.session;
        let look = &self.look;
        Ok(match info.field_name() {
            "id" => ResolvedValue::leaf(s.id.as_str()),
            "candidateEmail" => opt_leaf(s.candidate_email.clone()),
            "candidateName" => opt_leaf(s.candidate_name.clone()),
            "status" => ResolvedValue::leaf(s.status.as_str()),
            "url" => ResolvedValue::leaf(format!("{}{}", s.url, look.url_suffix)),
            "shortenedUrl" => {
                ResolvedValue::leaf(format!("{}{}", s.shortened_url, look.short_suffix))
            }
            // Not kept by the fake; the schema lets them be null.
            "startDate" | "finishDate" | "trackCandidateLocation" | "disableDescriptionCopy" => {
                ResolvedValue::null()
            }
            "company" => ResolvedValue::object(Company),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

struct Company;

impl ObjectValue for Company {
    fn type_name(&self) -> &str {
        "Company"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "id" => ResolvedValue::leaf("co-1"),
            "alias" => ResolvedValue::leaf("acme"),
            "name" => ResolvedValue::leaf("Acme Corp"),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

/// The fake keeps no interview templates.
struct NoTemplates;

impl ObjectValue for NoTemplates {
    fn type_name(&self) -> &str {
        "InterviewTemplates"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "totalCount" => ResolvedValue::leaf(0),
            "interviewTemplates" => ResolvedValue::list(std::iter::empty()),
            "pageInfo" => ResolvedValue::object(NoNextPage),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

struct NoNextPage;

impl ObjectValue for NoNextPage {
    fn type_name(&self) -> &str {
        "PageInfo"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        match info.field_name() {
            "hasNextPage" => Ok(ResolvedValue::leaf(false)),
            _ => Err(self.unknown_field_error(info)),
        }
    }
}
