//! The HTTP service end to end: the real server on a loopback port in this process, driven
//! over HTTP with reqwest, minting with the sandbox or against the fake CodeSignal. Every
//! answer and every log line is checked for the tenants' bearer tokens and API keys.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use invitoken::service::{ServeOptions, Service, ServiceConfig};
use invitoken::{CodeSignalSettings, Engine, Ledger};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig};

const PANEL: &str = include_str!("../fixtures/panel.json");
const TOKEN_A: &str = "tok-acme-7f3a9c1e5b";
const TOKEN_B: &str = "tok-bolt-2d8e6f4a0c";
const TOKEN_CS: &str = "tok-cs-91b3e7d5f2";
const WEBHOOK_SECRET: &str = "whsec-5e1f0a9b7c3d";
const WEBHOOK_URL: &str = "https://invites.example.com/webhooks/codesignal/acme";

/// Every secret of every test: none may appear in an answer or a log line.
fn secrets() -> Vec<&'static str> {
    vec![
        TOKEN_A,
        TOKEN_B,
        TOKEN_CS,
        support::fake_codesignal::DEFAULT_API_KEY,
        WEBHOOK_SECRET,
    ]
}

/// Everything the service logged in this process (all tests).
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

fn assert_no_secret(what: &str, text: &str) {
    for s in secrets() {
        assert!(!text.contains(s), "{what} holds a secret: {text}");
    }
}

fn assert_log_clean() {
    let log = String::from_utf8_lossy(&log().lock().unwrap()).into_owned();
    assert!(!log.is_empty(), "nothing was logged: the capture is broken");
    assert_no_secret("the log", &log);
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Two sandbox tenants, `acme` and `bolt`.
fn sandbox_toml() -> String {
    format!(
        "[[tenant]]\nid = \"acme\"\ntoken_sha256 = [\"{}\"]\nminter = \"sandbox\"\n\n\
         [[tenant]]\nid = \"bolt\"\ntoken_sha256 = [\"{}\"]\nminter = \"sandbox\"\n",
        digest(TOKEN_A),
        digest(TOKEN_B)
    )
}

fn settings() -> CodeSignalSettings {
    let mut s = CodeSignalSettings::default();
    s.rate_limit = 0.0;
    s.deadline_secs = Some(60.0);
    s
}

fn parse(
    toml: &str,
    env: &[(&str, &str)],
) -> Result<ServiceConfig, invitoken::service::ConfigFileError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
    ServiceConfig::parse("tenants.toml", toml, Path::new("."), &lookup, &settings())
}

/// A running service and a client that checks every answer for secrets.
struct Server {
    addr: SocketAddr,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServiceConfig, options: ServeOptions) -> Server {
    capture_logs();
    let path = support::scratch::fresh_ledger();
    let ledger = Ledger::open(&path.display().to_string()).await.unwrap();
    let engine = config.engine(Engine::builder(ledger)).unwrap();
    let service = Service::new(Arc::new(engine), config, options).unwrap();
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

async fn start_sandbox() -> Server {
    start(
        parse(&sandbox_toml(), &[]).unwrap(),
        ServeOptions::default(),
    )
    .await
}

/// One answer: status, content type, body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The body as a problem, checked against RFC 9457's members.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:invitoken:problem:")
        );
        assert!(!p["title"].as_str().unwrap().is_empty());
        assert!(!p["detail"].as_str().unwrap().is_empty());
        p
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.text().await.unwrap();
        assert_no_secret("an answer's headers", &headers);
        assert_no_secret("an answer", &body);
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        self.send(request).await
    }

    async fn post(&self, path: &str, token: &str, body: &str) -> Answer {
        self.call(reqwest::Method::POST, path, Some(token), body)
            .await
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::GET, path, Some(token), "").await
    }

    async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::DELETE, path, Some(token), "")
            .await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
        assert_log_clean();
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

