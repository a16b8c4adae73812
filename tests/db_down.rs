//! The database goes away under a running `invitoken serve` and comes back: while it is away,
//! resolves of new interviews answer 503 (problem+json), `/readyz` answers 503 and the fake
//! CodeSignal gets no session the ledger did not record first; once it is back, the same
//! process (no restart) is ready again and the same resolves succeed, one session per key.
//!
//! The outage is a TCP proxy in this test between the service and the PostgreSQL server of
//! `INVITOKEN_POSTGRES_URL` (CI's throwaway cluster, shared with other tests, so it is never
//! stopped here): "down" closes every proxied connection and every new one at once, as a
//! stopped server does. The ledger is a database of its own on that server. `#[ignore]`d: run
//! with `cargo test -- --ignored`, where an unset variable fails.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig};
use support::serve::{
    ServeProcess, drop_database, fresh_database, one_session_per_key, panel, postgres, urls,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const TOKEN: &str = "tok-dbdown-5c7e9a1f3d";
/// The service's request timeout, in seconds: short, so a resolve waiting on the absent
/// database is answered 503 well within the test.
const REQUEST_TIMEOUT_SECS: &str = "4";

/// A TCP proxy on 127.0.0.1 to `upstream` with a switch: down, it closes every connection it
/// carries and every one it accepts; up, it forwards again.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let switch = up.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut state = switch.subscribe();
                if !*state.borrow_and_update() {
                    drop(inbound);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        // Down: both sockets are dropped here, closing them.
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { addr, up, task }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An answer: status, content type and body (status 0: no answer at all).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn resolve(client: &reqwest::Client, addr: SocketAddr, n: usize, run: &str) -> Answer {
    let sent = client
        .post(format!("http://{addr}/v1/resolve"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(panel(&format!("int-{run}-{n}"), n))
        .send()
        .await;
    match sent {
        Ok(r) => Answer {
            status: r.status().as_u16(),
            content_type: r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            body: r.json().await.unwrap_or(Value::Null),
        },
        Err(e) => Answer {
            status: 0,
            content_type: String::new(),
            body: json!(e.to_string()),
        },
    }
}

async fn resolve_all(
    client: &reqwest::Client,
    addr: SocketAddr,
    ns: impl Iterator<Item = usize>,
    run: &str,
) -> Vec<(usize, Answer)> {
    futures::future::join_all(ns.map(|n| async move { (n, resolve(client, addr, n, run).await) }))
        .await
}

async fn readyz(client: &reqwest::Client, addr: SocketAddr) -> u16 {
    client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
async fn database_gone_under_load_answers_503_mints_nothing_unrecorded_and_recovers() {
    let server = postgres();
    let (mut ledger, database) = fresh_database(&server, "dbdown").await;
    let upstream = tokio::net::lookup_host((
        ledger.host_str().unwrap().to_owned(),
        ledger.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let proxy = Proxy::start(upstream).await;
    ledger.set_host(Some("127.0.0.1")).unwrap();
    ledger.set_port(Some(proxy.addr.port())).unwrap();

    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    fake.set_next_id(chrono::Utc::now().timestamp_micros() as u64);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenants.toml");
    let mut f = std::fs::File::create(&config).unwrap();
    write!(
        f,
        "[[tenant]]\nid = \"dd\"\ntoken_sha256 = [\"{:x}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"DD_CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        Sha256::digest(TOKEN.as_bytes()),
        fake.endpoint()
    )
    .unwrap();
    drop(f);
    let service = ServeProcess::start(
        &config,
        ledger.as_str(),
        &["--request-timeout", REQUEST_TIMEOUT_SECS],
        &[("DD_CS_KEY", fake.api_key())],
    );
    let client = support::http()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let run = format!("{}", std::process::id());
    let mut seen = BTreeMap::new();

    // 1. Up: some panels resolve.
    assert_eq!(readyz(&client, service.addr).await, 200);
    const BEFORE: usize = 4;
    for (n, a) in resolve_all(&client, service.addr, 0..BEFORE, &run).await {
        assert_eq!(a.status, 200, "interview {n} before the outage: {}", a.body);
        seen.insert(n, urls(&a.body));
    }
    one_session_per_key(&fake, &seen);
    let created_before = fake.creates();

    // 2. Down: new interviews, a few at once (each twice), are all refused with 503, and
    // nothing reaches CodeSignal.
    proxy.set_up(false);
    const DURING: std::ops::Range<usize> = BEFORE..BEFORE + 6;
    let load = resolve_all(&client, service.addr, DURING.chain(DURING), &run);
    let (answers, ready) = tokio::join!(load, readyz(&client, service.addr));
    assert_eq!(ready, 503, "/readyz while the database is away");
    for (n, a) in answers {
        assert_eq!(a.status, 503, "interview {n} during the outage: {}", a.body);
        assert!(
            a.content_type.starts_with("application/problem+json"),
            "interview {n} during the outage: {} {}",
            a.content_type,
            a.body
        );
        assert_eq!(a.body["status"], 503, "{}", a.body);
    }
    assert_eq!(readyz(&client, service.addr).await, 503);
    // The refused operations go on detached from their requests until the ledger gives up on
    // them; wait that out, still down, so a mint made without a record would show here.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        fake.creates(),
        created_before,
        "a session was created at CodeSignal while the ledger could not record it"
    );
    one_session_per_key(&fake, &seen);

    // 3. Up again: the same process becomes ready and the same resolves succeed.
    proxy.set_up(true);
    let mut ready = 0;
    for _ in 0..60 {
        ready = readyz(&client, service.addr).await;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(ready, 200, "/readyz once the database is back");
    for (n, a) in resolve_all(&client, service.addr, 0..DURING.end, &run).await {
        assert_eq!(a.status, 200, "interview {n} after the outage: {}", a.body);
        let u = urls(&a.body);
        let first = seen.entry(n).or_insert_with(|| u.clone());
        assert_eq!(first, &u, "interview {n} got other links after the outage");
    }
    assert_eq!(seen.len(), DURING.end);
    one_session_per_key(&fake, &seen);

    let log = service.log.lock().unwrap().clone();
    assert!(!log.contains(fake.api_key()), "the key was logged");
    assert!(!log.contains(TOKEN), "a bearer token was logged");
    drop(service);
    drop(proxy);
    drop_database(&server, &database).await;
}
