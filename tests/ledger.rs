//! The durable mint ledger, against SQLite in a temporary folder and against the PostgreSQL
//! database of `INVITOKEN_POSTGRES_URL` (the same cases; those are `#[ignore]`d, run them with
//! `cargo test -- --ignored`, where an unset variable fails).
//!
//! Each case works in a tenant of its own, so cases (and repeated runs) can share one
//! PostgreSQL database without seeing each other's records.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use invitoken::State;
use invitoken::{
    Claim, Ledger, LedgerKey, LedgerMinter, MintError, MintKey, Minted, Minter, PlannedMint,
    Product, Request, SandboxMinter, Scope, Sessions, Vendor, mint_all,
};

/// Where a case's ledger lives.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    /// The PostgreSQL database of `INVITOKEN_POSTGRES_URL`. Unset is a failure: the PostgreSQL
    /// cases are ignored unless asked for, and asking for them without a server must not pass.
    fn postgres() -> Db {
        match std::env::var("INVITOKEN_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Db::Postgres(url),
            _ => panic!(
                "INVITOKEN_POSTGRES_URL is not set: the PostgreSQL ledger cases need a server; \
                 run them as INVITOKEN_POSTGRES_URL=postgres://... cargo test -- --ignored"
            ),
        }
    }

    fn location(&self) -> String {
        match self {
            // Nested folders: open creates them.
            Db::Sqlite(dir) => format!(
                "sqlite://{}",
                dir.path().join("data/ledger.sqlite3").display()
            ),
            Db::Postgres(url) => url.clone(),
        }
    }

    /// A new handle, as a second run or another process would open it.
    async fn open(&self) -> Ledger {
        let location = self.location();
        match Ledger::open(&location).await {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    /// Moves every record of `tenant` back in time by `by`, as if written that long ago (leases
    /// included: they ran out then).
    async fn backdate(&self, tenant: &str, by: TimeDelta) {
        let sql = "UPDATE mint_records SET updated_at = $1, \
                   lease_until = CASE WHEN lease_until IS NULL THEN NULL ELSE $1 END \
                   WHERE tenant = $2";
        let at = Utc::now() - by;
        match self {
            Db::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(&self.location()).await.unwrap();
                sqlx::query(sql)
                    .bind(at)
                    .bind(tenant)
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Db::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                sqlx::query(sql)
                    .bind(at)
                    .bind(tenant)
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }
    }
}

fn tenant(case: &str) -> String {
    format!("test-{case}-{:016x}", fastrand::u64(..))
}

fn key(tenant: &str, interview: &str) -> LedgerKey {
    LedgerKey::new(
        Vendor::CodeSignal,
        MintKey {
            scope: Scope::Event,
            interview_id: interview.to_owned(),
            event_id: Some("evt-1".to_owned()),
            product: Product::Template,
            template_id: Some("tpl-1".to_owned()),
        },
    )
    .with_tenant(tenant)
}

fn minted(id: &str) -> Minted {
    Minted {
        url: format!("https://app.codesignal.com/live-interview/{id}"),
        short_url: None,
        expires_at: Some(Utc::now() + TimeDelta::hours(10)),
        session_id: Some(id.to_owned()),
    }
}

fn panel_plan() -> Vec<PlannedMint> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/panel.json");
    let request = Request::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    invitoken::plan(&request).unwrap().mints
}

fn panel() -> invitoken::Plan {
    invitoken::Plan {
        mints: panel_plan(),
    }
}

/// A minter that counts its mints (and can take its time, so racers overlap). Its look-up
/// answers `found` when set, else the sandbox link (exact, as the sandbox's own look-up).
#[derive(Clone, Default)]
struct Counting {
    sandbox: SandboxMinter,
    mints: Arc<AtomicUsize>,
    lookups: Arc<AtomicUsize>,
    extends: Arc<AtomicUsize>,
    deletes: Arc<std::sync::Mutex<Vec<Option<String>>>>,
    found: Option<Vec<Minted>>,
    /// What `extend` answers when asked (`None`: nothing to do).
    extend_to: Option<chrono::DateTime<Utc>>,
    delay: Duration,
    fail: bool,
}

impl Counting {
    fn count(&self) -> usize {
        self.mints.load(Ordering::SeqCst)
    }
}

