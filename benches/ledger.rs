//! A warm re-resolve of 10,000 interviews (1 interview link + 2 event links each: 30,000 mint
//! keys, every one minted before) as one batch plan through `mint_all` at the default
//! concurrency, the way `invitoken batch` mints. Three members in one group, so the ratios come
//! from one run:
//!
//! * `memory`: the CodeSignal client's in-process moka cache alone (a client that has minted
//!   every key): pure cache hits.
//! * `sqlite`: each iteration a fresh client (an empty cache) behind a fresh [`LedgerMinter`]
//!   over a SQLite ledger filled by one cold run, so every key is answered by the ledger: what
//!   a re-run of the batch in a new process sees.
//! * `postgres`: the same over PostgreSQL, in a database created for the run (dropped after),
//!   when `INVITOKEN_POSTGRES_URL` is set; skipped with a notice when it is not.
//!
//! Setup, not timed: one cold run mints every key through the real client against the fake
//! CodeSignal server (127.0.0.1), through the SQLite ledger in front of it and, with a server,
//! the PostgreSQL ledger in front of that: each ledger's write path (claim, intent, record)
//! runs as in a cold run, and the fake makes one session per key for all of them. That client,
//! its cache now full, is the `memory` member. The SQLite file is on tmpfs (`/dev/shm`) where
//! there is one, and the PostgreSQL database has `synchronous_commit` off: only the fill writes
//! (two commits or more per key); the measured re-resolve only reads.
//!
//! Timing: criterion takes at least 10 samples, and a ledger member's iteration takes seconds,
//! so its measurement time is kept short and criterion warns that it runs 10 iterations, one
//! per sample; that is the intent (the time is per iteration either way).
//!
//! Warm means zero API calls: after every measured iteration (outside the timing) the bench
//! checks that the client sent no request and that every URL is the one the cold run minted;
//! at the end, that the fake made no session after the cold run. Events are tomorrow, so links
//! minted now outlive them and a warm read has nothing to extend.
//!
//! ```text
//! cargo bench --bench ledger
//! INVITOKEN_POSTGRES_URL=postgres://postgres@127.0.0.1:54329/postgres cargo bench --bench ledger
//! INVITOKEN_BENCH_DIR=/var/tmp cargo bench --bench ledger -- memory   # the cold fill on a disk
//! ```

#[path = "../tests/support/fake_codesignal.rs"]
mod fake_codesignal;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use fake_codesignal::{FakeCodeSignal, FakeConfig};
use invitoken::{
    ApiKey, CodeSignalConfig, CodeSignalMinter, DEFAULT_CONCURRENCY, Ledger, LedgerMinter, Link,
    MintError, MintKey, Minted, Minter, Plan, PlannedMint, Request, Sessions, Vendor, mint_all,
    plan,
};
use serde_json::json;
use tokio::runtime::Runtime;

const INTERVIEWS: usize = 10_000;
const EVENTS: usize = 2;
/// One interview link (the candidate's) and one link per event (the interviewers').
const KEYS_PER_INTERVIEW: usize = 1 + EVENTS;
const KEYS: usize = INTERVIEWS * KEYS_PER_INTERVIEW;
/// Mints in flight while the ledgers are filled (the client still sends at most its
/// concurrency at once).
const FILL_CONCURRENCY: usize = 64;

/// Interview `i`: its own candidate, two one-hour events from `day`, each with its interviewer.
fn request(i: usize, day: DateTime<Utc>) -> Request {
    let events: Vec<_> = (0..EVENTS)
        .map(|e| {
            let start = day + TimeDelta::hours(e as i64);
            json!({
                "id": format!("evt-{e}"),
                "topic": format!("Session {e}"),
                "start": start.to_rfc3339(),
                "end": (start + TimeDelta::hours(1)).to_rfc3339(),
                "interviewers": [{
                    "name": format!("Interviewer {e}"),
                    "email": format!("interviewer-{e}@example.com"),
                    "codesignal_user_id": format!("u-{e}"),
                }],
            })
        })
        .collect();
    let json = json!({
        "interview": {
            "id": format!("int-{i}"),
            "candidate": {"name": format!("Candidate {i}"), "email": format!("candidate-{i}@example.org")},
            "events": events,
        },
        "templates": {
            "candidate": {"subject": "Your interview", "body": "Join at $Interview.CodeSignal.Live.Link\n", "format": "text"},
            "interviewer": {"subject": "Interview: $Event.Topic", "body": "Join at $Event.CodeSignal.Live.Link", "format": "text"},
        },
    });
    Request::from_json(&json.to_string()).expect("a valid request")
}

