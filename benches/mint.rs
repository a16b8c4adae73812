//! Minting 200 panel interviews (3 events each, one `$Event.CodeSignal.Live.Link` session per
//! event: 600 sessions) through the real CodeSignal client against the fake CodeSignal server on
//! 127.0.0.1, which answers every request after 50 ms.
//!
//! Beside it in the same group, the lower bound: `calls x latency / concurrency`, slept. The
//! ratio of the two is the client's overhead (scheduling, HTTP, JSON, GraphQL validation in the
//! fake). Every iteration uses a fresh client (an empty cache) and checks that the fake made
//! exactly one session per planned mint, and that the client made no other call.
//!
//! The client-side rate limit is off here: with it on (25/s by default), the bound is
//! `calls / rate` instead, and the bench would measure the limiter.
//!
//! ```text
//! cargo bench --bench mint
//! ```

#[path = "../tests/support/fake_codesignal.rs"]
mod fake_codesignal;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use fake_codesignal::{FakeCodeSignal, FakeConfig};
use invitoken::{ApiKey, CodeSignalConfig, CodeSignalMinter, Request, resolve};
use serde_json::json;

const INTERVIEWS: usize = 200;
const EVENTS: usize = 3;
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 8;

/// Interview `i`: its own candidate, three back-to-back events with their own interviewer.
fn request(i: usize) -> Request {
    let events: Vec<_> = (0..EVENTS)
        .map(|e| {
            json!({
                "id": format!("evt-{e}"),
                "topic": format!("Session {e}"),
                "start": format!("2027-03-02T{:02}:00:00Z", 8 + e),
                "end": format!("2027-03-02T{:02}:00:00Z", 9 + e),
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
            "candidate": {"subject": "Your interview", "body": "Your rooms:\n$Event.CodeSignal.Live.Link\n", "format": "text"},
            "interviewer": {"subject": "Interview: $Event.Topic", "body": "Join at $Event.CodeSignal.Live.Link", "format": "text"},
        },
    });
    Request::from_json(&json.to_string()).expect("a valid request")
}

/// Resolves every request at once on one fresh client; returns the wall time.
async fn mint_everything(fake: &FakeCodeSignal, requests: &Arc<Vec<Request>>) -> Duration {
    let mut config = CodeSignalConfig::new(ApiKey::parse(fake.api_key()).expect("a valid key"));
    config.endpoint = fake.endpoint().parse().expect("a URL");
    config.concurrency = CONCURRENCY;
    config.rate_limit = None;
    let minter = Arc::new(CodeSignalMinter::new(config).expect("a client"));
    let creates_before = fake.creates();
    let started = Instant::now();
    let runs: Vec<_> = (0..requests.len())
        .map(|i| {
            let (minter, requests) = (minter.clone(), requests.clone());
            tokio::spawn(async move { resolve(&requests[i], &*minter).await })
        })
        .collect();
    for run in runs {
        black_box(run.await.expect("no panic").expect("resolved"));
    }
    let elapsed = started.elapsed();
    let sessions = INTERVIEWS * EVENTS;
    assert_eq!(
        fake.creates() - creates_before,
        sessions,
        "one session per planned mint"
    );
    assert_eq!(
        minter.calls() as usize,
        sessions,
        "one API call per session"
    );
    elapsed
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let fake = runtime.block_on(FakeCodeSignal::start(FakeConfig::default()));
    fake.set_latency(LATENCY);
    let requests = Arc::new((0..INTERVIEWS).map(request).collect::<Vec<_>>());
    let calls = INTERVIEWS * EVENTS;
    let bound = LATENCY * calls as u32 / CONCURRENCY as u32;

    let mut group = c.benchmark_group(format!(
        "mint_{INTERVIEWS}_panels_x{EVENTS}_events_{}ms_c{CONCURRENCY}",
        LATENCY.as_millis()
    ));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(bound * 10);
    group.bench_function("lower_bound", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                std::thread::sleep(bound);
            }
            started.elapsed()
        })
    });
    group.bench_function("codesignal_client", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| runtime.block_on(mint_everything(&fake, &requests)))
                .sum()
        })
    });
    group.finish();
    eprintln!(
        "{calls} API calls for {calls} sessions; bound {calls} x {LATENCY:?} / {CONCURRENCY} = {bound:?}"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
