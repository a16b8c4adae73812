//! The CodeSignal client: one live-interview session per mint key, through every fault.
//!
//! `createLiveInterview` has no idempotency key: every call that reaches CodeSignal makes a new
//! session, and a second session for one interview puts the candidate and the interviewer in
//! different rooms. So the client is built around never sending a create twice for one key:
//!
//! * **One create per key per process.** On its own, mints go through a moka cache keyed by the
//!   mint key with `try_get_with`: concurrent callers of one key share one in-flight mint, the
//!   result is kept (until [`Sessions::delete`] deletes it), and failures are not cached (a
//!   later call tries again). Behind the mint ledger
//!   ([`CodeSignalConfig::behind_ledger`]) the ledger's intent does that, across processes too,
//!   and the client keeps no cache: the one cache is the [`Cached`](crate::Cached) in front of
//!   the ledger, which a cancel invalidates.
//! * **One create per candidate email in flight.** A per-email async lock serialises creates of
//!   one candidate, so at any time at most one create for that email can be outstanding.
//! * **Retry only what was not executed.** HTTP 429, HTTP 503 and GraphQL rate-limit errors
//!   (by their `extensions.code`, or a message that is exactly "Rate limit exceeded", and only
//!   when the create answered no session) mean CodeSignal did not act: those are retried with
//!   exponential backoff and full jitter (honouring `Retry-After`), bounded in attempts and in
//!   total time. A refused connection or a failed DNS look-up is retried briefly
//!   ([`CodeSignalConfig::connect_attempts`]), then ends the run. HTTP 401, "Access Denied",
//!   redirects, certificate errors and validation errors are final.
//! * **Fail fast, and stop.** After a final failure (or when the run's
//!   [`deadline`](CodeSignalConfig::deadline) passes) the minter sends no further request: the
//!   run fails at its first final failure instead of spending each remaining mint's own retry
//!   budget. Build a new minter to try again.
//! * **Hostile answers are contained.** No redirect is followed (the create's body would go to
//!   another host); an answer is read up to [`MAX_RESPONSE_BYTES`] while it streams; JSON with a
//!   duplicate key anywhere is refused as ambiguous; a session id must be short printable
//!   ASCII, and a created session must name the mint's candidate and be one no other key
//!   holds (in this process, and in the mint ledger); both URLs of every session (created or looked up)
//!   pass [`SafeUrl`](super::SafeUrl) before anything records them; server text reaches errors
//!   only through [`shown`](crate::shown) (escaped, capped).
//!
//! # Unknown outcomes
//!
//! A create that may have been executed without the client seeing its session (a timeout after
//! the request went out, a connection dropped before the reply, HTTP 500/502/504, a success
//! other than 200 (201, 202, 204) or a 303 pointing to a result, an answer that is not JSON,
//! off the schema, too large, `createLiveInterview: null` without an error, or with an error
//! not marked as refused input, a session with an unusable id or URL, or one that cannot be
//! its own) has an **unknown outcome**, and stays unknown until proven otherwise: CodeSignal
//! may commit it long after the client gave up, so a look-up that finds nothing right after
//! the timeout proves nothing. The rule: after an unknown
//! outcome the client never re-sends that create, sends no further create for that candidate
//! (by email) for the life of the minter, and fails the mint with
//! [`ClientError::OutcomeUnknown`] (the run then fails and outputs nothing). Behind the mint
//! ledger ([`LedgerMinter`](crate::LedgerMinter), as the CLI always runs) the intent stays
//! `pending` with the error recorded, and only a later run settles it by look-up, once the
//! intent's lease has ended and the settle window has passed since (a late commit must have
//! landed by then): it adopts a session only when exactly one pending session of the candidate
//! (email and name) exists that no ledger record holds and no other unresolved intent of the
//! candidate could have made; none means nothing was made; otherwise it refuses to guess and
//! says which sessions to delete. `LiveInterview` does not return its template or interviewer,
//! so those cannot be compared: what makes the adopted session the key's own is that no two
//! creates of one candidate are ever unresolved at once. On its own
//! ([`CodeSignalConfig::adopt_lost`]) the client looks the candidate's sessions up once, and
//! adopts the one pending session of that email and name it has not claimed (a reply lost after
//! the commit); it cannot tell that one from a session an earlier process left.
//!
//! The API key is a [`secrecy`] secret: it is sent as a header marked sensitive and never
//! appears in `Debug`, `Display`, errors or logs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{
    Backoff, EmailLocks, Jitter, MintError, Minted, Minter, SafeUrl, SessionOp, Sessions,
    VendorEffect,
};
use crate::parse::Product;
use crate::plan::{MintKey, PlannedMint};
use crate::{redact_url, shown};

/// CodeSignal's GraphQL endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://app.codesignal.com/graphql";

/// The shortest and longest life CodeSignal gives a live interview (`expirationTime`).
pub const MIN_EXPIRATION: TimeDelta = TimeDelta::hours(1);
/// See [`MIN_EXPIRATION`].
pub const MAX_EXPIRATION: TimeDelta = TimeDelta::hours(336);

/// The most of one answer that is read: a GraphQL answer of this API is a few KB.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// How many GraphQL error messages one error keeps.
const MAX_MESSAGES: usize = 5;

const CREATE: &str = "mutation CreateLiveInterview($fields: LiveInterviewInput) {
  createLiveInterview(interviewFields: $fields) { id url shortenedUrl status candidateEmail candidateName }
}";

const FIND: &str = "query FindLiveInterviews($email: String, $first: Int, $offset: Int) {
  liveInterviews(candidateEmail: $email, first: $first, offset: $offset) { id url shortenedUrl status candidateEmail candidateName }
}";

const EDIT: &str = "mutation EditLiveInterview($id: ID!, $fields: LiveInterviewInput!) {
  editLiveInterview(id: $id, interviewFields: $fields) { id status }
}";

const READ: &str = "query LiveInterview($id: ID!) {
  liveInterview(liveInterviewId: $id) { id status }
}";

const DELETE: &str = "mutation DeleteLiveInterview($id: ID!) {
  deleteLiveInterview(id: $id)
}";

/// An extension that would add less than this is not worth a request.
const MIN_GAIN: TimeDelta = TimeDelta::minutes(1);

/// How many of a candidate's sessions one look-up request reads.
const LOOKUP_PAGE: i64 = 100;

/// How many pages one look-up reads at most.
const MAX_LOOKUP_PAGES: i64 = 100;

