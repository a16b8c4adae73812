//! Prometheus metrics, served on their own listener (`--metrics-listen`), never on the API's.
//!
//! - `http_requests_total{method, route, status}` and `http_request_duration_seconds{method,
//!   route}` (a histogram): every answer of the API listener; `route` is the route's pattern
//!   (`/v1/interviews/{id}/links`), never a raw path, so ids do not become labels.
//! - `invitoken_webhook_deliveries_total{event, outcome}`: CodeSignal's deliveries.
//! - `invitoken_mints_total{vendor, outcome}`: each session a resolve needed, by what the ledger
//!   minter did: `reused` (the ledger had it), `minted` (created now), `failed`; and
//!   `invitoken_mints_total{outcome="cached"}`: answered from the process's cache.
//! - `invitoken_codesignal_calls_total{operation, outcome}`: each HTTP request to CodeSignal
//!   (`create`, `find`, `edit`, `delete`) by `ok`, `retryable`, `unknown` (it may have been
//!   executed), `fatal`, or `not_sent` (halted, or past the operation's deadline).
//! - `invitoken_ledger_operations_total{operation}` and `invitoken_ledger_errors_total{operation}`:
//!   the ledger's reads and writes, and those the database failed.
//! - `invitoken_refresh_runs_total{outcome}`: the background refresher's looks at a tenant's
//!   turn: `ran`, `failed`, `skipped` (another replica's turn, or not due).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The latency buckets, in seconds: a warm resolve is milliseconds, a cold one waits for
/// CodeSignal.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process's metrics.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Installs the process-wide recorder; later calls get the same one. `Err`: another
    /// recorder was installed first.
    pub fn install() -> Result<Metrics, String> {
        static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
        HANDLE
            .get_or_init(|| {
                PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), BUCKETS)
                    .and_then(PrometheusBuilder::install_recorder)
                    .map_err(|e| format!("cannot install the metrics recorder: {e}"))
            })
            .clone()
            .map(|handle| Metrics { handle })
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Serves [`router`](Metrics::router) on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// `GET /metrics`. Also keeps the recorder's histograms trimmed while it is served.
    pub fn router(&self) -> Router {
        let handle = self.handle.clone();
        let upkeep = self.handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        Router::new().route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        handle.render(),
                    )
                }
            }),
        )
    }
}

/// Where the route's pattern is noted, once routing found it.
#[derive(Clone, Default)]
pub(crate) struct RouteSlot(Arc<Mutex<Option<String>>>);

/// The outermost layer: times every request and counts its answer by route and status.
pub(crate) async fn track(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let route = slot
        .0
        .lock()
        .ok()
        .and_then(|r| r.clone())
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A route layer: notes the matched route's pattern for [`track`].
pub(crate) async fn note_route(request: Request, next: Next) -> Response {
    if let (Some(path), Some(slot)) = (
        request.extensions().get::<MatchedPath>(),
        request.extensions().get::<RouteSlot>(),
    ) && let Ok(mut r) = slot.0.lock()
    {
        *r = Some(path.as_str().to_owned());
    }
    next.run(request).await
}

/// Counts one webhook delivery; `event` is one CodeSignal documents, else `other`, so a
/// sender cannot mint labels.
pub(crate) fn webhook(event: &str, outcome: &'static str) {
    const KNOWN: &[&str] = &[
        "liveInterviewFinished",
        "liveInterviewFeedbackUpdated",
        "companyTestSessionStarted",
        "companyTestSessionFinished",
        "ping",
    ];
    let event = KNOWN
        .iter()
        .find(|k| **k == event)
        .copied()
        .unwrap_or("other");
    metrics::counter!("invitoken_webhook_deliveries_total", "event" => event, "outcome" => outcome)
        .increment(1);
}
