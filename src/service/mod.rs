//! The HTTP service (`invitoken serve`): the engine's operations for many tenants over HTTP.
//!
//! A request's tenant comes from its bearer token only ([`ServiceConfig`] holds SHA-256 digests
//! of each tenant's tokens). Every route extracts its input, calls the [`Engine`] and maps the
//! result: the 200 bodies are the CLI's JSON, errors are RFC 9457 problem details
//! ([`Problem`]). Nothing here keeps state beyond the engine: replicas share the ledger.
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | alive (no auth) |
//! | `GET /openapi.json` | the OpenAPI document of all routes (no auth) |
//! | `GET /readyz` | the ledger answers (no auth); 503 otherwise |
//! | `POST /v1/check` | a request (JSON), a template (`text/plain`, `text/html`) or an `.ics` (`text/calendar`): 200 or 422 with findings |
//! | `POST /v1/plan` | the mints a request needs |
//! | `POST /v1/resolve[?remint_deleted=true]` | the CLI's `resolve` |
//! | `POST /v1/ics[?remint_deleted=true]` | one `.ics` rewritten by batch's rules |
//! | `GET /v1/interviews/{id}/links` | the ledger's records of an interview |
//! | `DELETE /v1/interviews/{id}[/events/{event_id}]` | the CLI's `cancel` |
//! | `POST /v1/refresh` | the CLI's `refresh` |
//! | `POST /webhooks/codesignal/{tenant}` | CodeSignal's deliveries, by signature (no bearer token) |

mod auth;
mod config;
mod handlers;
mod metrics;
pub mod openapi;
mod problem;
mod refresher;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::routing::{delete, get, post};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::{ConfigError, Engine, EngineBuilder};

pub use config::{ConfigFileError, ServiceConfig, ServiceTenant, WebhookConfig};
pub use metrics::Metrics;
pub use problem::{PROBLEM_JSON, Problem};
pub use refresher::{DEFAULT_REFRESH_EVERY, DEFAULT_REFRESH_LEASE, REFRESH_JOB, Refresher, Tick};

/// The default limit of a request body: 2 MiB.
pub const DEFAULT_MAX_BODY: usize = 2 * 1024 * 1024;

/// How the service runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The largest request body, in bytes; larger ones are answered 413.
    pub max_body: usize,
    /// How long one request may take; a request still running then is answered 503 (what it
    /// minted stays recorded in the ledger: a retry gets the same sessions).
    pub request_timeout: Duration,
    /// After a shutdown signal, how long requests in flight may still take.
    pub shutdown_grace: Duration,
    /// Requests of one tenant served at once; more wait (within the request timeout), so one
    /// tenant's burst cannot take every worker from the others.
    pub tenant_concurrency: usize,
    /// How often the background [`Refresher`] extends every tenant's upcoming links (one
    /// replica at a time); `None`: never (the default of the library; the CLI's is an hour).
    pub refresh_every: Option<Duration>,
    /// The lease of the refresher's turn in the ledger: a replica that dies mid-run leaves the
    /// turn to another after this long.
    pub refresh_lease: Duration,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            max_body: DEFAULT_MAX_BODY,
            request_timeout: Duration::from_secs(150),
            shutdown_grace: Duration::from_secs(30),
            tenant_concurrency: 32,
            refresh_every: None,
            refresh_lease: DEFAULT_REFRESH_LEASE,
        }
    }
}

impl ServiceConfig {
    /// The engine serving every tenant of this configuration, from `builder` (its ledger,
    /// lease and settle time).
    pub fn engine(&self, builder: EngineBuilder) -> Result<Engine, ConfigError> {
        self.tenants
            .iter()
            .fold(builder, |b, t| b.tenant(t.tenant.clone()))
            .build()
    }
}

/// The service: the engine, the tenants' tokens and webhooks, and how it runs.
#[derive(Debug, Clone)]
pub struct Service {
    state: handlers::State,
    options: ServeOptions,
    refresher: Option<Refresher>,
}

impl Service {
    /// The service of `config`'s tenants over `engine`, which must serve every one of them.
    pub fn new(
        engine: Arc<Engine>,
        config: ServiceConfig,
        options: ServeOptions,
    ) -> Result<Service, ConfigError> {
        for t in &config.tenants {
            if !engine.tenants().any(|id| id == t.tenant.id) {
                return Err(ConfigError::new(format!(
                    "the engine does not serve tenant `{}`",
                    crate::shown(&t.tenant.id)
                )));
            }
        }
        Ok(Service {
            refresher: options
                .refresh_every
                .filter(|every| !every.is_zero())
                .map(|every| Refresher::new(engine.clone(), every, options.refresh_lease)),
            state: handlers::State::new(engine, config, options.tenant_concurrency.max(1)),
            options,
        })
    }