impl Sessions for Counting {
    async fn candidates(&self, mint: &PlannedMint) -> Result<Vec<Minted>, MintError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        match &self.found {
            Some(found) => Ok(found.clone()),
            None => Ok(vec![self.sandbox.mint(mint).await?]),
        }
    }

    async fn extend(
        &self,
        _key: &MintKey,
        _session_id: Option<&str>,
        _expires_at: Option<chrono::DateTime<Utc>>,
        _serves_until: chrono::DateTime<Utc>,
    ) -> Result<Option<chrono::DateTime<Utc>>, MintError> {
        self.extends.fetch_add(1, Ordering::SeqCst);
        Ok(self.extend_to)
    }

    async fn delete(&self, _key: &MintKey, session_id: Option<&str>) -> Result<(), MintError> {
        self.deletes
            .lock()
            .unwrap()
            .push(session_id.map(str::to_owned));
        Ok(())
    }
}

impl Minter for Counting {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        self.mints.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if self.fail {
            return Err(MintError::Failed {
                key: Box::new(mint.key.clone()),
                message: "refused before anything was made".to_owned(),
            });
        }
        self.sandbox.mint(mint).await
    }
}

// ---- the cases, each run on SQLite and on PostgreSQL ----

async fn claim_mint_reuse_across_runs(db: Db) {
    let t = tenant("reuse");
    let k = key(&t, "int-1");
    let run1 = db.open().await;
    let Claim::Mint(ticket) = run1.claim(&k).await.unwrap() else {
        panic!("a new key must be minted")
    };
    assert_eq!(ticket.attempt, 1);
    assert_eq!(ticket.key, k);
    let record = run1.record_minted(&k, &minted("li-1")).await.unwrap();
    assert_eq!(record.state, State::Minted);
    // Recording the same result again (a retried write) is harmless.
    run1.record_minted(&k, &minted("li-1")).await.unwrap();
    // A different session for a minted key is refused.
    assert!(run1.record_minted(&k, &minted("li-2")).await.is_err());
    run1.close().await;

    let run2 = db.open().await;
    let Claim::Minted(record) = run2.claim(&k).await.unwrap() else {
        panic!("the second run must reuse the first run's session")
    };
    assert_eq!(record.minted().unwrap().url, minted("li-1").url);
    assert_eq!(record.session_id.as_deref(), Some("li-1"));
    assert_eq!(record.key, k);
    assert_eq!(record.attempts, 1);
    assert!(record.expires_at.is_some());

    let listed = run2.list(Some("int-1")).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|r| r.key == k && r.state == State::Minted)
    );
    assert!(
        run2.list(Some("no-such-interview"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(run2.list(None).await.unwrap().iter().any(|r| r.key == k));
}

async fn racing_claims_mint_once(db: Db) {
    let t = tenant("race");
    let k = key(&t, "int-race");
    let handles = [db.open().await, db.open().await];
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let ledger = handles[i % 2].clone();
            let k = k.clone();
            tokio::spawn(async move { ledger.claim(&k).await.unwrap() })
        })
        .collect();
    let mut mint = 0;
    let mut pending = 0;
    for task in tasks {
        match task.await.unwrap() {
            Claim::Mint(_) => mint += 1,
            Claim::Pending(r) => {
                assert_eq!(r.state, State::Pending);
                assert!(!r.is_stale());
                pending += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((mint, pending), (1, 7));
}

async fn stale_pending_is_not_minted_again(db: Db) {
    let t = tenant("stale");
    let k = key(&t, "int-crash");
    {
        // A run records its intent, then dies before recording any result.
        let crashed = db.open().await;
        assert!(matches!(crashed.claim(&k).await.unwrap(), Claim::Mint(_)));
    }
    let next = db.open().await;
    let Claim::Pending(record) = next.claim(&k).await.unwrap() else {
        panic!("an intent without a result must be reported, not minted again")
    };
    assert!(!record.is_stale(), "a fresh intent may still be in flight");
    assert_eq!(record.attempts, 1);

    db.backdate(&t, TimeDelta::hours(1)).await;
    let Claim::Pending(record) = next.claim(&k).await.unwrap() else {
        panic!("a stale intent must still be reported, not minted again")
    };
    assert!(record.is_stale());
    assert!(record.age() >= TimeDelta::minutes(59));
    // Still pending on the next claim too: claims of a pending key write nothing.
    assert!(matches!(next.claim(&k).await.unwrap(), Claim::Pending(_)));
}

async fn failed_attempt_may_be_retried(db: Db) {
    let t = tenant("failed");
    let k = key(&t, "int-fail");
    let ledger = db.open().await;
    assert!(matches!(ledger.claim(&k).await.unwrap(), Claim::Mint(_)));
    let record = ledger.record_failed(&k, "HTTP 401").await.unwrap();
    assert_eq!(record.state, State::Failed);
    assert_eq!(record.last_error.as_deref(), Some("HTTP 401"));

    let other = db.open().await;
    let Claim::Mint(ticket) = other.claim(&k).await.unwrap() else {
        panic!("a failed attempt created nothing: the next claim mints")
    };
    assert_eq!(ticket.attempt, 2);
    // The retry is in flight: a third claimer waits.
    assert!(matches!(ledger.claim(&k).await.unwrap(), Claim::Pending(_)));
    let record = other.record_minted(&k, &minted("li-9")).await.unwrap();
    assert_eq!((record.state, record.attempts), (State::Minted, 2));
    assert_eq!(record.last_error, None);
    // Only a pending attempt can fail.
    assert!(ledger.record_failed(&k, "late").await.is_err());
    assert!(matches!(ledger.claim(&k).await.unwrap(), Claim::Minted(_)));
}

async fn deleted_is_reported(db: Db) {
    let t = tenant("deleted");
    let k = key(&t, "int-cancel");
    let ledger = db.open().await;
    // Nothing to delete yet.
    assert!(ledger.mark_deleted(&k).await.is_err());
    assert!(matches!(ledger.claim(&k).await.unwrap(), Claim::Mint(_)));
    // A pending session cannot be marked deleted: it may not exist.
    assert!(ledger.mark_deleted(&k).await.is_err());
    ledger.record_minted(&k, &minted("li-5")).await.unwrap();
    let record = ledger.mark_deleted(&k).await.unwrap();
    assert_eq!(record.state, State::Deleted);
    ledger.mark_deleted(&k).await.unwrap();
    let Claim::Deleted(record) = db.open().await.claim(&k).await.unwrap() else {
        panic!("a deleted session must be reported as deleted")
    };
    assert_eq!(record.session_id.as_deref(), Some("li-5"));
    assert_eq!(record.minted(), None);
}

async fn ledger_minter_mints_once_per_key_across_runs(db: Db) {
    let t = tenant("minter");
    let plan = panel();
    let counting = Counting::default();

    let run1 = LedgerMinter::new(counting.clone(), db.open().await, Vendor::Sandbox)
        .with_tenant(t.clone());
    let links1 = mint_all(&run1, &plan, 4).await.unwrap();
    assert_eq!(counting.count(), plan.mints.len());

    let run2 = LedgerMinter::new(counting.clone(), db.open().await, Vendor::Sandbox)
        .with_tenant(t.clone());
    let links2 = mint_all(&run2, &plan, 4).await.unwrap();
    assert_eq!(counting.count(), plan.mints.len(), "run 2 minted again");
    assert_eq!(links1, links2);

    // The same keys at another vendor are other sessions.
    let codesignal = LedgerMinter::new(counting.clone(), db.open().await, Vendor::CodeSignal)
        .with_tenant(t.clone());
    mint_all(&codesignal, &plan, 4).await.unwrap();
    assert_eq!(counting.count(), 2 * plan.mints.len());
}

async fn concurrent_ledger_minters_mint_once(db: Db) {
    let t = tenant("workers");
    let plan = Arc::new(panel());
    let counting = Counting {
        delay: Duration::from_millis(100),
        ..Counting::default()
    };
    let mut workers = Vec::new();
    for _ in 0..4 {
        let minter = LedgerMinter::new(counting.clone(), db.open().await, Vendor::Sandbox)
            .with_tenant(t.clone())
            .with_wait(Duration::from_secs(20));
        let plan = plan.clone();
        workers.push(tokio::spawn(async move {
            mint_all(&minter, &plan, 8).await.unwrap()
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.push(w.await.unwrap());
    }
    assert_eq!(counting.count(), plan.mints.len());
    assert!(all.windows(2).all(|w| w[0] == w[1]), "workers disagree");
}

async fn ledger_minter_failures(db: Db) {
    let t = tenant("minter-fail");
    let plan = panel();
    let one = invitoken::Plan {
        mints: vec![plan.mints[0].clone()],
    };
    let ledger = db.open().await;

    // A failure that created nothing: recorded as failed, and the next run mints.
    let failing = Counting {
        fail: true,
        ..Counting::default()
    };
    let minter =
        LedgerMinter::new(failing.clone(), ledger.clone(), Vendor::Sandbox).with_tenant(t.clone());
    assert!(mint_all(&minter, &one, 1).await.is_err());
    let k = LedgerKey::new(Vendor::Sandbox, one.mints[0].key.clone()).with_tenant(t.clone());
    assert_eq!(ledger.get(&k).await.unwrap().unwrap().state, State::Failed);
    let working = Counting::default();
    let minter =
        LedgerMinter::new(working.clone(), ledger.clone(), Vendor::Sandbox).with_tenant(t.clone());
    mint_all(&minter, &one, 1).await.unwrap();
    assert_eq!(working.count(), 1);

    // An intent in flight elsewhere (its lease is live): the minter waits, then fails saying
    // the outcome is unknown, and never calls the inner minter.
    let crashed = invitoken::Plan {
        mints: vec![plan.mints[1].clone()],
    };
    let k = LedgerKey::new(Vendor::Sandbox, crashed.mints[0].key.clone()).with_tenant(t.clone());
    assert!(matches!(ledger.claim(&k).await.unwrap(), Claim::Mint(_)));
    let counting = Counting {
        found: Some(vec![minted("li-x"), minted("li-y")]),
        ..Counting::default()
    };
    let minter = LedgerMinter::new(counting.clone(), ledger.clone(), Vendor::Sandbox)
        .with_tenant(t.clone())
        .with_wait(Duration::from_millis(300));
    let err = mint_all(&minter, &crashed, 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("outcome is unknown"), "{err}");
    assert!(err.contains("after waiting"), "{err}");
    assert_eq!(
        counting.lookups.load(Ordering::SeqCst),
        0,
        "a live intent is not reconciled"
    );
    // Stale (its worker died): taken over and reconciled by look-up at once, whatever the
    // wait. Two unknown sessions of the candidate: which is ours cannot be told, so it fails
    // and mints nothing.
    db.backdate(&t, TimeDelta::hours(2)).await;
    let patient = LedgerMinter::new(counting.clone(), ledger.clone(), Vendor::Sandbox)
        .with_tenant(t.clone())
        .with_wait(Duration::from_secs(600));
    let started = std::time::Instant::now();
    let err = mint_all(&patient, &crashed, 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.contains("cannot be told"), "{err}");
    assert!(err.contains("li-x") && err.contains("li-y"), "{err}");
    assert_eq!(counting.count(), 0);
    assert_eq!(ledger.get(&k).await.unwrap().unwrap().state, State::Pending);

    // One unknown session (and one the ledger already knows, recorded for another key): the
    // lost one is adopted, nothing is minted.
    db.backdate(&t, TimeDelta::hours(2)).await;
    let known = ledger
        .get(&LedgerKey::new(Vendor::Sandbox, one.mints[0].key.clone()).with_tenant(t.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(known.state, State::Minted);
    // Session ids are unique per run: a PostgreSQL database keeps earlier runs' records, and
    // a session known to any record is not adopted.
    let (lost_id, known_id) = (format!("li-lost-{t}"), format!("li-known-{t}"));
    let known_session = minted(&known_id);
    let other = LedgerKey::new(
        Vendor::Sandbox,
        MintKey {
            event_id: Some("evt-known".to_owned()),
            ..crashed.mints[0].key.clone()
        },
    )
    .with_tenant(t.clone());
    assert!(matches!(
        ledger.claim(&other).await.unwrap(),
        Claim::Mint(_)
    ));
    ledger.record_minted(&other, &known_session).await.unwrap();
    let adopting = Counting {
        found: Some(vec![minted(&lost_id), known_session.clone()]),
        ..Counting::default()
    };
    let minter =
        LedgerMinter::new(adopting.clone(), ledger.clone(), Vendor::Sandbox).with_tenant(t.clone());
    let links = mint_all(&minter, &crashed, 1).await.unwrap();
    assert_eq!(links[0].url.as_str(), minted(&lost_id).url);
    assert_eq!(adopting.count(), 0, "adopted, not minted");
    let record = ledger.get(&k).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.session_id.as_deref()),
        (State::Minted, Some(lost_id.as_str()))
    );

    // Nothing found: the dead worker made nothing, so the key is minted (once).
    let lost = invitoken::Plan {
        mints: vec![plan.mints[2].clone()],
    };
    let k = LedgerKey::new(Vendor::Sandbox, lost.mints[0].key.clone()).with_tenant(t.clone());
    assert!(matches!(ledger.claim(&k).await.unwrap(), Claim::Mint(_)));
    db.backdate(&t, TimeDelta::hours(2)).await;
    let empty = Counting {
        found: Some(Vec::new()),
        ..Counting::default()
    };
    let minter =
        LedgerMinter::new(empty.clone(), ledger.clone(), Vendor::Sandbox).with_tenant(t.clone());
    mint_all(&minter, &lost, 1).await.unwrap();
    assert_eq!(empty.count(), 1);
    assert_eq!(ledger.get(&k).await.unwrap().unwrap().attempts, 2);

    // Deleted: not minted again implicitly.
    let k = LedgerKey::new(Vendor::Sandbox, one.mints[0].key.clone()).with_tenant(t.clone());
    ledger.mark_deleted(&k).await.unwrap();
    let err = mint_all(&minter, &one, 1).await.unwrap_err().to_string();
    assert!(err.contains("deleted"), "{err}");
    assert_eq!(counting.count(), 0);
}

/// Reschedule, cancel, re-mint on request and refresh, as the ledger records them.
async fn lifecycle_through_the_ledger_minter(db: Db) {
    let t = tenant("lifecycle");
    let ledger = db.open().await;
    let plan = panel();
    let minter = |c: &Counting| {
        LedgerMinter::new(c.clone(), ledger.clone(), Vendor::CodeSignal).with_tenant(t.clone())
    };
    let first = Counting::default();
    let links = mint_all(&minter(&first), &plan, 4).await.unwrap();
    assert_eq!(first.count(), 7);
    assert_eq!(
        first.extends.load(Ordering::SeqCst),
        0,
        "fresh links are not extended"
    );

    // Rescheduled two days later: the same links, each extended, the new end recorded.
    let mut later = plan.clone();
    for m in &mut later.mints {
        m.serves_until += TimeDelta::days(2);
    }
    let far = Utc::now() + TimeDelta::days(400);
    let moved = Counting {
        extend_to: Some(far),
        ..Counting::default()
    };
    let again = mint_all(&minter(&moved), &later, 4).await.unwrap();
    let urls = |l: &[invitoken::Link]| l.iter().map(|l| l.url.to_string()).collect::<Vec<_>>();
    assert_eq!(urls(&again), urls(&links));
    assert_eq!(moved.count(), 0);
    assert_eq!(moved.extends.load(Ordering::SeqCst), 7);
    let records = ledger.list(Some("int-42")).await.unwrap();
    let ours: Vec<_> = records.iter().filter(|r| r.key.tenant == t).collect();
    assert_eq!(ours.len(), 7);
    for r in &ours {
        let planned = later.mints.iter().find(|m| m.key == r.key.mint).unwrap();
        assert_eq!(r.serves_until, Some(planned.serves_until));
        assert_eq!(r.expires_at.map(|e| e.timestamp()), Some(far.timestamp()));
    }
    // Once more: they live long enough now, so nothing is asked of the vendor.
    let quiet = Counting::default();
    mint_all(&minter(&quiet), &later, 4).await.unwrap();
    assert_eq!(
        (quiet.count(), quiet.extends.load(Ordering::SeqCst)),
        (0, 0)
    );

    // Cancel one event, then the rest.
    let cancelling = Counting::default();
    let outcomes = minter(&cancelling)
        .cancel("int-42", Some("evt-1"))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes
            .iter()
            .all(|o| o.action == invitoken::Action::Deleted)
    );
    assert_eq!(cancelling.deletes.lock().unwrap().len(), 2);
    let outcomes = minter(&cancelling).cancel("int-42", None).await.unwrap();
    let count = |a| outcomes.iter().filter(|o| o.action == a).count();
    assert_eq!(
        (
            count(invitoken::Action::Deleted),
            count(invitoken::Action::AlreadyDeleted)
        ),
        (5, 2)
    );
    assert_eq!(cancelling.deletes.lock().unwrap().len(), 7);

    // Deleted: refused without the flag, re-minted with it (a new session per key).
    let refused = Counting::default();
    let err = mint_all(&minter(&refused), &later, 4)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--remint-deleted"), "{err}");
    assert_eq!(refused.count(), 0);
    let remint = Counting::default();
    mint_all(&minter(&remint).remint_deleted(true), &later, 4)
        .await
        .unwrap();
    assert_eq!(remint.count(), 7);
    for r in ledger
        .list(Some("int-42"))
        .await
        .unwrap()
        .iter()
        .filter(|r| r.key.tenant == t)
    {
        assert_eq!((r.state, r.attempts), (State::Minted, 2), "{r:?}");
    }

    // Refresh: upcoming links are offered to the vendor; extended ones are recorded.
    let soon = Utc::now() + TimeDelta::days(3);
    let refreshing = Counting {
        extend_to: Some(soon),
        ..Counting::default()
    };
    let outcomes = minter(&refreshing).refresh().await.unwrap();
    assert_eq!(outcomes.len(), 7);
    assert!(
        outcomes
            .iter()
            .all(|o| o.action == invitoken::Action::Extended)
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o.expires_at.map(|e| e.timestamp()) == Some(soon.timestamp()))
    );
    let nothing = Counting::default();
    let outcomes = minter(&nothing).refresh().await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| o.action == invitoken::Action::UpToDate)
    );
}

/// Several processes (this test binary, run again as [`child_mints_panel`]) resolve the same
/// plan at once against one ledger: one inner mint per key across all of them.
async fn processes_mint_once(db: Db) {
    let t = tenant("processes");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "child_mints_panel",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_LEDGER, db.location())
                .env(CHILD_TENANT, &t)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut inner = 0;
    let mut links = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut mine = Vec::new();
        for line in stdout.lines() {
            // libtest writes `test child_mints_panel ... ` before the test's own output.
            if let Some((_, n)) = line.split_once("inner-mints=") {
                inner += n.parse::<usize>().unwrap();
            } else if let Some(url) = line.strip_prefix("link=") {
                mine.push(url.to_owned());
            }
        }
        assert_eq!(mine.len(), panel_plan().len(), "{stdout}");
        links.push(mine);
    }
    assert_eq!(
        inner,
        panel_plan().len(),
        "one mint per key across processes"
    );
    assert!(links.windows(2).all(|w| w[0] == w[1]), "processes disagree");
}

