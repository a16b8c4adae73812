//! CodeSignal's webhook deliveries: `POST /webhooks/codesignal/{tenant}`.
//!
//! CodeSignal signs the registered URL, the `event` and `triggeredOn` (milliseconds, decimal),
//! concatenated, with HMAC-SHA256 under the hook's secret, hex in `X-CodeSignal-Signature`. The
//! body is not signed: its payload is only a hint, to be re-read over the API before acting.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::handlers::State;
use super::problem::Problem;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-codesignal-signature";

/// The hex HMAC-SHA256 CodeSignal sends for a delivery of `event` at `triggered_on` to `url`,
/// signed with `secret`.
pub fn sign(secret: &str, url: &str, event: &str, triggered_on: u64) -> String {
    let mac = mac(secret, url, event, triggered_on);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mac(secret: &str, url: &str, event: &str, triggered_on: u64) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(url.as_bytes());
    mac.update(event.as_bytes());
    mac.update(triggered_on.to_string().as_bytes());
    mac
}

/// Whether `signature` (hex) is the one for this delivery; compared in constant time.
fn verify(secret: &str, url: &str, event: &str, triggered_on: u64, signature: &[u8]) -> bool {
    let Some(bytes) = unhex(signature.trim_ascii()) else {
        return false;
    };
    mac(secret, url, event, triggered_on)
        .verify_slice(&bytes)
        .is_ok()
}

fn unhex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || hex.len() > 128 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    hex.chunks_exact(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// A delivery's envelope.
#[derive(Debug, Deserialize)]
struct Envelope {
    event: String,
    #[serde(rename = "triggeredOn")]
    triggered_on: u64,
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

/// What was done with a delivery.
#[derive(Debug, Serialize)]
pub(crate) struct Receipt {
    event: String,
    /// `ping`, or `ignored` (nothing in the ledger changed).
    status: &'static str,
}

fn refused() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "bad-signature",
        "Bad signature",
        "the X-CodeSignal-Signature header is missing or does not match; nothing was changed",
    )
}

/// `POST /webhooks/codesignal/{tenant}`: a wrong or missing signature, an unknown tenant or
/// one without a webhook, are all the same 401 and change nothing.
#[utoipa::path(post, path = "/webhooks/codesignal/{tenant}", tag = "webhooks",
    params(("tenant" = String, Path, description = "the tenant id"), ("X-CodeSignal-Signature" = String, Header, description = "hex HMAC-SHA256 of webhook_url + event + triggeredOn")),
    request_body(content = Object, description = "CodeSignal's envelope: event, triggeredOn, payload"),
    responses((status = 200, description = "received", body = Object),
        (status = 400, description = "not a webhook envelope", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "a missing or wrong signature (or no such webhook): nothing changed", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn codesignal(
    axum::extract::State(state): axum::extract::State<State>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, Problem> {
    let Some(signature) = headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes()) else {
        super::metrics::webhook("-", "refused");
        return Err(refused());
    };
    let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| {
        super::metrics::webhook("-", "malformed");
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-delivery",
            "Not a webhook delivery",
            format!("the body is not a CodeSignal webhook envelope ({e}); nothing was changed"),
        )
    })?;
    let webhook = state.webhook(&tenant);
    // A tenant with no webhook is checked against a throw-away secret, and refused: the time
    // taken does not tell which tenants exist.
    let (secret, url) = match webhook {
        Some(w) => (w.secret.expose_secret(), w.url.as_str()),
        None => ("\0no webhook", ""),
    };
    let verified = verify(
        secret,
        url,
        &envelope.event,
        envelope.triggered_on,
        signature,
    );
    if !verified || webhook.is_none() {
        tracing::warn!(tenant = %crate::shown(&tenant), "webhook delivery refused: bad signature");
        super::metrics::webhook(&envelope.event, "refused");
        return Err(refused());
    }
    let ping = envelope
        .payload
        .as_ref()
        .is_none_or(|p| p.is_null() || p.as_object().is_some_and(|o| o.is_empty()));
    let status = if ping { "ping" } else { "ignored" };
    super::metrics::webhook(&envelope.event, status);
    tracing::info!(
        tenant = %crate::shown(&tenant),
        event = %crate::shown(&envelope.event),
        triggered_on = envelope.triggered_on,
        status,
        "webhook delivery"
    );
    Ok(Json(Receipt {
        event: envelope.event,
        status,
    }))
}

#[cfg(test)]
mod tests {
    use super::{sign, verify};

    #[test]
    fn signature_covers_url_event_and_time() {
        let good = sign(
            "s3cret",
            "https://x.example/h",
            "liveInterviewFinished",
            1700000000000,
        );
        assert_eq!(good.len(), 64);
        let ok = |url: &str, event: &str, at: u64, sig: &str| {
            verify("s3cret", url, event, at, sig.as_bytes())
        };
        assert!(ok(
            "https://x.example/h",
            "liveInterviewFinished",
            1700000000000,
            &good
        ));
        assert!(ok(
            "https://x.example/h",
            "liveInterviewFinished",
            1700000000000,
            &good.to_uppercase()
        ));
        assert!(!ok(
            "https://x.example/g",
            "liveInterviewFinished",
            1700000000000,
            &good
        ));
        assert!(!ok(
            "https://x.example/h",
            "liveInterviewFeedbackUpdated",
            1700000000000,
            &good
        ));
        assert!(!ok(
            "https://x.example/h",
            "liveInterviewFinished",
            1700000000001,
            &good
        ));
        assert!(!ok(
            "https://x.example/h",
            "liveInterviewFinished",
            1700000000000,
            &good[..62]
        ));
        assert!(!ok(
            "https://x.example/h",
            "liveInterviewFinished",
            1700000000000,
            ""
        ));
        assert!(!verify(
            "other",
            "https://x.example/h",
            "liveInterviewFinished",
            1700000000000,
            good.as_bytes()
        ));
    }
}