/// How many claimed session ids a client remembers, and for how long one unused is kept: far
/// more than one run makes, and longer than CodeSignal keeps a session alive (336 hours).
const CLAIMED_CAPACITY: u64 = if cfg!(test) { 16 } else { 1_000_000 };
const CLAIMED_IDLE: Duration = Duration::from_secs(15 * 24 * 3600);

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
        "the CodeSignal API key is malformed: it {why}; paste the key alone, as shown in CodeSignal's API key dialog"
    )]
    Malformed {
        /// What is wrong with it (never the key itself).
        why: &'static str,
    },
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
            return Err(KeyError::Malformed {
                why: "contains whitespace",
            });
        }
        if !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(KeyError::Malformed {
                why: "contains characters other than printable ASCII",
            });
        }
        if key.len() < 8 {
            return Err(KeyError::Malformed {
                why: "is too short to be a key",
            });
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
    /// Time limit of one HTTP request (50 ms to 600 s).
    pub timeout: Duration,
    /// How long a link outlives the end of the last event it serves (0 to 30 days).
    pub grace: TimeDelta,
    /// Put `shortenedUrl` in invites instead of `url`.
    pub short_urls: bool,
    /// How many requests may be in flight at once (1 to 1024).
    pub concurrency: usize,
    /// Client-side limit on requests started per second (0.01 to 10,000); `None` for none.
    pub rate_limit: Option<f64>,
    /// Attempts per request, the first included (1 to 100).
    pub max_attempts: u32,
    /// Attempts of a request whose connection is refused or whose host is not found (1 to
    /// `max_attempts`): a short retry, then the run stops.
    pub connect_attempts: u32,
    /// Time after which no further retry starts (at most a day).
    pub max_retry_time: Duration,
    /// First backoff; doubled each retry, with full jitter (at most a minute).
    pub backoff: Duration,
    /// The deadline of the whole run, counted from when the minter is built (100 ms to a day):
    /// no request starts, and none is waited for, after it. `None` for none.
    pub deadline: Option<Duration>,
    /// After a create whose outcome is unknown, look the candidate's sessions up once and adopt
    /// the lost one if exactly one can be it (`true`, for use on its own), or fail at once with
    /// [`ClientError::OutcomeUnknown`] and leave that to the caller (`false`: the mint ledger,
    /// which knows every session any run recorded, settles it in a later run). Either way no
    /// further create is sent for that candidate.
    pub adopt_lost: bool,
    /// Keep each key's session in memory, so a repeat mint of the key in this process reuses
    /// it, and concurrent mints of one key share one create (`true`, on its own). Behind the
    /// mint ledger (`false`), the ledger makes each key's create happen once and the
    /// [`Cached`](crate::Cached) wrapper in front of it is the process's one cache, which a
    /// cancel invalidates; a second cache here would hand out a cancelled session's URL.
    pub cache: bool,
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
            connect_attempts,
            max_retry_time,
            backoff,
            deadline,
            adopt_lost,
            cache,
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
            .field("connect_attempts", connect_attempts)
            .field("max_retry_time", max_retry_time)
            .field("backoff", backoff)
            .field("deadline", deadline)
            .field("adopt_lost", adopt_lost)
            .field("cache", cache)
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
            return Err(ClientError::EndpointCredentials {
                endpoint: crate::redact_url(endpoint.as_str()),
            });
        }
        let secure =
            endpoint.scheme() == "https" || (endpoint.scheme() == "http" && is_loopback(endpoint));
        if !secure {
            return Err(ClientError::InsecureEndpoint {
                endpoint: crate::redact_url(endpoint.as_str()),
            });
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
            concurrency: crate::util::DEFAULT_CONCURRENCY,
            rate_limit: Some(25.0),
            max_attempts: 6,
            connect_attempts: 3,
            max_retry_time: Duration::from_secs(120),
            backoff: Duration::from_millis(250),
            deadline: None,
            adopt_lost: true,
            cache: true,
        }
    }

    /// This configuration for a client behind the mint ledger: no look-up of its own after a
    /// lost reply ([`adopt_lost`](CodeSignalConfig::adopt_lost) off: the ledger, which knows
    /// every recorded session, settles it in a later run) and no cache of its own
    /// ([`cache`](CodeSignalConfig::cache) off: the one cache sits in front of the ledger).
    pub fn behind_ledger(mut self) -> CodeSignalConfig {
        self.adopt_lost = false;
        self.cache = false;
        self
    }

    /// Sets [`timeout`](CodeSignalConfig::timeout) from seconds as a user gave them (refused
    /// when not a number in range, rather than a panic or a timeout of centuries).
    pub fn with_timeout_secs(mut self, seconds: f64) -> Result<CodeSignalConfig, ClientError> {
        self.timeout = seconds_in("the CodeSignal timeout", seconds, 0.05, 600.0)?;
        Ok(self)
    }

    /// Sets [`rate_limit`](CodeSignalConfig::rate_limit) from requests per second as a user
    /// gave them; 0 for no limit.
    pub fn with_rate_limit(mut self, per_second: f64) -> Result<CodeSignalConfig, ClientError> {
        self.rate_limit = if per_second == 0.0 {
            None
        } else {
            in_range(
                "the rate limit",
                per_second,
                0.01,
                10_000.0,
                "requests per second, or 0 for none",
            )?;
            Some(per_second)
        };
        Ok(self)
    }

    /// Sets [`deadline`](CodeSignalConfig::deadline) from seconds as a user gave them.
    pub fn with_deadline_secs(mut self, seconds: f64) -> Result<CodeSignalConfig, ClientError> {
        self.deadline = Some(seconds_in("the deadline", seconds, 0.1, 86_400.0)?);
        Ok(self)
    }

    /// Every setting in its range: a value out of range is refused, never a panic.
    pub fn check(&self) -> Result<(), ClientError> {
        let secs = |d: Duration| d.as_secs_f64();
        seconds_in("the CodeSignal timeout", secs(self.timeout), 0.05, 600.0)?;
        in_range(
            "the grace period",
            self.grace.num_minutes() as f64,
            0.0,
            43_200.0,
            "minutes",
        )?;
        in_range(
            "the concurrency",
            self.concurrency as f64,
            1.0,
            1024.0,
            "requests",
        )?;
        if let Some(rate) = self.rate_limit {
            in_range(
                "the rate limit",
                rate,
                0.01,
                10_000.0,
                "requests per second",
            )?;
        }
        in_range(
            "the attempts",
            self.max_attempts.into(),
            1.0,
            100.0,
            "attempts",
        )?;
        in_range(
            "the connection attempts",
            self.connect_attempts.into(),
            1.0,
            self.max_attempts.into(),
            "attempts (at most the attempts)",
        )?;
        seconds_in("the retry time", secs(self.max_retry_time), 0.0, 86_400.0)?;
        seconds_in("the backoff", secs(self.backoff), 0.0, 60.0)?;
        if let Some(deadline) = self.deadline {
            seconds_in("the deadline", secs(deadline), 0.1, 86_400.0)?;
        }
        Ok(())
    }
}