    /// The routes, with their limits, timeout, request ids and tracing.
    pub fn router(&self) -> Router {
        let v1 = Router::new()
            .route("/check", post(handlers::check))
            .route("/plan", post(handlers::plan))
            .route("/resolve", post(handlers::resolve))
            .route("/ics", post(handlers::ics))
            .route("/interviews/{id}/links", get(handlers::links))
            .route("/interviews/{id}", delete(handlers::cancel_interview))
            .route(
                "/interviews/{id}/events/{event_id}",
                delete(handlers::cancel_event),
            )
            .route("/refresh", post(handlers::refresh))
            .route_layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                handlers::authenticate,
            ))
            .route_layer(axum::middleware::from_fn(metrics::note_route));
        Router::new()
            .route("/healthz", get(handlers::healthz))
            .route("/readyz", get(handlers::readyz))
            .route("/openapi.json", get(openapi::serve))
            .route("/webhooks/codesignal/{tenant}", post(webhook::codesignal))
            .route_layer(axum::middleware::from_fn(metrics::note_route))
            .nest("/v1", v1)
            .fallback(handlers::no_route)
            .with_state(self.state.clone())
            // Layers run bottom-up on the way in: the request id first, so every log line of
            // the request (the trace span) carries it.
            .layer(DefaultBodyLimit::disable())
            .layer(tower_http::limit::RequestBodyLimitLayer::new(
                self.options.max_body,
            ))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                self.options.request_timeout,
            ))
            .layer(axum::middleware::map_response(handlers::as_problem))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(Ids::default()))
            .layer(axum::middleware::from_fn(metrics::track))
    }

    /// This replica's refresher, when [`ServeOptions::refresh_every`] asks for one.
    pub fn refresher(&self) -> Option<&Refresher> {
        self.refresher.as_ref()
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting and lets the
    /// requests in flight finish for at most [`ServeOptions::shutdown_grace`]. Meanwhile the
    /// refresher (if any) runs in the background; on shutdown it finishes the tenant it is
    /// refreshing (within the same grace) and takes no other turn.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.options.shutdown_grace;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stop = Arc::new(stop);
        let refresher = self.refresher.clone().map(|r| tokio::spawn(r.run(stopped)));
        let (fired, signalled) = tokio::sync::oneshot::channel::<()>();
        let stop_refresher = stop.clone();
        let server = axum::serve(listener, self.router()).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing requests in flight");
            let _ = stop_refresher.send(true);
            let _ = fired.send(());
        });
        let served = Self::drain(server.into_future(), signalled, grace).await;
        // Also when the server failed without a shutdown signal.
        let _ = stop.send(true);
        if let Some(refresher) = refresher
            && tokio::time::timeout(grace, refresher).await.is_err()
        {
            tracing::warn!(
                "the refresher was still running after the shutdown grace; its turn is left \
                 to run out"
            );
        }
        served
    }

    /// Runs `server` until it ends, or for at most `grace` after `signalled`.
    async fn drain(
        server: impl Future<Output = std::io::Result<()>>,
        signalled: tokio::sync::oneshot::Receiver<()>,
        grace: Duration,
    ) -> std::io::Result<()> {
        let mut server = std::pin::pin!(server);
        tokio::select! {
            done = &mut server => return done,
            _ = signalled => {}
        }
        match tokio::time::timeout(grace, server).await {
            Ok(done) => done,
            Err(_) => {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "requests still in flight after the shutdown grace; stopping anyway (what \
                     they minted is recorded in the ledger)"
                );
                Ok(())
            }
        }
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The span of one request: method, path (never the query or the headers: a token may be in
/// them), request id; the tenant is recorded once known.
fn span<B>(request: &Request<B>) -> tracing::Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id = %crate::shown(id),
        method = %request.method(),
        path = %crate::shown(request.uri().path()),
        tenant = tracing::field::Empty,
    )
}

/// Request ids: a random prefix per process and a counter, so ids of replicas do not collide.
#[derive(Debug, Clone)]
struct Ids {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for Ids {
    fn default() -> Ids {
        Ids {
            prefix: format!("{:08x}", fastrand::u32(..)).into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for Ids {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}
