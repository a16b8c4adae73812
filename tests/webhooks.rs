//! CodeSignal's webhooks end to end: the real service on a loopback port, a tenant minting at
//! the fake CodeSignal, deliveries signed as CodeSignal signs them. `liveInterviewFinished`
//! is acted on only when the ledger holds the session for the tenant and CodeSignal, asked
//! again, reports it `over`; everything else changes nothing. Every answer and log line is
//! checked for secrets.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use invitoken::service::webhook::{SIGNATURE_HEADER, sign};
use invitoken::service::{ServeOptions, Service, ServiceConfig};
use invitoken::{CodeSignalSettings, Engine, Ledger};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig, Fault, Op};

const PANEL: &str = include_str!("../fixtures/panel.json");
const TOKEN: &str = "tok-hook-acme-4b7d1e9c";
const TOKEN_SAND: &str = "tok-hook-sand-0a6f3c2d";
const SECRET: &str = "whsec-acme-9d2c4e6f8a";
const SECRET_SAND: &str = "whsec-sand-1b3d5f7a9c";
const URL: &str = "https://invites.example.com/webhooks/codesignal/acme";
const URL_SAND: &str = "https://invites.example.com/webhooks/codesignal/sand";
const FINISHED: &str = "liveInterviewFinished";

fn secrets() -> [&'static str; 5] {
    [
        TOKEN,
        TOKEN_SAND,
        SECRET,
        SECRET_SAND,
        support::fake_codesignal::DEFAULT_API_KEY,
    ]
}

fn log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(|| Capture)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn log_text() -> String {
    String::from_utf8_lossy(&log().lock().unwrap()).into_owned()
}

fn assert_no_secret(what: &str, text: &str) {
    for s in secrets() {
        assert!(!text.contains(s), "{what} holds a secret: {text}");
    }
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `acme` mints at the fake; `sand` mints with the sandbox. Both have a webhook.
async fn start(fake: &FakeCodeSignal) -> Server {
    capture_logs();
    let toml = format!(
        "[[tenant]]\nid = \"acme\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"ACME_KEY\"\ncodesignal_endpoint = \"{}\"\n\
         webhook_url = \"{URL}\"\nwebhook_secret_env = \"ACME_HOOK\"\n\n\
         [[tenant]]\nid = \"sand\"\ntoken_sha256 = [\"{}\"]\nminter = \"sandbox\"\n\
         webhook_url = \"{URL_SAND}\"\nwebhook_secret_env = \"SAND_HOOK\"\n",
        digest(TOKEN),
        fake.endpoint(),
        digest(TOKEN_SAND),
    );
    let env = [
        ("ACME_KEY".to_owned(), fake.api_key().to_owned()),
        ("ACME_HOOK".to_owned(), SECRET.to_owned()),
        ("SAND_HOOK".to_owned(), SECRET_SAND.to_owned()),
    ];
    let lookup = move |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
    let mut settings = CodeSignalSettings::default();
    settings.rate_limit = 0.0;
    settings.deadline_secs = Some(60.0);
    let config =
        ServiceConfig::parse("tenants.toml", &toml, Path::new("."), &lookup, &settings).unwrap();
    let path = support::scratch::fresh_ledger();
    let ledger = Ledger::open(&path.display().to_string()).await.unwrap();
    let engine = config.engine(Engine::builder(ledger)).unwrap();
    let service = Service::new(Arc::new(engine), config, ServeOptions::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        client: support::http().build().unwrap(),
        stop: Some(stop),
        task,
    }
}

struct Server {
    addr: SocketAddr,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_no_secret("an answer", &body);
        let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, json)
    }

    /// A delivery to `tenant`'s hook, signed with `signature` (none: no header).
    async fn deliver(
        &self,
        tenant: &str,
        signature: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut r = self
            .client
            .post(format!("http://{}/webhooks/codesignal/{tenant}", self.addr))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(sig) = signature {
            r = r.header(SIGNATURE_HEADER, sig);
        }
        self.send(r).await
    }

    async fn v1(&self, method: reqwest::Method, path: &str, body: Option<String>) -> Value {
        let mut r = self
            .client
            .request(method, format!("http://{}{path}", self.addr))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            r = r.header("content-type", "application/json").body(body);
        }
        let (status, json) = self.send(r).await;
        assert_eq!(status, StatusCode::OK, "{path}: {json}");
        json
    }

    /// The ledger's records of the interview, as `links` shows them.
    async fn links(&self, interview: &str) -> Vec<Value> {
        let path = format!("/v1/interviews/{interview}/links");
        let links = self.v1(reqwest::Method::GET, &path, None).await;
        links.as_array().unwrap().clone()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
        let log = log_text();
        assert!(!log.is_empty(), "nothing was logged: the capture is broken");
        assert_no_secret("the log", &log);
    }
}

