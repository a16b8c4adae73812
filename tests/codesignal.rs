//! The CodeSignal client against a real GraphQL server on 127.0.0.1 (the fake in
//! `tests/support`), which validates every request against the schema and injects faults.
//!
//! The invariant under every fault: the fake's own record shows exactly one session per planned
//! mint, or the mint fails with a clear error and no second session.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use invitoken::{
    ApiKey, ClientError, CodeSignalConfig, CodeSignalMinter, MintError, Request, ResolveError,
    resolve,
};
use serde_json::{Value, json};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig, Fault, Op, Session};

const PANEL: &str = include_str!("../fixtures/panel.json");

fn panel() -> Request {
    Request::from_json(PANEL).unwrap()
}

/// The panel fixture, moved so that it starts `days` from now.
fn panel_in(days: i64) -> Value {
    let mut r: Value = serde_json::from_str(PANEL).unwrap();
    let base = chrono::Utc::now() + chrono::TimeDelta::days(days);
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

fn config(fake: &FakeCodeSignal) -> CodeSignalConfig {
    let mut c = CodeSignalConfig::new(ApiKey::parse(fake.api_key()).unwrap());
    c.endpoint = fake.endpoint().parse().unwrap();
    c.timeout = Duration::from_millis(800);
    c.backoff = Duration::from_millis(20);
    c.rate_limit = None;
    c
}

async fn start() -> FakeCodeSignal {
    FakeCodeSignal::start(FakeConfig::default()).await
}

fn planned() -> usize {
    invitoken::plan(&panel()).unwrap().mints.len()
}

/// Resolves the panel against `fake` and checks the fake made exactly one session per mint,
/// each of which is shown in the links.
async fn resolves_once(fake: &FakeCodeSignal, minter: &CodeSignalMinter) {
    let resolution = resolve(&panel(), minter).await.unwrap();
    assert_eq!(fake.creates(), planned(), "{:#?}", fake.received());
    let sessions = fake.sessions();
    for link in &resolution.links {
        assert!(
            sessions.iter().any(|s| s.url == link.url.as_str()),
            "{} is not a session of the fake",
            link.url
        );
    }
}

#[tokio::test]
async fn a_panel_mints_exactly_the_planned_sessions_with_the_right_fields() {
    let fake = start().await;
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    resolves_once(&fake, &minter).await;
    assert_eq!(minter.calls() as usize, planned());
    let sessions = fake.sessions();
    for s in &sessions {
        assert_eq!(s.candidate_email.as_deref(), Some("ada@example.org"));
        assert_eq!(s.candidate_name.as_deref(), Some("Ada Lovelace"));
    }
    let templated: Vec<&Session> = sessions
        .iter()
        .filter(|s| s.template_id.is_some())
        .collect();
    // evt-1 has its own template; evt-2 and evt-3 use the interview's.
    let mut ids: Vec<&str> = templated
        .iter()
        .map(|s| s.template_id.as_deref().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["tpl-1", "tpl-1", "tpl-2"]);
    assert!(templated.iter().all(|s| s.lock_template == Some(true)));
    let mut interviewers: Vec<Option<&str>> = sessions
        .iter()
        .map(|s| s.interviewer_id.as_deref())
        .collect();
    interviewers.sort();
    // The interview link has none; evt-3's interviewer has no CodeSignal id.
    assert_eq!(
        interviewers,
        [
            None,
            None,
            None,
            Some("u-1"),
            Some("u-1"),
            Some("u-2"),
            Some("u-2")
        ]
    );
    // Every request was valid GraphQL for the schema.
    assert!(
        fake.received()
            .iter()
            .all(|r| r.status == 200 && r.authorized)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_identical_resolves_mint_once() {
    let fake = start().await;
    fake.set_latency(Duration::from_millis(30));
    let minter = Arc::new(CodeSignalMinter::new(config(&fake)).unwrap());
    let request = Arc::new(panel());
    let runs: Vec<_> = (0..50)
        .map(|_| {
            let (minter, request) = (minter.clone(), request.clone());
            tokio::spawn(async move { resolve(&request, &*minter).await.unwrap() })
        })
        .collect();
    let mut outputs = Vec::new();
    for run in runs {
        outputs.push(serde_json::to_value(run.await.unwrap()).unwrap());
    }
    assert_eq!(fake.creates(), planned());
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "every resolve got the same links"
    );
}

#[tokio::test]
async fn unavailable_and_rate_limited_requests_are_retried() {
    let fake = start().await;
    for _ in 0..3 {
        fake.push_fault(Op::Create, Fault::Status(503));
    }
    fake.push_fault(Op::Create, Fault::GraphQlRateLimit);
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    resolves_once(&fake, &minter).await;
    assert_eq!(minter.calls() as usize, planned() + 4);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let fake = start().await;
    fake.push_fault(
        Op::Create,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    let started = Instant::now();
    resolves_once(&fake, &minter).await;
    // Not a speed assertion: the client must not have come back before it was told to.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let statuses: Vec<u16> = fake.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 1);
}

#[tokio::test]
async fn persistent_unavailability_gives_up_with_attempts_counted() {
    let fake = start().await;
    // Enough faults for every planned session's every attempt: mints under way when the first
    // gives up run to their own end.
    for _ in 0..planned() * 3 {
        fake.push_fault(Op::Create, Fault::Status(503));
    }
    let mut c = config(&fake);
    c.max_attempts = 3;
    let minter = CodeSignalMinter::new(c).unwrap();
    let err = resolve(&panel(), &minter).await.unwrap_err();
    let ResolveError::Mint(MintError::CodeSignal {
        source: ClientError::GaveUp { attempts: 3, .. },
        ..
    }) = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(fake.creates(), 0);
}

/// A look-up that finds nothing right after a timeout proves nothing (the create may still
/// land): the outcome stays unknown, the create is not sent again, and no other create of the
/// candidate goes out.
#[tokio::test]
async fn a_hang_is_an_unknown_outcome_and_no_create_is_sent_again() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::Hang);
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    let err = resolve(&panel(), &minter).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ResolveError::Mint(MintError::CodeSignal {
                source: ClientError::OutcomeUnknown { .. },
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("proves nothing"), "{err}");
    let received = fake.received();
    let count = |field: &str| received.iter().filter(|r| r.field == field).count();
    assert_eq!(count("liveInterviews"), 1, "one look-up after the timeout");
    // The hung create (the fake records it only when it ends) and the look-up: no second
    // create, for this key or another of the candidate.
    assert_eq!(minter.calls(), 2, "{received:#?}");
    assert_eq!(fake.creates(), 0);
}

#[tokio::test]
async fn a_lost_reply_is_found_and_adopted_not_minted_again() {
    for fault in [
        Fault::LoseReply,
        Fault::LoseReplyAfter(Duration::from_secs(2)),
    ] {
        let fake = start().await;
        fake.push_fault(Op::Create, fault);
        let minter = CodeSignalMinter::new(config(&fake)).unwrap();
        resolves_once(&fake, &minter).await;
        let resolution = resolve(&panel(), &minter).await.unwrap();
        let mut urls: Vec<&str> = resolution.links.iter().map(|l| l.url.as_str()).collect();
        urls.sort();
        urls.dedup();
        assert_eq!(urls.len(), planned(), "every session has its own URL");
    }
}

#[tokio::test]
async fn a_lost_reply_beside_other_unclaimed_sessions_fails_as_unknown() {
    let fake = start().await;
    fake.seed_session(Session {
        id: "li-old".into(),
        candidate_email: Some("ada@example.org".into()),
        candidate_name: Some("Ada Lovelace".into()),
        interviewer_id: None,
        template_id: None,
        lock_template: None,
        expiration_time_ms: Some(3_600_000),
        status: "pending".into(),
        url: "https://app.codesignal.com/live-interview/li-old".into(),
        shortened_url: "https://codesignal.co/old".into(),
        created_at_ms: 0,
    });
    fake.push_fault(Op::Create, Fault::LoseReply);
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    // One session to mint, so the fake's count is about that one create alone.
    let mut r: Value = serde_json::from_str(PANEL).unwrap();
    r["templates"] =
        json!({"candidate": {"subject": "s", "body": "$Interview.CodeSignal.Live.Link"}});
    let err = resolve(&Request::from_json(&r.to_string()).unwrap(), &minter)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            &err,
            ResolveError::Mint(MintError::CodeSignal {
                source: ClientError::OutcomeUnknown { .. },
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        message.contains("unknown") && message.contains("li-old"),
        "{message}"
    );
    // The lost one was made; no second one was sent for it.
    assert_eq!(fake.creates(), 1);
}

#[tokio::test]
async fn access_denied_and_401_are_final_and_say_what_to_fix() {
    for (fault, want) in [
        (Fault::AccessDenied, "LiveInterview permission"),
        (Fault::Unauthorized, "HTTP 401"),
    ] {
        let fake = start().await;
        fake.push_fault(Op::Create, fault);
        let minter = CodeSignalMinter::new(config(&fake)).unwrap();
        let err = resolve(&panel(), &minter).await.unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
        assert!(!err.contains(fake.api_key()));
        let creates_sent = fake
            .received()
            .iter()
            .filter(|r| r.field == "createLiveInterview")
            .count();
        // The failing create is not retried (others of the plan may have started beside it).
        assert!(
            creates_sent <= invitoken::DEFAULT_CONCURRENCY,
            "{creates_sent}"
        );
    }
}

#[tokio::test]
async fn a_wrong_key_is_refused_without_showing_it() {
    let fake = start().await;
    let mut c = config(&fake);
    let wrong = "wrong-key-9876543210";
    c.api_key = ApiKey::parse(wrong).unwrap();
    let minter = CodeSignalMinter::new(c).unwrap();
    let err = resolve(&panel(), &minter).await.unwrap_err();
    let shown = format!("{err} {err:?} {minter:?}");
    assert!(shown.contains("HTTP 401"), "{shown}");
    assert!(
        !shown.contains(wrong) && !shown.contains(fake.api_key()),
        "{shown}"
    );
}

#[tokio::test]
async fn a_url_carrying_crlf_fails_the_mint() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::EvilUrl);
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    let err = resolve(&panel(), &minter).await.unwrap_err().to_string();
    assert!(err.contains("whitespace"), "{err}");
    assert!(!err.contains('\r') && !err.contains('\n'), "{err:?}");
}

#[tokio::test]
async fn an_answer_off_the_schema_is_an_unknown_outcome_that_keeps_the_raw_body() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::MalformedBody);
    let mut c = config(&fake);
    c.adopt_lost = false;
    let minter = CodeSignalMinter::new(c).unwrap();
    let err = resolve(&panel(), &minter).await.unwrap_err().to_string();
    assert!(err.contains("does not match the schema"), "{err}");
    assert!(err.contains("raw body: {"), "{err}");
    assert!(err.contains("outcome of creating the session"), "{err}");
    assert_eq!(
        fake.creates(),
        1,
        "the other creates of the candidate stopped"
    );

    // On its own, the client looks the one session up and adopts it.
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::MalformedBody);
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    resolves_once(&fake, &minter).await;
}

