//! The library engine in one long-running process, against the fake CodeSignal: a cancel is
//! seen by the next resolve of the same process (no cached link of a deleted session is handed
//! out), and tenants never share, see or cancel each other's sessions.

mod support;

use std::collections::{BTreeMap, HashSet};

use invitoken::{
    CodeSignalSettings, Engine, EngineError, Ledger, MinterConfig, Request, ResolveOptions,
    TenantConfig,
};
use serde_json::{Value, json};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig};

const PANEL: &str = include_str!("../fixtures/panel.json");

/// The panel fixture as interview `id`, starting tomorrow.
fn panel(id: &str) -> Request {
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
    Request::from_json(&r.to_string()).unwrap()
}

/// A CodeSignal minter for `fake`.
fn codesignal(fake: &FakeCodeSignal) -> MinterConfig {
    let mut settings = CodeSignalSettings::default();
    settings.endpoint = fake.endpoint();
    settings.rate_limit = 0.0;
    let config = settings.config_with(fake.api_key()).unwrap();
    MinterConfig::CodeSignal(Box::new(config))
}

async fn ledger() -> Ledger {
    let path = support::scratch::fresh_ledger();
    Ledger::open(&path.display().to_string()).await.unwrap()
}

/// Each link's URL by `<event or ->/<product>`.
fn urls(resolution: &invitoken::Resolution) -> BTreeMap<String, String> {
    resolution
        .links
        .iter()
        .map(|l| {
            let event = l.key.event_id.as_deref().unwrap_or("-");
            let product = format!("{:?}", l.key.product).to_lowercase();
            (format!("{event}/{product}"), l.url.as_str().to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_cancel_resolve_never_hands_out_the_cancelled_url() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let engine = Engine::single(ledger().await, codesignal(&fake)).unwrap();
    let request = panel("int-cancel");
    let options = ResolveOptions::default();

    let first = engine.resolve("default", &request, &options).await.unwrap();
    let before = urls(&first);
    assert_eq!(before.len(), 7, "{before:?}");
    let cancelled: HashSet<&String> = before
        .iter()
        .filter(|(k, _)| k.starts_with("evt-2/"))
        .map(|(_, u)| u)
        .collect();
    assert_eq!(cancelled.len(), 2);

    let outcomes = engine
        .cancel("default", "int-cancel", Some("evt-2"))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| !o.is_failure()), "{outcomes:?}");

    // Same process, same engine: the deleted sessions' links are not handed out from memory.
    match engine.resolve("default", &request, &options).await {
        Err(EngineError::Resolve(e)) => {
            assert!(e.to_string().contains("deleted"), "{e}");
        }
        other => panic!("a resolve over deleted sessions must fail, got {other:?}"),
    }

    // Asked to, it mints new sessions for them, and keeps every other link.
    let mut remint = ResolveOptions::default();
    remint.remint_deleted = true;
    let again = engine.resolve("default", &request, &remint).await.unwrap();
    let after = urls(&again);
    for (key, url) in &after {
        if key.starts_with("evt-2/") {
            assert!(
                !cancelled.contains(url),
                "{key} got its cancelled URL {url}"
            );
        } else {
            assert_eq!(Some(url), before.get(key), "{key} changed");
        }
    }
    for invite in &again.invites {
        for url in &cancelled {
            assert!(!invite.body.contains(url.as_str()), "{}", invite.body);
        }
    }
    // Seven live sessions at CodeSignal, two deleted ones: nothing minted twice.
    let sessions = fake.sessions();
    let live = sessions.iter().filter(|s| s.status != "deleted").count();
    assert_eq!((live, sessions.len()), (7, 9), "{sessions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_share_see_or_cancel_each_others_sessions() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let engine = Engine::builder(ledger().await)
        .tenant(TenantConfig::new("acme", codesignal(&fake)))
        .tenant(TenantConfig::new("globex", codesignal(&fake)))
        .build()
        .unwrap();
    let request = panel("int-shared-id");
    let options = ResolveOptions::default();

    let acme = urls(&engine.resolve("acme", &request, &options).await.unwrap());
    let globex = urls(&engine.resolve("globex", &request, &options).await.unwrap());
    assert_eq!(acme.len(), 7);
    for (key, url) in &acme {
        assert_ne!(Some(url), globex.get(key), "{key} shared across tenants");
    }
    assert_eq!(fake.creates(), 14);

    // Each sees its own records only.
    let listed = engine.links("acme", None).await.unwrap();
    assert_eq!(listed.len(), 7);
    assert!(listed.iter().all(|r| r.key.tenant == "acme"), "{listed:?}");

    // Cancelling globex's interview leaves acme's sessions alive and its links unchanged.
    let outcomes = engine
        .cancel("globex", "int-shared-id", None)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 7);
    assert!(outcomes.iter().all(|o| o.key.tenant == "globex"));
    let still = urls(&engine.resolve("acme", &request, &options).await.unwrap());
    assert_eq!(still, acme);
    let live: HashSet<String> = fake
        .sessions()
        .into_iter()
        .filter(|s| s.status != "deleted")
        .map(|s| s.url)
        .collect();
    assert!(acme.values().all(|u| live.contains(u)), "{live:?}");

    // An unknown tenant is refused, not served as another.
    assert!(matches!(
        engine.links("initech", None).await,
        Err(EngineError::UnknownTenant { .. })
    ));
    assert!(matches!(
        engine.resolve("initech", &request, &options).await,
        Err(EngineError::UnknownTenant { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_tenants_get_different_links() {
    let engine = Engine::builder(ledger().await)
        .tenant(TenantConfig::new("default", MinterConfig::Sandbox))
        .tenant(TenantConfig::new("acme", MinterConfig::Sandbox))
        .build()
        .unwrap();
    let request = panel("int-sandbox");
    let options = ResolveOptions::default();
    let default = urls(&engine.resolve("default", &request, &options).await.unwrap());
    let acme = urls(&engine.resolve("acme", &request, &options).await.unwrap());
    for (key, url) in &default {
        assert_ne!(Some(url), acme.get(key), "{key}");
    }
    // The default tenant's sandbox links are the CLI's, as before tenants existed.
    let plain = invitoken::resolve(&request, &invitoken::SandboxMinter::default())
        .await
        .unwrap();
    assert_eq!(urls(&plain), default);
}

#[test]
fn a_tenant_configured_twice_is_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ledger = rt.block_on(ledger());
    let built = Engine::builder(ledger)
        .tenant(TenantConfig::new("acme", MinterConfig::Sandbox))
        .tenant(TenantConfig::new("acme", MinterConfig::Sandbox))
        .build();
    let e = built.unwrap_err();
    assert!(e.to_string().contains("`acme` is configured twice"), "{e}");
}

/// An engine on the sandbox for the default tenant.
async fn sandbox_engine() -> Engine {
    Engine::single(ledger().await, MinterConfig::Sandbox).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn one_ics_is_rewritten_in_memory_on_a_current_thread_runtime() {
    let engine = sandbox_engine().await;
    let input = std::fs::read("fixtures/ics/interviewer-grace.ics").unwrap();
    let options = invitoken::IcsOptions::default();
    let resolve = ResolveOptions::default();
    let first = engine
        .rewrite_ics("default", &input, &options, &resolve)
        .await
        .unwrap();
    let text = String::from_utf8(first.file.bytes.clone()).unwrap();
    assert!(
        !text.contains("$Event") && !text.contains("$Interview"),
        "{text}"
    );
    assert_eq!(first.file.tokens, 4);
    assert_eq!(first.file.links.len(), 2, "{:?}", first.file.links);
    for link in &first.file.links {
        let url = link.url.as_deref().unwrap();
        assert!(
            url.starts_with("https://sandbox.invitoken.invalid/"),
            "{url}"
        );
        let unfolded = text.replace("\r\n ", "").replace("\n ", "");
        assert!(unfolded.contains(url), "{url} not in\n{text}");
    }
    // Lines without a token are copied byte for byte.
    let kept = |t: &str| {
        t.lines()
            .filter(|l| {
                !["DESCRIPTION", "LOCATION", "CONFERENCE", " "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let original = String::from_utf8(input.clone()).unwrap();
    assert_eq!(kept(&original), kept(&text));
    // Again: the same links, from the ledger; nothing minted twice.
    let again = engine
        .rewrite_ics("default", &input, &options, &resolve)
        .await
        .unwrap();
    assert_eq!(again.file.bytes, first.file.bytes);
}

#[tokio::test(flavor = "current_thread")]
async fn a_bad_ics_fails_closed_with_every_problem_located() {
    let engine = sandbox_engine().await;
    let bad = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:e1\r\nX-INTERVIEW-ID:i1\r\n\
DESCRIPTION:Join $Event.CodeSignal.Live.Lnk\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let result = engine
        .rewrite_ics(
            "default",
            bad,
            &invitoken::IcsOptions::default(),
            &ResolveOptions::default(),
        )
        .await;
    match result {
        Err(e @ EngineError::InvalidIcs { .. }) => {
            assert_eq!(e.kind(), invitoken::ErrorKind::Input);
            let EngineError::InvalidIcs { problems } = &e else {
                unreachable!()
            };
            let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            assert!(shown.iter().any(|p| p.starts_with("5:")), "{shown:?}");
        }
        other => panic!("a bad token must fail the file, got {other:?}"),
    }
    assert!(engine.links("default", None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_runs_on_a_current_thread_runtime() {
    let engine = sandbox_engine().await;
    let out = tempfile::tempdir().unwrap();
    let job = invitoken::BatchJob::new(
        vec!["fixtures/ics".into()],
        invitoken::batch::Destination::Dir(out.path().to_path_buf()),
    );
    let prepared = job.prepare(engine.ledger().location()).unwrap();
    assert_eq!(prepared.files(), 2);
    let report = engine.batch("default", prepared, &|| {}).await.unwrap();
    assert_eq!(report.failed(), 0, "{:?}", report.messages());
    assert_eq!(report.report.minted, 2);
    assert!(
        report.summary().contains("2 rewritten"),
        "{}",
        report.summary()
    );
}
