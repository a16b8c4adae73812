//! The CodeSignal client against a slow or hostile API (issue 10, and issue 9's network
//! faults): the fake CodeSignal commits late, answers garbage, redirects, sends huge bodies and
//! hostile text. Each test is named after what broke.
//!
//! The promise under every fault: the run fails closed (or succeeds), and an honest re-run of
//! the same request ends with exactly one live session per key at the fake, each made for that
//! key (its template and interviewer), and no orphan, as the fake's own records show.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use assert_cmd::Command;
use invitoken::{
    ApiKey, CodeSignalConfig, CodeSignalMinter, Ledger, LedgerMinter, Product, Request, Resolution,
    ResolveError, State, Vendor, resolve, resolve_limited,
};
use serde_json::{Value, json};
use support::fake_codesignal::{EVIL_SUFFIX, FakeCodeSignal, FakeConfig, Fault, Garbage, Op};

const PANEL: &str = include_str!("../fixtures/panel.json");

/// The client's time limit per request in these tests.
const TIMEOUT: Duration = Duration::from_secs(1);

/// When a late commit lands: after the client gave up on it.
const LATE: Duration = Duration::from_secs(2);

/// The settle window: longer than [`LATE`] after the client's timeout.
const SETTLE: Duration = Duration::from_secs(2);

/// The panel fixture, starting tomorrow.
fn panel_json() -> Value {
    let mut r: Value = serde_json::from_str(PANEL).unwrap();
    let base = chrono::Utc::now() + chrono::TimeDelta::days(1);
    for (i, e) in r["interview"]["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let start = base + chrono::TimeDelta::hours(i as i64 * 2);
        e["start"] = json!(start.to_rfc3339());
        e["end"] = json!((start + chrono::TimeDelta::hours(1)).to_rfc3339());
    }
    r
}

fn panel() -> Request {
    Request::from_json(&panel_json().to_string()).unwrap()
}

