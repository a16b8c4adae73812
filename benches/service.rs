//! Load on `invitoken serve`'s `/v1/resolve`, beside the same resolves called in-process
//! (`Engine::resolve` on the same engine: the bound the HTTP layer is measured against).
//!
//! * warm: 64 panel interviews of the sandbox tenant, every session already minted, resolved
//!   again and again at concurrency 64 (4,000 requests);
//! * cold: 200 panel interviews (a candidate each) of a CodeSignal tenant against the fake
//!   CodeSignal answering after 50 ms, at concurrency 64; sessions = keys is checked at the fake.
//!
//! Each on one replica (a SQLite ledger), and on two replicas (two services, each with its own
//! engine and pool, requests alternating) on a fresh database of `INVITOKEN_POSTGRES_URL` when it
//! is set. Everything runs in this process on loopback (the client too: they share the cores).
//! The client-side rate limit is off, as in `benches/mint.rs`: with it on, the bound is the
//! limit.
//!
//! ```text
//! cargo bench --bench service
//! ```

#[path = "../tests/support/fake_codesignal.rs"]
mod fake_codesignal;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_codesignal::{FakeCodeSignal, FakeConfig};
use futures::StreamExt;
use invitoken::engine::ResolveOptions;
use invitoken::service::{ServeOptions, Service, ServiceConfig};
use invitoken::{CodeSignalSettings, Engine, Ledger, Request};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PANEL: &str = include_str!("../fixtures/panel.json");
const CONCURRENCY: usize = 64;
const WARM_INTERVIEWS: usize = 64;
const WARM_REQUESTS: usize = 4000;
const COLD_INTERVIEWS: usize = 200;
const LATENCY: Duration = Duration::from_millis(50);
const SANDBOX_TOKEN: &str = "tok-bench-sandbox";
const CS_TOKEN: &str = "tok-bench-cs";

fn panel(id: &str, n: usize) -> String {
    let mut r: Value = serde_json::from_str(PANEL).unwrap();
    r["interview"]["id"] = json!(id);
    r["interview"]["candidate"]["email"] = json!(format!("cand-{n}@example.org"));
    let base = (chrono::Utc::now() + chrono::TimeDelta::days(1))
        .date_naive()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
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

fn config(fake: &FakeCodeSignal) -> ServiceConfig {
    let toml = format!(
        "[[tenant]]\nid = \"sb\"\ntoken_sha256 = [\"{:x}\"]\nminter = \"sandbox\"\n\n\
         [[tenant]]\nid = \"cs\"\ntoken_sha256 = [\"{:x}\"]\nminter = \"codesignal\"\n\
         codesignal_key_env = \"CS_KEY\"\ncodesignal_endpoint = \"{}\"\n",
        Sha256::digest(SANDBOX_TOKEN.as_bytes()),
        Sha256::digest(CS_TOKEN.as_bytes()),
        fake.endpoint()
    );
    let key = fake.api_key().to_owned();
    let mut settings = CodeSignalSettings::default();
    settings.rate_limit = 0.0;
    ServiceConfig::parse(
        "bench.toml",
        &toml,
        Path::new("."),
        &move |v: &str| (v == "CS_KEY").then(|| key.clone()),
        &settings,
    )
    .unwrap()
}

struct Replica {
    engine: Arc<Engine>,
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn replica(location: &str, fake: &FakeCodeSignal) -> Replica {
    let config = config(fake);
    let ledger = Ledger::open(location).await.unwrap();
    let engine = Arc::new(config.engine(Engine::builder(ledger)).unwrap());
    let mut options = ServeOptions::default();
    options.tenant_concurrency = CONCURRENCY;
    let service = Service::new(engine.clone(), config, options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    }));
    Replica { engine, addr, stop }
}