fn in_range(
    name: &'static str,
    value: f64,
    min: f64,
    max: f64,
    unit: &'static str,
) -> Result<(), ClientError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ClientError::Setting {
            name,
            value: shown(&value.to_string()).into_owned(),
            range: format!("{min} to {max} {unit}"),
        })
    }
}

fn seconds_in(name: &'static str, value: f64, min: f64, max: f64) -> Result<Duration, ClientError> {
    in_range(name, value, min, max, "seconds")?;
    Ok(Duration::from_secs_f64(value))
}

/// Why the client could not mint a session. Messages say what to fix; text a server sent is
/// shown escaped and capped ([`shown`](crate::shown)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The endpoint is not one the key may be sent to.
    #[error(
        "refusing to send the API key to {endpoint}: use https (plain http only to a loopback address)"
    )]
    InsecureEndpoint {
        /// The endpoint, credentials hidden.
        endpoint: String,
    },
    /// The endpoint URL holds a user name, a password or a secret-looking query parameter
    /// (shown with those hidden).
    #[error(
        "refusing the CodeSignal endpoint {endpoint}: it carries credentials (a user name, a password or a key in the query); give the plain endpoint URL and the key in CODESIGNAL_API_KEY or --api-key-file"
    )]
    EndpointCredentials {
        /// The endpoint, credentials hidden.
        endpoint: String,
    },
    /// HTTP 401.
    #[error(
        "CodeSignal refused the API key (HTTP 401): it is wrong, revoked, or its account was deactivated; set CODESIGNAL_API_KEY to a valid key"
    )]
    Unauthorized,
    /// "Access Denied" (or HTTP 403), with what the server said.
    #[error(
        "CodeSignal answered \"Access Denied\" ({said}): the API key lacks the LiveInterview permission; create a key with LiveInterview access in CodeSignal's API key dialog"
    )]
    AccessDenied {
        /// What the server said, escaped.
        said: String,
    },
    /// A GraphQL error that retrying will not fix (validation, bad input).
    #[error("CodeSignal refused the request: {}", .messages.join("; "))]
    GraphQl {
        /// The server's messages, escaped and capped.
        messages: Vec<String>,
    },
    /// An HTTP status that retrying will not fix.
    #[error("CodeSignal answered HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body, escaped.
        body: String,
    },
    /// The endpoint answered with a redirect, which is never followed: it would send the
    /// request (the candidate's email and name, the key) to another address.
    #[error(
        "CodeSignal's endpoint answered HTTP {status} redirecting to {location}; redirects are not followed: set CODESIGNAL_ENDPOINT to the real endpoint"
    )]
    Redirect {
        /// The status code.
        status: u16,
        /// Where it pointed (redacted, escaped).
        location: String,
    },
    /// An answer larger than [`MAX_RESPONSE_BYTES`].
    #[error("CodeSignal's answer is larger than {limit} bytes; it was not read further")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// An answer that does not match the schema. The start of the raw body is kept.
    #[error("CodeSignal's answer does not match the schema ({reason}){}; raw body: {body}", if *.create { "; the session may have been created" } else { "" })]
    Malformed {
        /// What did not match.
        reason: String,
        /// The start of the raw body, escaped.
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
    /// The connection was refused or the host not found, after a short retry.
    #[error(
        "cannot reach CodeSignal after {attempts} attempt(s): {reason}; check CODESIGNAL_ENDPOINT and the network, then run again"
    )]
    Unreachable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The TLS handshake failed (a certificate not trusted, expired or for another host):
    /// final, retrying cannot fix it.
    #[error(
        "the TLS connection to CodeSignal failed: {cause}; check CODESIGNAL_ENDPOINT (and any proxy intercepting TLS)"
    )]
    Tls {
        /// The handshake's failure, escaped.
        cause: String,
    },
    /// The run's deadline passed.
    #[error(
        "the deadline of {seconds} s for the whole run passed while waiting for {waiting_for}; run again later, or allow more time with --deadline"
    )]
    Deadline {
        /// The deadline.
        seconds: u64,
        /// What was being waited for.
        waiting_for: String,
    },
    /// Not sent: an earlier request of this run failed finally.
    #[error("not sent, since an earlier request of this run failed: {reason}")]
    Halted {
        /// That failure.
        reason: String,
    },
    /// Not sent: an earlier create for the same candidate has an unknown outcome.
    #[error(
        "no session is created for {email} in this run: an earlier create for this candidate has an unknown outcome ({reason}), and a second one could not be told apart from it"
    )]
    CandidateBlocked {
        /// The candidate's email.
        email: String,
        /// What happened to the earlier create.
        reason: String,
    },
    /// A create may or may not have made a session, and the look-up could not tell.
    #[error("the outcome of creating the session for {email} is unknown ({reason}): {detail}")]
    OutcomeUnknown {
        /// The candidate's email.
        email: String,
        /// What happened to the create.
        reason: String,
        /// What the look-up found, and what to do.
        detail: String,
    },
    /// The session's URL may not go into an invite.
    #[error("CodeSignal returned an unusable URL: {source}")]
    UnsafeUrl {
        /// What is wrong with it.
        source: super::UrlError,
    },
    /// The create answered a session that cannot be this create's own: another key's (this
    /// process already holds it), or another candidate's.
    #[error(
        "CodeSignal answered the create with session {id}, which {why}; it is not used (a proxy replaying answers, or a server answering for another request?)"
    )]
    NotOurSession {
        /// The session's id, escaped.
        id: String,
        /// Why it cannot be ours.
        why: String,
    },
    /// The session's id is not one the ledger may record and later send back (empty, too
    /// long, or holding spaces or control characters).
    #[error("CodeSignal returned an unusable session id {shown}: {why}")]
    UnsafeId {
        /// The id, escaped and capped.
        shown: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A setting out of its range.
    #[error("{name} {value} is out of range: use {range}")]
    Setting {
        /// Which setting.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        range: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {cause}")]
    Setup {
        /// Why.
        cause: String,
    },
}

impl ClientError {
    /// What the failed request did at CodeSignal: a session it made and refused (an unusable
    /// URL or id, or one that cannot be its own), one it may have made (an unknown outcome, an
    /// answer to a create off the schema or too large), or nothing.
    pub fn effect(&self) -> VendorEffect {
        match self {
            ClientError::UnsafeUrl { .. }
            | ClientError::UnsafeId { .. }
            | ClientError::NotOurSession { .. } => VendorEffect::Made,
            ClientError::OutcomeUnknown { .. }
            | ClientError::Malformed { create: true, .. }
            | ClientError::TooLarge { .. } => VendorEffect::Unknown,
            _ => VendorEffect::Nothing,
        }
    }

    /// Whether this failure says a create made no session (so the key may be minted again
    /// later): anything else keeps the ledger's intent unresolved.
    pub fn created_nothing(&self) -> bool {
        self.effect() == VendorEffect::Nothing
    }
}

/// One attempt's failure, by what it means for a retry.
enum Failure {
    /// Nothing was executed: safe to send again, after `wait` if given. `connect`: the
    /// connection was refused or the host not found.
    Retryable {
        reason: String,
        wait: Option<Duration>,
        connect: bool,
    },
    /// The request may have been executed.
    Unknown { reason: String },
    /// Retrying will not help.
    Fatal(ClientError),
}

/// Attempts of one request so far.
struct Tries {
    started: Instant,
    attempts: u32,
    connect: u32,
    /// Twice the configured backoff after the first attempt, doubling to 1024 times it, with
    /// full jitter: many clients retrying one server spread out.
    backoff: Backoff,
}

impl Tries {
    fn new(first: Duration) -> Tries {
        Tries {
            started: Instant::now(),
            attempts: 0,
            connect: 0,
            backoff: Backoff::new(
                first.saturating_mul(2),
                first.saturating_mul(1 << 10),
                Jitter::Full,
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadData {
    live_interview: Option<ReadSession>,
}

#[derive(Deserialize)]
struct ReadSession {
    id: String,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteData {
    #[allow(dead_code)] // Read to check the answer's shape.
    delete_live_interview: String,
}

/// A GraphQL answer. Derived, so a key given twice (`"url"` twice in one session, `"data"`
/// twice) is an error rather than "the last one wins": ambiguous JSON is refused.
#[derive(Deserialize)]
struct GraphQlResponse<T> {
    data: Option<T>,
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
    /// Shared by every run of the client ([`CodeSignalMinter::next_run`]), as are the pacer,
    /// the HTTP connections, the caches and the locks.
    in_flight: Arc<Semaphore>,
    pace: Option<Arc<Pace>>,
    /// One lock per candidate email: at most one create per email in flight.
    email_locks: EmailLocks,
    /// Sessions this process made or adopted: never adopted again for another key. Bounded
    /// (the oldest forgotten first): behind the ledger, which records every session, this only
    /// closes the moment before a record is written.
    claimed: moka::sync::Cache<String, ()>,
    /// Candidates (lower-case email) with a create whose outcome is unknown, and what happened
    /// to it: no further create is sent for them.
    blocked: Mutex<HashMap<String, String>>,
    /// The first final failure: no request is sent after it.
    halted: Mutex<Option<String>>,
    /// When the minter was built: the run's deadline counts from here.
    built: Instant,
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
    /// A client for `config`; a setting out of range is refused ([`CodeSignalConfig::check`]).
    pub fn new(config: CodeSignalConfig) -> Result<CodeSignalMinter, ClientError> {
        config.check()?;
        CodeSignalConfig::check_endpoint(&config.endpoint)?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, config.api_key.header());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // reqwest is built without a crypto provider of its own (see Cargo.toml): ring, which
        // sqlx's TLS uses too, becomes the process default unless the application installed one
        // before (then `install_default` fails and leaves theirs in place, which is what we want).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder();
        if config.endpoint.scheme() == "http" {
            // Plain http is only allowed to loopback: a proxy from the environment
            // (`HTTP_PROXY`) would carry the key, readable, to another host. Over https a proxy
            // only tunnels the encrypted connection, so it is kept.
            http = http.no_proxy();
        }
        let http = http
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            // A redirect would re-send the create (the candidate's email and name) elsewhere,
            // over any scheme: none is followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("invitoken/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Setup {
                cause: e.to_string(),
            })?;
        let pace = config.rate_limit.map(|r| {
            Arc::new(Pace {
                interval: Duration::from_secs_f64(1.0 / r),
                next: Mutex::new(Instant::now()),
            })
        });
        Ok(CodeSignalMinter {
            http,
            cache: moka::future::Cache::builder().max_capacity(100_000).build(),
            in_flight: Arc::new(Semaphore::new(config.concurrency.max(1))),
            pace,
            email_locks: EmailLocks::default(),
            claimed: moka::sync::Cache::builder()
                .max_capacity(CLAIMED_CAPACITY)
                // The oldest forgotten first; a new id is always kept (TinyLFU may refuse one).
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_idle(CLAIMED_IDLE)
                .build(),
            blocked: Mutex::default(),
            halted: Mutex::default(),
            built: Instant::now(),
            calls: Default::default(),
            config,
        })
    }

    /// A new run of this client, for a process that keeps one client for many runs (a
    /// service): what stops a run (a final failure, the deadline, a candidate whose create has
    /// an unknown outcome) starts afresh, as in a new process, while the HTTP connections, the
    /// rate limit, the concurrency limit, the per-candidate locks, the claimed sessions and the
    /// cache stay shared. Behind the mint ledger, an unknown outcome stays blocked there (its
    /// intent is unresolved) until a later run settles it.
    pub fn next_run(&self) -> CodeSignalMinter {
        CodeSignalMinter {
            http: self.http.clone(),
            config: self.config.clone(),
            cache: self.cache.clone(),
            in_flight: self.in_flight.clone(),
            pace: self.pace.clone(),
            email_locks: self.email_locks.clone(),
            claimed: self.claimed.clone(),
            blocked: Mutex::default(),
            halted: Mutex::default(),
            built: Instant::now(),
            calls: Default::default(),
        }
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

    /// Time left before the run's deadline; `None` without one.
    fn remaining(&self) -> Option<Duration> {
        self.config
            .deadline
            .map(|d| d.saturating_sub(self.built.elapsed()))
    }

    fn deadline_passed(&self, waiting_for: String) -> ClientError {
        let e = ClientError::Deadline {
            seconds: self.config.deadline.map_or(0, |d| d.as_secs()),
            waiting_for,
        };
        self.halt(&e);
        e
    }

    /// Stops every later request of this minter: the run fails at its first final failure.
    fn halt(&self, e: &ClientError) {
        self.halted
            .lock()
            .expect("not poisoned")
            .get_or_insert_with(|| e.to_string());
    }

    /// Fails when no request may start now (halted, or past the deadline).
    fn may_send(&self, what: &str) -> Result<(), Failure> {
        if let Some(reason) = self.halted.lock().expect("not poisoned").clone() {
            return Err(Failure::Fatal(ClientError::Halted { reason }));
        }
        if self.remaining().is_some_and(|left| left.is_zero()) {
            return Err(Failure::Fatal(self.deadline_passed(what.to_owned())));
        }
        Ok(())
    }

    /// One HTTP request, classified and counted (`invitoken_codesignal_calls_total{operation,
    /// outcome}`; a request refused before it was sent counts as `not_sent`). `what` names it
    /// for errors ("the create for ...").
    async fn post<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
        create: bool,
        what: &str,
    ) -> Result<T, Failure> {
        let mut sent = false;
        let result = self
            .post_once(query, variables, create, what, &mut sent)
            .await;
        // The queries differ in their first words: these comparisons end there but for one.
        let operation = match query {
            q if q == CREATE => "create",
            q if q == FIND => "find",
            q if q == EDIT => "edit",
            q if q == DELETE => "delete",
            _ => "other",
        };
        let outcome = match &result {
            _ if !sent => "not_sent",
            Ok(_) => "ok",
            Err(Failure::Retryable { .. }) => "retryable",
            Err(Failure::Unknown { .. }) => "unknown",
            Err(Failure::Fatal(_)) => "fatal",
        };
        metrics::counter!("invitoken_codesignal_calls_total", "operation" => operation, "outcome" => outcome)
            .increment(1);
        result
    }

    /// [`post`](Self::post) without counting.
    async fn post_once<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
        create: bool,
        what: &str,
        sent: &mut bool,
    ) -> Result<T, Failure> {
        self.may_send(what)?;
        if let Some(pace) = &self.pace {
            pace.wait().await;
        }
        let _permit = self.in_flight.acquire().await.expect("never closed");
        self.may_send(what)?;
        *sent = true;
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = json!({ "query": query, "variables": variables });
        let (timeout, cut_by_deadline) = match self.remaining() {
            Some(left) if left < self.config.timeout => (left, true),
            _ => (self.config.timeout, false),
        };
        let no_answer = || Failure::Unknown {
            reason: if cut_by_deadline {
                format!(
                    "the deadline of {} s for the whole run passed while waiting for the answer to {what}",
                    self.config.deadline.map_or(0, |d| d.as_secs())
                )
            } else {
                format!("no answer within {} s", self.config.timeout.as_secs_f64())
            },
        };
        let mut response = match self
            .http
            .post(self.config.endpoint.clone())
            .timeout(timeout)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                let cause = chain(&e);
                let lower = cause.to_ascii_lowercase();
                // A handshake that failed (an untrusted or expired certificate, a server not
                // speaking TLS) fails the same way every time: final, not retried.
                if [
                    "certificate",
                    "tls",
                    "handshake",
                    "invalidcontenttype",
                    "corrupt message",
                ]
                .iter()
                .any(|w| lower.contains(w))
                {
                    let e = ClientError::Tls {
                        cause: shown(&cause).into_owned(),
                    };
                    self.halt(&e);
                    return Err(Failure::Fatal(e));
                }
                return Err(Failure::Retryable {
                    reason: format!(
                        "cannot connect to {}: {}",
                        shown(&redact_url(self.config.endpoint.as_str())),
                        shown(&root(&e))
                    ),
                    wait: None,
                    connect: true,
                });
            }
            Err(e) if e.is_timeout() => return Err(no_answer()),
            Err(e) => {
                return Err(Failure::Unknown {
                    reason: format!(
                        "the connection failed before the reply: {}",
                        shown(&root(&e))
                    ),
                });
            }
        };
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let retry_after = header(RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if (300..400).contains(&status) {
            let location = header(LOCATION).map_or_else(
                || "(no Location)".to_owned(),
                |l| shown(&redact_url(&l)).into_owned(),
            );
            let e = ClientError::Redirect { status, location };
            self.halt(&e);
            // 303 See Other is how a server points to the result of a POST it executed.
            if create && status == 303 {
                return Err(Failure::Unknown {
                    reason: e.to_string(),
                });
            }
            return Err(Failure::Fatal(e));
        }
        // Read while it streams, and no more than the cap: a hostile or broken server cannot
        // make the client hold gigabytes.
        let too_large = || {
            let e = ClientError::TooLarge {
                limit: MAX_RESPONSE_BYTES,
            };
            if create {
                Failure::Unknown {
                    reason: e.to_string(),
                }
            } else {
                Failure::Fatal(e)
            }
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(no_answer()),
                Err(e) => {
                    return Err(Failure::Unknown {
                        reason: format!("the reply was cut off: {}", shown(&root(&e))),
                    });
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let body_shown = || shown(&text).into_owned();
        match status {
            200 => {}
            401 => {
                self.halt(&ClientError::Unauthorized);
                return Err(Failure::Fatal(ClientError::Unauthorized));
            }
            403 => {
                let e = ClientError::AccessDenied {
                    said: format!("HTTP 403: {}", body_shown()),
                };
                self.halt(&e);
                return Err(Failure::Fatal(e));
            }
            429 | 503 => {
                return Err(Failure::Retryable {
                    reason: format!("HTTP {status}"),
                    wait: retry_after,
                    connect: false,
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
                let messages = serde_json::from_str::<GraphQlResponse<Value>>(&text)
                    .map(|r| messages(&r.errors))
                    .unwrap_or_default();
                return Err(Failure::Fatal(if messages.is_empty() {
                    ClientError::Status {
                        status,
                        body: body_shown(),
                    }
                } else {
                    ClientError::GraphQl { messages }
                }));
            }
            _ => {
                let e = ClientError::Status {
                    status,
                    body: body_shown(),
                };
                // 201, 202, 204...: a success other than the 200 GraphQL answers with says the
                // create was (or will be) executed, not that it made nothing.
                if create && (200..300).contains(&status) {
                    return Err(Failure::Unknown {
                        reason: e.to_string(),
                    });
                }
                return Err(Failure::Fatal(e));
            }
        }
        let malformed = |reason: String| {
            Failure::Fatal(ClientError::Malformed {
                reason: shown(&reason).into_owned(),
                body: body_shown(),
                create,
            })
        };
        // The loose parse lets a repeated key's last value win (`createLiveInterview` given as
        // a session, then as null, beside a rate-limit error, would retry a create that was
        // made): an answer with a key twice anywhere is refused first.
        serde_json::from_str::<NoDuplicateKeys>(&text).map_err(|e| malformed(e.to_string()))?;
        let loose: GraphQlResponse<Value> =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        if !loose.errors.is_empty() {
            return Err(self.classify_errors(loose, create, retry_after));
        }
        // Typed, so a duplicate key anywhere in the answer is refused.
        let typed: GraphQlResponse<T> =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        typed
            .data
            .ok_or_else(|| malformed("neither `data` nor `errors`".into()))
    }

    /// A 200 answer with GraphQL errors.
    fn classify_errors(
        &self,
        response: GraphQlResponse<Value>,
        create: bool,
        retry_after: Option<Duration>,
    ) -> Failure {
        let made_session = response
            .data
            .as_ref()
            .and_then(|d| d.get("createLiveInterview"))
            .is_some_and(|v| !v.is_null());
        if create && made_session {
            // A create that answered a session beside its errors was executed.
            return Failure::Unknown {
                reason: format!(
                    "the create answered a session and errors: {}",
                    messages(&response.errors).join("; ")
                ),
            };
        }
        // Only a rate-limit error named as one: a message that merely mentions "rate limit"
        // (a validation message, say) is not proof that nothing was executed.
        let rate_limited = response.errors.iter().all(|e| {
            let code = e
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .and_then(Value::as_str);
            matches!(code, Some("RATE_LIMITED" | "TOO_MANY_REQUESTS"))
                || matches!(
                    e.message.trim().to_ascii_lowercase().as_str(),
                    "rate limit exceeded" | "too many requests"
                )
        });
        if rate_limited {
            return Failure::Retryable {
                reason: "GraphQL rate limit".into(),
                wait: retry_after,
                connect: false,
            };
        }
        let shown_messages = messages(&response.errors);
        if response
            .errors
            .iter()
            .any(|e| e.message.to_ascii_lowercase().contains("access denied"))
        {
            let e = ClientError::AccessDenied {
                said: shown_messages.join("; "),
            };
            self.halt(&e);
            return Failure::Fatal(e);
        }
        // A create refused as bad input made nothing. Any other error beside a null session
        // (a server that made the session and then failed, or says "try again") is no proof of
        // that: the outcome is unknown.
        let refused_input = response.errors.iter().all(|e| {
            matches!(
                e.extensions
                    .as_ref()
                    .and_then(|x| x.get("code"))
                    .and_then(Value::as_str),
                Some(
                    "BAD_USER_INPUT"
                        | "GRAPHQL_VALIDATION_FAILED"
                        | "GRAPHQL_PARSE_FAILED"
                        | "FORBIDDEN"
                        | "UNAUTHENTICATED"
                )
            )
        });
        if create && !refused_input {
            return Failure::Unknown {
                reason: format!("the create answered errors: {}", shown_messages.join("; ")),
            };
        }
        Failure::Fatal(ClientError::GraphQl {
            messages: shown_messages,
        })
    }

    /// Makes (or, on its own, after a lost reply, finds) the one session of `mint`. A final
    /// failure stops the minter's later requests.
    async fn create(&self, mint: &PlannedMint) -> Result<Minted, ClientError> {
        let result = self.create_once(mint).await;
        if let Err(e) = &result
            && !matches!(
                e,
                ClientError::Halted { .. } | ClientError::CandidateBlocked { .. }
            )
        {
            self.halt(e);
        }
        result
    }

    async fn create_once(&self, mint: &PlannedMint) -> Result<Minted, ClientError> {
        let email = mint.candidate_email.to_ascii_lowercase();
        let _one_create_per_email = self.email_locks.lock(&email).await;
        // Checked after the lock: a create queued behind one whose outcome became unknown must
        // not go out.
        if let Some(reason) = self.blocked.lock().expect("not poisoned").get(&email) {
            return Err(ClientError::CandidateBlocked {
                email: shown(&mint.candidate_email).into_owned(),
                reason: reason.clone(),
            });
        }
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
        let what = format!("the create for {}", shown(&mint.key.to_string()));
        let mut tries = Tries::new(self.config.backoff);
        loop {
            tries.attempts += 1;
            let reason = match self
                .post::<CreateData>(CREATE, variables.clone(), true, &what)
                .await
            {
                Ok(CreateData {
                    create_live_interview: Some(session),
                }) => {
                    return self.claim(session, mint, expires_at).inspect_err(|e| {
                        // The session exists, unusable: the candidate has one nobody records.
                        self.block(&email, e.to_string());
                    });
                }
                Ok(CreateData {
                    create_live_interview: None,
                }) => "createLiveInterview answered null without an error".to_owned(),
                Err(Failure::Fatal(e)) if !e.created_nothing() => e.to_string(),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retryable {
                    reason,
                    wait,
                    connect,
                }) => {
                    self.pause(&mut tries, wait, &reason, connect, &what)
                        .await?;
                    continue;
                }
                Err(Failure::Unknown { reason }) => reason,
            };
            return self.unknown(mint, &email, reason, expires_at).await;
        }
    }

    /// After a create whose outcome is unknown (see the module docs).
    async fn unknown(
        &self,
        mint: &PlannedMint,
        email: &str,
        reason: String,
        expires_at: DateTime<Utc>,
    ) -> Result<Minted, ClientError> {
        self.block(email, reason.clone());
        let unknown = |detail: String| ClientError::OutcomeUnknown {
            email: shown(&mint.candidate_email).into_owned(),
            reason: reason.clone(),
            detail,
        };
        if !self.config.adopt_lost {
            return Err(unknown(
                "no further session is created for this candidate by this minter".to_owned(),
            ));
        }
        match self.find_lost(mint).await {
            Ok(Some(session)) => {
                let minted = self.claim(session, mint, expires_at)?;
                self.blocked.lock().expect("not poisoned").remove(email);
                Ok(minted)
            }
            Ok(None) => Err(unknown(
                "the look-up found no session, which proves nothing: a create that timed out may \
                 still land; no further session is created for this candidate in this run. \
                 Check the candidate's live interviews in CodeSignal before running again"
                    .to_owned(),
            )),
            Err(detail) => Err(unknown(format!(
                "{detail}; check the candidate's live interviews in CodeSignal before running again"
            ))),
        }
    }

    fn block(&self, email: &str, reason: String) {
        self.blocked
            .lock()
            .expect("not poisoned")
            .entry(email.to_owned())
            .or_insert(reason);
    }

    /// Sleeps before the next attempt, or gives up when attempts, time or the run's deadline
    /// have run out. A refused connection gets a short retry, then stops the run.
    async fn pause(
        &self,
        tries: &mut Tries,
        wait: Option<Duration>,
        last: &str,
        connect: bool,
        what: &str,
    ) -> Result<(), ClientError> {
        if connect {
            tries.connect += 1;
            if tries.connect >= self.config.connect_attempts {
                let e = ClientError::Unreachable {
                    attempts: tries.connect,
                    reason: last.to_owned(),
                };
                self.halt(&e);
                return Err(e);
            }
        }
        // Drawn even when the server says how long to wait, so the steps follow the attempts.
        let step = tries.backoff.next_pause();
        let wait = wait.unwrap_or(step);
        if tries.attempts >= self.config.max_attempts
            || tries.started.elapsed().saturating_add(wait) > self.config.max_retry_time
        {
            // Final, like any other: the next request (another session's edit or delete)
            // would spend a whole retry budget of its own against the same failing API.
            let e = ClientError::GaveUp {
                attempts: tries.attempts,
                seconds: tries.started.elapsed().as_secs(),
                last: last.to_owned(),
            };
            self.halt(&e);
            return Err(e);
        }
        if self.remaining().is_some_and(|left| wait >= left) {
            return Err(self.deadline_passed(format!("{what} (to retry it after: {last})")));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The candidate's pending sessions (email, and name when the session has one), read with
    /// retries: a query changes nothing, so any failure may be retried. A session listed twice
    /// counts once; listed twice with different fields, the answer is refused.
    async fn pending_sessions(&self, mint: &PlannedMint) -> Result<Vec<LiveInterview>, String> {
        let what = format!("the look-up of {}'s sessions", shown(&mint.candidate_email));
        // Every page: the list holds the candidate's past sessions too (deleted, completed),
        // and the lost one may come after the first page; reading one page would call it
        // "nothing made" and mint a second session.
        let mut listed = Vec::new();
        for page in 0.. {
            if page == MAX_LOOKUP_PAGES {
                return Err(format!(
                    "the look-up lists more than {} sessions for this candidate; too many to                      tell which one is lost",
                    MAX_LOOKUP_PAGES * LOOKUP_PAGE
                ));
            }
            let variables = json!({
                "email": mint.candidate_email,
                "first": LOOKUP_PAGE,
                "offset": page * LOOKUP_PAGE,
            });
            let found: FindData = self
                .idempotent(FIND, variables, &what)
                .await
                .map_err(|e| format!("the look-up failed: {e}"))?;
            let full = found.live_interviews.len() >= LOOKUP_PAGE as usize;
            listed.extend(found.live_interviews.into_iter().flatten());
            if !full {
                break;
            }
        }
        let mut sessions: Vec<LiveInterview> = Vec::new();
        for s in listed {
            let matches = s.status == "pending"
                && s.candidate_email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&mint.candidate_email))
                && s.candidate_name
                    .as_deref()
                    .is_none_or(|n| n == mint.candidate_name);
            if !matches {
                continue;
            }
            // Its id would be recorded by an adoption and matched against the ledger's.
            check_id(&s.id).map_err(|e| format!("the look-up listed a session that {e}"))?;
            match sessions.iter().find(|known| known.id == s.id) {
                Some(known) if *known == s => {}
                Some(_) => {
                    return Err(format!(
                        "the look-up listed session {} twice with different fields; refusing \
                         to guess which is true",
                        shown(&s.id)
                    ));
                }
                None => sessions.push(s),
            }
        }
        Ok(sessions)
    }

    /// After a create whose outcome is unknown: the one pending session of this candidate
    /// (email and name) that this process has not claimed, if there is exactly one.
    async fn find_lost(&self, mint: &PlannedMint) -> Result<Option<LiveInterview>, String> {
        let found = self.pending_sessions(mint).await?;
        let unclaimed: Vec<LiveInterview> = found
            .into_iter()
            .filter(|s| !self.claimed.contains_key(&s.id))
            .collect();
        match unclaimed.len() {
            0 | 1 => Ok(unclaimed.into_iter().next()),
            n => Err(format!(
                "{n} unclaimed pending sessions exist for this candidate ({}), so the lost one \
                 cannot be told apart",
                shown(
                    &unclaimed
                        .iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            )),
        }
    }

    /// A request that may be sent again whatever happened to it (a query, an edit to a fixed
    /// value, a delete): retried on every failure but a final one.
    async fn idempotent<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: Value,
        what: &str,
    ) -> Result<T, ClientError> {
        let mut tries = Tries::new(self.config.backoff);
        loop {
            tries.attempts += 1;
            match self.post::<T>(query, variables.clone(), false, what).await {
                Ok(found) => return Ok(found),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retryable {
                    reason,
                    wait,
                    connect,
                }) => {
                    self.pause(&mut tries, wait, &reason, connect, what).await?;
                }
                Err(Failure::Unknown { reason }) => {
                    self.pause(&mut tries, None, &reason, false, what).await?;
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
        let what = format!("the extension of session {}", shown(id));
        let edited: EditData = self.idempotent(EDIT, variables, &what).await?;
        match edited.edit_live_interview {
            // An answer about another session says nothing about this one's expiry.
            Some(Edited { id: other }) if other != id => Err(ClientError::GraphQl {
                messages: vec![format!(
                    "editLiveInterview of session {} answered for session {}",
                    shown(id),
                    shown(&other)
                )],
            }),
            Some(_) => Ok(Some(new_expiry)),
            None => Err(ClientError::GraphQl {
                messages: vec![format!(
                    "editLiveInterview returned null for session {}",
                    shown(id)
                )],
            }),
        }
    }

    /// The status of session `id` as CodeSignal reports it now (`liveInterview(liveInterviewId:)`;
    /// a `LiveInterviewStatus`: `pending`, `active`, `over`, `deleted`, `archived`), `None` when
    /// CodeSignal knows no such session. A query, retried like the look-up. What a webhook's
    /// unsigned payload claims about a session is checked with this before acting on it.
    pub async fn session_status(&self, id: &str) -> Result<Option<String>, ClientError> {
        check_id(id)?;
        let what = format!("the read of session {}", shown(id));
        let read: ReadData = self.idempotent(READ, json!({ "id": id }), &what).await?;
        match read.live_interview {
            None => Ok(None),
            // An answer about another session says nothing about this one.
            Some(other) if other.id != id => Err(ClientError::GraphQl {
                messages: vec![format!(
                    "liveInterview of session {} answered for session {}",
                    shown(id),
                    shown(&other.id)
                )],
            }),
            Some(session) => Ok(Some(session.status)),
        }
    }

    /// Deletes the session `id` (`deleteLiveInterview`). One CodeSignal no longer knows counts
    /// as deleted.
    pub async fn delete_session(&self, id: &str) -> Result<(), ClientError> {
        match self
            .idempotent::<DeleteData>(
                DELETE,
                json!({ "id": id }),
                &format!("the deletion of session {}", shown(id)),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(ClientError::GraphQl { messages })
                if messages
                    .iter()
                    .all(|m| m.to_ascii_lowercase().contains("not found")) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Takes `session` as made for `mint`: its id, both its URLs and whose it is are checked
    /// first, so an unusable answer is a failure (and is not cached).
    fn claim(
        &self,
        session: LiveInterview,
        mint: &PlannedMint,
        expires_at: DateTime<Utc>,
    ) -> Result<Minted, ClientError> {
        check_id(&session.id)?;
        SafeUrl::parse(&session.url).map_err(|source| ClientError::UnsafeUrl { source })?;
        SafeUrl::parse(&session.shortened_url)
            .map_err(|source| ClientError::UnsafeUrl { source })?;
        let not_ours = |why: String| ClientError::NotOurSession {
            id: shown(&session.id).into_owned(),
            why,
        };
        // A new session is pending (the look-up adopts only pending ones too): one already
        // deleted or finished would put a dead link in the invites.
        if session.status != "pending" {
            return Err(not_ours(format!(
                "is {}, not pending",
                shown(&session.status)
            )));
        }
        // A session names its candidate: one naming someone else was not made for this mint.
        if let Some(email) = &session.candidate_email
            && !email.eq_ignore_ascii_case(&mint.candidate_email)
        {
            return Err(not_ours(format!("is for {}", shown(email))));
        }
        if let Some(name) = &session.candidate_name
            && *name != mint.candidate_name
        {
            return Err(not_ours(format!("is for \"{}\"", shown(name))));
        }
        // Every create makes a new session: one this process already holds is another key's.
        if !self
            .claimed
            .entry(session.id.clone())
            .or_insert(())
            .is_fresh()
        {
            return Err(not_ours(
                "is already the session of another key of this run".to_owned(),
            ));
        }
        Ok(Minted {
            url: session.url,
            short_url: Some(session.shortened_url),
            expires_at: Some(expires_at),
            session_id: Some(session.id),
        })
    }
}

impl CodeSignalMinter {
    /// The session of `mint` with its own URL (made once per key and process, unless the
    /// ledger in front does that: [`CodeSignalConfig::cache`]).
    async fn session(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        let error = |source| MintError::CodeSignal {
            key: Box::new(mint.key.clone()),
            source,
        };
        if !self.config.cache {
            return self.create(mint).await.map_err(error);
        }
        self.cache
            .try_get_with(mint.key.clone(), self.create(mint))
            .await
            .map_err(|e| error((*e).clone()))
    }
}

impl Minter for CodeSignalMinter {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        self.session(mint).await.map(|m| self.presented(m))
    }
}

fn session_error(key: &MintKey, op: SessionOp) -> impl FnOnce(ClientError) -> MintError + '_ {
    move |source| MintError::Session {
        key: Box::new(key.clone()),
        op,
        source,
    }
}

fn no_session(key: &MintKey) -> MintError {
    MintError::Failed {
        key: Box::new(key.clone()),
        message: "the ledger records no CodeSignal session id for it".to_owned(),
    }
}

impl Sessions for CodeSignalMinter {
    async fn mint_recorded(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        self.session(mint).await
    }

    fn presented(&self, mut minted: Minted) -> Minted {
        if self.config.short_urls
            && let Some(short) = &minted.short_url
        {
            minted.url = short.clone();
        }
        minted
    }

    async fn candidates(&self, mint: &PlannedMint) -> Result<Vec<Minted>, MintError> {
        let found = self
            .pending_sessions(mint)
            .await
            .map_err(|detail| MintError::Failed {
                key: Box::new(mint.key.clone()),
                message: detail,
            })?;
        Ok(found
            .into_iter()
            .map(|session| Minted {
                url: session.url,
                short_url: Some(session.shortened_url),
                expires_at: None,
                session_id: Some(session.id),
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
            .map_err(session_error(key, SessionOp::Extend))
    }

    async fn delete(&self, key: &MintKey, session_id: Option<&str>) -> Result<(), MintError> {
        let id = session_id.ok_or_else(|| no_session(key))?;
        self.delete_session(id)
            .await
            .map_err(session_error(key, SessionOp::Delete))?;
        // A deleted session's URL must not be handed out again by this process.
        self.cache.invalidate(key).await;
        Ok(())
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

/// Every cause of an error, joined: what tells a certificate error from a refused connection.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e;
    while let Some(next) = cause.source() {
        out.push_str(": ");
        out.push_str(&next.to_string());
        cause = next;
    }
    out
}

/// The longest session id accepted: CodeSignal's are a few dozen characters.
const MAX_ID_LEN: usize = 128;

/// Whether `id`, a session id a server sent, may be recorded in the ledger, matched against
/// other records and sent back in edits and deletes: printable ASCII without spaces, of a
/// sane length.
fn check_id(id: &str) -> Result<(), ClientError> {
    let why = if id.is_empty() {
        "it is empty"
    } else if id.len() > MAX_ID_LEN {
        "it is longer than 128 bytes"
    } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
        "it holds characters other than printable ASCII (spaces, control characters)"
    } else {
        return Ok(());
    };
    Err(ClientError::UnsafeId {
        shown: format!("\"{}\"", shown(id)),
        why,
    })
}

/// Any JSON document, refused if an object in it gives a key twice. Checked before a parse
/// into [`Value`], which would keep the last one silently.
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{}` (a key given twice is ambiguous)",
                    shown(&key)
                )));
            }
            keys.insert(key);
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

/// A server's GraphQL error messages, escaped and capped, at most [`MAX_MESSAGES`] of them.
fn messages(errors: &[GraphQlError]) -> Vec<String> {
    let mut out: Vec<String> = errors
        .iter()
        .take(MAX_MESSAGES)
        .map(|e| shown(&e.message).into_owned())
        .collect();
    if errors.len() > MAX_MESSAGES {
        out.push(format!("and {} more", errors.len() - MAX_MESSAGES));
    }
    out
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
        assert!(matches!(err, KeyError::Malformed { .. }));
        assert!(!err.to_string().contains("ghi"));
        assert!(matches!(
            ApiKey::parse("short"),
            Err(KeyError::Malformed { .. })
        ));
        assert!(matches!(
            ApiKey::parse("clé-0123456789"),
            Err(KeyError::Malformed { .. })
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

    #[test]
    fn claimed_sessions_are_bounded() {
        let minter = CodeSignalMinter::new(CodeSignalConfig::new(
            ApiKey::parse("0123456789abcdef").unwrap(),
        ))
        .unwrap();
        let mint = PlannedMint {
            key: MintKey {
                scope: crate::parse::Scope::Interview,
                interview_id: "int-1".to_owned(),
                event_id: None,
                product: Product::Live,
                template_id: None,
            },
            occurrences: 1,
            serves_until: Utc::now(),
            interviewer_id: None,
            candidate_name: "Ada".to_owned(),
            candidate_email: "ada@example.com".to_owned(),
        };
        let session = |id: &str| LiveInterview {
            id: id.to_owned(),
            url: format!("https://app.codesignal.com/live-interview/{id}"),
            shortened_url: format!("https://cs.co/{id}"),
            status: "pending".to_owned(),
            candidate_email: Some("ada@example.com".to_owned()),
            candidate_name: Some("Ada".to_owned()),
        };
        for n in 0..200 {
            minter
                .claim(session(&format!("li-{n}")), &mint, Utc::now())
                .unwrap();
        }
        // Claimed twice in a row: refused while remembered.
        assert!(minter.claim(session("li-199"), &mint, Utc::now()).is_err());
        minter.claimed.run_pending_tasks();
        assert!(
            minter.claimed.entry_count() <= CLAIMED_CAPACITY,
            "{} claimed ids kept",
            minter.claimed.entry_count()
        );
    }
}