/// Every interview's mints in one plan, as a batch run plans them.
fn batch_plan() -> Plan {
    let day = (Utc::now() + TimeDelta::days(1))
        .duration_trunc(TimeDelta::hours(1))
        .expect("a whole hour");
    let mut mints = Vec::with_capacity(KEYS);
    for i in 0..INTERVIEWS {
        let p = plan(&request(i, day)).expect("a plannable request");
        assert_eq!(p.mints.len(), KEYS_PER_INTERVIEW, "mint keys per interview");
        mints.extend(p.mints);
    }
    Plan { mints }
}

/// A fresh client (an empty cache) for the fake, without the client-side rate limit.
fn client(fake: &FakeCodeSignal) -> CodeSignalMinter {
    let mut config = CodeSignalConfig::new(ApiKey::parse(fake.api_key()).expect("a valid key"));
    config.endpoint = fake.endpoint().parse().expect("a URL");
    config.concurrency = DEFAULT_CONCURRENCY;
    config.rate_limit = None;
    CodeSignalMinter::new(config).expect("a client")
}

fn urls(links: &[Link]) -> Vec<String> {
    links.iter().map(|l| l.url.as_str().to_owned()).collect()
}

/// The SQLite ledger's minter as the vendor of the PostgreSQL ledger while both are filled:
/// mints go through the SQLite ledger to the client (one create per key for both ledgers),
/// look-ups to the client.
struct Chained<'a>(&'a LedgerMinter<CodeSignalMinter>);

impl Minter for Chained<'_> {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        self.0.mint(mint).await
    }
}

impl Sessions for Chained<'_> {
    async fn candidates(&self, mint: &PlannedMint) -> Result<Vec<Minted>, MintError> {
        self.0.inner().candidates(mint).await
    }

    async fn extend(
        &self,
        key: &MintKey,
        session_id: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
        serves_until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, MintError> {
        self.0
            .inner()
            .extend(key, session_id, expires_at, serves_until)
            .await
    }

    async fn delete(&self, key: &MintKey, session_id: Option<&str>) -> Result<(), MintError> {
        self.0.inner().delete(key, session_id).await
    }
}

/// A filled ledger, and the tenant its records are in (`None`: the default).
struct Filled {
    ledger: Ledger,
    tenant: Option<String>,
}

impl Filled {
    /// `inner` behind the ledger.
    fn minter<M: Sessions>(&self, inner: M) -> LedgerMinter<M> {
        let m = LedgerMinter::new(inner, self.ledger.clone(), Vendor::CodeSignal);
        match &self.tenant {
            Some(t) => m.with_tenant(t.clone()),
            None => m,
        }
    }
}

fn open(runtime: &Runtime, name: &str, location: &str) -> Ledger {
    let started = Instant::now();
    let ledger = runtime
        .block_on(Ledger::open(location))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{name}: Ledger::open (pool + migrations) {:.1?}",
        started.elapsed()
    );
    ledger
}

/// Mints every key of `plan` with `minter`, more at once than a run would (the fill is not
/// measured); returns the URLs.
fn fill<M: Minter>(runtime: &Runtime, what: &str, minter: &M, plan: &Plan) -> Vec<String> {
    let started = Instant::now();
    let links = runtime
        .block_on(mint_all(minter, plan, FILL_CONCURRENCY))
        .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    eprintln!(
        "cold run (setup, not measured): {KEYS} keys of {INTERVIEWS} interviews through {what} in {took:.2?}"
    );
    urls(&links)
}

/// A database of its own on the server of `url`, so runs are independent; dropped by
/// [`Postgres::drop_database`]. If the role may not create databases, a tenant of its own in
/// the database of `url` instead.
struct Postgres {
    admin: sqlx::PgPool,
    database: Option<String>,
    location: String,
    tenant: Option<String>,
}