struct Figures {
    requests: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn show(&mut self, what: &str) -> f64 {
        self.latencies.sort();
        let at = |q: f64| {
            self.latencies
                [((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1)]
        };
        let rate = self.requests as f64 / self.wall.as_secs_f64();
        println!(
            "{what:<44} {:>6} req  {:>8.1} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  wall {:>6.2} s",
            self.requests,
            rate,
            at(0.50).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            self.wall.as_secs_f64()
        );
        rate
    }
}

/// Runs `jobs` at concurrency 64, timing each.
async fn drive<F, Fut>(jobs: usize, job: F) -> Figures
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    let latencies: Vec<Duration> = futures::stream::iter(0..jobs)
        .map(|i| {
            let f = job(i);
            async move {
                let t = Instant::now();
                f.await;
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    Figures {
        requests: jobs,
        wall: started.elapsed(),
        latencies,
    }
}

async fn http(client: &reqwest::Client, addr: std::net::SocketAddr, token: &str, body: &str) {
    let r = client
        .post(format!("http://{addr}/v1/resolve"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
}

async fn in_process(engine: &Engine, tenant: &str, request: &Request) {
    engine
        .resolve(tenant, request, &ResolveOptions::default())
        .await
        .unwrap();
}

async fn scenario(name: &str, locations: &[String], run: &str) {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let mut replicas = Vec::new();
    for l in locations {
        replicas.push(replica(l, &fake).await);
    }
    let addrs: Vec<_> = replicas.iter().map(|r| r.addr).collect();
    let engine = replicas[0].engine.clone();
    // invitoken's reqwest has no crypto provider of its own (see Cargo.toml): ring, as the
    // library installs it for its CodeSignal client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();

    // Warm: mint once, then resolve again and again.
    let warm: Vec<String> = (0..WARM_INTERVIEWS)
        .map(|n| panel(&format!("warm-{run}-{n}"), n))
        .collect();
    let warm_req: Vec<Request> = warm
        .iter()
        .map(|b| Request::from_json(b).unwrap())
        .collect();
    drive(WARM_INTERVIEWS, |i| {
        http(&client, addrs[i % addrs.len()], SANDBOX_TOKEN, &warm[i])
    })
    .await;
    let http_rate = drive(WARM_REQUESTS, |i| {
        http(
            &client,
            addrs[i % addrs.len()],
            SANDBOX_TOKEN,
            &warm[i % WARM_INTERVIEWS],
        )
    })
    .await
    .show(&format!("{name}: warm, HTTP"));
    let local_rate = drive(WARM_REQUESTS, |i| {
        in_process(&engine, "sb", &warm_req[i % WARM_INTERVIEWS])
    })
    .await
    .show(&format!("{name}: warm, in-process"));
    println!(
        "{name}: warm HTTP throughput = {:.0}% of in-process",
        100.0 * http_rate / local_rate
    );

    // Cold, against the fake at 50 ms.
    fake.set_latency(LATENCY);
    let cold: Vec<String> = (0..COLD_INTERVIEWS)
        .map(|n| panel(&format!("cold-{run}-{n}"), 1000 + n))
        .collect();
    let before = fake.sessions().len();
    drive(COLD_INTERVIEWS, |i| {
        http(&client, addrs[i % addrs.len()], CS_TOKEN, &cold[i])
    })
    .await
    .show(&format!("{name}: cold 50 ms, HTTP"));
    let http_sessions = fake.sessions().len() - before;
    let cold_local: Vec<Request> = (0..COLD_INTERVIEWS)
        .map(|n| Request::from_json(&panel(&format!("coldl-{run}-{n}"), 2000 + n)).unwrap())
        .collect();
    let before = fake.sessions().len();
    drive(COLD_INTERVIEWS, |i| {
        in_process(&engine, "cs", &cold_local[i])
    })
    .await
    .show(&format!("{name}: cold 50 ms, in-process"));
    let local_sessions = fake.sessions().len() - before;
    let plan = engine.plan(&cold_local[0]).unwrap().mints.len();
    assert_eq!(
        http_sessions,
        plan * COLD_INTERVIEWS,
        "sessions != keys (HTTP)"
    );
    assert_eq!(local_sessions, plan * COLD_INTERVIEWS, "sessions != keys");
    println!(
        "{name}: cold sessions = keys = {} per side ({plan} per panel)",
        plan * COLD_INTERVIEWS
    );
    for r in replicas {
        let _ = r.stop.send(());
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = format!("{}-{}", std::process::id(), chrono::Utc::now().timestamp());
        let dir = tempfile::tempdir().unwrap();
        let sqlite = dir.path().join("bench.sqlite3").display().to_string();
        scenario("1 replica, SQLite", &[sqlite], &run).await;
        match std::env::var("INVITOKEN_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                use sqlx::Connection as _;
                let name = format!("invitoken_bench_{}", run.replace('-', "_"));
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let mut db = url::Url::parse(&url).unwrap();
                db.set_path(&format!("/{name}"));
                let db = db.to_string();
                scenario("2 replicas, PostgreSQL", &[db.clone(), db], &run).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
            _ => println!("(INVITOKEN_POSTGRES_URL unset: no two-replica figures)"),
        }
    });
}
