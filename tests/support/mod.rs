//! Helpers shared by the integration tests, benches and examples. Each user takes a subset.
#![allow(dead_code)]

pub mod fake_codesignal;
pub mod scratch;
pub mod serve;

/// A reqwest client builder for the tests' own HTTP clients (to the fake CodeSignal or the
/// service). invitoken builds reqwest without a TLS crypto provider of its own and installs ring
/// as rustls's process default when it makes a CodeSignal client (see Cargo.toml); a client a
/// test builds before that needs the same, or reqwest refuses to build it.
pub fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
