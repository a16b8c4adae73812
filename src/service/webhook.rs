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
    /// `ping`; `finished` (recorded), `already_finished`, `not_over`, `not_minted`,
    /// `unknown` (no session of this tenant's ledger), `ignored` (an event not acted on),
    /// `duplicate` (a redelivery) or `replayed` (the signature of an earlier delivery naming
    /// another session). Only `finished` changed the ledger.
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

fn malformed(why: String) -> Problem {
    super::metrics::webhook("-", "malformed");
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad-delivery",
        "Not a webhook delivery",
        format!("the body is not a CodeSignal webhook envelope ({why}); nothing was changed"),
    )
}

/// The event acted on.
const FINISHED: &str = "liveInterviewFinished";

/// The longest session id taken from a payload (as the CodeSignal client accepts).
const MAX_SESSION_ID: usize = 128;

/// The live interview a payload names, if it is one that may be looked up: printable ASCII
/// without spaces, of a sane length (the payload is not signed; anything may be in it).
fn session_of(payload: Option<&serde_json::Value>) -> Option<&str> {
    let id = payload?.get("interviewId")?.as_str()?;
    (!id.is_empty() && id.len() <= MAX_SESSION_ID && id.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(id)
}

/// `POST /webhooks/codesignal/{tenant}`: a wrong or missing signature, an unknown tenant or
/// one without a webhook, are all the same 401 and change nothing. A verified delivery is
/// de-duplicated in the ledger by (tenant, event, triggeredOn); `liveInterviewFinished` for a
/// minted session of the tenant that CodeSignal, asked again, reports `over` records it
/// `finished`. Everything else is answered 200 and changes nothing; a failure to re-read or
/// record is 503, so CodeSignal delivers again.
#[utoipa::path(post, path = "/webhooks/codesignal/{tenant}", tag = "webhooks",
    params(("tenant" = String, Path, description = "the tenant id"), ("X-CodeSignal-Signature" = String, Header, description = "hex HMAC-SHA256 of webhook_url + event + triggeredOn")),
    request_body(content = Object, description = "CodeSignal's envelope: event, triggeredOn, payload"),
    responses((status = 200, description = "received: `status` says what was done (only `finished` changed the ledger)", body = Object),
        (status = 400, description = "not a webhook envelope", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "a missing or wrong signature (or no such webhook): nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "CodeSignal or the ledger failed: nothing changed; a redelivery is acted on", body = Problem, content_type = "application/problem+json")))]
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
    let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| malformed(e.to_string()))?;
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
    let status = if ping {
        "ping"
    } else {
        act(&state, &tenant, &envelope).await?
    };
    super::metrics::webhook(&envelope.event, status);
    tracing::info!(
        tenant = %crate::shown(&tenant),
        event = %crate::shown(&envelope.event),
        triggered_on = envelope.triggered_on,
        session = %crate::shown(session_of(envelope.payload.as_ref()).unwrap_or("-")),
        status,
        "webhook delivery"
    );
    Ok(Json(Receipt {
        event: envelope.event,
        status,
    }))
}

/// Acts on a verified delivery with a payload, once per (tenant, event, triggeredOn).
async fn act(state: &State, tenant: &str, envelope: &Envelope) -> Result<&'static str, Problem> {
    let triggered_on = i64::try_from(envelope.triggered_on)
        .map_err(|_| malformed("`triggeredOn` is out of range".to_owned()))?;
    let session = session_of(envelope.payload.as_ref());
    if envelope.event == FINISHED && session.is_none() {
        // Nothing that could be looked up: nothing to record either.
        return Ok("unknown");
    }
    let delivery = crate::Delivery {
        tenant,
        event: &envelope.event,
        triggered_on,
        session_id: session.unwrap_or(""),
    };
    let engine = state.engine();
    let ledger = engine.ledger();
    match ledger
        .claim_delivery(&delivery)
        .await
        .map_err(|e| failed(&e))?
    {
        crate::DeliveryClaim::Act => {}
        crate::DeliveryClaim::Done { .. } => return Ok("duplicate"),
        crate::DeliveryClaim::OtherSession { first } => {
            tracing::warn!(
                tenant = %crate::shown(tenant),
                event = %crate::shown(&envelope.event),
                triggered_on,
                first = %crate::shown(&first),
                named = %crate::shown(delivery.session_id),
                "webhook delivery ignored: its signature was used before for another session \
                 (a replay)"
            );
            return Ok("replayed");
        }
    }
    let outcome = match session.filter(|_| envelope.event == FINISHED) {
        Some(id) => match engine.session_finished(tenant, id).await {
            Ok(outcome) => outcome.as_str(),
            Err(e) => {
                // Acting again is harmless: a redelivery may.
                let _ = ledger.settle_delivery(&delivery, "failed").await;
                return Err(failed(&e));
            }
        },
        None => "ignored",
    };
    ledger
        .settle_delivery(&delivery, outcome)
        .await
        .map_err(|e| failed(&e))?;
    Ok(outcome)
}

/// A delivery that could not be acted on: 503, so CodeSignal delivers it again.
fn failed(e: &dyn std::error::Error) -> Problem {
    tracing::warn!(error = %e, "webhook delivery not acted on");
    super::metrics::webhook("-", "failed");
    let mut p = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "webhook-unavailable",
        "Delivery not acted on",
        "re-reading the session at CodeSignal or recording the delivery failed; nothing was \
         changed, and a redelivery will be acted on",
    );
    p.retry_after = Some(60);
    p
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
