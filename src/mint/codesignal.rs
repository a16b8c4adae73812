//! The CodeSignal client: one live-interview session per mint key, through every fault.
//!
//! `createLiveInterview` has no idempotency key: every call that reaches CodeSignal makes a new
//! session, and a second session for one interview puts the candidate and the interviewer in
//! different rooms. So the client is built around never sending a create twice for one key:
//!
//! * **One create per key per process.** Mints go through a moka cache keyed by the mint key with
//!   `try_get_with`: concurrent callers of one key share one in-flight mint, the result is kept,
//!   and failures are not cached (a later call tries again).
//! * **One create per candidate email in flight.** A per-email async lock serialises creates of
//!   one candidate, so at any time at most one create for that email can be outstanding.
//! * **Retry only what was not executed.** A connection refused before the request went out, HTTP
//!   429, HTTP 503 and GraphQL rate-limit errors mean CodeSignal did not act: those are retried
//!   with exponential backoff and full jitter (honouring `Retry-After`), bounded in attempts and
//!   in total time. HTTP 401, "Access Denied" and validation errors are final.
//! * **Look before re-sending when the outcome is unknown.** A timeout after the request went
//!   out, a connection dropped before the reply, or a 500/502/504 may hide a session that was
//!   made. The client then lists the candidate's sessions (`liveInterviews(candidateEmail:)`):
//!   the API returns no template or interviewer on `LiveInterview`, so the handle is the email.
//!   Because no other create for that email is in flight (the lock above), a pending session for
//!   that email and name that this process has not already claimed is the lost one, and is
//!   adopted. None found: nothing was made, and the create is sent again. Several found (for
//!   instance sessions left by an earlier run): the client cannot tell which is ours and fails
//!   with [`ClientError::OutcomeUnknown`] rather than guess or mint again. The durable ledger
//!   (a later stage) removes that last ambiguity across runs.
//!
//! The API key is a [`secrecy`] secret: it is sent as a header marked sensitive and never
//! appears in `Debug`, `Display`, errors or logs.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{EmailLocks, MintError, Minted, Minter, SafeUrl, Sessions};
use crate::parse::Product;
use crate::plan::{MintKey, PlannedMint};

/// CodeSignal's GraphQL endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://app.codesignal.com/graphql";

/// The shortest and longest life CodeSignal gives a live interview (`expirationTime`).
pub const MIN_EXPIRATION: TimeDelta = TimeDelta::hours(1);
/// See [`MIN_EXPIRATION`].
pub const MAX_EXPIRATION: TimeDelta = TimeDelta::hours(336);

const CREATE: &str = "mutation CreateLiveInterview($fields: LiveInterviewInput) {
  createLiveInterview(interviewFields: $fields) { id url shortenedUrl status candidateEmail candidateName }
}";

const FIND: &str = "query FindLiveInterviews($email: String, $first: Int, $offset: Int) {
  liveInterviews(candidateEmail: $email, first: $first, offset: $offset) { id url shortenedUrl status candidateEmail candidateName }
}";

const EDIT: &str = "mutation EditLiveInterview($id: ID!, $fields: LiveInterviewInput!) {
  editLiveInterview(id: $id, interviewFields: $fields) { id status }
}";

const DELETE: &str = "mutation DeleteLiveInterview($id: ID!) {
  deleteLiveInterview(id: $id)
}";

/// An extension that would add less than this is not worth a request.
const MIN_GAIN: TimeDelta = TimeDelta::minutes(1);

/// How many of a candidate's sessions one look-up reads.
const LOOKUP_PAGE: i64 = 100;

/// A CodeSignal API key. Cleaned of what people paste around it; never shown.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// Why an API key was refused. Never carries the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Nothing left after trimming.
    #[error("the CodeSignal API key is empty; set CODESIGNAL_API_KEY or pass --api-key-file")]
    Empty,
    /// Something that cannot be a key.
    #[error(
        "the CodeSignal API key is malformed: it {0}; paste the key alone, as shown in CodeSignal's API key dialog"
    )]
    Malformed(&'static str),
}