impl Postgres {
    async fn new(url: &str) -> Postgres {
        let admin = sqlx::PgPool::connect(url)
            .await
            .unwrap_or_else(|e| panic!("connect to INVITOKEN_POSTGRES_URL: {e}"));
        let name = format!("invitoken_bench_{:016x}", fastrand::u64(..));
        let created = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&admin)
            .await;
        match created {
            Ok(_) => {
                // Only the fill writes; the measured re-resolve reads.
                sqlx::query(&format!(
                    "ALTER DATABASE \"{name}\" SET synchronous_commit = off"
                ))
                .execute(&admin)
                .await
                .unwrap_or_else(|e| panic!("configure database {name}: {e}"));
                let mut location = url::Url::parse(url).expect("INVITOKEN_POSTGRES_URL is a URL");
                location.set_path(&name);
                Postgres {
                    admin,
                    database: Some(name),
                    location: location.to_string(),
                    tenant: None,
                }
            }
            Err(e) => {
                eprintln!(
                    "NOTE postgres: cannot create a database ({e}); using tenant `{name}` in the database of INVITOKEN_POSTGRES_URL"
                );
                Postgres {
                    admin,
                    database: None,
                    location: url.to_owned(),
                    tenant: Some(name),
                }
            }
        }
    }

    async fn drop_database(&self) {
        if let Some(name) = &self.database {
            sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                .execute(&self.admin)
                .await
                .unwrap_or_else(|e| panic!("drop database {name}: {e}"));
        }
        self.admin.close().await;
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let fake = runtime.block_on(FakeCodeSignal::start(FakeConfig::default()));
    let plan = batch_plan();

    // The one cold run: every key through the client (the fake) and the SQLite ledger, and
    // with a server through the PostgreSQL ledger in front of those.
    // INVITOKEN_BENCH_DIR puts the SQLite file on a disk instead, where the cold fill's cost
    // is its synced commits (the fill's time is printed; the measured warm reads do not sync).
    let shm = Path::new("/dev/shm");
    let dir = match std::env::var_os("INVITOKEN_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None if shm.is_dir() => tempfile::tempdir_in(shm),
        None => tempfile::tempdir(),
    }
    .expect("a temporary folder");
    let sqlite_path = dir.path().join("ledger.sqlite3");
    let sqlite = Filled {
        ledger: open(&runtime, "sqlite", &sqlite_path.display().to_string()),
        tenant: None,
    };
    let cold = sqlite.minter(client(&fake));
    let (cold_urls, postgres) = match std::env::var("INVITOKEN_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let pg = runtime.block_on(Postgres::new(&url));
            let filled = Filled {
                ledger: open(&runtime, "postgres", &pg.location),
                tenant: pg.tenant.clone(),
            };
            let urls = fill(
                &runtime,
                "the PostgreSQL ledger, the SQLite ledger and the client",
                &filled.minter(Chained(&cold)),
                &plan,
            );
            (urls, Some((pg, filled)))
        }
        _ => {
            eprintln!(
                "SKIPPED ledger/postgres: set INVITOKEN_POSTGRES_URL=postgres://... to bench the PostgreSQL ledger"
            );
            let urls = fill(&runtime, "the SQLite ledger and the client", &cold, &plan);
            (urls, None)
        }
    };
    assert_eq!(fake.creates(), KEYS, "one session per key, cold");
    assert_eq!(
        cold.inner().calls() as usize,
        KEYS,
        "one call per key, cold"
    );
    // That client, its cache now holding every key, is the `memory` member.
    let memory = cold.inner();

    let mut group = c.benchmark_group(format!(
        "warm_reresolve_{INTERVIEWS}_interviews_x{KEYS_PER_INTERVIEW}_keys"
    ));
    group.throughput(Throughput::Elements(INTERVIEWS as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    // One iteration per sample for the ledger members (see the module docs).
    group.measurement_time(Duration::from_secs(2));

    group.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let links = runtime
                    .block_on(mint_all(memory, &plan, DEFAULT_CONCURRENCY))
                    .unwrap_or_else(|e| panic!("{e}"));
                total += started.elapsed();
                assert_eq!(memory.calls() as usize, KEYS, "warm: no API call");
                assert_eq!(urls(black_box(&links)), cold_urls, "the cached URLs");
            }
            total
        })
    });

    let mut warm = |name: &str, filled: &Filled| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A new process's minter: a fresh client (empty cache) behind the ledger.
                    let minter = filled.minter(client(&fake));
                    let started = Instant::now();
                    let links = runtime
                        .block_on(mint_all(&minter, &plan, DEFAULT_CONCURRENCY))
                        .unwrap_or_else(|e| panic!("{e}"));
                    total += started.elapsed();
                    assert_eq!(minter.inner().calls(), 0, "warm: no API call");
                    assert_eq!(urls(black_box(&links)), cold_urls, "the ledger's URLs");
                }
                total
            })
        });
    };
    warm("sqlite", &sqlite);
    if let Some((_, filled)) = &postgres {
        warm("postgres", filled);
    }
    group.finish();

    assert_eq!(fake.creates(), KEYS, "no session made after the cold run");
    eprintln!(
        "warm: no API call in any measured iteration; the fake made {KEYS} sessions, all in the cold run"
    );
    runtime.block_on(async {
        sqlite.ledger.close().await;
        if let Some((pg, filled)) = &postgres {
            filled.ledger.close().await;
            pg.drop_database().await;
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
