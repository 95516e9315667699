//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use crate::api;
use crate::error::Problem;
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

pub fn document_json() -> Result<String, serde_json::Error> {
    ApiDoc::openapi().to_pretty_json()
}
