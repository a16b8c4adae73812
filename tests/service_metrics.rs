//! The metrics the engine, the ledger and the CodeSignal client count, scraped from
//! `/metrics` after resolves through the service against the fake CodeSignal.

mod support;

use std::path::Path;
use std::sync::Arc;

use invitoken::service::{Metrics, ServeOptions, Service, ServiceConfig};
use invitoken::{CodeSignalSettings, Engine, Ledger};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig};

const PANEL: &str = include_str!("../fixtures/panel.json");
const TOKEN: &str = "tok-metrics-4c1d9e7a";

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

/// The value of the sample `name{labels}` (labels in the exporter's order), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

async fn scrape(metrics: &Metrics) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = metrics.clone();
    let task = tokio::spawn(async move {
        serving
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
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mints_codesignal_calls_and_ledger_operations_are_counted() {
    let metrics = Metrics::install().unwrap();
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let toml = format!(
        "[[tenant]]\nid = \"cs\"\ntoken_sha256 = [\"{:x}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        Sha256::digest(TOKEN.as_bytes()),
        fake.endpoint(),
    );
    let key = fake.api_key().to_owned();
    let mut settings = CodeSignalSettings::default();
    settings.rate_limit = 0.0;
    let config = ServiceConfig::parse(
        "tenants.toml",
        &toml,
        Path::new("."),
        &move |var: &str| (var == "CS_KEY").then(|| key.clone()),
        &settings,
    )
    .unwrap();
    let ledger = Ledger::open(&support::scratch::fresh_ledger().display().to_string())
        .await
        .unwrap();
    let engine = Arc::new(config.engine(Engine::builder(ledger.clone())).unwrap());
    let service = Service::new(engine, config.clone(), ServeOptions::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    }));
    let client = support::http().build().unwrap();
    // One body for both resolves: a later start would be a reschedule, which the cache passes on.
    let body = panel("int-metrics-cs");
    let resolve = || async {
        let r = client
            .post(format!("http://{addr}/v1/resolve"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
    };

    let before = scrape(&metrics).await;
    resolve().await;
    let first = scrape(&metrics).await;
    let sessions = fake.sessions().len() as f64;
    assert!(sessions > 0.0);
    let minted = r#"invitoken_mints_total{vendor="codesignal",outcome="minted"}"#;
    let creates = r#"invitoken_codesignal_calls_total{operation="create",outcome="ok"}"#;
    let claims = r#"invitoken_ledger_operations_total{operation="claim"}"#;
    assert_eq!(
        sample(&first, minted) - sample(&before, minted),
        sessions,
        "one `minted` per session the fake made:\n{first}"
    );
    assert_eq!(
        sample(&first, creates) - sample(&before, creates),
        fake.creates() as f64,
        "one `create ok` per create the fake answered:\n{first}"
    );
    assert!(
        sample(&first, claims) - sample(&before, claims) >= sessions,
        "each mint claims its key in the ledger:\n{first}"
    );

    // Again: nothing new is minted; the process's cache answers, and the ledger minter sees
    // nothing (neither `reused` nor `failed`).
    resolve().await;
    let second = scrape(&metrics).await;
    for series in [
        minted,
        r#"invitoken_mints_total{vendor="codesignal",outcome="reused"}"#,
        r#"invitoken_mints_total{vendor="codesignal",outcome="failed"}"#,
        creates,
    ] {
        assert_eq!(sample(&second, series), sample(&first, series), "{second}");
    }
    assert_eq!(fake.sessions().len() as f64, sessions);
    let cached = r#"invitoken_mints_total{outcome="cached"}"#;
    assert_eq!(
        sample(&second, cached) - sample(&first, cached),
        sessions,
        "{second}"
    );
    // Ids and keys are never labels.
    assert!(!second.contains("int-metrics-cs"), "{second}");
    assert!(!second.contains(fake.api_key()), "{second}");
    assert!(!second.contains(TOKEN), "{second}");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
