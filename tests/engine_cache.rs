//! One process, many runs: the in-process cache in front of the ledger never hands out a
//! cancelled session's URL, and tenants sharing one ledger never share a session.

mod support;

use std::time::Duration;

use invitoken::{
    Action, ApiKey, Cached, CodeSignalConfig, CodeSignalMinter, Ledger, LedgerKey, LedgerMinter,
    MintError, Minter, Plan, Request, SandboxMinter, Sessions, State, Vendor, VendorEffect,
    mint_all,
};
use support::fake_codesignal::{FakeCodeSignal, FakeConfig, Fault, Op};

fn panel() -> Plan {
    let request = Request::from_json(include_str!("../fixtures/panel.json")).unwrap();
    invitoken::plan(&request).unwrap()
}

async fn fresh() -> Ledger {
    Ledger::open_sqlite(&support::scratch::fresh_ledger())
        .await
        .unwrap()
}

/// The ledger of `INVITOKEN_POSTGRES_URL`: set, it must work.
async fn postgres() -> Ledger {
    let url = std::env::var("INVITOKEN_POSTGRES_URL")
        .expect("INVITOKEN_POSTGRES_URL=postgres://... names the database to test against");
    Ledger::open(&url).await.unwrap()
}

fn tenant(case: &str) -> String {
    format!("test-{case}-{:016x}", fastrand::u64(..))
}

fn urls(links: &[invitoken::Link]) -> Vec<String> {
    links.iter().map(|l| l.url.to_string()).collect()
}

/// resolve → cancel an event → resolve again, in one process, through the stack a service
/// keeps (`Cached` over `LedgerMinter`): the cancelled event's link is never handed out again.
async fn cancel_then_resolve_never_returns_the_cancelled_url(ledger: Ledger, tenant: &str) {
    let plan = panel();
    let minter = Cached::new(
        LedgerMinter::new(SandboxMinter::for_tenant(tenant), ledger, Vendor::Sandbox)
            .with_tenant(tenant),
        1_000,
    );
    let before = mint_all(&minter, &plan, 4).await.unwrap();
    assert_eq!(before.len(), plan.mints.len());

    let outcomes = minter
        .inner()
        .cancel("int-42", Some("evt-2"))
        .await
        .unwrap();
    assert!(!outcomes.is_empty());
    assert!(
        outcomes.iter().all(|o| o.action == Action::Deleted),
        "{outcomes:?}"
    );
    let cancelled: Vec<_> = outcomes.iter().map(|o| o.key.mint.clone()).collect();

    // The cache still holds the deleted sessions until told: what the invalidation is for.
    let stale = mint_all(&minter, &plan, 4).await.unwrap();
    assert_eq!(urls(&stale), urls(&before));

    minter.invalidate_interview("int-42", Some("evt-2")).await;
    let err = mint_all(&minter, &plan, 1).await.unwrap_err();
    let MintError::Deleted { key, .. } = &err else {
        panic!("a cancelled session must fail as deleted, not come back: {err}")
    };
    assert!(cancelled.contains(key), "{key} was not cancelled");
    assert_eq!(err.effect(), VendorEffect::Nothing);
    assert_eq!(err.key(), &**key);

    // The other events' links are still answered (from the cache or the ledger).
    let others = Plan {
        mints: plan
            .mints
            .iter()
            .filter(|m| !cancelled.contains(&m.key))
            .cloned()
            .collect(),
    };
    let kept = mint_all(&minter, &others, 4).await.unwrap();
    for link in &kept {
        let was = before.iter().find(|l| l.key == link.key).unwrap();
        assert_eq!(link.url, was.url);
    }

    // One key cancelled on its own, and forgotten by key.
    let one = others.mints[0].key.clone();
    let outcome = minter.inner().cancel_key(&one).await.unwrap().unwrap();
    assert_eq!(outcome.action, Action::Deleted);
    minter.invalidate(&one).await;
    let err = mint_all(&minter, &others, 1).await.unwrap_err();
    assert!(
        matches!(&err, MintError::Deleted { key, .. } if **key == one),
        "{err}"
    );
}

