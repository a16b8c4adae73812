//! The `Minter` seam: what any minter returns is checked, and each session is asked for once.

use std::collections::HashMap;
use std::sync::Mutex;

use invitoken::{
    MintError, MintKey, Minted, Minter, PlannedMint, Request, ResolveError, SandboxMinter, resolve,
};

fn panel() -> Request {
    Request::from_json(include_str!("../fixtures/panel.json")).unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Answers with a fixed URL and counts the calls per key.
struct Scripted {
    url: &'static str,
    calls: Mutex<HashMap<MintKey, usize>>,
}

impl Scripted {
    fn new(url: &'static str) -> Scripted {
        Scripted {
            url,
            calls: Mutex::default(),
        }
    }
}

impl Minter for Scripted {
    async fn mint(&self, mint: &PlannedMint) -> Result<Minted, MintError> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(mint.key.clone())
            .or_default() += 1;
        Ok(Minted {
            short_url: None,
            url: format!(
                "{}/{}",
                self.url,
                mint.key.event_id.as_deref().unwrap_or("all")
            ),
            expires_at: None,
            session_id: None,
        })
    }
}

#[test]
fn each_session_is_minted_exactly_once() {
    let request = panel();
    let minter = Scripted::new("https://live.example.com/s");
    let resolution = block_on(resolve(&request, &minter)).unwrap();
    let calls = minter.calls.into_inner().unwrap();
    let plan = invitoken::plan(&request).unwrap();
    assert_eq!(calls.len(), plan.mints.len());
    assert!(calls.values().all(|&n| n == 1), "{calls:?}");
    assert_eq!(resolution.links.len(), plan.mints.len());
}

#[test]
fn a_url_that_would_inject_into_an_invite_fails_the_mint() {
    for evil in [
        "https://x\r\nATTENDEE:mailto:evil@example.com",
        "http://plain.example.com",
        "https://x/\"><script>",
        "javascript:alert(1)",
    ] {
        let minter = Scripted::new(evil);
        let err = block_on(resolve(&panel(), &minter)).unwrap_err();
        let ResolveError::Mint(MintError::UnsafeUrl { .. }) = &err else {
            panic!("{evil:?}: {err:?}");
        };
        let message = err.to_string();
        assert!(
            !message.contains('\n') && !message.contains('\r'),
            "{message}"
        );
    }
}

#[test]
fn sandbox_links_are_stable_distinct_and_unmistakable() {
    let request = panel();
    let plan = invitoken::plan(&request).unwrap();
    let sandbox = SandboxMinter::default();
    let urls: Vec<String> = plan.mints.iter().map(|m| sandbox.url(m)).collect();
    let again: Vec<String> = plan.mints.iter().map(|m| sandbox.url(m)).collect();
    assert_eq!(urls, again);
    let mut unique = urls.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), urls.len());
    for u in &urls {
        assert!(u.starts_with("https://sandbox.invitoken.invalid/"), "{u}");
        invitoken::SafeUrl::parse(u).unwrap();
    }
    // Another secret, other links: the key alone does not give them away.
    let other = SandboxMinter::new(b"another secret");
    assert_ne!(other.url(&plan.mints[0]), urls[0]);
}