/// A fake CodeSignal and a fresh mint ledger.
struct Lab {
    fake: FakeCodeSignal,
    ledger: Ledger,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Lab {
    async fn new() -> Lab {
        let fake = FakeCodeSignal::start(FakeConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        let ledger = Ledger::open(path.to_str().unwrap()).await.unwrap();
        Lab {
            fake,
            ledger,
            path,
            _dir: dir,
        }
    }

    /// The client as the CLI sets it up, with short times.
    fn config(&self) -> CodeSignalConfig {
        let mut c = CodeSignalConfig::new(ApiKey::parse(self.fake.api_key()).unwrap());
        c.endpoint = self.fake.endpoint().parse().unwrap();
        c.timeout = TIMEOUT;
        c.backoff = Duration::from_millis(20);
        c.rate_limit = None;
        c.adopt_lost = false;
        c
    }

    fn minter(&self, config: CodeSignalConfig) -> LedgerMinter<CodeSignalMinter> {
        LedgerMinter::new(
            CodeSignalMinter::new(config).unwrap(),
            self.ledger.clone(),
            Vendor::CodeSignal,
        )
        .with_lease(Duration::from_secs(1))
        .with_settle_after(SETTLE)
        .with_wait(Duration::from_secs(10))
    }

    /// One run of the panel, as a fresh process would make it.
    async fn run(&self) -> Result<Resolution, ResolveError> {
        resolve(&panel(), &self.minter(self.config())).await
    }

    /// How many creates reached the fake (answered or not, executed or not).
    fn creates_sent(&self) -> usize {
        self.fake
            .received()
            .iter()
            .filter(|r| r.field == "createLiveInterview")
            .count()
    }

    /// An honest re-run (the API behaves) after the settle window, and the promise checked.
    async fn honest_rerun(&self) -> Resolution {
        tokio::time::sleep(SETTLE).await;
        let resolution = self.run().await.unwrap();
        self.assert_one_session_per_key(&resolution).await;
        resolution
    }

    /// Exactly one live session per planned key at the fake, made for that key (template,
    /// interviewer, candidate), recorded for it and shown in its link; no other live session.
    async fn assert_one_session_per_key(&self, resolution: &Resolution) {
        let plan = invitoken::plan(&panel()).unwrap();
        let live: Vec<_> = self
            .fake
            .sessions()
            .into_iter()
            .filter(|s| s.status == "pending")
            .collect();
        assert_eq!(
            live.len(),
            plan.mints.len(),
            "one live session per key and no orphan: {live:#?}"
        );
        let records = self.ledger.list(None).await.unwrap();
        let mut ids = HashSet::new();
        for mint in &plan.mints {
            let record = records
                .iter()
                .find(|r| r.key.mint == mint.key)
                .unwrap_or_else(|| panic!("no record for {}", mint.key));
            assert_eq!(record.state, State::Minted, "{record:#?}");
            let id = record.session_id.as_deref().unwrap();
            assert!(ids.insert(id.to_owned()), "{id} recorded for two keys");
            let session = live
                .iter()
                .find(|s| s.id == id)
                .unwrap_or_else(|| panic!("{id} of {} is not live: {live:#?}", mint.key));
            let template = match mint.key.product {
                Product::Template => mint.key.template_id.clone(),
                _ => None,
            };
            assert_eq!(
                session.template_id, template,
                "{} got {session:#?}",
                mint.key
            );
            assert_eq!(
                session.interviewer_id, mint.interviewer_id,
                "{} got {session:#?}",
                mint.key
            );
            assert_eq!(
                session.candidate_email.as_deref(),
                Some(mint.candidate_email.as_str())
            );
            assert_eq!(record.url.as_deref(), Some(session.url.as_str()));
            let link = resolution.links.iter().find(|l| l.key == mint.key).unwrap();
            assert_eq!(link.url.as_str(), session.url);
        }
    }
}

/// Run 1's error, with what every unknown outcome must say.
fn unknown_outcome(result: Result<Resolution, ResolveError>) -> String {
    let err = result.unwrap_err().to_string();
    assert!(err.contains("Run the same request again after"), "{err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_commit_is_adopted_by_the_wrong_key() {
    let lab = Lab::new().await;
    // Committed 2 s after it arrived; the client gives up after 1 s.
    lab.fake.push_fault(Op::Create, Fault::LateCommit(LATE));
    let minter = lab.minter(lab.config());
    let err = unknown_outcome(resolve(&panel(), &minter).await);
    assert!(err.contains("no answer within 1 s"), "{err}");
    // One create, never sent again, and no other create of the candidate while it may land.
    assert_eq!(minter.inner().calls(), 1);
    // Run again at once: its create may still land, so nothing is created or adopted yet; the
    // mint waits for the settle window, then looks up.
    let resolution = lab.run().await.unwrap();
    lab.assert_one_session_per_key(&resolution).await;
    assert_eq!(
        lab.fake.creates(),
        invitoken::plan(&panel()).unwrap().mints.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_commit_through_the_cli_exits_3_then_settles() {
    let lab = Lab::new().await;
    lab.fake.push_fault(Op::Create, Fault::LateCommit(LATE));
    let out = cli(&lab, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("Run the same request again after"),
        "{stderr}"
    );
    assert_eq!(lab.creates_sent(), 0, "the late create is still being held");
    tokio::time::sleep(SETTLE + Duration::from_millis(500)).await;
    let out = cli(&lab, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let resolution: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        resolution["links"].as_array().unwrap().len(),
        invitoken::plan(&panel()).unwrap().mints.len()
    );
    // The fake's records against the ledger the CLI wrote.
    let ledger = Ledger::open(lab.path.to_str().unwrap()).await.unwrap();
    let records = ledger.list(None).await.unwrap();
    assert!(
        records.iter().all(|r| r.state == State::Minted),
        "{records:#?}"
    );
    let live = lab
        .fake
        .sessions()
        .into_iter()
        .filter(|s| s.status == "pending")
        .count();
    assert_eq!(live, records.len(), "an orphan or a missing session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_commit_lets_the_candidates_other_creates_go_out() {
    for garbage in [
        Garbage::Html,
        Garbage::NotJson,
        Garbage::NullField,
        Garbage::Reset,
    ] {
        let lab = Lab::new().await;
        lab.fake
            .push_fault(Op::Create, Fault::GarbageAfterCommit(garbage));
        unknown_outcome(lab.run().await);
        assert_eq!(
            lab.creates_sent(),
            1,
            "{garbage:?}: {:#?}",
            lab.fake.received()
        );
        assert_eq!(lab.fake.creates(), 1);
        lab.honest_rerun().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_one_still_queued_every_create() {
    let lab = Lab::new().await;
    lab.fake
        .push_fault(Op::Create, Fault::GarbageAfterCommit(Garbage::NullField));
    let minter = lab.minter(lab.config());
    let result = resolve_limited(&panel(), &minter, &Default::default(), 1).await;
    unknown_outcome(result);
    assert_eq!(lab.creates_sent(), 1);
    assert_eq!(minter.inner().calls(), 1);
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_url_found_by_a_lookup_is_recorded_as_minted() {
    let lab = Lab::new().await;
    lab.fake.push_fault(Op::Create, Fault::LoseReply);
    unknown_outcome(lab.run().await);
    // The look-up that settles it answers CRLF in `url`, then in `shortenedUrl` alone.
    for fault in [Fault::EvilUrl, Fault::EvilShortUrl] {
        tokio::time::sleep(SETTLE).await;
        lab.fake.push_fault(Op::Query, fault.clone());
        let err = lab.run().await.unwrap_err().to_string();
        assert!(err.contains("whitespace"), "{fault:?}: {err}");
        assert!(!err.contains('\r') && !err.contains('\n'), "{err:?}");
        let records = lab.ledger.list(None).await.unwrap();
        assert!(
            records.iter().all(|r| {
                [&r.url, &r.short_url, &r.last_error]
                    .into_iter()
                    .flatten()
                    .all(|u| !u.contains('\r') && !u.contains('\n'))
            }),
            "{records:#?}"
        );
        assert_eq!(
            records.iter().filter(|r| r.state == State::Pending).count(),
            1,
            "{records:#?}"
        );
        // No edit of a session behind a refused URL.
        assert!(lab.fake.received().iter().all(|r| r.op != Op::Edit));
    }
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_short_url_from_a_create_is_recorded() {
    let lab = Lab::new().await;
    lab.fake.push_fault(Op::Create, Fault::EvilShortUrl);
    let err = lab.run().await.unwrap_err().to_string();
    assert!(err.contains("whitespace"), "{err}");
    let records = lab.ledger.list(None).await.unwrap();
    assert!(
        records.iter().all(|r| r
            .short_url
            .as_deref()
            .is_none_or(|u| !u.contains(EVIL_SUFFIX))),
        "{records:#?}"
    );
    assert_eq!(lab.fake.creates(), 1);
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_is_followed_to_another_host() {
    let lab = Lab::new().await;
    let elsewhere = FakeCodeSignal::start(FakeConfig::default()).await;
    lab.fake.push_fault(
        Op::Create,
        Fault::Redirect {
            status: 307,
            location: format!("{}?api_key=s3cret-in-location", elsewhere.endpoint()),
        },
    );
    let err = lab.run().await.unwrap_err().to_string();
    assert!(err.contains("HTTP 307"), "{err}");
    assert!(err.contains(&elsewhere.addr().to_string()), "{err}");
    assert!(!err.contains("s3cret-in-location"), "{err}");
    assert!(elsewhere.received().is_empty(), "the create was re-sent");
    assert_eq!(lab.fake.creates(), 0);
    // Every other mint stopped: one create went out.
    assert_eq!(lab.creates_sent(), 1);
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_body_is_read_whole() {
    for streamed in [false, true] {
        let lab = Lab::new().await;
        lab.fake.push_fault(
            Op::Create,
            Fault::HugeBody {
                size: 3 * invitoken::MAX_RESPONSE_BYTES,
                streamed,
            },
        );
        let err = unknown_outcome(lab.run().await);
        assert!(err.contains("larger than 1048576 bytes"), "{err}");
        assert!(err.len() < 4000, "{} bytes", err.len());
        // It was executed: the re-run adopts it.
        lab.honest_rerun().await;
        assert_eq!(
            lab.fake.creates(),
            invitoken::plan(&panel()).unwrap().mints.len()
        );
    }
}

fn hostile_message() -> String {
    format!(
        "\u{1b}[2J\u{1b}[H\r\nerror: forged line\u{202e}{}",
        "A".repeat(1_000_000)
    )
}

fn assert_tame(text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
        "{:?}",
        &text[..text.len().min(300)]
    );
    assert!(!text.contains("\nerror: forged"), "a forged line");
    assert!(text.len() < 10_000, "{} bytes", text.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_text_reaches_the_terminal_and_the_ledger_raw() {
    let lab = Lab::new().await;
    lab.fake
        .push_fault(Op::Create, Fault::ErrorMessage(hostile_message()));
    let err = lab.run().await.unwrap_err().to_string();
    assert_tame(&err);
    assert!(!err.contains('\n'));
    for r in lab.ledger.list(None).await.unwrap() {
        if let Some(e) = &r.last_error {
            assert_tame(e);
            assert!(!e.contains('\n'));
        }
    }
    assert_eq!(lab.creates_sent(), 1, "one create, one message");

    // Through the CLI: stderr holds the message once, escaped and capped.
    let lab = Lab::new().await;
    lab.fake
        .push_fault(Op::Create, Fault::ErrorMessage(hostile_message()));
    let out = cli(&lab, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        &stderr[..stderr.len().min(500)]
    );
    assert!(out.stdout.is_empty());
    assert_tame(&stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_settings_panic() {
    let lab = Lab::new().await;
    for (args, env, name) in [
        (&[][..], &[("CODESIGNAL_TIMEOUT", "1e20")][..], "timeout"),
        (&[][..], &[("CODESIGNAL_TIMEOUT", "NaN")][..], "timeout"),
        (&[][..], &[("CODESIGNAL_TIMEOUT", "0")][..], "timeout"),
        (&["--rate-limit", "1e-300"][..], &[][..], "rate limit"),
        (&["--rate-limit=-1"][..], &[][..], "rate limit"),
        (&["--rate-limit", "inf"][..], &[][..], "rate limit"),
        (&["--deadline", "1e300"][..], &[][..], "deadline"),
        (&["--deadline", "0"][..], &[][..], "deadline"),
    ] {
        let out = cli_with(&lab, args, env).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains("out of range: use"),
            "{args:?} {env:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    assert!(lab.fake.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_api_runs_for_minutes_with_nothing_on_stderr() {
    let lab = Lab::new().await;
    lab.fake.set_latency(Duration::from_millis(400));
    let mut config = lab.config();
    config.deadline = Some(Duration::from_secs(1));
    let err = resolve(&panel(), &lab.minter(config))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("deadline of 1 s for the whole run passed while waiting for"),
        "{err}"
    );
    assert!(err.contains("create for interview"), "{err}");

    // Through the CLI: the message on stderr, exit 3, nothing on stdout.
    let out = cli_with(&lab, &["--deadline", "1"], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("deadline of 1 s"), "{stderr}");

    lab.fake.set_latency(Duration::ZERO);
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_spends_every_mints_retry_budget() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let lab = Lab::new().await;
    let mut config = lab.config();
    config.endpoint = format!("http://127.0.0.1:{port}/graphql").parse().unwrap();
    let minter = lab.minter(config.clone());
    let err = resolve(&panel(), &minter).await.unwrap_err().to_string();
    assert!(
        err.contains("cannot reach CodeSignal after 3 attempt(s)"),
        "{err}"
    );
    // A short retry of the first request; every other mint stopped without a request.
    assert_eq!(minter.inner().calls(), u64::from(config.connect_attempts));
    // Nothing was made: every key may be minted later.
    let records = lab.ledger.list(None).await.unwrap();
    assert!(
        records.iter().all(|r| r.state == State::Failed),
        "{records:#?}"
    );

    let out = cli_with(
        &lab,
        &[],
        &[(
            "CODESIGNAL_ENDPOINT",
            &format!("http://127.0.0.1:{port}/graphql"),
        )],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("cannot reach CodeSignal"), "{stderr}");
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_mentioning_rate_limit_retries_a_create_that_was_made() {
    let lab = Lab::new().await;
    lab.fake.push_fault(
        Op::Create,
        Fault::ExecutedWithError("Rate limit of the template service reached".into()),
    );
    unknown_outcome(lab.run().await);
    assert_eq!(lab.creates_sent(), 1);
    assert_eq!(lab.fake.creates(), 1);
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_loses_its_own_text() {
    let lab = Lab::new().await;
    lab.fake.push_fault(
        Op::Create,
        Fault::ErrorMessage("Access Denied: the key lacks live_interview_write".into()),
    );
    let err = lab.run().await.unwrap_err().to_string();
    assert!(err.contains("lacks live_interview_write"), "{err}");
    assert!(err.contains("LiveInterview permission"), "{err}");
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_url_key_is_accepted_last_wins() {
    let lab = Lab::new().await;
    lab.fake.push_fault(Op::Create, Fault::DuplicateUrl);
    let err = unknown_outcome(lab.run().await);
    assert!(err.contains("duplicate field `url`"), "{err}");
    let resolution = lab.honest_rerun().await;
    assert!(
        resolution
            .links
            .iter()
            .all(|l| !l.url.as_str().contains("evil.example"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_listed_twice_by_a_lookup_counts_twice() {
    let lab = Lab::new().await;
    lab.fake.push_fault(Op::Create, Fault::LoseReply);
    unknown_outcome(lab.run().await);
    lab.fake.push_fault(Op::Query, Fault::ListTwice);
    lab.honest_rerun().await;
    assert_eq!(lab.fake.pending_faults(), 0, "the look-up listed twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_of_100_kb_is_accepted() {
    let lab = Lab::new().await;
    lab.fake
        .push_fault(Op::Create, Fault::UrlSuffix("a".repeat(100_000)));
    let err = lab.run().await.unwrap_err().to_string();
    assert!(err.contains("a link may be at most 2048"), "{err}");
    assert!(err.len() < 4000, "{} bytes", err.len());
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_errors_say_minting() {
    let lab = Lab::new().await;
    let resolution = lab.run().await.unwrap();
    lab.assert_one_session_per_key(&resolution).await;
    lab.fake.push_fault(Op::Delete, Fault::Status(400));
    let minter = lab.minter(lab.config());
    let outcomes = minter.cancel("int-42", None).await.unwrap();
    let failed: Vec<_> = outcomes.iter().filter(|o| o.is_failure()).collect();
    assert_eq!(failed.len(), 1, "{outcomes:#?}");
    let error = failed[0].error.as_deref().unwrap();
    assert!(error.starts_with("deleting the session of"), "{error}");
    assert!(!error.contains("minting"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_urls_are_ignored_for_sessions_already_in_the_ledger() {
    let lab = Lab::new().await;
    let long = lab.run().await.unwrap();
    lab.assert_one_session_per_key(&long).await;
    let mut config = lab.config();
    config.short_urls = true;
    let short = resolve(&panel(), &lab.minter(config)).await.unwrap();
    let sessions = lab.fake.sessions();
    for link in &short.links {
        assert!(
            sessions
                .iter()
                .any(|s| s.shortened_url == link.url.as_str()),
            "{} is not a shortened URL",
            link.url
        );
    }
    // And back: the record keeps the full URL.
    let again = lab.run().await.unwrap();
    lab.assert_one_session_per_key(&again).await;
    assert_eq!(lab.creates_sent(), long.links.len(), "nothing minted again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failure_is_retried_like_a_refused_connection() {
    // The fake speaks plain HTTP: a TLS handshake with it fails, every time.
    let lab = Lab::new().await;
    let mut config = lab.config();
    config.endpoint = format!("https://{}/graphql", lab.fake.addr())
        .parse()
        .unwrap();
    let minter = lab.minter(config);
    let err = resolve(&panel(), &minter).await.unwrap_err().to_string();
    assert!(
        err.contains("the TLS connection to CodeSignal failed"),
        "{err}"
    );
    assert_eq!(minter.inner().calls(), 1, "retried: {err}");
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_send_creates_of_one_candidate_at_once() {
    let lab = Lab::new().await;
    let planned = invitoken::plan(&panel()).unwrap().mints.len();
    for _ in 0..2 * planned {
        lab.fake
            .push_fault(Op::Create, Fault::Latency(Duration::from_millis(150)));
    }
    // Two minters on one ledger: two processes, each with its own candidate locks.
    let (a, b) = (lab.minter(lab.config()), lab.minter(lab.config()));
    let request = panel();
    let (ra, rb) = tokio::join!(resolve(&request, &a), resolve(&request, &b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    lab.assert_one_session_per_key(&ra).await;
    assert_eq!(
        serde_json::to_value(&ra.links).unwrap(),
        serde_json::to_value(&rb.links).unwrap()
    );
    assert_eq!(lab.fake.creates(), planned);
    // A look-up by email could not tell two lost creates of the candidate apart.
    assert_eq!(lab.fake.max_creates_in_flight(), 1);
}

/// Runs `invitoken resolve -` on the panel against the lab's fake and ledger.
async fn cli(lab: &Lab, args: &[&str]) -> std::process::Output {
    cli_with(lab, args, &[]).await
}

async fn cli_with(lab: &Lab, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::cargo_bin("invitoken").unwrap();
    cmd.args(["resolve", "-", "--ledger"])
        .arg(&lab.path)
        .args(args)
        .env("CODESIGNAL_ENDPOINT", lab.fake.endpoint())
        .env("CODESIGNAL_API_KEY", lab.fake.api_key())
        .env("CODESIGNAL_TIMEOUT", TIMEOUT.as_secs().to_string())
        .env("INVITOKEN_SETTLE_AFTER", SETTLE.as_secs().to_string())
        .env("NO_COLOR", "1")
        .write_stdin(panel_json().to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

// Found by attacking the merged client (see the module doc's unknown outcomes).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_or_accepted_status_on_a_create_is_recorded_as_nothing_made() {
    // A success other than GraphQL's 200, or a 303 pointing to the result: the create ran.
    for status in [201, 202, 204, 303] {
        let lab = Lab::new().await;
        lab.fake.push_fault(
            Op::Create,
            Fault::ExecutedThen {
                status,
                body: r#"{"data":{"createLiveInterview":{session}}}"#.into(),
            },
        );
        let err = unknown_outcome(lab.run().await);
        assert!(err.contains(&format!("HTTP {status}")), "{status}: {err}");
        assert_eq!(lab.creates_sent(), 1, "{status}");
        // Recorded as "nothing made", the re-run would mint it again: one orphan.
        lab.honest_rerun().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_key_beside_a_rate_limit_error_retries_a_create_that_was_made() {
    let lab = Lab::new().await;
    // The session, then null under the same key: a parser letting the last one win sees "rate
    // limited, nothing made" and sends the create again.
    lab.fake.push_fault(
        Op::Create,
        Fault::ExecutedThen {
            status: 200,
            body: r#"{"data":{"createLiveInterview":{session},"createLiveInterview":null},
                "errors":[{"message":"Rate limit exceeded","extensions":{"code":"RATE_LIMITED"}}]}"#
                .into(),
        },
    );
    let err = unknown_outcome(lab.run().await);
    assert!(
        err.contains("duplicate field `createLiveInterview`"),
        "{err}"
    );
    assert_eq!(lab.creates_sent(), 1);
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_id_with_control_characters_reaches_the_ledger() {
    for id in ["li-1\u{1b}[2J\r\nerror: forged", "", &"x".repeat(200_000)] {
        let lab = Lab::new().await;
        let body = json!({"data": {"createLiveInterview": {
            "id": id,
            "url": "https://app.codesignal.com/live-interview/li-x",
            "shortenedUrl": "https://codesignal.co/li-x",
            "status": "pending",
            "candidateEmail": null,
            "candidateName": null,
        }}});
        lab.fake.push_fault(
            Op::Create,
            Fault::ExecutedThen {
                status: 200,
                body: body.to_string(),
            },
        );
        let err = unknown_outcome(lab.run().await);
        assert!(err.contains("unusable session id"), "{err}");
        assert_tame(&err);
        assert!(err.len() < 4000, "{} bytes", err.len());
        let records = lab.ledger.list(None).await.unwrap();
        assert!(
            records.iter().all(|r| r.session_id.is_none()),
            "{records:#?}"
        );
        lab.honest_rerun().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_id_with_control_characters_from_a_lookup_is_adopted() {
    let lab = Lab::new().await;
    // Not executed, but a 500 proves nothing: the outcome is unknown.
    lab.fake.push_fault(Op::Create, Fault::Status(500));
    unknown_outcome(lab.run().await);
    let hostile = "li-9\u{1b}]0;owned\u{7}";
    lab.fake.seed_session(support::fake_codesignal::Session {
        id: hostile.into(),
        candidate_email: Some("ada@example.org".into()),
        candidate_name: Some("Ada Lovelace".into()),
        interviewer_id: None,
        template_id: None,
        lock_template: None,
        expiration_time_ms: None,
        status: "pending".into(),
        url: "https://app.codesignal.com/live-interview/li-9".into(),
        shortened_url: "https://codesignal.co/li-9".into(),
        created_at_ms: 0,
    });
    tokio::time::sleep(SETTLE).await;
    let err = lab.run().await.unwrap_err().to_string();
    assert!(err.contains("unusable session id"), "{err}");
    assert_tame(&err);
    let records = lab.ledger.list(None).await.unwrap();
    assert!(
        records
            .iter()
            .all(|r| r.session_id.as_deref() != Some(hostile)),
        "{records:#?}"
    );
}

/// A create's answer naming `id` for Ada, as a replaying proxy would send it.
fn replayed(id: &str, email: &str) -> Fault {
    replayed_as(id, email, "pending")
}

fn replayed_as(id: &str, email: &str, status: &str) -> Fault {
    Fault::ExecutedThen {
        status: 200,
        body: json!({"data": {"createLiveInterview": {
            "id": id,
            "url": format!("https://app.codesignal.com/live-interview/{id}"),
            "shortenedUrl": format!("https://codesignal.co/{id}"),
            "status": status,
            "candidateEmail": email,
            "candidateName": "Ada Lovelace",
        }}})
        .to_string(),
    }
}

fn assert_no_session_recorded_twice(records: &[invitoken::MintRecord]) {
    let mut ids = HashSet::new();
    for id in records.iter().filter_map(|r| r.session_id.as_deref()) {
        assert!(ids.insert(id), "{id} recorded for two keys: {records:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_session_answered_to_two_creates_gives_two_keys_one_room() {
    let lab = Lab::new().await;
    lab.fake
        .push_fault(Op::Create, replayed("li-replayed", "ada@example.org"));
    lab.fake
        .push_fault(Op::Create, replayed("li-replayed", "ada@example.org"));
    let err = unknown_outcome(lab.run().await);
    assert!(err.contains("already the session of another key"), "{err}");
    assert_no_session_recorded_twice(&lab.ledger.list(None).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_of_another_candidate_answered_to_a_create_is_recorded() {
    let lab = Lab::new().await;
    lab.fake
        .push_fault(Op::Create, replayed("li-mallory", "mallory@evil.example"));
    let err = unknown_outcome(lab.run().await);
    assert!(err.contains("is for mallory@evil.example"), "{err}");
    let records = lab.ledger.list(None).await.unwrap();
    assert!(
        records
            .iter()
            .all(|r| r.session_id.as_deref() != Some("li-mallory")),
        "{records:#?}"
    );
    // The create was executed (for Ada): the re-run adopts that session.
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_replayed_from_an_earlier_run_is_recorded_for_a_second_key() {
    let lab = Lab::new().await;
    lab.honest_rerun().await;
    let records = lab.ledger.list(None).await.unwrap();
    let old = records[0].session_id.clone().unwrap();
    // A second interview of the same candidate; its first create is answered with a session
    // the ledger already records for the first interview.
    let mut second = panel_json();
    second["interview"]["id"] = json!("int-43");
    let second = Request::from_json(&second.to_string()).unwrap();
    lab.fake
        .push_fault(Op::Create, replayed(&old, "ada@example.org"));
    let err = resolve(&second, &lab.minter(lab.config()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("which the mint ledger records for"), "{err}");
    assert_no_session_recorded_twice(&lab.ledger.list(None).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_proxy_from_the_environment_carries_the_key_off_loopback() {
    let lab = Lab::new().await;
    // Stands for a proxy on another host: it would read the key from the plain http request.
    let proxy = FakeCodeSignal::start(FakeConfig::default()).await;
    let proxy_url = format!("http://{}", proxy.addr());
    let out = cli_with(
        &lab,
        &[],
        &[
            ("HTTP_PROXY", &proxy_url),
            ("http_proxy", &proxy_url),
            ("ALL_PROXY", &proxy_url),
            ("all_proxy", &proxy_url),
            ("NO_PROXY", ""),
            ("no_proxy", ""),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(proxy.received().is_empty(), "{:#?}", proxy.received());
    assert_eq!(
        lab.creates_sent(),
        invitoken::plan(&panel()).unwrap().mints.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_session_after_the_first_page_of_a_lookup_is_minted_again() {
    let lab = Lab::new().await;
    // The candidate's past: 150 deleted sessions, listed before anything new.
    for n in 0..150 {
        lab.fake.seed_session(support::fake_codesignal::Session {
            id: format!("li-past-{n}"),
            candidate_email: Some("ada@example.org".into()),
            candidate_name: Some("Ada Lovelace".into()),
            interviewer_id: None,
            template_id: None,
            lock_template: None,
            expiration_time_ms: None,
            status: "deleted".into(),
            url: format!("https://app.codesignal.com/live-interview/li-past-{n}"),
            shortened_url: format!("https://codesignal.co/past-{n}"),
            created_at_ms: 0,
        });
    }
    lab.fake.push_fault(Op::Create, Fault::LoseReply);
    unknown_outcome(lab.run().await);
    // Reading only the first page, the re-run finds nothing and creates a second session.
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_answered_for_another_session_counts_as_extended() {
    let lab = Lab::new().await;
    let minter = CodeSignalMinter::new(lab.config()).unwrap();
    lab.fake.push_fault(
        Op::Edit,
        Fault::ExecutedThen {
            status: 200,
            body: r#"{"data":{"editLiveInterview":{"id":"li-other","status":"pending"}}}"#.into(),
        },
    );
    let err = minter
        .extend_session(
            "li-1",
            None,
            chrono::Utc::now() + chrono::TimeDelta::days(1),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("answered for session li-other"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_against_a_hanging_api_spends_every_sessions_retry_budget() {
    let lab = Lab::new().await;
    let mut config = lab.config();
    config.max_attempts = 2;
    config.connect_attempts = 2;
    let minter = CodeSignalMinter::new(config).unwrap();
    for _ in 0..10 {
        lab.fake.push_fault(Op::Edit, Fault::Hang);
    }
    let until = chrono::Utc::now() + chrono::TimeDelta::days(1);
    let first = minter
        .extend_session("li-1", None, until)
        .await
        .unwrap_err();
    assert!(first.to_string().contains("gave up after 2"), "{first}");
    // The same API, the next session: not another whole retry budget.
    let second = minter
        .extend_session("li-2", None, until)
        .await
        .unwrap_err();
    assert!(second.to_string().contains("not sent"), "{second}");
    let edits = lab
        .fake
        .received()
        .iter()
        .filter(|r| r.op == Op::Edit)
        .count();
    assert_eq!(edits, 2, "{:#?}", lab.fake.received());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_session_answered_to_a_create_is_recorded_as_minted() {
    let lab = Lab::new().await;
    lab.fake.push_fault(
        Op::Create,
        replayed_as("li-dead", "ada@example.org", "deleted"),
    );
    let err = unknown_outcome(lab.run().await);
    assert!(err.contains("is deleted, not pending"), "{err}");
    // The create was executed (a pending session for Ada): the re-run adopts it.
    lab.honest_rerun().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_refresh_had_no_deadline_flag() {
    let lab = Lab::new().await;
    // Seven sessions minted and recorded.
    let out = cli_with(&lab, &[], &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.fake.set_latency(Duration::from_millis(1500));
    for args in [
        &["cancel", "--interview", "int-42"][..],
        &["refresh", "--grace-minutes", "43200"][..],
    ] {
        let mut cmd = Command::cargo_bin("invitoken").unwrap();
        cmd.args(args)
            .args(["--deadline", "1", "--ledger"])
            .arg(&lab.path)
            .env("CODESIGNAL_ENDPOINT", lab.fake.endpoint())
            .env("CODESIGNAL_API_KEY", lab.fake.api_key())
            .env("CODESIGNAL_TIMEOUT", TIMEOUT.as_secs().to_string())
            .env("NO_COLOR", "1");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("deadline of 1 s"), "{args:?}: {stderr}");
    }
}