/// Two tenants on one ledger mint the same interview ids: different sessions, each recorded
/// for its own tenant, and one tenant's listing and cancel never reach the other's.
async fn tenants_get_their_own_sessions(ledger: Ledger, acme: &str, globex: &str) {
    let plan = panel();
    let minter = |t: &str| {
        LedgerMinter::new(
            SandboxMinter::for_tenant(t),
            ledger.clone(),
            Vendor::Sandbox,
        )
        .with_tenant(t)
    };
    let (a, g) = (minter(acme), minter(globex));
    let for_acme = mint_all(&a, &plan, 4).await.unwrap();
    let for_globex = mint_all(&g, &plan, 4).await.unwrap();
    for (x, y) in for_acme.iter().zip(&for_globex) {
        assert_eq!(x.key, y.key);
        assert_ne!(x.url, y.url, "two tenants share the session of {}", x.key);
    }

    let listed = ledger
        .list_for(acme, Some(Vendor::Sandbox), Some("int-42"))
        .await
        .unwrap();
    assert_eq!(listed.len(), plan.mints.len());
    assert!(listed.iter().all(|r| r.key.tenant == acme));
    assert!(
        ledger
            .list_for(acme, Some(Vendor::CodeSignal), None)
            .await
            .unwrap()
            .is_empty()
    );

    // Acme cancels the interview: Globex's sessions stay minted, and its links unchanged.
    let outcomes = a.cancel("int-42", None).await.unwrap();
    assert_eq!(outcomes.len(), plan.mints.len());
    assert!(outcomes.iter().all(|o| o.key.tenant == acme));
    for r in ledger.list_for(globex, None, None).await.unwrap() {
        assert_eq!(r.state, State::Minted, "{}", r.key);
    }
    assert_eq!(
        urls(&mint_all(&g, &plan, 4).await.unwrap()),
        urls(&for_globex)
    );
    let k = LedgerKey::new(Vendor::Sandbox, plan.mints[0].key.clone()).with_tenant(acme);
    assert_eq!(ledger.get(&k).await.unwrap().unwrap().state, State::Deleted);
}

#[tokio::test]
async fn cancel_then_resolve_in_one_process_sqlite() {
    cancel_then_resolve_never_returns_the_cancelled_url(fresh().await, "default").await;
    cancel_then_resolve_never_returns_the_cancelled_url(fresh().await, "acme").await;
}

#[tokio::test]
async fn two_tenants_one_ledger_sqlite() {
    tenants_get_their_own_sessions(fresh().await, "acme", "globex").await;
    // The default tenant is one of them like any other.
    tenants_get_their_own_sessions(fresh().await, "default", "acme").await;
}

#[tokio::test]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
async fn cancel_then_resolve_in_one_process_postgres() {
    cancel_then_resolve_never_returns_the_cancelled_url(postgres().await, &tenant("cache")).await;
}

#[tokio::test]
#[ignore = "needs INVITOKEN_POSTGRES_URL"]
async fn two_tenants_one_ledger_postgres() {
    tenants_get_their_own_sessions(postgres().await, &tenant("acme"), &tenant("globex")).await;
}

#[test]
fn the_default_tenant_keeps_the_links_of_a_sandbox_without_tenants() {
    let plan = panel();
    let plain = SandboxMinter::default();
    let default = SandboxMinter::for_tenant(invitoken::DEFAULT_TENANT);
    let acme = SandboxMinter::for_tenant("acme");
    for m in &plan.mints {
        assert_eq!(default.url(m), plain.url(m));
        assert_ne!(acme.url(m), plain.url(m));
    }
    // A tenant is not a secret of its own: `new` with a secret, then a tenant, differs too.
    let keyed = SandboxMinter::new(b"another").with_tenant("acme");
    assert_ne!(keyed.url(&plan.mints[0]), acme.url(&plan.mints[0]));
}

