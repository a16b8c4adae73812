//! `invitoken serve`: the flags, and starting the library's service with them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::LedgerArgs;

/// The service's flags.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// The tenants file (TOML, one `[[tenant]]` table per tenant; see the README).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub(crate) listen: std::net::SocketAddr,
    /// Serve Prometheus metrics at `/metrics` on this address (only there, never on --listen).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// The largest request body (`2MiB`, `512KiB`, or bytes); larger ones are answered 413.
    #[arg(long, default_value = "2MiB", value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_body: usize,
    /// How long one request may take, in seconds; then it is answered 503.
    #[arg(long, default_value_t = 150, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) request_timeout: u64,
    /// Requests of one tenant served at once; more wait their turn.
    #[arg(long, default_value_t = 32, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub(crate) tenant_concurrency: u64,
    /// After SIGTERM or Ctrl-C, how long requests in flight may still take, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub(crate) shutdown_grace: u64,
    /// Every this many seconds, extend every tenant's upcoming links as `refresh` does, one
    /// replica at a time (a turn taken in the ledger); 0: never.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub(crate) refresh_every: u64,
    /// The deadline of one operation's calls to CodeSignal, in seconds.
    #[arg(long, default_value_t = super::DEFAULT_RESOLVE_DEADLINE, value_name = "SECONDS")]
    pub(crate) deadline: f64,
    #[command(flatten)]
    pub(crate) ledger: LedgerArgs,
}

/// `2MiB`, `512KiB`, `1GiB`, `100B` or a number of bytes.
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => return Err(format!("unknown unit `{other}`: use B, KiB, MiB or GiB")),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| "give a number of bytes, e.g. 2MiB".to_owned())?;
    n.checked_mul(unit)
        .filter(|n| *n > 0)
        .ok_or_else(|| "give a size from 1 byte to the memory of the machine".to_owned())
}

/// Runs the service until SIGTERM or Ctrl-C.
pub(crate) fn run(args: ServeArgs) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let settings = crate::CodeSignalSettings {
        deadline_secs: Some(args.deadline),
        ..Default::default()
    };
    let config =
        crate::service::ServiceConfig::load(&args.config, &settings).map_err(|e| e.to_string())?;
    let options = crate::service::ServeOptions {
        max_body: args.max_body,
        request_timeout: Duration::from_secs(args.request_timeout),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        tenant_concurrency: args.tenant_concurrency as usize,
        refresh_every: Some(Duration::from_secs(args.refresh_every))
            .filter(|every| !every.is_zero()),
        // A replica that dies mid-refresh leaves the turn to another after the same lease as
        // its mint intents.
        refresh_lease: Duration::from_secs(args.ledger.ledger_lease.max(1)),
    };
    let rt =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        let ledger = args.ledger.open(false).await??;
        let engine = config
            .engine(
                crate::Engine::builder(ledger)
                    .lease(Duration::from_secs(args.ledger.ledger_lease))
                    .settle_after(Duration::from_secs(args.ledger.settle_after)),
            )
            .map_err(|e| e.to_string())?;
        let service = crate::service::Service::new(Arc::new(engine), config, options)
            .map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // One signal stops both listeners.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::service::shutdown_signal().await;
            let _ = stop.send(true);
        });
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        if let Some(at) = args.metrics_listen {
            let metrics = crate::service::Metrics::install()?;
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| format!("cannot listen on {at} (--metrics-listen): {e}"))?;
            tracing::info!(addr = %at, "metrics at /metrics");
            let stopped = until_stopped();
            tokio::spawn(async move {
                if let Err(e) = metrics.serve(listener, stopped).await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            });
        }
        tracing::info!(%addr, "invitoken serve: listening");
        service
            .serve(listener, until_stopped())
            .await
            .map_err(|e| format!("the server failed: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("2MB").is_err());
        assert!(parse_size("MiB").is_err());
    }
}