/// Each link's URL by `<event or ->/<product>`.
fn urls(resolution: &Value) -> std::collections::BTreeMap<String, String> {
    resolution["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let event = l["event_id"].as_str().unwrap_or("-");
            (
                format!("{event}/{}", l["product"].as_str().unwrap()),
                l["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_wrong_or_malformed_token_is_401_naming_no_tenant() {
    let server = start_sandbox().await;
    let body = panel("int-auth");
    let mut answers = vec![
        server
            .call(reqwest::Method::POST, "/v1/resolve", None, &body)
            .await,
        server.post("/v1/resolve", "tok-nobody", &body).await,
        // A tenant's digest sent as the token is not the token.
        server.post("/v1/resolve", &digest(TOKEN_A), &body).await,
        server.get("/v1/interviews/int-auth/links", "").await,
    ];
    let basic = server
        .send(
            server
                .client
                .post(server.url("/v1/plan"))
                .header("authorization", format!("Basic {TOKEN_A}"))
                .body(body.clone()),
        )
        .await;
    answers.push(basic);
    let first = answers[0].problem(401);
    for a in &answers {
        let p = a.problem(401);
        // The same answer whatever was wrong: it tells nothing about tenants or tokens.
        assert_eq!(p, first);
        for name in ["acme", "bolt", "tenant `"] {
            assert!(!a.body.contains(name), "401 names {name}: {}", a.body);
        }
    }
    // Nothing was minted by the refused requests.
    let links = server.get("/v1/interviews/int-auth/links", TOKEN_A).await;
    links.problem(404);
    // No auth for the probes.
    let health = server
        .call(reqwest::Method::GET, "/healthz", None, "")
        .await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = server.call(reqwest::Method::GET, "/readyz", None, "").await;
    assert_eq!(ready.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_and_cancel_only_their_own_interviews() {
    let server = start_sandbox().await;
    let body = panel("int-shared");
    let a = server.post("/v1/resolve", TOKEN_A, &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a_urls = urls(&a.json());
    // B cannot read or cancel A's interview: 404, as if it did not exist.
    server
        .get("/v1/interviews/int-shared/links", TOKEN_B)
        .await
        .problem(404);
    server
        .delete("/v1/interviews/int-shared", TOKEN_B)
        .await
        .problem(404);
    server
        .delete("/v1/interviews/int-shared/events/evt-1", TOKEN_B)
        .await
        .problem(404);
    // A's sessions are untouched.
    let links = server.get("/v1/interviews/int-shared/links", TOKEN_A).await;
    assert_eq!(links.status, StatusCode::OK);
    let records = links.json();
    assert_eq!(records.as_array().unwrap().len(), a_urls.len());
    for r in records.as_array().unwrap() {
        assert_eq!(r["tenant"], "acme");
        assert_eq!(r["state"], "minted");
    }
    // B resolving the same ids gets sessions of its own.
    let b = server.post("/v1/resolve", TOKEN_B, &body).await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    let b_urls = urls(&b.json());
    assert_eq!(
        a_urls.keys().collect::<Vec<_>>(),
        b_urls.keys().collect::<Vec<_>>()
    );
    for (key, url) in &a_urls {
        assert_ne!(url, &b_urls[key], "{key}: tenants share a session");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_token_is_422_with_line_column_help_and_field() {
    let server = start_sandbox().await;
    let mut r: Value = serde_json::from_str(&panel("int-typo")).unwrap();
    r["templates"]["candidate"]["body"] = json!("Hi,\n\nJoin at $Event.CodeSignal.Live.Lnik today");
    let body = r.to_string();
    for route in ["/v1/resolve", "/v1/plan", "/v1/check"] {
        let p = server.post(route, TOKEN_A, &body).await.problem(422);
        let findings = p["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{route}: {p}");
        let f = &findings[0];
        assert_eq!(f["line"], 3, "{route}: {f}");
        assert_eq!(f["column"], 9, "{route}: {f}");
        assert_eq!(f["field"], "/templates/candidate/body");
        assert!(
            f["help"]
                .as_str()
                .unwrap()
                .contains("$Event.CodeSignal.Live.Link"),
            "{f}"
        );
        assert!(f["message"].as_str().unwrap().contains("Lnik"), "{f}");
    }
    // Nothing was minted.
    server
        .get("/v1/interviews/int-typo/links", TOKEN_A)
        .await
        .problem(404);
    // A request that is not JSON: where it breaks.
    let p = server
        .post(
            "/v1/resolve",
            TOKEN_A,
            "{\n  \"interview\": {\n    \"id\": 7\n",
        )
        .await
        .problem(422);
    let f = &p["findings"][0];
    assert_eq!(f["line"], 3, "{p}");
    assert!(f["column"].as_u64().unwrap() > 0);
    // A good request checks fine.
    let ok = server.post("/v1/check", TOKEN_A, &panel("int-typo")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.json()["tokens"].as_u64().unwrap() > 0);
    // A template alone, as text/plain.
    let t = server
        .send(
            server
                .client
                .post(server.url("/v1/check"))
                .bearer_auth(TOKEN_A)
                .header("content-type", "text/plain")
                .body("Join $Interview.CodeSignal.Live.Lnk"),
        )
        .await
        .problem(422);
    assert_eq!(t["findings"][0]["column"], 6);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_is_413_and_routes_answer_problems() {
    let mut options = ServeOptions::default();
    options.max_body = 4096;
    let server = start(parse(&sandbox_toml(), &[]).unwrap(), options).await;
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
    let p = server.post("/v1/resolve", TOKEN_A, &big).await.problem(413);
    assert!(p["detail"].as_str().unwrap().contains("--max-body"));
    // Chunked, with no length announced: the limit holds while reading.
    let mut raw = format!(
        "POST /v1/plan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..8 {
        raw.push_str(&format!("3e8\r\n{}\r\n", "y".repeat(1000)));
    }
    raw.push_str("0\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The server may answer and close before reading everything.
    let _ = stream.write_all(raw.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    // Within the limit it is served.
    let ok = server.post("/v1/plan", TOKEN_A, &panel("int-small")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(!ok.json()["mints"].as_array().unwrap().is_empty());
    server.get("/nope", TOKEN_A).await.problem(404);
    server.get("/v1/resolve", TOKEN_A).await.problem(405);
    server
        .post(
            "/v1/resolve?remint_deleted=maybe",
            TOKEN_A,
            &panel("int-small"),
        )
        .await
        .problem(400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_then_resolve_is_409_until_remint_deleted() {
    let server = start_sandbox().await;
    let body = panel("int-cancel");
    let first = server.post("/v1/resolve", TOKEN_A, &body).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let before = urls(&first.json());
    let cancelled = server
        .delete("/v1/interviews/int-cancel/events/evt-1", TOKEN_A)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let outcomes = cancelled.json();
    assert!(
        outcomes
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["event_id"] == "evt-1" && o["action"] == "deleted"),
        "{outcomes}"
    );
    let p = server
        .post("/v1/resolve", TOKEN_A, &body)
        .await
        .problem(409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("remint_deleted=true"),
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("evt-1"), "{p}");
    let again = server
        .post("/v1/resolve?remint_deleted=true", TOKEN_A, &body)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let after = urls(&again.json());
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (key, url) in &before {
        if !key.starts_with("evt-1/") {
            assert_eq!(url, &after[key], "{key}: a live session was replaced");
        }
    }
    // The sandbox's links are a function of the key, so the new sessions show in the ledger:
    // minted again (the fake CodeSignal test checks that the URL is new).
    let links = server
        .get("/v1/interviews/int-cancel/links", TOKEN_A)
        .await
        .json();
    for r in links.as_array().unwrap() {
        assert_eq!(r["state"], "minted", "{r}");
    }
    // The whole interview; then nothing is left to cancel.
    let all = server.delete("/v1/interviews/int-cancel", TOKEN_A).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let refreshed = server.post("/v1/refresh", TOKEN_A, "").await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ics_files_round_trip_through_the_service() {
    let server = start_sandbox().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ics");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ics") {
            continue;
        }
        files += 1;
        let original = std::fs::read(&path).unwrap();
        let send = || {
            server
                .client
                .post(server.url("/v1/ics"))
                .bearer_auth(TOKEN_A)
                .header("content-type", "text/calendar")
                .body(original.clone())
        };
        let first = server.send(send()).await;
        assert_eq!(
            first.status,
            StatusCode::OK,
            "{}: {}",
            path.display(),
            first.body
        );
        assert!(first.content_type.starts_with("text/calendar"));
        assert!(!first.body.contains("$Event.") && !first.body.contains("$Interview."));
        assert!(
            first.body.contains("https://sandbox.invitoken.invalid/"),
            "{}",
            first.body
        );
        assert!(first.body.starts_with("BEGIN:VCALENDAR"));
        // Again: the same sessions, byte for byte the same file.
        let second = server.send(send()).await;
        assert_eq!(first.body, second.body, "{}", path.display());
    }
    assert!(files >= 2, "no fixtures read");
    // Its interview cancelled: 409 (the ledger refuses the deleted sessions) until asked.
    let grace = std::fs::read(dir.join("interviewer-grace.ics")).unwrap();
    let cancelled = server.delete("/v1/interviews/int-42", TOKEN_A).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let ics = |path: &str| {
        server
            .client
            .post(server.url(path))
            .bearer_auth(TOKEN_A)
            .header("content-type", "text/calendar; charset=utf-8")
            .body(grace.clone())
    };
    server.send(ics("/v1/ics")).await.problem(409);
    let reminted = server.send(ics("/v1/ics?remint_deleted=true")).await;
    assert_eq!(reminted.status, StatusCode::OK, "{}", reminted.body);
    // A broken file: 422 with where.
    let broken = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nX-INTERVIEW-ID:i\r\nDESCRIPTION:$Event.CodeSignal.Live.Lnik\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let p = server
        .send(
            server
                .client
                .post(server.url("/v1/ics"))
                .bearer_auth(TOKEN_A)
                .header("content-type", "text/calendar")
                .body(broken),
        )
        .await
        .problem(422);
    assert_eq!(p["findings"][0]["line"], 4, "{p}");
    // Not a calendar media type: 415.
    let wrong = server.post("/v1/ics", TOKEN_A, "{}").await;
    wrong.problem(415);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codesignal_tenant_mints_at_the_fake_and_a_refused_key_is_502() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let toml = format!(
        "{}\n[[tenant]]\nid = \"cs\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"CS_KEY\"\ncodesignal_endpoint = \"{}\"\n\
         [[tenant]]\nid = \"cs-bad\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"CS_BAD_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        sandbox_toml(),
        digest(TOKEN_CS),
        fake.endpoint(),
        digest("tok-cs-bad"),
        fake.endpoint(),
    );
    let config = parse(
        &toml,
        &[
            ("CS_KEY", fake.api_key()),
            ("CS_BAD_KEY", "wrong-key-0123456789abcdef"),
        ],
    )
    .unwrap();
    let server = start(config, ServeOptions::default()).await;
    let body = panel("int-cs");
    let r = server.post("/v1/resolve", TOKEN_CS, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let minted = urls(&r.json());
    assert_eq!(fake.sessions().len(), minted.len(), "one session per key");
    // Again: the ledger's sessions, nothing new at CodeSignal.
    let again = server.post("/v1/resolve", TOKEN_CS, &body).await;
    assert_eq!(urls(&again.json()), minted);
    assert_eq!(fake.sessions().len(), minted.len());
    // A key CodeSignal refuses: 502, what to do, and the key not echoed.
    let p = server
        .post("/v1/resolve", "tok-cs-bad", &panel("int-cs-bad"))
        .await
        .problem(502);
    assert!(
        !p["detail"]
            .as_str()
            .unwrap()
            .contains("wrong-key-0123456789abcdef")
    );
    assert!(
        p["detail"].as_str().unwrap().contains("tenants.toml"),
        "{p}"
    );
    // Cancel one event: its sessions are deleted at CodeSignal, a resolve is 409 until it asks
    // for new ones, which are new sessions.
    let c = server
        .delete("/v1/interviews/int-cs/events/evt-2", TOKEN_CS)
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    let deleted = fake
        .sessions()
        .iter()
        .filter(|s| s.status == "deleted")
        .count();
    assert_eq!(deleted, c.json().as_array().unwrap().len());
    server
        .post("/v1/resolve", TOKEN_CS, &body)
        .await
        .problem(409);
    assert_eq!(fake.sessions().len(), minted.len(), "a 409 minted nothing");
    let again = server
        .post("/v1/resolve?remint_deleted=true", TOKEN_CS, &body)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let reminted = urls(&again.json());
    for (key, url) in &minted {
        if key.starts_with("evt-2/") {
            assert_ne!(url, &reminted[key], "{key}: the deleted session came back");
        } else {
            assert_eq!(url, &reminted[key], "{key}: a live session was replaced");
        }
    }
    assert_eq!(fake.sessions().len(), minted.len() + deleted);
    // The whole interview.
    let c = server.delete("/v1/interviews/int-cs", TOKEN_CS).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert!(fake.sessions().iter().all(|s| s.status == "deleted"));
    server.stop().await;
    let log = String::from_utf8_lossy(&log().lock().unwrap()).into_owned();
    assert!(!log.contains("wrong-key-0123456789abcdef"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    fake.set_latency(Duration::from_millis(300));
    let toml = format!(
        "[[tenant]]\nid = \"cs\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        digest(TOKEN_CS),
        fake.endpoint(),
    );
    let config = parse(&toml, &[("CS_KEY", fake.api_key())]).unwrap();
    let mut server = start(config, ServeOptions::default()).await;
    let client = server.client.clone();
    let url = server.url("/v1/resolve");
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(TOKEN_CS)
            .body(panel("int-shutdown"))
            .send()
            .await
            .map(|r| r.status())
    });
    // Wait until the resolve reached the vendor, then ask the server to stop.
    while fake.received().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = server.stop.take().unwrap().send(());
    assert_eq!(in_flight.await.unwrap().unwrap(), StatusCode::OK);
    let addr = server.addr;
    server.stop().await;
    // It no longer accepts connections.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A tenants file, its environment, where the error is, what it says.
type Case = (
    String,
    Vec<(&'static str, &'static str)>,
    (usize, usize),
    &'static str,
);

#[test]
fn bad_tenants_files_stop_start_up_with_line_and_column() {
    let d = digest("t");
    let cases: Vec<Case> = vec![
        (
            format!(
                "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{d}\"]\nminter = \"sandbox\"\ncolour = 1\n"
            ),
            vec![],
            (5, 1),
            "unknown field `colour`",
        ),
        (
            format!(
                "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{d}\"]\nminter = \"codesignal\"\ncodesignal_key_env = \"NOPE\"\n"
            ),
            vec![],
            (5, 22),
            "NOPE",
        ),
        (
            "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"abc\"]\nminter = \"sandbox\"\n".to_owned(),
            vec![],
            (3, 17),
            "64 hexadecimal",
        ),
        (
            format!(
                "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{d}\"]\nminter = \"sandbox\"\n[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{}\"]\nminter = \"sandbox\"\n",
                digest("u")
            ),
            vec![],
            (6, 6),
            "configured twice",
        ),
        (
            format!(
                "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{d}\"]\nminter = \"sandbox\"\n[[tenant]]\nid = \"b\"\ntoken_sha256 = [\"{d}\"]\nminter = \"sandbox\"\n"
            ),
            vec![],
            (7, 17),
            "also listed for tenant `a`",
        ),
        (
            format!(
                "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{d}\"]\nminter = \"sandbox\"\nwebhook_url = \"https://x.example/h\"\n"
            ),
            vec![],
            (1, 1),
            "webhook_secret_env",
        ),
        (
            format!("[[tenant]]\nid = \"a b\"\ntoken_sha256 = [\"{d}\"]\nminter = \"sandbox\"\n"),
            vec![],
            (2, 6),
            "not usable",
        ),
        (
            format!(
                "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{d}\"]\nminter = \"codesignal\"\ncodesignal_key_env = \"K\"\ncodesignal_endpoint = \"http://codesignal.example/graphql\"\n"
            ),
            vec![("K", "key-0123456789abcdef")],
            (6, 23),
            "https",
        ),
        ("".to_owned(), vec![], (0, 0), "no tenant"),
    ];
    for (toml, env, at, says) in cases {
        let e = parse(&toml, &env).expect_err(&toml);
        let text = e.to_string();
        if at != (0, 0) {
            assert_eq!(e.at, Some(at), "{text}");
            assert!(
                text.starts_with(&format!("tenants.toml:{}:{}: ", at.0, at.1)),
                "{text}"
            );
        }
        assert!(text.contains(says), "{text} lacks {says}");
        assert!(!text.contains("key-0123456789abcdef"), "{text}");
    }
    // A key file relative to the tenants file's folder; its content is never shown.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "not a key\n").unwrap();
    let toml = format!(
        "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{d}\"]\nminter = \"codesignal\"\ncodesignal_key_file = \"key\"\n"
    );
    let e = ServiceConfig::parse("t.toml", &toml, dir.path(), &|_| None, &settings())
        .expect_err("a key with a space is not a key");
    assert!(!e.to_string().contains("not a key"), "{e}");
    assert_eq!(e.at.map(|a| a.0), Some(5), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_need_the_tenants_signature() {
    use invitoken::service::webhook::{SIGNATURE_HEADER, sign};
    let acme = format!(
        "[[tenant]]\nid = \"acme\"\ntoken_sha256 = [\"{}\"]\nminter = \"sandbox\"\n\
         webhook_url = \"{WEBHOOK_URL}\"\nwebhook_secret_env = \"ACME_HOOK\"\n\
         [[tenant]]\nid = \"bolt\"\ntoken_sha256 = [\"{}\"]\nminter = \"sandbox\"\n",
        digest(TOKEN_A),
        digest(TOKEN_B)
    );
    let server = start(
        parse(&acme, &[("ACME_HOOK", WEBHOOK_SECRET)]).unwrap(),
        ServeOptions::default(),
    )
    .await;
    let at = 1_700_000_000_000u64;
    let delivery = |event: &str, payload: Value| {
        json!({"event": event, "triggeredOn": at, "payload": payload}).to_string()
    };
    let finished = delivery(
        "liveInterviewFinished",
        json!({"interviewId": "li-1", "candidateEmail": "ada@example.org"}),
    );
    let good = sign(WEBHOOK_SECRET, WEBHOOK_URL, "liveInterviewFinished", at);
    let post = |path: &str, signature: Option<String>, body: String| {
        let mut r = server.client.post(server.url(path)).body(body);
        if let Some(sig) = signature {
            r = r.header(SIGNATURE_HEADER, sig);
        }
        r
    };
    let ok = server
        .send(post(
            "/webhooks/codesignal/acme",
            Some(good.clone()),
            finished.clone(),
        ))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["event"], "liveInterviewFinished");
    // A ping (empty payload), signed: 200.
    let ping_sig = sign(WEBHOOK_SECRET, WEBHOOK_URL, "ping", at);
    let ping = server
        .send(post(
            "/webhooks/codesignal/acme",
            Some(ping_sig),
            delivery("ping", json!({})),
        ))
        .await;
    assert_eq!(ping.status, StatusCode::OK, "{}", ping.body);
    assert_eq!(ping.json()["status"], "ping");
    // Refused alike: missing, wrong, signed with another secret or for another URL or time,
    // another tenant's path, a tenant without a webhook, a tenant that does not exist.
    let other_secret = sign("not-the-secret", WEBHOOK_URL, "liveInterviewFinished", at);
    let other_url = sign(
        WEBHOOK_SECRET,
        "https://evil.example/h",
        "liveInterviewFinished",
        at,
    );
    let other_time = sign(WEBHOOK_SECRET, WEBHOOK_URL, "liveInterviewFinished", at + 1);
    let refused = [
        post("/webhooks/codesignal/acme", None, finished.clone()),
        post(
            "/webhooks/codesignal/acme",
            Some("00".repeat(32)),
            finished.clone(),
        ),
        post(
            "/webhooks/codesignal/acme",
            Some("zz".into()),
            finished.clone(),
        ),
        post(
            "/webhooks/codesignal/acme",
            Some(other_secret),
            finished.clone(),
        ),
        post(
            "/webhooks/codesignal/acme",
            Some(other_url),
            finished.clone(),
        ),
        post(
            "/webhooks/codesignal/acme",
            Some(other_time),
            finished.clone(),
        ),
        post(
            "/webhooks/codesignal/bolt",
            Some(good.clone()),
            finished.clone(),
        ),
        post(
            "/webhooks/codesignal/nobody",
            Some(good.clone()),
            finished.clone(),
        ),
    ];
    let mut bodies = Vec::new();
    for r in refused {
        let a = server.send(r).await;
        a.problem(401);
        bodies.push(a.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    // The signature does not cover the payload: another session's id under a valid signature
    // is accepted as a hint only, and changes nothing in the ledger.
    let replay = delivery("liveInterviewFinished", json!({"interviewId": "li-other"}));
    let a = server
        .send(post("/webhooks/codesignal/acme", Some(good), replay))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["status"], "replayed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_pattern_on_their_own_listener() {
    let metrics = invitoken::service::Metrics::install().unwrap();
    let server = start_sandbox().await;
    let r = server
        .post("/v1/resolve", TOKEN_A, &panel("int-metrics-9"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    server
        .get("/v1/interviews/int-metrics-9/links", TOKEN_A)
        .await;
    server
        .get("/v1/interviews/int-metrics-9/links", "tok-nobody")
        .await
        .problem(401);
    // Not on the API's listener.
    server.get("/metrics", TOKEN_A).await.problem(404);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        metrics
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
    });
    let text = reqwest::get(format!("http://{at}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    for line in [
        r#"http_requests_total{method="POST",route="/v1/resolve",status="200"}"#,
        r#"http_requests_total{method="GET",route="/v1/interviews/{id}/links",status="200"}"#,
        r#"http_requests_total{method="GET",route="/v1/interviews/{id}/links",status="401"}"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"}"#,
        r#"http_request_duration_seconds_bucket{method="POST",route="/v1/resolve",le="0.1"}"#,
    ] {
        assert!(text.contains(line), "no {line} in\n{text}");
    }
    // Ids are never labels.
    assert!(!text.contains("int-metrics-9"), "{text}");
    assert_no_secret("the metrics", &text);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let server = start_sandbox().await;
    let doc = server
        .call(reqwest::Method::GET, "/openapi.json", None, "")
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    let served = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("post", "/v1/check"),
        ("post", "/v1/plan"),
        ("post", "/v1/resolve"),
        ("post", "/v1/ics"),
        ("get", "/v1/interviews/{id}/links"),
        ("delete", "/v1/interviews/{id}"),
        ("delete", "/v1/interviews/{id}/events/{event_id}"),
        ("post", "/v1/refresh"),
        ("post", "/webhooks/codesignal/{tenant}"),
    ];
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        served.len(),
        "{}",
        serde_json::to_string_pretty(paths).unwrap()
    );
    for (method, path) in served {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        // Each documented route is served: not a 404 or 405 from the router.
        let url = path
            .replace("{id}", "int-doc")
            .replace("{event_id}", "evt-1")
            .replace("{tenant}", "acme");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let a = server.call(m, &url, None, "").await;
        assert_ne!(
            a.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            a.body
        );
        assert_ne!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if path.starts_with("/v1/") {
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(op["security"][0]["bearer"], json!([]), "{method} {path}");
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_requests_wait_for_its_concurrency_limit() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    fake.set_latency(Duration::from_millis(40));
    let toml = format!(
        "[[tenant]]\nid = \"cs\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        digest(TOKEN_CS),
        fake.endpoint(),
    );
    let mut s = settings();
    // One call at a time within a request: more in flight can only come from several requests.
    s.concurrency = 1;
    let env = [("CS_KEY".to_owned(), fake.api_key().to_owned())];
    let config = ServiceConfig::parse(
        "tenants.toml",
        &toml,
        Path::new("."),
        &move |v: &str| env.iter().find(|(k, _)| k == v).map(|(_, x)| x.clone()),
        &s,
    )
    .unwrap();
    let mut options = ServeOptions::default();
    options.tenant_concurrency = 1;
    let server = Arc::new(start(config, options).await);
    let runs = (0..3).map(|i| {
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            // Different candidates: the ledger serialises one candidate's creates anyway.
            let mut r: Value = serde_json::from_str(&panel(&format!("int-limit-{i}"))).unwrap();
            r["interview"]["candidate"]["email"] = json!(format!("cand{i}@example.org"));
            server.post("/v1/resolve", TOKEN_CS, &r.to_string()).await
        })
    });
    for run in futures::future::join_all(runs).await {
        let a = run.unwrap();
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    assert!(fake.creates() >= 3);
    assert_eq!(fake.max_creates_in_flight(), 1);
    Arc::into_inner(server).unwrap().stop().await;
}

/// `invitoken serve` as a process: SIGTERM while a resolve is in flight answers it and exits 0.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_command_drains_on_sigterm_and_exits_0() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    fake.set_latency(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenants.toml");
    std::fs::write(
        &config,
        format!(
            "[[tenant]]\nid = \"cs\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
             codesignal_key_env = \"CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
            digest(TOKEN_CS),
            fake.endpoint(),
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ledger = support::scratch::fresh_ledger();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("invitoken"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--ledger"])
        .arg(&ledger)
        .env("CS_KEY", fake.api_key())
        .env("RUST_LOG", "debug")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let base = format!("http://127.0.0.1:{port}");
    let client = support::http().build().unwrap();
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the service did not start");
    let resolve = client
        .post(format!("{base}/v1/resolve"))
        .bearer_auth(TOKEN_CS)
        .body(panel("int-sigterm"))
        .send();
    let in_flight = tokio::spawn(resolve);
    while fake.received().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SAFETY: signalling the child we spawned, by its pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let answer = in_flight.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body = answer.text().await.unwrap();
    assert_no_secret("an answer", &body);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(stderr.contains("path=/v1/resolve"), "{stderr}");
    assert_no_secret("the service's log", &stderr);
    assert_eq!(
        fake.sessions().len(),
        urls(&serde_json::from_str(&body).unwrap()).len()
    );
}

#[test]
fn the_serve_command_refuses_a_bad_tenants_file_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenants.toml");
    std::fs::write(
        &config,
        format!(
            "[[tenant]]\nid = \"a\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
             codesignal_key_env = \"INVITOKEN_TEST_UNSET_KEY\"\n",
            digest("t")
        ),
    )
    .unwrap();
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin!("invitoken"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--ledger")
        .arg(support::scratch::fresh_ledger())
        .env_remove("INVITOKEN_TEST_UNSET_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tenants.toml:5:22: "), "{stderr}");
    assert!(stderr.contains("INVITOKEN_TEST_UNSET_KEY"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
async fn two_replicas_on_one_postgres_ledger_make_one_session_per_key() {
    let server_url = std::env::var("INVITOKEN_POSTGRES_URL").expect("INVITOKEN_POSTGRES_URL");
    // A database of its own: the fake numbers its sessions from `li-1` in every run, and the
    // ledger refuses a session id it records for another key (tests/ledger.rs leaves such
    // records in the shared database).
    let url = {
        use sqlx::Connection as _;
        let name = format!(
            "invitoken_service_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        );
        let mut conn = sqlx::PgConnection::connect(&server_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let mut url = url::Url::parse(&server_url).unwrap();
        url.set_path(&format!("/{name}"));
        url.to_string()
    };
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    fake.set_latency(Duration::from_millis(30));
    // Fresh session ids and tenant: the database outlives this run, and other tests' records
    // (sessions `li-1`...) stay in it.
    fake.set_next_id(chrono::Utc::now().timestamp_micros().unsigned_abs());
    let run = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let toml = format!(
        "[[tenant]]\nid = \"pg-{run}\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        digest(TOKEN_CS),
        fake.endpoint(),
    );
    capture_logs();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let config = parse(&toml, &[("CS_KEY", fake.api_key())]).unwrap();
        // Each replica its own pool: as two processes.
        let ledger = Ledger::open(&url).await.unwrap();
        let engine = config.engine(Engine::builder(ledger)).unwrap();
        let service = Service::new(Arc::new(engine), config, ServeOptions::default()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(service.serve(listener, async move {
            let _ = stopped.await;
        }));
        replicas.push(Arc::new(Server {
            addr,
            client: support::http().build().unwrap(),
            stop: Some(stop),
            task,
        }));
    }
    for r in &replicas {
        let ready = r.call(reqwest::Method::GET, "/readyz", None, "").await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    }
    let body = panel(&format!("int-pg-{run}"));
    let calls = (0..20).map(|i| {
        let server = Arc::clone(&replicas[i % 2]);
        let body = body.clone();
        tokio::spawn(async move { server.post("/v1/resolve", TOKEN_CS, &body).await })
    });
    let mut seen = None;
    for call in futures::future::join_all(calls).await {
        let a = call.unwrap();
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let u = urls(&a.json());
        assert_eq!(
            seen.get_or_insert_with(|| u.clone()),
            &u,
            "replicas disagree"
        );
    }
    assert_eq!(
        fake.sessions().len(),
        seen.unwrap().len(),
        "one session per key"
    );
    for r in replicas {
        Arc::into_inner(r).unwrap().stop().await;
    }
    {
        use sqlx::Connection as _;
        let name = url.rsplit('/').next().unwrap();
        let mut conn = sqlx::PgConnection::connect(&server_url).await.unwrap();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_resolve_still_finishes_so_the_retry_reuses_its_sessions() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    fake.set_latency(Duration::from_millis(150));
    let toml = format!(
        "[[tenant]]\nid = \"cs\"\ntoken_sha256 = [\"{}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        digest(TOKEN_CS),
        fake.endpoint(),
    );
    let config = parse(&toml, &[("CS_KEY", fake.api_key())]).unwrap();
    let mut options = ServeOptions::default();
    options.request_timeout = Duration::from_millis(300);
    let server = start(config, options).await;
    let body = panel("int-timeout");
    let planned = server.post("/v1/plan", TOKEN_CS, &body).await.json()["mints"]
        .as_array()
        .unwrap()
        .len();
    // One candidate's creates go one at a time: far longer than the timeout.
    let p = server
        .post("/v1/resolve", TOKEN_CS, &body)
        .await
        .problem(503);
    assert_eq!(p["type"], "urn:invitoken:problem:timeout", "{p}");
    // The resolve goes on after the answer, and records every session.
    let mut minted = 0;
    for _ in 0..200 {
        let links = server
            .get("/v1/interviews/int-timeout/links", TOKEN_CS)
            .await;
        if links.status == StatusCode::OK {
            minted = links
                .json()
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["state"] == "minted")
                .count();
            if minted == planned {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(minted, planned, "the timed-out resolve was cut short");
    fake.set_latency(Duration::ZERO);
    let again = server.post("/v1/resolve", TOKEN_CS, &body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(fake.sessions().len(), planned, "a retry minted again");
    server.stop().await;
}