fn codesignal(fake: &FakeCodeSignal) -> CodeSignalConfig {
    let mut c = CodeSignalConfig::new(ApiKey::parse(fake.api_key()).unwrap());
    c.endpoint = fake.endpoint().parse().unwrap();
    c.timeout = Duration::from_secs(5);
    c.backoff = Duration::from_millis(20);
    c.rate_limit = None;
    c
}

/// The CodeSignal stack a service keeps: a cancelled event's session is deleted at CodeSignal,
/// and resolving again with re-minting allowed makes a new one; the deleted URL never returns
/// (neither from `Cached` nor from a cache of the client's own).
#[tokio::test]
async fn cancel_then_resolve_through_codesignal_hands_out_a_new_session() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let ledger = fresh().await;
    let client = CodeSignalMinter::new(codesignal(&fake).behind_ledger()).unwrap();
    let minter = Cached::new(
        LedgerMinter::new(client, ledger.clone(), Vendor::CodeSignal).remint_deleted(true),
        1_000,
    );
    let plan = panel();
    let before = mint_all(&minter, &plan, 4).await.unwrap();
    let creates = fake.creates();
    assert_eq!(creates, plan.mints.len());

    // Cancelled through another client (another worker, or the CLI), sharing only the ledger:
    // the resolving client learns of it from the ledger alone, so it must keep no cache.
    let canceller = LedgerMinter::new(
        CodeSignalMinter::new(codesignal(&fake).behind_ledger()).unwrap(),
        ledger,
        Vendor::CodeSignal,
    );
    let outcomes = canceller.cancel("int-42", Some("evt-2")).await.unwrap();
    assert!(!outcomes.is_empty());
    assert!(
        outcomes.iter().all(|o| o.action == Action::Deleted),
        "{outcomes:?}"
    );
    minter.invalidate_interview("int-42", Some("evt-2")).await;

    let after = mint_all(&minter, &plan, 4).await.unwrap();
    assert_eq!(fake.creates(), creates + outcomes.len());
    for (old, new) in before.iter().zip(&after) {
        let cancelled = outcomes.iter().any(|o| o.key.mint == old.key);
        assert_eq!(old.url != new.url, cancelled, "{}", old.key);
    }
    for o in &outcomes {
        let id = o.session_id.as_deref().unwrap();
        let session = fake.sessions().into_iter().find(|s| s.id == id).unwrap();
        assert_eq!(session.status, "deleted");
    }
}

/// On its own the client keeps its cache, and a delete drops the key from it: the next mint
/// of the key makes a new session instead of answering the deleted one.
#[tokio::test]
async fn a_standalone_client_forgets_what_it_deleted() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let client = CodeSignalMinter::new(codesignal(&fake)).unwrap();
    let mint = &panel().mints[0];
    let first = client.mint(mint).await.unwrap();
    assert_eq!(
        client.mint(mint).await.unwrap(),
        first,
        "a repeat is answered from the cache"
    );
    assert_eq!(fake.creates(), 1);
    client
        .delete(&mint.key, first.session_id.as_deref())
        .await
        .unwrap();
    let second = client.mint(mint).await.unwrap();
    assert_ne!(second.url, first.url);
    assert_eq!(fake.creates(), 2);
}

/// A client kept for many runs: a run stopped by a final failure (a 401) does not stop the next
/// run, which sends again, while one run still stops at its first final failure.
#[tokio::test]
async fn a_final_failure_stops_its_run_not_the_next() {
    let fake = FakeCodeSignal::start(FakeConfig::default()).await;
    let client = CodeSignalMinter::new(codesignal(&fake)).unwrap();
    let plan = panel();
    fake.push_fault(Op::Create, Fault::Unauthorized);
    let err = client.mint(&plan.mints[0]).await.unwrap_err();
    assert_eq!(err.effect(), VendorEffect::Nothing, "{err}");
    let halted = client.mint(&plan.mints[1]).await.unwrap_err();
    assert!(halted.to_string().contains("not sent"), "{halted}");
    assert_eq!(fake.creates(), 0);

    let run = client.next_run();
    let links = mint_all(&run, &plan, 4).await.unwrap();
    assert_eq!(links.len(), plan.mints.len());
    assert_eq!(fake.creates(), plan.mints.len());
}