/// The panel fixture as interview `id`, starting tomorrow.
fn panel(id: &str) -> String {
    let mut r: Value = serde_json::from_str(PANEL).unwrap();
    r["interview"]["id"] = json!(id);
    let base = chrono::Utc::now() + chrono::TimeDelta::days(1);
    for (i, e) in r["interview"]["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let start = base + chrono::TimeDelta::hours(2 * i as i64);
        e["start"] = json!(start.to_rfc3339());
        e["end"] = json!((start + chrono::TimeDelta::hours(1)).to_rfc3339());
    }
    r.to_string()
}

fn envelope(event: &str, at: u64, payload: Value) -> Value {
    json!({"event": event, "triggeredOn": at, "payload": payload})
}

/// A `liveInterviewFinished` delivery naming `session`, as CodeSignal sends it.
fn finished(at: u64, session: &str) -> Value {
    envelope(
        FINISHED,
        at,
        json!({
            "interviewId": session,
            "candidateName": "Ada Lovelace",
            "candidateEmail": "ada@example.org",
            "startDate": 1_700_000_000_000u64,
            "endDate": 1_700_000_360_000u64,
            "questionsSolved": 1,
            "questionsAttempted": 2,
            "url": format!("https://app.codesignal.com/live-interview/{session}"),
        }),
    )
}

/// The state `links` shows for the record holding `session`.
fn state_of<'a>(links: &'a [Value], session: &str) -> &'a str {
    links
        .iter()
        .find(|l| l["session_id"] == session)
        .unwrap_or_else(|| panic!("no record of {session}: {links:?}"))["state"]
        .as_str()
        .unwrap()
}