impl ApiKey {
    /// Cleans and checks a key as a user may have pasted it: surrounding whitespace, a leading
    /// `Authorization:` and `Bearer ` are removed.
    pub fn parse(raw: &str) -> Result<ApiKey, KeyError> {
        let mut key = raw.trim();
        if let Some(rest) = strip_prefix_ignore_case(key, "authorization:") {
            key = rest.trim_start();
        }
        if let Some(rest) = strip_prefix_ignore_case(key, "bearer")
            && (rest.is_empty() || rest.starts_with(char::is_whitespace))
        {
            key = rest.trim_start();
        }
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.chars().any(char::is_whitespace) {
            return Err(KeyError::Malformed("contains whitespace"));
        }
        if !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(KeyError::Malformed(
                "contains characters other than printable ASCII",
            ));
        }
        if key.len() < 8 {
            return Err(KeyError::Malformed("is too short to be a key"));
        }
        Ok(ApiKey(SecretString::from(key.to_owned())))
    }

    fn header(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0.expose_secret()))
            .expect("a checked key is printable ASCII");
        value.set_sensitive(true);
        value
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &s[prefix.len()..])
}

/// How the client talks to CodeSignal. Its `Debug` shows the endpoint without credentials and
/// never the key.
#[derive(Clone)]
pub struct CodeSignalConfig {
    /// The GraphQL endpoint: https, or http on a loopback address (a local fake).
    pub endpoint: url::Url,
    /// The API key (LiveInterview permission).
    pub api_key: ApiKey,
    /// Time limit of one HTTP request.
    pub timeout: Duration,
    /// How long a link outlives the end of the last event it serves.
    pub grace: TimeDelta,
    /// Put `shortenedUrl` in invites instead of `url`.
    pub short_urls: bool,
    /// How many requests may be in flight at once.
    pub concurrency: usize,
    /// Client-side limit on requests started per second; `None` for none.
    pub rate_limit: Option<f64>,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Time after which no further retry starts.
    pub max_retry_time: Duration,
    /// First backoff; doubled each retry, with full jitter.
    pub backoff: Duration,
    /// After a create whose outcome is unknown, look the candidate's sessions up and adopt the
    /// lost one (`true`, for use on its own), or fail at once with
    /// [`ClientError::OutcomeUnknown`] and leave that to the caller (`false`: the mint ledger,
    /// which knows every session any run recorded, reconciles it).
    pub adopt_lost: bool,
}

impl std::fmt::Debug for CodeSignalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let CodeSignalConfig {
            endpoint,
            api_key,
            timeout,
            grace,
            short_urls,
            concurrency,
            rate_limit,
            max_attempts,
            max_retry_time,
            backoff,
            adopt_lost,
        } = self;
        f.debug_struct("CodeSignalConfig")
            .field("endpoint", &crate::redact_url(endpoint.as_str()))
            .field("api_key", api_key)
            .field("timeout", timeout)
            .field("grace", grace)
            .field("short_urls", short_urls)
            .field("concurrency", concurrency)
            .field("rate_limit", rate_limit)
            .field("max_attempts", max_attempts)
            .field("max_retry_time", max_retry_time)
            .field("backoff", backoff)
            .field("adopt_lost", adopt_lost)
            .finish()
    }
}

impl CodeSignalConfig {
    /// Whether the key may be sent to `endpoint`: https (plain http only to a loopback address,
    /// a local fake), and no credentials in the URL itself. The key goes in a header; a user,
    /// password or `?key=` in the URL would be sent as well and shown in every error that names
    /// the endpoint.
    pub fn check_endpoint(endpoint: &url::Url) -> Result<(), ClientError> {
        if crate::has_credentials(endpoint) {
            return Err(ClientError::EndpointCredentials(crate::redact_url(
                endpoint.as_str(),
            )));
        }
        let secure =
            endpoint.scheme() == "https" || (endpoint.scheme() == "http" && is_loopback(endpoint));
        if !secure {
            return Err(ClientError::InsecureEndpoint(crate::redact_url(
                endpoint.as_str(),
            )));
        }
        Ok(())
    }