#[tokio::test]
async fn short_urls_are_used_when_asked() {
    let fake = start().await;
    let mut c = config(&fake);
    c.short_urls = true;
    let minter = CodeSignalMinter::new(c).unwrap();
    let resolution = resolve(&panel(), &minter).await.unwrap();
    let sessions = fake.sessions();
    for link in &resolution.links {
        assert!(
            sessions
                .iter()
                .any(|s| s.shortened_url == link.url.as_str())
        );
    }
}

#[tokio::test]
async fn expiration_covers_the_last_event_plus_grace_clamped() {
    // Tomorrow: the link lives until the end of its last event plus two hours.
    let fake = start().await;
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    let request = Request::from_json(&panel_in(1).to_string()).unwrap();
    let before = chrono::Utc::now();
    let resolution = resolve(&request, &minter).await.unwrap();
    for link in &resolution.links {
        let at = link.expires_at.unwrap();
        assert!(!link.expires_too_soon());
        let want = link.serves_until + chrono::TimeDelta::hours(2);
        assert!((at - want).num_seconds().abs() <= 5, "{at} vs {want}");
        assert!(at > before);
    }
    let sent: Vec<i64> = fake
        .sessions()
        .iter()
        .map(|s| s.expiration_time_ms.unwrap())
        .collect();
    assert!(
        sent.iter()
            .all(|&ms| (3_600_000..=1_209_600_000).contains(&ms))
    );

    // Twenty days ahead: clamped to 336 hours, and the links say they expire too soon.
    let fake = start().await;
    let minter = CodeSignalMinter::new(config(&fake)).unwrap();
    let request = Request::from_json(&panel_in(20).to_string()).unwrap();
    let resolution = resolve(&request, &minter).await.unwrap();
    assert!(resolution.links.iter().all(|l| l.expires_too_soon()));
    assert!(
        fake.sessions()
            .iter()
            .all(|s| s.expiration_time_ms == Some(1_209_600_000))
    );
}

