//! The fake CodeSignal API from the tests, served by hand so the real client path can be tried end
//! to end without a CodeSignal account:
//!
//! ```text
//! cargo run --example fake_codesignal -- --port 8089 [--latency-ms N] [--api-key KEY]
//! ```
//!
//! It prints the two environment variables to point invitoken at it, then serves until Ctrl-C,
//! logging one line per request (operation, field, HTTP status) to stderr.

#[path = "../tests/support/fake_codesignal.rs"]
mod fake_codesignal;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use fake_codesignal::{DEFAULT_API_KEY, FakeCodeSignal, FakeConfig};

/// Serve a fake CodeSignal GraphQL API on 127.0.0.1.
#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Delay added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The only API key accepted (as `Authorization: Bearer KEY`).
    #[arg(long, default_value = DEFAULT_API_KEY)]
    api_key: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = FakeConfig {
        api_key: args.api_key,
        latency: Duration::from_millis(args.latency_ms),
        log_requests: true,
    };
    let fake =
        FakeCodeSignal::start_on(SocketAddr::from(([127, 0, 0, 1], args.port)), config).await?;
    println!(
        "CODESIGNAL_ENDPOINT={} CODESIGNAL_API_KEY={}",
        fake.endpoint(),
        fake.api_key()
    );
    eprintln!(
        "fake CodeSignal: serving on {}; Ctrl-C stops it",
        fake.endpoint()
    );
    tokio::signal::ctrl_c().await?;
    eprintln!(
        "fake CodeSignal: {} requests, {} sessions created",
        fake.received().len(),
        fake.creates()
    );
    Ok(())
}