    /// The defaults, with `api_key`.
    pub fn new(api_key: ApiKey) -> CodeSignalConfig {
        CodeSignalConfig {
            endpoint: DEFAULT_ENDPOINT.parse().expect("a valid URL"),
            api_key,
            timeout: Duration::from_secs(30),
            grace: TimeDelta::hours(2),
            short_urls: false,
            concurrency: crate::DEFAULT_CONCURRENCY,
            rate_limit: Some(25.0),
            max_attempts: 6,
            max_retry_time: Duration::from_secs(120),
            backoff: Duration::from_millis(250),
            adopt_lost: true,
        }
    }
}

/// Why the client could not mint a session. Messages say what to fix.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The endpoint is not one the key may be sent to.
    #[error(
        "refusing to send the API key to {0}: use https (plain http only to a loopback address)"
    )]
    InsecureEndpoint(String),
    /// The endpoint URL holds a user name, a password or a secret-looking query parameter
    /// (shown with those hidden).
    #[error(
        "refusing the CodeSignal endpoint {0}: it carries credentials (a user name, a password or a key in the query); give the plain endpoint URL and the key in CODESIGNAL_API_KEY or --api-key-file"
    )]
    EndpointCredentials(String),
    /// HTTP 401.
    #[error(
        "CodeSignal refused the API key (HTTP 401): it is wrong, revoked, or its account was deactivated; set CODESIGNAL_API_KEY to a valid key"
    )]
    Unauthorized,
    /// "Access Denied".
    #[error(
        "CodeSignal answered \"Access Denied\": the API key lacks the LiveInterview permission; create a key with LiveInterview access in CodeSignal's API key dialog"
    )]
    AccessDenied,
    /// A GraphQL error that retrying will not fix (validation, bad input).
    #[error("CodeSignal refused the request: {}", .0.join("; "))]
    GraphQl(Vec<String>),
    /// An HTTP status that retrying will not fix.
    #[error("CodeSignal answered HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// An answer that does not match the schema. The raw body is kept.
    #[error("CodeSignal's answer does not match the schema ({reason}){}; raw body: {body}", if *.create { "; the session may have been created" } else { "" })]
    Malformed {
        /// What did not match.
        reason: String,
        /// The raw body.
        body: String,
        /// Whether it answered a create.
        create: bool,
    },
    /// Retries ran out on failures that did not create anything.
    #[error("gave up after {attempts} attempt(s) in {seconds} s: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        seconds: u64,
        /// The last failure.
        last: String,
    },
    /// A create may or may not have made a session, and the look-up could not tell.
    #[error(
        "the outcome of creating the session for {email} is unknown ({reason}): {detail}; check the candidate's live interviews in CodeSignal before running again"
    )]
    OutcomeUnknown {
        /// The candidate's email.
        email: String,
        /// What happened to the create.
        reason: String,
        /// What the look-up found.
        detail: String,
    },
    /// The session's URL may not go into an invite.
    #[error("CodeSignal returned an unusable URL: {0}")]
    UnsafeUrl(super::UrlError),
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// One attempt's failure, by what it means for a retry.
enum Failure {
    /// Nothing was executed: safe to send again, after `wait` if given.
    Retryable {
        reason: String,
        wait: Option<Duration>,
    },
    /// The request may have been executed.
    Unknown { reason: String },
    /// Retrying will not help.
    Fatal(ClientError),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LiveInterview {
    id: String,
    url: String,
    shortened_url: String,
    status: String,
    candidate_email: Option<String>,
    candidate_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateData {
    create_live_interview: Option<LiveInterview>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindData {
    live_interviews: Vec<Option<LiveInterview>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EditData {
    edit_live_interview: Option<Edited>,
}

#[derive(Deserialize)]
struct Edited {
    #[allow(dead_code)] // Read to check the answer's shape.
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteData {
    #[allow(dead_code)] // Read to check the answer's shape.
    delete_live_interview: String,
}

#[derive(Deserialize)]
struct GraphQlResponse {
    data: Option<Value>,
    #[serde(default)]
    errors: Vec<GraphQlError>,
}

#[derive(Deserialize)]
struct GraphQlError {
    message: String,
    #[serde(default)]
    extensions: Option<Value>,
}

/// Spaces request starts evenly: a client-side rate limit.
struct Pace {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().expect("not poisoned");
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Mints live-interview sessions through CodeSignal's GraphQL API.
pub struct CodeSignalMinter {
    http: reqwest::Client,
    config: CodeSignalConfig,
    cache: moka::future::Cache<crate::plan::MintKey, Minted>,
    in_flight: Semaphore,
    pace: Option<Pace>,
    /// One lock per candidate email: at most one create per email in flight.
    email_locks: EmailLocks,
    /// Sessions this process made or adopted: never adopted again for another key.
    claimed: Mutex<HashSet<String>>,
    /// Requests sent, for reports and tests.
    calls: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for CodeSignalMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeSignalMinter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl CodeSignalMinter {
    /// A client for `config`.
    pub fn new(config: CodeSignalConfig) -> Result<CodeSignalMinter, ClientError> {
        CodeSignalConfig::check_endpoint(&config.endpoint)?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, config.api_key.header());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("invitoken/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        let pace = config.rate_limit.filter(|r| *r > 0.0).map(|r| Pace {
            interval: Duration::from_secs_f64(1.0 / r),
            next: Mutex::new(Instant::now()),
        });
        Ok(CodeSignalMinter {
            http,
            cache: moka::future::Cache::builder().max_capacity(100_000).build(),
            in_flight: Semaphore::new(config.concurrency.max(1)),
            pace,
            email_locks: EmailLocks::default(),
            claimed: Mutex::default(),
            calls: Default::default(),
            config,
        })
    }

    /// HTTP requests sent so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How long to ask for, and when the link will expire: from `now` to the end of the last
    /// event it serves plus the grace period, clamped to what CodeSignal allows.
    pub fn expiration(
        &self,
        now: DateTime<Utc>,
        serves_until: DateTime<Utc>,
    ) -> (TimeDelta, DateTime<Utc>) {
        // Whole seconds, so `expires_at` reads well; CodeSignal counts from when it receives the
        // create, a little after `now`, so the time stated is never later than the real one.
        let now = now.trunc_subsecs(0);
        let wanted = TimeDelta::seconds((serves_until + self.config.grace - now).num_seconds());
        let life = wanted.clamp(MIN_EXPIRATION, MAX_EXPIRATION);
        (life, now + life)
    }

    /// One HTTP request, classified.
    async fn post<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
        create: bool,
    ) -> Result<T, Failure> {
        if let Some(pace) = &self.pace {
            pace.wait().await;
        }
        let _permit = self.in_flight.acquire().await.expect("never closed");
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = json!({ "query": query, "variables": variables });
        let response = match self
            .http
            .post(self.config.endpoint.clone())
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(Failure::Retryable {
                    reason: format!("cannot connect to {}: {}", self.config.endpoint, root(&e)),
                    wait: None,
                });
            }
            Err(e) if e.is_timeout() => {
                return Err(Failure::Unknown {
                    reason: format!("no answer within {} s", self.config.timeout.as_secs_f64()),
                });
            }
            Err(e) => {
                return Err(Failure::Unknown {
                    reason: format!("the connection failed before the reply: {}", root(&e)),
                });
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) if e.is_timeout() => {
                return Err(Failure::Unknown {
                    reason: "the reply did not arrive in time".into(),
                });
            }
            Err(e) => {
                return Err(Failure::Unknown {
                    reason: format!("the reply was cut off: {}", root(&e)),
                });
            }
        };
        match status {
            200 => {}
            401 => return Err(Failure::Fatal(ClientError::Unauthorized)),
            403 => return Err(Failure::Fatal(ClientError::AccessDenied)),
            429 | 503 => {
                return Err(Failure::Retryable {
                    reason: format!("HTTP {status}"),
                    wait: retry_after,
                });
            }
            500..=599 => {
                return Err(Failure::Unknown {
                    reason: format!("HTTP {status}"),
                });
            }
            // A GraphQL server answers a request it refuses to run (a validation error) with
            // 400 and the usual `errors`: show those messages rather than the bare status.
            400 => {
                let messages = serde_json::from_str::<GraphQlResponse>(&text)
                    .map(|r| r.errors.into_iter().map(|e| e.message).collect::<Vec<_>>())
                    .unwrap_or_default();
                return Err(Failure::Fatal(if messages.is_empty() {
                    ClientError::Status {
                        status,
                        body: clip(&text),
                    }
                } else {
                    ClientError::GraphQl(messages)
                }));
            }
            _ => {
                return Err(Failure::Fatal(ClientError::Status {
                    status,
                    body: clip(&text),
                }));
            }
        }
        let malformed = |reason: String| {
            Failure::Fatal(ClientError::Malformed {
                reason,
                body: clip(&text),
                create,
            })
        };
        let response: GraphQlResponse =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        if !response.errors.is_empty() {
            // A create that answered a session beside its errors was executed.
            if create
                && response
                    .data
                    .as_ref()
                    .is_some_and(|d| d.get("createLiveInterview").is_some_and(|v| !v.is_null()))
            {
                return Err(Failure::Unknown {
                    reason: format!(
                        "the create answered a session and errors: {}",
                        response
                            .errors
                            .iter()
                            .map(|e| e.message.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                });
            }
            let rate_limited = response.errors.iter().any(|e| {
                e.message.to_ascii_lowercase().contains("rate limit")
                    || e.extensions.as_ref().is_some_and(|x| {
                        matches!(
                            x.get("code").and_then(Value::as_str),
                            Some("RATE_LIMITED" | "TOO_MANY_REQUESTS")
                        )
                    })
            });
            if rate_limited {
                return Err(Failure::Retryable {
                    reason: "GraphQL rate limit".into(),
                    wait: retry_after,
                });
            }
            if response
                .errors
                .iter()
                .any(|e| e.message.to_ascii_lowercase().contains("access denied"))
            {
                return Err(Failure::Fatal(ClientError::AccessDenied));
            }
            return Err(Failure::Fatal(ClientError::GraphQl(
                response.errors.into_iter().map(|e| e.message).collect(),
            )));
        }
        let data = response
            .data
            .ok_or_else(|| malformed("neither `data` nor `errors`".into()))?;
        serde_json::from_value(data).map_err(|e| malformed(e.to_string()))
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.config.backoff.saturating_mul(1 << attempt.min(10));
        ceiling.mul_f64(fastrand::f64())
    }

    /// Makes (or, after a lost reply, finds) the one session of `mint`.
    async fn create(&self, mint: &PlannedMint) -> Result<Minted, ClientError> {
        let lock = self.email_locks.of(&mint.candidate_email);
        let _one_create_per_email = lock.lock().await;
        let (life, expires_at) = self.expiration(Utc::now(), mint.serves_until);
        let mut fields = json!({
            "candidateEmail": mint.candidate_email,
            "candidateName": mint.candidate_name,
            "expirationTime": life.num_milliseconds(),
        });
        if let Some(id) = &mint.interviewer_id {
            fields["interviewerId"] = json!(id);
        }
        if mint.key.product == Product::Template {
            fields["templateId"] = json!(mint.key.template_id);
            fields["lockTemplate"] = json!(true);
        }
        let variables = json!({ "fields": fields });
        let started = Instant::now();
        let mut attempts = 0;
        // The last create whose outcome was unknown, if any.
        let mut unknown: Option<String> = None;
        loop {
            attempts += 1;
            let last = match self
                .post::<CreateData>(CREATE, variables.clone(), true)
                .await
            {
                Ok(CreateData {
                    create_live_interview: Some(session),
                }) => return self.claim(session, expires_at),
                Ok(CreateData {
                    create_live_interview: None,
                }) => {
                    return Err(ClientError::GraphQl(vec![
                        "createLiveInterview returned null without an error".into(),
                    ]));
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retryable { reason, wait }) => {
                    self.pause(attempts, started, wait, &reason)
                        .await
                        .map_err(|e| unknown_if(e, &unknown, mint))?;
                    continue;
                }
                Err(Failure::Unknown { reason }) => reason,
            };
            if !self.config.adopt_lost {
                return Err(ClientError::OutcomeUnknown {
                    email: mint.candidate_email.clone(),
                    reason: last,
                    detail: "not looked up here: the mint ledger reconciles it".to_owned(),
                });
            }
            // The create may have gone through: look before sending it again.
            match self.find_lost(mint).await {
                Ok(Some(session)) => return self.claim(session, expires_at),
                Ok(None) => {
                    // A create that timed out may still land after the look-up: giving up now
                    // is an unknown outcome, not "nothing was made".
                    unknown = Some(last.clone());
                    self.pause(attempts, started, None, &last)
                        .await
                        .map_err(|e| unknown_if(e, &unknown, mint))?
                }
                Err(detail) => {
                    return Err(ClientError::OutcomeUnknown {
                        email: mint.candidate_email.clone(),
                        reason: last,
                        detail,
                    });
                }
            }
        }
    }

    /// Sleeps before the next attempt, or gives up when attempts or time have run out.
    async fn pause(
        &self,
        attempts: u32,
        started: Instant,
        wait: Option<Duration>,
        last: &str,
    ) -> Result<(), ClientError> {
        let wait = wait.unwrap_or_else(|| self.backoff(attempts));
        if attempts >= self.config.max_attempts
            || started.elapsed() + wait > self.config.max_retry_time
        {
            return Err(ClientError::GaveUp {
                attempts,
                seconds: started.elapsed().as_secs(),
                last: last.to_owned(),
            });
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The candidate's pending sessions (email, and name when the session has one), read with
    /// retries: a query changes nothing, so any failure may be retried.
    async fn pending_sessions(&self, mint: &PlannedMint) -> Result<Vec<LiveInterview>, String> {
        let variables = json!({ "email": mint.candidate_email, "first": LOOKUP_PAGE, "offset": 0 });
        let found: FindData = self
            .idempotent(FIND, variables)
            .await
            .map_err(|e| format!("the look-up failed: {e}"))?;
        Ok(found
            .live_interviews
            .into_iter()
            .flatten()
            .filter(|s| {
                s.status == "pending"
                    && s.candidate_email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&mint.candidate_email))
                    && s.candidate_name
                        .as_deref()
                        .is_none_or(|n| n == mint.candidate_name)
            })
            .collect())
    }

    /// After a create whose outcome is unknown: the one pending session of this candidate
    /// (email and name) that this process has not claimed, if there is exactly one.
    async fn find_lost(&self, mint: &PlannedMint) -> Result<Option<LiveInterview>, String> {
        let found = self.pending_sessions(mint).await?;
        let claimed = self.claimed.lock().expect("not poisoned").clone();
        let unclaimed: Vec<LiveInterview> = found
            .into_iter()
            .filter(|s| !claimed.contains(&s.id))
            .collect();
        match unclaimed.len() {
            0 | 1 => Ok(unclaimed.into_iter().next()),
            n => Err(format!(
                "{n} unclaimed pending sessions exist for this candidate ({}), so the lost one cannot be told apart",
                unclaimed
                    .iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// A request that may be sent again whatever happened to it (a query, an edit to a fixed
    /// value, a delete): retried on every failure but a final one.
    async fn idempotent<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<T, ClientError> {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.post::<T>(query, variables.clone(), false).await {
                Ok(found) => return Ok(found),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retryable { reason, wait }) => {
                    self.pause(attempts, started, wait, &reason).await?;
                }
                Err(Failure::Unknown { reason }) => {
                    self.pause(attempts, started, None, &reason).await?;
                }
            }
        }
    }

    /// Extends the session `id`, which expires at `expires_at` (`None`: unknown), to live until
    /// `serves_until` plus the grace period, as far as CodeSignal allows from now
    /// (`editLiveInterview` with a new `expirationTime`). `None` when it needs no extension or
    /// cannot gain at least a minute, or its last event is over.
    ///
    /// `expirationTime` on an edit is taken to count from the edit, as on a create from the
    /// create [inferred: CodeSignal's docs advise minting with the maximum and extending later,
    /// which only works that way].
    pub async fn extend_session(
        &self,
        id: &str,
        expires_at: Option<DateTime<Utc>>,
        serves_until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ClientError> {
        let now = Utc::now();
        let wanted = serves_until + self.config.grace;
        if wanted <= now {
            return Ok(None);
        }
        let (life, new_expiry) = self.expiration(now, serves_until);
        if let Some(current) = expires_at
            && (current >= wanted || new_expiry < current + MIN_GAIN)
        {
            return Ok(None);
        }
        let variables =
            json!({ "id": id, "fields": { "expirationTime": life.num_milliseconds() } });
        let edited: EditData = self.idempotent(EDIT, variables).await?;
        match edited.edit_live_interview {
            Some(_) => Ok(Some(new_expiry)),
            None => Err(ClientError::GraphQl(vec![format!(
                "editLiveInterview returned null for session {id}"
            )])),
        }
    }

    /// Deletes the session `id` (`deleteLiveInterview`). One CodeSignal no longer knows counts
    /// as deleted.
    pub async fn delete_session(&self, id: &str) -> Result<(), ClientError> {
        match self
            .idempotent::<DeleteData>(DELETE, json!({ "id": id }))
            .await
        {
            Ok(_) => Ok(()),
            Err(ClientError::GraphQl(messages))
                if messages
                    .iter()
                    .all(|m| m.to_ascii_lowercase().contains("not found")) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The URL that goes into invites, and the shortened one.
    fn urls(&self, session: LiveInterview) -> (String, Option<String>) {
        if self.config.short_urls {
            (session.shortened_url.clone(), Some(session.shortened_url))
        } else {
            (session.url, Some(session.shortened_url))
        }
    }

    fn claim(
        &self,
        session: LiveInterview,
        expires_at: DateTime<Utc>,
    ) -> Result<Minted, ClientError> {
        self.claimed
            .lock()
            .expect("not poisoned")
            .insert(session.id.clone());
        let session_id = session.id.clone();
        let (url, short_url) = self.urls(session);
        // Checked here too, so an unusable answer is a failure and is not cached.
        SafeUrl::parse(&url).map_err(ClientError::UnsafeUrl)?;
        Ok(Minted {
            url,
            short_url,
            expires_at: Some(expires_at),
            session_id: Some(session_id),
        })
    }
}

impl Minter for CodeSignalMinter {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        self.cache
            .try_get_with(mint.key.clone(), self.create(mint))
            .await
            .map_err(|e| MintError::CodeSignal {
                key: mint.key.to_string(),
                source: (*e).clone(),
            })
    }
}

/// Giving up after a create whose outcome was unknown: say so, rather than "gave up" (which
/// the ledger reads as "nothing was made").
fn unknown_if(e: ClientError, unknown: &Option<String>, mint: &PlannedMint) -> ClientError {
    match (e, unknown) {
        (ClientError::GaveUp { last, .. }, Some(reason)) => ClientError::OutcomeUnknown {
            email: mint.candidate_email.clone(),
            reason: reason.clone(),
            detail: format!("the look-up found no session, but it may still land; then: {last}"),
        },
        (e, _) => e,
    }
}

fn codesignal_error(key: &MintKey) -> impl FnOnce(ClientError) -> MintError + '_ {
    move |source| MintError::CodeSignal {
        key: key.to_string(),
        source,
    }
}

fn no_session(key: &MintKey) -> MintError {
    MintError::Failed {
        key: key.to_string(),
        message: "the ledger records no CodeSignal session id for it".to_owned(),
    }
}

impl Sessions for CodeSignalMinter {
    async fn candidates(&self, mint: &PlannedMint) -> Result<Vec<Minted>, MintError> {
        let found = self
            .pending_sessions(mint)
            .await
            .map_err(|detail| MintError::Failed {
                key: mint.key.to_string(),
                message: detail,
            })?;
        Ok(found
            .into_iter()
            .map(|session| {
                let session_id = Some(session.id.clone());
                let (url, short_url) = self.urls(session);
                Minted {
                    url,
                    short_url,
                    expires_at: None,
                    session_id,
                }
            })
            .collect())
    }

    async fn extend(
        &self,
        key: &MintKey,
        session_id: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
        serves_until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, MintError> {
        let id = session_id.ok_or_else(|| no_session(key))?;
        self.extend_session(id, expires_at, serves_until)
            .await
            .map_err(codesignal_error(key))
    }

    async fn delete(&self, key: &MintKey, session_id: Option<&str>) -> Result<(), MintError> {
        let id = session_id.ok_or_else(|| no_session(key))?;
        self.delete_session(id).await.map_err(codesignal_error(key))
    }
}

/// The innermost cause of an HTTP error, without the URL reqwest prefixes.
fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A body, cut to a length that fits an error message.
fn clip(body: &str) -> String {
    const MAX: usize = 2000;
    if body.len() <= MAX {
        return body.to_owned();
    }
    let mut end = MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &body[..end], body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_cleaned_and_never_shown() {
        let secret = "cs_live_0123456789abcdef";
        for pasted in [
            secret.to_owned(),
            format!("  {secret}\n"),
            format!("Bearer {secret}"),
            format!("Authorization: Bearer {secret}"),
            format!("authorization:bearer {secret}"),
        ] {
            let key = ApiKey::parse(&pasted).unwrap();
            assert_eq!(key.0.expose_secret(), secret, "{pasted:?}");
            assert!(!format!("{key:?}").contains(secret));
            let config = CodeSignalConfig::new(key);
            assert!(!format!("{config:?}").contains(secret));
            let minter = CodeSignalMinter::new(config).unwrap();
            assert!(!format!("{minter:?}").contains(secret));
        }
        assert_eq!(ApiKey::parse("  ").unwrap_err(), KeyError::Empty);
        assert_eq!(ApiKey::parse("Bearer ").unwrap_err(), KeyError::Empty);
        let err = ApiKey::parse("abc def ghi jkl").unwrap_err();
        assert!(matches!(err, KeyError::Malformed(_)));
        assert!(!err.to_string().contains("ghi"));
        assert!(matches!(
            ApiKey::parse("short"),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            ApiKey::parse("clé-0123456789"),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn the_key_is_only_sent_over_https_or_to_loopback() {
        let key = ApiKey::parse("0123456789abcdef").unwrap();
        for (endpoint, ok) in [
            ("https://app.codesignal.com/graphql", true),
            ("http://127.0.0.1:8089/graphql", true),
            ("http://localhost:8089/graphql", true),
            ("http://[::1]:8089/graphql", true),
            ("http://app.codesignal.com/graphql", false),
            ("http://10.0.0.1/graphql", false),
            ("https://user:secret-key@app.codesignal.com/graphql", false),
            ("https://app.codesignal.com/graphql?key=secret-key", false),
            ("http://user@127.0.0.1:8089/graphql", false),
        ] {
            let mut config = CodeSignalConfig::new(key.clone());
            config.endpoint = endpoint.parse().unwrap();
            match CodeSignalMinter::new(config) {
                Ok(_) => assert!(ok, "{endpoint}"),
                Err(e) => {
                    assert!(!ok, "{endpoint}: {e}");
                    assert!(!e.to_string().contains("secret-key"), "{e}");
                }
            }
        }
    }

    #[test]
    fn debug_of_the_config_hides_the_key_and_the_endpoint_credentials() {
        let mut config = CodeSignalConfig::new(ApiKey::parse("0123456789abcdef").unwrap());
        config.endpoint = "https://u:hunter2@api.example/graphql?token=hunter2"
            .parse()
            .unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("0123456789abcdef"),
            "{debug}"
        );
        assert!(debug.contains("api.example"), "{debug}");
    }

    #[test]
    fn expiration_is_clamped_to_what_codesignal_allows() {
        let minter = CodeSignalMinter::new(CodeSignalConfig::new(
            ApiKey::parse("0123456789abcdef").unwrap(),
        ))
        .unwrap();
        let now: DateTime<Utc> = "2027-03-01T00:00:00Z".parse().unwrap();
        let (life, at) = minter.expiration(now, now + TimeDelta::hours(10));
        assert_eq!(life, TimeDelta::hours(12));
        assert_eq!(at, now + TimeDelta::hours(12));
        // In the past: the shortest life.
        assert_eq!(
            minter.expiration(now, now - TimeDelta::days(3)).0,
            MIN_EXPIRATION
        );
        // More than 14 days ahead: the longest, ending before the interview.
        let (life, at) = minter.expiration(now, now + TimeDelta::days(20));
        assert_eq!(life, MAX_EXPIRATION);
        assert!(at < now + TimeDelta::days(20));
        assert_eq!(life.num_milliseconds(), 1_209_600_000);
    }
}