const CHILD_LEDGER: &str = "INVITOKEN_TEST_CHILD_LEDGER";
const CHILD_TENANT: &str = "INVITOKEN_TEST_CHILD_TENANT";

/// The child of [`processes_mint_once`]. Run as an ordinary test, it is the same run alone on a
/// fresh SQLite ledger (delay 100 ms per mint), which must mint each key once, rather than a
/// test that does nothing and passes.
#[test]
fn child_mints_panel() {
    // Kept until the end: dropping it removes the folder.
    let alone = Db::sqlite();
    let (location, tenant, child) = match (std::env::var(CHILD_LEDGER), std::env::var(CHILD_TENANT))
    {
        (Ok(location), Ok(tenant)) => (location, tenant, true),
        _ => (alone.location(), self::tenant("child-alone"), false),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let counting = Counting {
            delay: Duration::from_millis(100),
            ..Counting::default()
        };
        let ledger = Ledger::open(&location).await.unwrap();
        let minter = LedgerMinter::new(counting.clone(), ledger, Vendor::Sandbox)
            .with_tenant(tenant)
            .with_wait(Duration::from_secs(30));
        let links = mint_all(&minter, &panel(), 8).await.unwrap();
        if !child {
            assert_eq!(counting.count(), panel_plan().len(), "one mint per key");
            assert_eq!(links.len(), panel_plan().len());
            return;
        }
        println!("inner-mints={}", counting.count());
        for link in links {
            println!("link={}", link.url);
        }
    });
}

