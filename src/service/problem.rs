//! Errors as RFC 9457 problem details (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::{Diagnostic, Outcome};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One error answer. Its `detail` says what to do; it never holds a key or a bearer token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct Problem {
    /// The kind of problem; its `type` URI is `urn:invitoken:problem:<kind>`.
    #[serde(rename = "type", serialize_with = "urn")]
    #[schema(value_type = String, example = "urn:invitoken:problem:invalid-template")]
    pub kind: &'static str,
    /// A short summary of the kind.
    #[schema(value_type = String)]
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened here and what to do.
    pub detail: String,
    /// For a bad request or template: every problem, with line, column, help and field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::openapi::Finding>>)]
    pub findings: Option<Vec<Diagnostic>>,
    /// For a cancel or refresh that failed for some sessions: what was done with each.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub outcomes: Option<Vec<Outcome>>,
    /// Seconds after which a retry may succeed (also sent as `Retry-After`).
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after: Option<u32>,
}

impl Problem {
    /// A problem of kind `slug` with `status`, `title` and `detail`.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            findings: None,
            outcomes: None,
            retry_after: None,
        }
    }

    /// 422 with `findings`.
    pub fn invalid(
        kind: &'static str,
        detail: impl Into<String>,
        findings: Vec<Diagnostic>,
    ) -> Problem {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            kind,
            "The input has problems",
            detail,
        );
        p.findings = Some(findings);
        p
    }

    /// 401, naming nothing: neither which tenants exist nor why the token was refused.
    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "send `Authorization: Bearer <token>` with a token this service was configured with",
        )
    }

    /// 404 for what the tenant has no record of.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// The same problem, telling the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u32) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    /// Its status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| {
            br#"{"type":"about:blank","title":"Internal Server Error","status":500}"#.to_vec()
        });
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn urn<S: serde::Serializer>(kind: &&'static str, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("urn:invitoken:problem:{kind}"))
}
