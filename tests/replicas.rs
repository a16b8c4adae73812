//! Two real `invitoken serve` processes on one PostgreSQL ledger (a database of its own on the
//! server of `INVITOKEN_POSTGRES_URL`), minting at the fake CodeSignal run in this test: the
//! same resolves sent to both at once make exactly one session per key, and a replica killed
//! with SIGKILL under load, restarted and sent the same resolves again, leaves none twice and
//! no orphan (the ledger settles the dead one's intents once their lease and the settle window
//! have passed). Checked by the fake's own records. `#[ignore]`d: run with
//! `cargo test -- --ignored`, where an unset variable fails.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig};
use support::serve::{
    ServeProcess, drop_database, fresh_database, one_session_per_key, panel, postgres, urls,
};

const TOKEN: &str = "tok-replicas-8e2f4a6c1b";
/// The lease of intents (and of the refresher's turns) and the settle window, in seconds:
/// short, so a dead replica's intents are settled within the test.
const LEASE_SECS: &str = "2";
const SETTLE_SECS: &str = "1";
const REPLICA_ARGS: &[&str] = &["--ledger-lease", LEASE_SECS, "--settle-after", SETTLE_SECS];

/// Sends interview `n`'s resolve to `addr`: its status and body (status 0: no answer, e.g. the
/// replica was killed).
async fn resolve(client: &reqwest::Client, addr: SocketAddr, n: usize, run: &str) -> (u16, Value) {
    let sent = client
        .post(format!("http://{addr}/v1/resolve"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(panel(&format!("int-{run}-{n}"), n))
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.json().await.unwrap_or(Value::Null);
            (status, body)
        }
        Err(_) => (0, Value::Null),
    }
}

/// Every answer agrees per interview; returns interview → its links.
fn agree(seen: &mut BTreeMap<usize, BTreeMap<String, String>>, n: usize, body: &Value) {
    let u = urls(body);
    assert!(!u.is_empty(), "{body}");
    let first = seen.entry(n).or_insert_with(|| u.clone());
    assert_eq!(first, &u, "two answers for interview {n} disagree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
async fn two_serve_processes_on_postgres_make_one_session_per_key_even_after_a_sigkill() {
    let server = postgres();
    let (ledger, database) = fresh_database(&server, "replicas").await;
    let ledger = ledger.to_string();
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    fake.set_latency(Duration::from_millis(20));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenants.toml");
    let mut f = std::fs::File::create(&config).unwrap();
    write!(
        f,
        "[[tenant]]\nid = \"rp\"\ntoken_sha256 = [\"{:x}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"RP_CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        Sha256::digest(TOKEN.as_bytes()),
        fake.endpoint()
    )
    .unwrap();
    drop(f);
    let key = fake.api_key().to_owned();
    let mut replicas = [
        ServeProcess::start(&config, &ledger, REPLICA_ARGS, &[("RP_CS_KEY", &key)]),
        ServeProcess::start(&config, &ledger, REPLICA_ARGS, &[("RP_CS_KEY", &key)]),
    ];
    let client = support::http()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let run = format!("{}", std::process::id());
    let mut seen = BTreeMap::new();

    // 1. 16 interviews, each sent three times to each replica, all at once.
    const FIRST: usize = 16;
    let addrs = [replicas[0].addr, replicas[1].addr];
    let calls = (0..FIRST).flat_map(|n| (0..6).map(move |i| (n, addrs[i % 2])));
    let answers = futures::future::join_all(calls.map(|(n, addr)| {
        let client = client.clone();
        let run = run.clone();
        async move { (n, resolve(&client, addr, n, &run).await) }
    }))
    .await;
    for (n, (status, body)) in answers {
        assert_eq!(status, 200, "interview {n}: {body}");
        agree(&mut seen, n, &body);
    }
    one_session_per_key(&fake, &seen);

    // 2. 16 more, slower at the fake; replica 0 is killed while they are in flight.
    fake.set_latency(Duration::from_millis(150));
    let second = FIRST..2 * FIRST;
    let load = {
        let client = client.clone();
        let run = run.clone();
        let second = second.clone();
        tokio::spawn(async move {
            let calls = second.flat_map(|n| (0..4).map(move |i| (n, addrs[i % 2])));
            futures::future::join_all(calls.map(|(n, addr)| {
                let client = client.clone();
                let run = run.clone();
                async move { (n, resolve(&client, addr, n, &run).await) }
            }))
            .await
        })
    };
    // Mid-load: once some creates reached the fake and others are still to come.
    let created_before = fake.creates();
    for _ in 0..200 {
        if fake.creates() >= created_before + 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    replicas[0].child.kill().unwrap();
    replicas[0].child.wait().unwrap();
    let killed_at = fake.creates();
    assert!(
        killed_at < created_before + 4 * FIRST,
        "the kill came after the load ended: nothing was cut short"
    );
    let mut statuses = BTreeMap::<u16, usize>::new();
    let loaded = load.await.unwrap();
    for (_, (status, _)) in &loaded {
        *statuses.entry(*status).or_default() += 1;
    }
    eprintln!(
        "killed after {} of the second load's creates; its answers by status: {statuses:?}",
        killed_at - created_before
    );
    for (n, (status, body)) in loaded {
        // The killed replica's answers are lost; the other's may wait for the dead one's
        // intents (503, to be sent again) or succeed.
        if status == 200 {
            agree(&mut seen, n, &body);
        }
    }
    replicas[0] = ServeProcess::start(&config, &ledger, REPLICA_ARGS, &[("RP_CS_KEY", &key)]);
    fake.set_latency(Duration::from_millis(20));

    // 3. Send everything again, to both, until every interview is answered 200 (the dead
    // replica's intents settle once their lease and the settle window have passed).
    let addrs = [replicas[0].addr, replicas[1].addr];
    let mut missing: Vec<usize> = (0..2 * FIRST).collect();
    for round in 0..40 {
        let answers = futures::future::join_all(
            missing
                .iter()
                .flat_map(|&n| (0..2).map(move |i| (n, addrs[i])))
                .map(|(n, addr)| {
                    let client = client.clone();
                    let run = run.clone();
                    async move { (n, resolve(&client, addr, n, &run).await) }
                }),
        )
        .await;
        let mut still = BTreeSet::new();
        for (n, (status, body)) in answers {
            if status == 200 {
                agree(&mut seen, n, &body);
            } else {
                assert!(
                    matches!(status, 502 | 503),
                    "interview {n}, round {round}: {status} {body}"
                );
                still.insert(n);
            }
        }
        missing = still.into_iter().collect();
        eprintln!(
            "round {round}: {} interview(s) not yet answered 200",
            missing.len()
        );
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(missing.is_empty(), "never answered 200: {missing:?}");
    assert_eq!(seen.len(), 2 * FIRST);
    one_session_per_key(&fake, &seen);

    // SIGTERM: both drain and exit 0.
    for r in &mut replicas {
        r.sigterm();
    }
    for r in &mut replicas {
        let status = r.child.wait().unwrap();
        assert!(status.success(), "{status}:\n{}", r.log.lock().unwrap());
        let log = r.log.lock().unwrap();
        assert!(!log.contains(fake.api_key()), "the key was logged");
        assert!(!log.contains(TOKEN), "a bearer token was logged");
    }
    drop(replicas);
    drop_database(&server, &database).await;
}
