//! The OpenAPI document of the service (`GET /openapi.json`), generated from the handlers'
//! annotations by utoipa.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::problem::Problem;

/// One finding of a bad request, template or `.ics` (the JSON of `Diagnostic`).
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only
pub(crate) struct Finding {
    /// What is wrong.
    message: String,
    /// 1-based line in the template (or the request, or the file).
    line: Option<u32>,
    /// 1-based column, in characters.
    column: Option<u32>,
    /// How to fix it ("did you mean ...?").
    help: Option<String>,
    /// The request field it is in, as a JSON pointer (`/templates/candidate/body`).
    field: Option<String>,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "a token whose SHA-256 is listed in the tenant's token_sha256; it names the tenant",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "invitoken",
        description = "Resolves CodeSignal live-interview link tokens in interview invites, for \
                       many tenants. Errors are RFC 9457 problem details \
                       (application/problem+json)."
    ),
    paths(
        super::handlers::healthz,
        super::handlers::readyz,
        super::handlers::check,
        super::handlers::plan,
        super::handlers::resolve,
        super::handlers::ics,
        super::handlers::links,
        super::handlers::cancel_interview,
        super::handlers::cancel_event,
        super::handlers::refresh,
        super::webhook::codesignal,
    ),
    components(schemas(Problem, Finding)),
    modifiers(&Bearer)
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(crate) async fn serve() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(document())
}