/// How many `liveInterview` reads of `session` the fake answered.
fn reads_of(fake: &FakeCodeSignal, session: &str) -> usize {
    fake.received()
        .iter()
        .filter(|r| r.field == "liveInterview" && r.arguments["liveInterviewId"] == session)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_is_recorded_only_when_codesignal_confirms_it_and_once() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let server = start(&fake).await;
    server
        .v1(
            reqwest::Method::POST,
            "/v1/resolve",
            Some(panel("int-hook")),
        )
        .await;
    let links = server.links("int-hook").await;
    let sessions: Vec<String> = links
        .iter()
        .map(|l| l["session_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        sessions.len() >= 3,
        "the panel has several sessions: {links:?}"
    );
    assert!(links.iter().all(|l| l["state"] == "minted"), "{links:?}");
    let (one, two, three) = (&sessions[0], &sessions[1], &sessions[2]);
    let creates = fake.creates();

    // The payload says finished, CodeSignal says the interview is still going: nothing.
    assert!(fake.set_status(one, "active"));
    let at = 1_764_500_000_000u64;
    let sig = sign(SECRET, URL, FINISHED, at);
    let (status, receipt) = server.deliver("acme", Some(&sig), &finished(at, one)).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["status"], "not_over");
    assert_eq!(
        reads_of(&fake, one),
        1,
        "the session was re-read at CodeSignal"
    );
    assert_eq!(state_of(&server.links("int-hook").await, one), "minted");

    // Over at CodeSignal: the next delivery records it finished, and `links` shows it.
    assert!(fake.set_status(one, "over"));
    let at2 = at + 1_000;
    let sig2 = sign(SECRET, URL, FINISHED, at2);
    let (status, receipt) = server
        .deliver("acme", Some(&sig2), &finished(at2, one))
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["status"], "finished");
    let after = server.links("int-hook").await;
    assert_eq!(state_of(&after, one), "finished");
    for other in &sessions[1..] {
        assert_eq!(state_of(&after, other), "minted", "{other} changed too");
    }
    let reads = reads_of(&fake, one);

    // The same delivery again (CodeSignal's retry): 200, nothing read, nothing changed.
    let (status, receipt) = server
        .deliver("acme", Some(&sig2), &finished(at2, one))
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["status"], "duplicate");
    assert_eq!(reads_of(&fake, one), reads);
    assert_eq!(server.links("int-hook").await, after);

    // The same signature replayed naming another session, one really over at CodeSignal:
    // the signature does not cover the payload, so it changes nothing and asks nothing.
    assert!(fake.set_status(two, "over"));
    let (status, receipt) = server
        .deliver("acme", Some(&sig2), &finished(at2, two))
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["status"], "replayed");
    assert_eq!(reads_of(&fake, two), 0);
    assert_eq!(server.links("int-hook").await, after);
    assert!(log_text().contains("a replay"), "the replay is logged");

    // A wrong or missing signature: 401, nothing read, nothing changed.
    let at3 = at + 2_000;
    let wrong = [
        None,
        Some(sign("not-the-secret", URL, FINISHED, at3)),
        Some(sign(SECRET, URL, FINISHED, at3 + 1)),
        Some(sign(SECRET_SAND, URL_SAND, FINISHED, at3)),
    ];
    for sig in &wrong {
        let (status, problem) = server
            .deliver("acme", sig.as_deref(), &finished(at3, two))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    }
    assert_eq!(reads_of(&fake, two), 0);
    assert_eq!(server.links("int-hook").await, after);

    // A session the ledger does not hold: 200, CodeSignal not even asked.
    fake.seed_session(support::fake_codesignal::Session {
        id: "li-not-ours".into(),
        candidate_email: Some("eve@example.org".into()),
        candidate_name: None,
        interviewer_id: None,
        template_id: None,
        lock_template: None,
        expiration_time_ms: None,
        status: "over".into(),
        url: "https://app.codesignal.com/live-interview/li-not-ours".into(),
        shortened_url: "https://codesignal.co/li-not-ours".into(),
        created_at_ms: 0,
    });
    let at4 = at + 3_000;
    for (n, id) in ["li-not-ours", "li-nobody", "bad id\u{202e}"]
        .iter()
        .enumerate()
    {
        let at = at4 + n as u64;
        let sig = sign(SECRET, URL, FINISHED, at);
        let (status, receipt) = server.deliver("acme", Some(&sig), &finished(at, id)).await;
        assert_eq!(status, StatusCode::OK, "{receipt}");
        assert_eq!(receipt["status"], "unknown", "{id}");
        assert_eq!(reads_of(&fake, id), 0, "{id}");
    }
    // Another tenant's hook (a sandbox tenant) naming acme's session: not its own.
    let at5 = at + 4_000;
    let sig5 = sign(SECRET_SAND, URL_SAND, FINISHED, at5);
    let (status, receipt) = server
        .deliver("sand", Some(&sig5), &finished(at5, two))
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["status"], "unknown");
    assert_eq!(state_of(&server.links("int-hook").await, two), "minted");

    // The ping sent when a hook is created, and another event: 200, nothing.
    let at6 = at + 5_000;
    let (status, receipt) = server
        .deliver(
            "acme",
            Some(&sign(SECRET, URL, "ping", at6)),
            &envelope("ping", at6, json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["status"], "ping");
    let feedback = "liveInterviewFeedbackUpdated";
    let (status, receipt) = server
        .deliver(
            "acme",
            Some(&sign(SECRET, URL, feedback, at6)),
            &envelope(feedback, at6, json!({"interviewId": two})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["status"], "ignored");
    assert_eq!(reads_of(&fake, two), 0);
    assert_eq!(server.links("int-hook").await, after);

    // CodeSignal failing the re-read: 503, so it delivers again; the redelivery acts.
    assert!(fake.set_status(three, "over"));
    fake.push_fault(Op::Query, Fault::Unauthorized);
    let at7 = at + 6_000;
    let sig7 = sign(SECRET, URL, FINISHED, at7);
    let (status, problem) = server
        .deliver("acme", Some(&sig7), &finished(at7, three))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(state_of(&server.links("int-hook").await, three), "minted");
    let (status, receipt) = server
        .deliver("acme", Some(&sig7), &finished(at7, three))
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["status"], "finished");

    // `refresh` skips finished sessions; a resolve gets their URLs back, minting nothing and
    // extending nothing.
    let refreshed = server.v1(reqwest::Method::POST, "/v1/refresh", None).await;
    let refreshed = refreshed.as_array().unwrap();
    assert_eq!(refreshed.len(), sessions.len() - 2, "{refreshed:?}");
    assert!(
        refreshed
            .iter()
            .all(|o| o["session_id"] != one.as_str() && o["session_id"] != three.as_str())
    );
    let again = server
        .v1(
            reqwest::Method::POST,
            "/v1/resolve",
            Some(panel("int-hook")),
        )
        .await;
    let urls: Vec<&str> = again["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["url"].as_str().unwrap())
        .collect();
    for l in server.links("int-hook").await {
        assert!(urls.contains(&l["url"].as_str().unwrap()), "{l}");
    }
    assert_eq!(fake.creates(), creates, "nothing was minted again");
    let edits = fake
        .received()
        .iter()
        .filter(|r| r.field == "editLiveInterview")
        .count();
    assert_eq!(edits, 0, "a finished session is not extended");

    // Cancel: the finished sessions are forgotten, not deleted at CodeSignal (their results
    // stay); the others are deleted there.
    let cancelled = server
        .v1(reqwest::Method::DELETE, "/v1/interviews/int-hook", None)
        .await;
    for o in cancelled.as_array().unwrap() {
        let id = o["session_id"].as_str().unwrap();
        let expected = if id == one || id == three {
            "finished"
        } else {
            "deleted"
        };
        assert_eq!(o["action"], expected, "{o}");
    }
    for s in fake.sessions() {
        if s.id == *one || s.id == *three {
            assert_eq!(s.status, "over", "{}: deleted at CodeSignal", s.id);
        }
    }
    assert!(
        server
            .links("int-hook")
            .await
            .iter()
            .all(|l| l["state"] == "deleted")
    );
    server.stop().await;
}
