//! The background refresher: replicas on one ledger (two engines, each with its own pool, as
//! two processes would have) take turns, so each tenant is refreshed by one replica per
//! period; a replica that dies holding a turn leaves it to another once its lease runs out; a
//! service with a refresher stops cleanly. On SQLite here, and on the PostgreSQL database of
//! `INVITOKEN_POSTGRES_URL` (`#[ignore]`d: run with `cargo test -- --ignored`).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use invitoken::service::{Refresher, ServeOptions, Service, ServiceConfig};
use invitoken::{CodeSignalSettings, Engine, Ledger, TurnClaim};

const PERIOD: Duration = Duration::from_secs(600);
const LEASE: Duration = Duration::from_secs(30);

/// Two sandbox tenants with ids unique to this run (a PostgreSQL ledger is shared by runs).
fn config(run: &str) -> ServiceConfig {
    let toml = format!(
        "[[tenant]]\nid = \"a-{run}\"\ntoken_sha256 = [\"{}\"]\nminter = \"sandbox\"\n\n\
         [[tenant]]\nid = \"b-{run}\"\ntoken_sha256 = [\"{}\"]\nminter = \"sandbox\"\n",
        "1".repeat(64),
        "2".repeat(64),
    );
    ServiceConfig::parse(
        "tenants.toml",
        &toml,
        Path::new("."),
        &|_| None,
        &CodeSignalSettings::default(),
    )
    .unwrap()
}

fn run_id() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// A replica: its own engine and connection pool on the ledger at `location`.
async fn replica(location: &str, run: &str) -> Arc<Engine> {
    let ledger = Ledger::open(location).await.unwrap();
    Arc::new(config(run).engine(Engine::builder(ledger)).unwrap())
}

fn sqlite() -> String {
    support::scratch::fresh_ledger().display().to_string()
}

fn postgres() -> String {
    match std::env::var("INVITOKEN_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "INVITOKEN_POSTGRES_URL is not set: the PostgreSQL cases need a server; run them as \
             INVITOKEN_POSTGRES_URL=postgres://... cargo test -- --ignored"
        ),
    }
}

fn all_tenants(tick: &invitoken::service::Tick) -> Vec<String> {
    let mut all: Vec<String> = tick
        .ran
        .iter()
        .chain(&tick.failed)
        .cloned()
        .chain(tick.skipped.iter().map(|(t, _)| t.clone()))
        .collect();
    all.sort();
    all
}

/// Two replicas looking at once, period after period: every tenant is refreshed by exactly one
/// of them per period, and by neither before it is due again.
async fn one_replica_refreshes_each_tenant_per_period(location: String) {
    let run = run_id();
    let (one, two) = (
        replica(&location, &run).await,
        replica(&location, &run).await,
    );
    let r1 = Refresher::new(one.clone(), PERIOD, LEASE);
    let r2 = Refresher::new(two.clone(), PERIOD, LEASE);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let tenants = vec![format!("a-{run}"), format!("b-{run}")];
    let start = Utc::now();
    for period in 0..3 {
        // A period and a few seconds after the last look: due again (the last run ended a
        // moment after its look began).
        let now = start + (TimeDelta::from_std(PERIOD).unwrap() + TimeDelta::seconds(5)) * period;
        let (t1, t2) = tokio::join!(r1.tick(now, &stopped), r2.tick(now, &stopped));
        let (t1, t2) = (t1.unwrap(), t2.unwrap());
        assert_eq!(all_tenants(&t1), tenants, "{t1:?}");
        assert_eq!(all_tenants(&t2), tenants, "{t2:?}");
        assert!(
            t1.failed.is_empty() && t2.failed.is_empty(),
            "{t1:?} {t2:?}"
        );
        let mut ran: Vec<String> = t1.ran.iter().chain(&t2.ran).cloned().collect();
        ran.sort();
        assert_eq!(
            ran, tenants,
            "period {period}: each tenant once: {t1:?} {t2:?}"
        );
        // Looking again in the same period does nothing: not due.
        let later = now + TimeDelta::seconds(60);
        let (a1, a2) = tokio::join!(r1.tick(later, &stopped), r2.tick(later, &stopped));
        let (a1, a2) = (a1.unwrap(), a2.unwrap());
        assert!(a1.ran.is_empty() && a2.ran.is_empty(), "{a1:?} {a2:?}");
        for (_, claim) in a1.skipped.iter().chain(&a2.skipped) {
            assert!(matches!(claim, TurnClaim::NotDue { .. }), "{claim:?}");
        }
    }
    for tenant in &tenants {
        let record = one
            .ledger()
            .turn_record(&Refresher::job(tenant))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.runs, 3, "{record:?}");
        assert_eq!(record.holder, None, "{record:?}");
        let last = record.last_holder.unwrap();
        assert!(last == r1.holder() || last == r2.holder(), "{last}");
    }
}