async fn finished_sessions_and_webhook_deliveries(db: Db) {
    use invitoken::{Delivery, DeliveryClaim};
    let t = tenant("finished");
    let k = key(&t, "int-over");
    let ledger = db.open().await;
    // Only a minted session can finish: not one never asked for, nor a pending one.
    assert!(ledger.mark_finished(&k).await.is_err());
    assert!(matches!(ledger.claim(&k).await.unwrap(), Claim::Mint(_)));
    assert!(ledger.mark_finished(&k).await.is_err());
    ledger.record_minted(&k, &minted("li-over")).await.unwrap();
    let record = ledger.mark_finished(&k).await.unwrap();
    assert_eq!(record.state, State::Finished);
    // Again: a no-op that keeps when it finished.
    let again = ledger.mark_finished(&k).await.unwrap();
    assert_eq!(again.updated_at, record.updated_at);
    // Read back by another handle: its URL is still what the invites hold, and nothing new
    // is to be minted for it.
    let other = db.open().await;
    let Claim::Minted(read) = other.claim(&k).await.unwrap() else {
        panic!("a finished session is reused, not minted again")
    };
    assert_eq!(read.state, State::Finished);
    assert_eq!(read.minted().unwrap().url, minted("li-over").url);
    let by_session = other
        .by_session(Vendor::CodeSignal, "li-over")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_session.state, State::Finished);
    // A cancel forgets it.
    assert_eq!(other.mark_deleted(&k).await.unwrap().state, State::Deleted);
    assert!(other.mark_finished(&k).await.is_err());

    // Deliveries: keyed by (tenant, event, triggeredOn), remembering the session named first.
    let first = Delivery {
        tenant: &t,
        event: "liveInterviewFinished",
        triggered_on: 1_700_000_000_000,
        session_id: "li-over",
    };
    assert_eq!(
        ledger.claim_delivery(&first).await.unwrap(),
        DeliveryClaim::Act
    );
    // Not settled yet (a crash, or a redelivery racing the first): acted on again.
    assert_eq!(
        other.claim_delivery(&first).await.unwrap(),
        DeliveryClaim::Act
    );
    ledger.settle_delivery(&first, "finished").await.unwrap();
    assert_eq!(
        other.claim_delivery(&first).await.unwrap(),
        DeliveryClaim::Done {
            outcome: "finished".to_owned()
        }
    );
    let replay = Delivery {
        session_id: "li-someone-else",
        ..first
    };
    assert_eq!(
        other.claim_delivery(&replay).await.unwrap(),
        DeliveryClaim::OtherSession {
            first: "li-over".to_owned()
        }
    );
    // The replay's settle touches nothing: the first's outcome stays.
    other.settle_delivery(&replay, "failed").await.unwrap();
    assert!(matches!(
        ledger.claim_delivery(&first).await.unwrap(),
        DeliveryClaim::Done { .. }
    ));
    // A delivery that failed is acted on when it comes again.
    let later = Delivery {
        triggered_on: first.triggered_on + 1,
        ..first
    };
    assert_eq!(
        ledger.claim_delivery(&later).await.unwrap(),
        DeliveryClaim::Act
    );
    ledger.settle_delivery(&later, "failed").await.unwrap();
    assert_eq!(
        ledger.claim_delivery(&later).await.unwrap(),
        DeliveryClaim::Act
    );
    // Another tenant's delivery of the same event and time is its own.
    let t2 = tenant("finished-other");
    let elsewhere = Delivery {
        tenant: &t2,
        session_id: "li-x",
        ..first
    };
    assert_eq!(
        ledger.claim_delivery(&elsewhere).await.unwrap(),
        DeliveryClaim::Act
    );
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Db::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs INVITOKEN_POSTGRES_URL"]
                async fn $case() {
                    super::$case(super::Db::postgres()).await;
                }
            )*
        }
    };
}