/// Runs the CLI against `fake`, off the runtime's threads.
async fn cli(
    fake: &FakeCodeSignal,
    request: Value,
    extra_env: &[(&str, &str)],
) -> std::process::Output {
    let endpoint = fake.endpoint();
    let key = format!("  Bearer {}\n", fake.api_key());
    let extra: Vec<(String, String)> = extra_env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::cargo_bin("invitoken").unwrap();
        cmd.args(["resolve", "-"])
            .env("INVITOKEN_LEDGER", support::scratch::fresh_ledger())
            .env("CODESIGNAL_ENDPOINT", endpoint)
            .env("CODESIGNAL_API_KEY", key)
            .env("CODESIGNAL_TIMEOUT", "2")
            .env("NO_COLOR", "1")
            .write_stdin(request.to_string());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_mints_through_codesignal_when_configured() {
    let fake = start().await;
    let out = cli(&fake, panel_in(20), &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["links"].as_array().unwrap().len(), planned());
    assert_eq!(fake.creates(), planned());
    assert!(
        json["links"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://app.codesignal.com/")
    );
    assert!(json["links"][0]["expires_at"].is_string());
    assert!(
        stderr.contains("warning:") && stderr.contains("336 hours"),
        "{stderr}"
    );
    assert!(!stderr.contains(fake.api_key()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exits_3_with_nothing_on_stdout_when_minting_fails() {
    for fault in [Fault::EvilUrl, Fault::AccessDenied] {
        let fake = start().await;
        fake.push_fault(Op::Create, fault);
        let out = cli(&fake, panel_in(1), &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(stderr.contains("no invite was output"), "{stderr}");
        assert!(!stderr.contains(fake.api_key()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_an_empty_or_malformed_key() {
    let fake = start().await;
    for (key, want) in [("   ", "empty"), ("Bearer two words", "malformed")] {
        let out = cli(&fake, panel_in(1), &[("CODESIGNAL_API_KEY", key)]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
        assert!(!stderr.contains("words"), "{stderr}");
    }
    assert_eq!(fake.received().len(), 0);
}

/// The links a successful CLI run printed.
fn links(out: &std::process::Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["links"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_ledger_a_second_run_and_a_concurrent_one_mint_nothing_more() {
    let fake = start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let env = [("INVITOKEN_LEDGER", ledger.to_str().unwrap())];
    let request = panel_in(3);
    let first = links(&cli(&fake, request.clone(), &env).await);
    assert_eq!(fake.creates(), planned());
    // Two more processes at once, on the same ledger file: both reuse every session.
    let (a, b) = tokio::join!(
        cli(&fake, request.clone(), &env),
        cli(&fake, request.clone(), &env)
    );
    assert_eq!(links(&a), first);
    assert_eq!(links(&b), first);
    assert_eq!(fake.creates(), planned(), "no session minted twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_racing_on_a_fresh_ledger_mint_each_session_once() {
    let fake = start().await;
    fake.set_latency(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let env = [("INVITOKEN_LEDGER", ledger.to_str().unwrap())];
    let request = panel_in(3);
    let (a, b) = tokio::join!(
        cli(&fake, request.clone(), &env),
        cli(&fake, request.clone(), &env)
    );
    assert_eq!(links(&a), links(&b));
    assert_eq!(fake.creates(), planned(), "one session per planned mint");
}

/// Lost replies through the CLI, where the ledger settles them: a create that was not executed
/// (HTTP 502) must not adopt the candidate's session another interview recorded, and a create
/// that was executed (reply lost) is adopted, not made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_settles_lost_replies_without_taking_another_keys_session() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let env = [("INVITOKEN_LEDGER", ledger.to_str().unwrap())];
    let fake = start().await;
    let urls = |out: &std::process::Output| -> Vec<String> {
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        json["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["url"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = cli(&fake, panel_in(1), &env).await;
    assert_eq!(first.status.code(), Some(0));
    let first = urls(&first);
    // Its events are cancelled: the candidate has one pending session left, the interview's
    // own, recorded for int-42 (a look-up that ignored the ledger would take it).
    for event in ["evt-1", "evt-2", "evt-3"] {
        let out = Command::cargo_bin("invitoken")
            .unwrap()
            .args(["cancel", "--interview", "int-42", "--event", event])
            .env("INVITOKEN_LEDGER", &ledger)
            .env("CODESIGNAL_ENDPOINT", fake.endpoint())
            .env("CODESIGNAL_API_KEY", fake.api_key())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pending = fake
        .sessions()
        .iter()
        .filter(|s| s.status == "pending")
        .count();
    assert_eq!(pending, 1);

    // The same candidate's second interview; its first create fails with 502 (not executed,
    // outcome unknown to the client): the run fails. Once the settle window has passed, the
    // look-up sees only the first interview's sessions, all recorded: nothing is adopted, the
    // create is sent again.
    let mut second = panel_in(2);
    second["interview"]["id"] = json!("int-43");
    fake.push_fault(Op::Create, Fault::Status(502));
    let settle = [
        ("INVITOKEN_LEDGER", ledger.to_str().unwrap()),
        ("INVITOKEN_SETTLE_AFTER", "1"),
    ];
    let out = cli(&fake, second.clone(), &settle).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fake.creates(), planned(), "no create after the unknown one");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let out = cli(&fake, second.clone(), &settle).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let second_urls = urls(&out);
    assert!(
        second_urls.iter().all(|u| !first.contains(u)),
        "a session of int-42 was taken for int-43: {second_urls:?}"
    );
    assert_eq!(fake.creates(), 2 * planned());

    // A third interview whose first create is executed but its reply lost: the run fails
    // (the outcome is unknown, and nothing else is created for the candidate); the next run,
    // once the settle window has passed, adopts it.
    let mut third = panel_in(3);
    third["interview"]["id"] = json!("int-44");
    fake.push_fault(Op::Create, Fault::LoseReply);
    let env = settle;
    let out = cli(&fake, third.clone(), &env).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("Run the same request again after"),
        "{stderr}"
    );
    assert_eq!(fake.creates(), 2 * planned() + 1);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let out = cli(&fake, third, &env).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let third_urls = urls(&out);
    assert_eq!(
        fake.creates(),
        3 * planned(),
        "the lost session was made again"
    );
    let mut all: Vec<&String> = first
        .iter()
        .chain(&second_urls)
        .chain(&third_urls)
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 3 * planned(), "two keys share a session");
}