/// A replica that took a turn and died (never ended it) blocks the others until its lease runs
/// out, then one of them takes over.
async fn a_dead_replicas_turn_runs_out(location: String) {
    let run = run_id();
    let engine = replica(&location, &run).await;
    let dead = Ledger::open(&location).await.unwrap();
    let now = Utc::now();
    let tenant = format!("a-{run}");
    let lease = TimeDelta::from_std(LEASE).unwrap();
    let TurnClaim::Taken(_) = dead
        .take_turn(&Refresher::job(&tenant), "dead-replica", now, lease)
        .await
        .unwrap()
    else {
        panic!("a fresh job is due at once");
    };
    let refresher = Refresher::new(engine.clone(), PERIOD, LEASE);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let tick = refresher.tick(now, &stopped).await.unwrap();
    assert_eq!(tick.ran, vec![format!("b-{run}")], "{tick:?}");
    match &tick.skipped[..] {
        [(t, TurnClaim::Held { holder, .. })] => {
            assert_eq!(
                (t.as_str(), holder.as_str()),
                (tenant.as_str(), "dead-replica")
            );
        }
        other => panic!("{other:?}"),
    }
    let after = now + lease + TimeDelta::seconds(1);
    let tick = refresher.tick(after, &stopped).await.unwrap();
    assert_eq!(tick.ran, vec![tenant.clone()], "{tick:?}");
    let record = engine
        .ledger()
        .turn_record(&Refresher::job(&tenant))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.last_holder.as_deref(), Some(refresher.holder()));
}

/// Two services with refreshers running in the background on one ledger: every tenant gets
/// refreshed, and both stop when asked, leaving no turn held.
async fn two_services_refresh_in_the_background_and_stop(location: String) {
    let run = run_id();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let engine = replica(&location, &run).await;
        let mut options = ServeOptions::default();
        options.refresh_every = Some(Duration::from_secs(1));
        options.refresh_lease = Duration::from_secs(5);
        options.shutdown_grace = Duration::from_secs(10);
        let service = Service::new(engine.clone(), config(&run), options).unwrap();
        assert!(service.refresher().is_some());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(service.serve(listener, async move {
            let _ = stopped.await;
        }));
        servers.push((engine, stop, task));
    }
    let ledger = servers[0].0.ledger().clone();
    let tenants = [format!("a-{run}"), format!("b-{run}")];
    // Wait (without asserting how long it takes) until every tenant was refreshed twice.
    let mut waited = 0;
    loop {
        let mut runs = Vec::new();
        for t in &tenants {
            let r = ledger.turn_record(&Refresher::job(t)).await.unwrap();
            runs.push(r.map_or(0, |r| r.runs));
        }
        if runs.iter().all(|r| *r >= 2) {
            break;
        }
        waited += 1;
        assert!(waited < 600, "the refreshers did not run: {runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (_, stop, task) in servers {
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the service stops")
            .unwrap()
            .unwrap();
    }
    for t in &tenants {
        let r = ledger
            .turn_record(&Refresher::job(t))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.holder, None, "a stopped service holds no turn: {r:?}");
    }
}

/// Without `refresh_every` (the library's default) a service has no refresher.
#[tokio::test]
async fn no_refresher_unless_asked() {
    let run = run_id();
    let engine = replica(&sqlite(), &run).await;
    let service = Service::new(engine, config(&run), ServeOptions::default()).unwrap();
    assert!(service.refresher().is_none());
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs INVITOKEN_POSTGRES_URL"]
                async fn $case() {
                    super::$case(super::postgres()).await;
                }
            )*
        }
    };
}

on_both!(
    one_replica_refreshes_each_tenant_per_period,
    a_dead_replicas_turn_runs_out,
    two_services_refresh_in_the_background_and_stop,
);
