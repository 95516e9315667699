//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use crate::api;
use crate::error::Problem;
use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigilo API",
        description = "Vigilo: the regulator's platform for AI in health care. Errors are RFC 9457 problem documents.",
        version = "1"
    ),
    paths(
        api::healthz, api::readyz, api::me, api::admin_units, api::admin_unit,
        api::list_organisations, api::create_organisation, api::organisation_members,
        api::list_users, api::create_user, api::list_audit, api::verify_audit,
        crate::directory::api_search, crate::directory::api_entry, crate::directory::api_fhir,
        crate::directory::api_changes,
        crate::products::api_create_product, crate::products::api_create_version,
        crate::products::api_publish_version, crate::products::api_classify,
        crate::appraisal::api_list, crate::appraisal::api_open, crate::appraisal::api_get,
        crate::appraisal::api_action, crate::appraisal::api_answers, crate::appraisal::api_document,
        crate::appraisal::api_licences, crate::appraisal::api_licence,
        crate::appraisal::api_licence_action,
        crate::monitoring::api_reports, crate::monitoring::api_deployments,
        crate::monitoring::api_create_deployment, crate::monitoring::api_deployment,
        crate::monitoring::api_training, crate::monitoring::api_kpis,
        crate::impact::api_impact,
        crate::monitoring_alerts::api_alerts,
        crate::incidents::api_submit, crate::incidents::api_preview,
        crate::incidents::api_list, crate::incidents::api_get,
        crate::incidents::api_public_counts, crate::incidents::api_public_list,
        crate::signals::api_list, crate::signals::api_get,
        crate::notices::api_list, crate::notices::api_acknowledge,
        crate::fhir_incidents::create, crate::fhir_incidents::search,
        crate::fhir_incidents::read,
        crate::navigator::api_list, crate::navigator::api_open, crate::navigator::api_get,
        crate::navigator::api_save, crate::navigator::api_courses,
        crate::navigator::api_create_course, crate::navigator::api_sessions,
        crate::navigator::api_record_session, crate::navigator::api_training_status,
        crate::navigator::api_map, crate::navigator::api_settings,
        crate::navigator::api_set_settings,
    ),
    components(schemas(Problem)),
    modifiers(&Security)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vgl_ token")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::ctx::SESSION_COOKIE))),
        );
    }
}

/// Answers any operation may give from the layers in front of its handler (extractors,
/// authentication, CSRF, rate limits, load shedding, the database going away), which the
/// handlers' annotations leave out.
const COMMON_ANSWERS: [(&str, &str); 8] = [
    (
        "400",
        "The request is malformed or a value is invalid; the detail says which.",
    ),
    (
        "401",
        "Not logged in, or the token is unknown, expired or revoked.",
    ),
    (
        "403",
        "This account may not do this, or the form's CSRF token is missing.",
    ),
    ("404", "Nothing here, or not visible to this account."),
    ("413", "The request body is too large."),
    (
        "415",
        "The body's Content-Type is not one this operation reads.",
    ),
    ("429", "Too many requests; wait for Retry-After seconds."),
    (
        "503",
        "The database is unreachable or the server is busy; retry after Retry-After seconds.",
    ),
];

/// Errors are RFC 9457 problem documents (`application/problem+json`), FHIR's are
/// OperationOutcome resources (`application/fhir+json`): says so on every operation.
fn complete_error_answers(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let fhir = path.starts_with("/fhir/");
        let (media, schema) = if fhir {
            (
                "application/fhir+json",
                json!({ "type": "object", "description": "A FHIR OperationOutcome" }),
            )
        } else {
            (
                "application/problem+json",
                json!({ "$ref": "#/components/schemas/Problem" }),
            )
        };
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for (code, answer) in responses.iter_mut() {
                if code.starts_with('4') || code.starts_with('5') {
                    answer["content"] = json!({ media: { "schema": schema.clone() } });
                }
            }
            for (code, description) in COMMON_ANSWERS {
                if !responses.contains_key(code) {
                    responses.insert(
                        code.to_string(),
                        json!({ "description": description, "content": { media: { "schema": schema.clone() } } }),
                    );
                }
            }
        }
    }
}

pub fn document_json() -> Result<String, serde_json::Error> {
    let mut doc = serde_json::to_value(ApiDoc::openapi())?;
    complete_error_answers(&mut doc);
    serde_json::to_string_pretty(&doc)
}