on_both!(
    claim_mint_reuse_across_runs,
    racing_claims_mint_once,
    stale_pending_is_not_minted_again,
    failed_attempt_may_be_retried,
    deleted_is_reported,
    ledger_minter_mints_once_per_key_across_runs,
    concurrent_ledger_minters_mint_once,
    ledger_minter_failures,
    lifecycle_through_the_ledger_minter,
    processes_mint_once,
    finished_sessions_and_webhook_deliveries,
);

#[tokio::test]
async fn bad_locations_are_refused() {
    for location in ["mysql://localhost/x", "sqlite::memory:", ""] {
        let err = Ledger::open(location).await.unwrap_err().to_string();
        assert!(err.contains("cannot use"), "{location}: {err}");
    }
    // A plain path works, creating its folders.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/ledger.db");
    Ledger::open(path.to_str().unwrap()).await.unwrap();
    assert!(path.exists());
}

/// A SQLite ledger made by the previous schema (before `finished` and webhook deliveries) is
/// migrated on open, its records kept as they were, ids included.
#[tokio::test]
async fn an_older_sqlite_ledger_is_migrated_with_its_records() {
    use sqlx::Row;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    // The previous version's migrations, as its binary embedded them (same files, so the
    // same checksums the new binary checks).
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    let ours = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut copied = 0;
    for entry in std::fs::read_dir(&ours).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < "20261130000000" {
            std::fs::copy(entry.path(), old.join(&name)).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, 2, "the migrations before `finished`");
    let location = format!("sqlite://{}", path.display());
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let now = Utc::now();
        for (id, interview, state, session) in [
            (7_i64, "int-old-1", "minted", Some("li-old-1")),
            (9, "int-old-2", "deleted", Some("li-old-2")),
            (12, "int-old-3", "failed", None),
        ] {
            sqlx::query(
                "INSERT INTO mint_records (id, tenant, vendor, product, scope, interview_id, \
                 event_id, template_id, session_id, url, state, created_at, updated_at, \
                 expires_at, serves_until, attempts, last_error, candidate_email) \
                 VALUES ($1, 'old', 'codesignal', 'live', 'interview', $2, '', '', $3, $4, $5, \
                 $6, $6, $7, $7, 1, NULL, 'ada@example.org')",
            )
            .bind(id)
            .bind(interview)
            .bind(session)
            .bind(session.map(|s| format!("https://app.codesignal.com/live-interview/{s}")))
            .bind(state)
            .bind(now)
            .bind(now + TimeDelta::days(2))
            .execute(&pool)
            .await
            .unwrap();
        }
        // The old schema refuses the new state: the test really starts from the old one.
        assert!(
            sqlx::query("UPDATE mint_records SET state = 'finished' WHERE id = 7")
                .execute(&pool)
                .await
                .is_err()
        );
        pool.close().await;
    }
    let before: Vec<String> = {
        let pool = sqlx::SqlitePool::connect(&location).await.unwrap();
        let rows = sqlx::query("SELECT * FROM mint_records ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| format!("{:?}", row_values(r)))
            .collect()
    };
    let ledger = Ledger::open(&location).await.unwrap();
    let records = ledger.list(None).await.unwrap();
    assert_eq!(records.len(), 3);
    let states: Vec<State> = records.iter().map(|r| r.state).collect();
    assert_eq!(states, [State::Minted, State::Deleted, State::Failed]);
    // The new state and table work on the migrated file.
    let old_key = records[0].key.clone();
    let finished = ledger.mark_finished(&old_key).await.unwrap();
    assert_eq!(finished.session_id.as_deref(), Some("li-old-1"));
    let delivery = invitoken::Delivery {
        tenant: "old",
        event: "liveInterviewFinished",
        triggered_on: 1,
        session_id: "li-old-1",
    };
    assert_eq!(
        ledger.claim_delivery(&delivery).await.unwrap(),
        invitoken::DeliveryClaim::Act
    );
    ledger.close().await;
    // Every column of every row as it was (ids included), but the state just changed.
    let pool = sqlx::SqlitePool::connect(&location).await.unwrap();
    let rows = sqlx::query("SELECT * FROM mint_records ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get::<i64, _>("id")).collect();
    assert_eq!(ids, [7, 9, 12]);
    let after: Vec<String> = rows
        .iter()
        .map(|r| format!("{:?}", row_values(r)))
        .collect();
    assert_eq!(after[1..], before[1..]);
    assert_ne!(after[0], before[0], "the finished state was written");
    // A state nobody knows is still refused by the rebuilt table.
    assert!(
        sqlx::query("UPDATE mint_records SET state = 'bogus' WHERE id = 9")
            .execute(&pool)
            .await
            .is_err()
    );
    pool.close().await;
    // Opening again finds a ledger of this version and changes nothing.
    let again = Ledger::open(&location).await.unwrap();
    assert_eq!(again.list(None).await.unwrap().len(), 3);
    again.close().await;
}

/// Every column of a SQLite row as text (NULL as `None`), in table order.
fn row_values(row: &sqlx::sqlite::SqliteRow) -> Vec<(String, Option<String>)> {
    use sqlx::{Column, Row, ValueRef};
    row.columns()
        .iter()
        .map(|c| {
            let raw = row.try_get_raw(c.ordinal()).unwrap();
            let value = if raw.is_null() {
                None
            } else {
                Some(
                    row.try_get::<String, _>(c.ordinal())
                        .unwrap_or_else(|_| row.get::<i64, _>(c.ordinal()).to_string()),
                )
            };
            (c.name().to_owned(), value)
        })
        .collect()
}

/// Openers racing on one new PostgreSQL database (replicas starting at once): each finds the
/// ledger or makes it; none looks while another is halfway through migrating and takes the
/// database for someone else's. Ten new databases, eight openers each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
async fn openers_racing_on_a_new_postgres_database_all_find_the_ledger() {
    use sqlx::Connection as _;
    let Db::Postgres(server) = Db::postgres() else {
        unreachable!()
    };
    for round in 0..10 {
        let name = format!("invitoken_open_race_{}_{round}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&server).unwrap();
        url.set_path(&format!("/{name}"));
        // Eight ledgers opened at once, each on a thread and runtime of its own, as eight
        // processes would.
        let url = url.to_string();
        let start = Arc::new(std::sync::Barrier::new(8));
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let (url, start) = (url.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    start.wait();
                    rt.block_on(invitoken::Ledger::open(&url))
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for open in opens {
            if let Err(e) = open.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
    }
}
