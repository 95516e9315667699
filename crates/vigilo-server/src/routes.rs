//! The one route table. Each entry names its method, path and the access it
//! needs; [`build`] is the only place routes are added to the router, and a test
//! walks the table checking every entry against every role.

use crate::ctx::{access_layer, access_log, context_layer, security_headers, Ctx};
use crate::error::{AppError, ErrorCode};
use crate::{
    api, appraisal, blueprints, directory, federation, federation_warnings, fhir_incidents, impact,
    incidents, monitoring, monitoring_alerts, monitoring_report, navigator, notices, orgs, pages,
    products, sandbox, signals, AppState,
};
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::MethodRouter;
use axum::{Extension, Router};
use std::sync::Arc;
use vigilo_core::Role;

#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Anyone, including anonymous visitors.
    Public,
    /// Any logged-in account.
    Authenticated,
    /// Only these roles.
    Roles(&'static [Role]),
}

pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: MethodRouter<AppState>,
    /// A larger body limit than the server's default (file uploads).
    pub body_limit: Option<usize>,
}

impl RouteSpec {
    fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = Some(limit);
        self
    }
}

/// Evidence files up to their limit, plus room for the multipart envelope.
const UPLOAD_LIMIT: usize = vigilo_core::documents::MAX_DOCUMENT_BYTES + 64 * 1024;

const ADMIN: Access = Access::Roles(&[Role::Admin]);
const STAFF: Access = Access::Roles(&[Role::Admin, Role::Reviewer]);
const VENDOR: Access = Access::Roles(&[Role::Vendor]);
const VENDOR_OR_STAFF: Access = Access::Roles(&[Role::Vendor, Role::Reviewer, Role::Admin]);
/// Facilities' own accounts and the regulator's staff.
const REPORTERS: Access = Access::Roles(&[Role::Admin, Role::Reviewer, Role::Reporter]);
const ORG_MEMBERS: Access =
    Access::Roles(&[Role::Admin, Role::Reviewer, Role::Vendor, Role::Reporter]);

fn spec(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        handler,
        body_limit: None,
    }
}

/// Every route of the application.
pub fn route_table() -> Vec<RouteSpec> {
    use axum::routing::{get, post};
    use Access::*;
    use Method as M;
    vec![
        // Operations
        spec(M::GET, "/healthz", Public, get(api::healthz)),
        spec(M::GET, "/readyz", Public, get(api::readyz)),
        spec(M::GET, "/static/vigilo.css", Public, get(pages::stylesheet)),
        // Pages
        spec(M::GET, "/", Public, get(pages::home)),
        spec(M::GET, "/login", Public, get(pages::login_form)),
        spec(M::POST, "/login", Public, post(pages::login_submit)),
        spec(M::POST, "/logout", Authenticated, post(pages::logout)),
        spec(M::GET, "/register", Public, get(orgs::register_form)),
        spec(M::POST, "/register", Public, post(orgs::register_submit)),
        spec(M::GET, "/admin/organisations", ADMIN, get(orgs::admin_orgs)),
        spec(
            M::POST,
            "/admin/organisations",
            ADMIN,
            post(orgs::admin_create_org),
        ),
        spec(M::GET, "/account", Authenticated, get(pages::account)),
        spec(
            M::POST,
            "/account/tokens",
            Authenticated,
            post(pages::create_token),
        ),
        spec(
            M::POST,
            "/account/tokens/{id}/revoke",
            Authenticated,
            post(pages::revoke_token),
        ),
        spec(M::GET, "/admin", ADMIN, get(pages::admin)),
        spec(
            M::POST,
            "/admin/users",
            ADMIN,
            post(pages::admin_create_user),
        ),
        spec(
            M::POST,
            "/admin/users/{username}/role",
            ADMIN,
            post(pages::admin_set_role),
        ),
        spec(
            M::POST,
            "/admin/users/{username}/disable",
            ADMIN,
            post(pages::admin_set_disabled),
        ),
        spec(M::GET, "/directory", Public, get(directory::search_page)),
        spec(
            M::GET,
            "/directory/export.csv",
            Public,
            get(directory::export_csv),
        ),
        spec(
            M::GET,
            "/directory/export.xlsx",
            Public,
            get(directory::export_xlsx),
        ),
        spec(
            M::GET,
            "/directory/feed.atom",
            Public,
            get(directory::atom_feed),
        ),
        spec(
            M::GET,
            "/directory/{id}",
            Public,
            get(directory::entry_page),
        ),
        spec(M::GET, "/vendor", VENDOR, get(products::vendor_home)),
        spec(
            M::POST,
            "/vendor/products",
            VENDOR,
            post(products::vendor_create_product),
        ),
        spec(
            M::GET,
            "/vendor/products/{id}",
            VENDOR_OR_STAFF,
            get(products::vendor_product),
        ),
        spec(
            M::POST,
            "/vendor/products/{id}/versions",
            VENDOR_OR_STAFF,
            post(products::vendor_create_version),
        ),
        spec(M::GET, "/review", STAFF, get(products::review_home)),
        spec(
            M::GET,
            "/review/products/{id}",
            STAFF,
            get(products::review_product),
        ),
        spec(
            M::POST,
            "/review/products/{id}/classification",
            STAFF,
            post(products::review_classify),
        ),
        spec(
            M::POST,
            "/review/products/{id}/reliance",
            STAFF,
            post(products::review_reliance),
        ),
        spec(
            M::POST,
            "/review/versions/{id}/publish",
            STAFF,
            post(products::review_publish),
        ),
        spec(
            M::POST,
            "/review/versions/{id}/withdraw",
            STAFF,
            post(products::review_withdraw),
        ),
        spec(
            M::GET,
            "/applications",
            VENDOR_OR_STAFF,
            get(appraisal::list_page),
        ),
        spec(
            M::POST,
            "/applications",
            VENDOR,
            post(appraisal::open_submit),
        ),
        spec(
            M::GET,
            "/applications/{id}",
            VENDOR_OR_STAFF,
            get(appraisal::detail_page),
        ),
        spec(
            M::POST,
            "/applications/{id}/answers",
            VENDOR,
            post(appraisal::answers_submit),
        ),
        spec(
            M::POST,
            "/applications/{id}/assessment",
            STAFF,
            post(appraisal::assessment_submit),
        ),
        spec(
            M::POST,
            "/applications/{id}/documents",
            VENDOR,
            post(appraisal::document_upload),
        )
        .with_body_limit(UPLOAD_LIMIT),
        spec(
            M::GET,
            "/applications/{id}/documents/{doc}",
            VENDOR_OR_STAFF,
            get(appraisal::document_download),
        ),
        spec(
            M::POST,
            "/applications/{id}/actions",
            VENDOR_OR_STAFF,
            post(appraisal::action_submit),
        ),
        spec(
            M::POST,
            "/applications/{id}/reviewer",
            STAFF,
            post(appraisal::assign_submit),
        ),
        // Early warning
        spec(M::GET, "/report", Public, get(incidents::new_page)),
        spec(
            M::GET,
            "/early-warning",
            Public,
            get(incidents::public_page),
        ),
        spec(
            M::GET,
            "/api/v1/public/incidents",
            Public,
            get(incidents::api_public_list),
        ),
        spec(
            M::GET,
            "/api/v1/public/incident-counts",
            Public,
            get(incidents::api_public_counts),
        ),
        spec(M::POST, "/report", Public, post(incidents::new_submit)),
        spec(
            M::GET,
            "/static/incident-form.js",
            Public,
            get(incidents::form_script),
        ),
        spec(
            M::GET,
            "/incidents",
            VENDOR_OR_STAFF,
            get(incidents::list_page),
        ),
        spec(
            M::GET,
            "/incidents/{id}",
            VENDOR_OR_STAFF,
            get(incidents::detail_page),
        ),
        spec(
            M::POST,
            "/incidents/{id}/actions",
            STAFF,
            post(incidents::action_submit),
        ),
        spec(
            M::POST,
            "/incidents/{id}/duplicate",
            STAFF,
            post(incidents::duplicate_submit),
        ),
        spec(
            M::POST,
            "/incidents/{id}/codes",
            STAFF,
            post(incidents::codes_submit),
        ),
        spec(
            M::POST,
            "/incidents/{id}/messages",
            VENDOR_OR_STAFF,
            post(incidents::message_submit),
        ),
        spec(M::GET, "/notices", Public, get(notices::list_page)),
        spec(M::GET, "/notices/new", STAFF, get(notices::new_page)),
        spec(M::POST, "/notices", STAFF, post(notices::create_submit)),
        spec(M::GET, "/notices/{id}", Public, get(notices::detail_page)),
        spec(
            M::POST,
            "/notices/{id}/acknowledge",
            REPORTERS,
            post(notices::acknowledge_submit),
        ),
        spec(M::GET, "/api/v1/notices", Public, get(notices::api_list)),
        spec(
            M::POST,
            "/api/v1/notices/{id}/acknowledge",
            REPORTERS,
            post(notices::api_acknowledge),
        ),
        // GRN federation: the signed feed (public; more for signed peers), the admin's
        // identity and peers, the reviewers' page of what peers sent.
        spec(M::GET, federation::FEED_PATH, Public, get(federation::feed)),
        spec(
            M::GET,
            "/admin/federation",
            ADMIN,
            get(federation::admin_page),
        ),
        spec(
            M::POST,
            "/admin/federation/peers",
            ADMIN,
            post(federation::add_peer_submit),
        ),
        spec(
            M::POST,
            "/admin/federation/peers/{id}/remove",
            ADMIN,
            post(federation::remove_peer_submit),
        ),
        spec(
            M::GET,
            "/admin/federation/outbound.csv",
            ADMIN,
            get(federation::outbound_csv),
        ),
        spec(
            M::GET,
            "/from-peers",
            STAFF,
            get(federation::from_peers_page),
        ),
        spec(
            M::GET,
            "/grn/warnings",
            STAFF,
            get(federation_warnings::list),
        ),
        spec(
            M::GET,
            "/grn/warnings/new",
            STAFF,
            get(federation_warnings::new_form),
        ),
        spec(
            M::POST,
            "/grn/warnings",
            STAFF,
            post(federation_warnings::create),
        ),
        spec(
            M::GET,
            "/grn/warnings/{id}",
            STAFF,
            get(federation_warnings::show),
        ),
        spec(
            M::POST,
            "/grn/warnings/{id}/decide",
            STAFF,
            post(federation_warnings::decide),
        ),
        spec(M::GET, "/signals", STAFF, get(signals::list_page)),
        spec(M::POST, "/signals/run", STAFF, post(signals::run_submit)),
        spec(M::GET, "/signals/{id}", STAFF, get(signals::detail_page)),
        spec(
            M::POST,
            "/signals/{id}/actions",
            STAFF,
            post(signals::action_submit),
        ),
        spec(M::GET, "/api/v1/signals", STAFF, get(signals::api_list)),
        spec(M::GET, "/api/v1/signals/{id}", STAFF, get(signals::api_get)),
        spec(
            M::POST,
            "/api/v1/incidents",
            Public,
            post(incidents::api_submit),
        ),
        spec(
            M::POST,
            "/api/v1/incidents/preview",
            Public,
            post(incidents::api_preview),
        ),
        spec(
            M::GET,
            "/api/v1/incidents",
            VENDOR_OR_STAFF,
            get(incidents::api_list),
        ),
        spec(
            M::GET,
            "/api/v1/incidents/{id}",
            VENDOR_OR_STAFF,
            get(incidents::api_get),
        ),
        // HL7 FHIR R4: the same reports as AdverseEvent resources.
        spec(
            M::POST,
            "/fhir/r4/AdverseEvent",
            Public,
            post(fhir_incidents::create),
        ),
        spec(
            M::GET,
            "/fhir/r4/AdverseEvent",
            STAFF,
            get(fhir_incidents::search),
        ),
        spec(
            M::GET,
            "/fhir/r4/AdverseEvent/{id}",
            VENDOR_OR_STAFF,
            get(fhir_incidents::read),
        ),
        // Navigator
        spec(M::GET, "/navigator", Public, get(navigator::home_page)),
        spec(
            M::GET,
            "/navigator/blueprints",
            Public,
            get(blueprints::list_page),
        ),
        // `{file}` is a blueprint id (its page) or the id with `.pdf` or `.docx`.
        spec(
            M::GET,
            "/navigator/blueprints/{file}",
            Public,
            get(blueprints::blueprint_file),
        ),
        spec(
            M::POST,
            "/navigator/assessment",
            REPORTERS,
            post(navigator::open_submit),
        ),
        spec(
            M::POST,
            "/navigator/facility-type",
            REPORTERS,
            post(navigator::facility_type_submit),
        ),
        spec(
            M::GET,
            "/navigator/assessments/{id}",
            REPORTERS,
            get(navigator::assessment_page),
        ),
        spec(
            M::POST,
            "/navigator/assessments/{id}",
            REPORTERS,
            post(navigator::assessment_submit),
        ),
        spec(
            M::GET,
            "/navigator/training",
            REPORTERS,
            get(navigator::training_page),
        ),
        spec(
            M::POST,
            "/navigator/training/courses",
            STAFF,
            post(navigator::course_submit),
        ),
        spec(
            M::POST,
            "/navigator/training/sessions",
            REPORTERS,
            post(navigator::session_submit),
        ),
        spec(
            M::GET,
            "/navigator/map",
            REPORTERS,
            get(navigator::map_page),
        ),
        spec(
            M::GET,
            "/navigator/map.csv",
            REPORTERS,
            get(navigator::map_csv),
        ),
        spec(
            M::POST,
            "/navigator/settings",
            ADMIN,
            post(navigator::settings_submit),
        ),
        spec(
            M::GET,
            "/api/v1/navigator/assessments",
            REPORTERS,
            get(navigator::api_list),
        ),
        spec(
            M::POST,
            "/api/v1/navigator/assessments",
            REPORTERS,
            post(navigator::api_open),
        ),
        spec(
            M::GET,
            "/api/v1/navigator/assessments/{id}",
            REPORTERS,
            get(navigator::api_get),
        ),
        spec(
            M::PUT,
            "/api/v1/navigator/assessments/{id}/answers",
            REPORTERS,
            axum::routing::put(navigator::api_save),
        ),
        spec(
            M::GET,
            "/api/v1/navigator/courses",
            Public,
            get(navigator::api_courses),
        ),
        spec(
            M::POST,
            "/api/v1/navigator/courses",
            STAFF,
            post(navigator::api_create_course),
        ),
        spec(
            M::GET,
            "/api/v1/navigator/sessions",
            REPORTERS,
            get(navigator::api_sessions),
        ),
        spec(
            M::POST,
            "/api/v1/navigator/sessions",
            REPORTERS,
            post(navigator::api_record_session),
        ),
        spec(
            M::GET,
            "/api/v1/navigator/training-status",
            REPORTERS,
            get(navigator::api_training_status),
        ),
        spec(
            M::GET,
            "/api/v1/navigator/map",
            REPORTERS,
            get(navigator::api_map),
        ),
        spec(
            M::GET,
            "/api/v1/navigator/settings",
            REPORTERS,
            get(navigator::api_settings),
        ),
        spec(
            M::PUT,
            "/api/v1/navigator/settings",
            ADMIN,
            axum::routing::put(navigator::api_set_settings),
        ),
        // Monitoring
        spec(M::GET, "/pilot", Public, get(monitoring::pilot_page)),
        spec(
            M::GET,
            "/monitoring",
            ORG_MEMBERS,
            get(monitoring::monitoring_page),
        ),
        spec(
            M::GET,
            "/deployments",
            ORG_MEMBERS,
            get(monitoring::deployments_page),
        ),
        spec(
            M::POST,
            "/deployments/rollout",
            STAFF,
            post(monitoring::rollout_submit),
        ),
        spec(
            M::GET,
            "/deployments/{id}",
            ORG_MEMBERS,
            get(monitoring::deployment_page),
        ),
        spec(
            M::POST,
            "/deployments/{id}/reports",
            REPORTERS,
            post(monitoring::report_form_submit),
        ),
        spec(
            M::POST,
            "/deployments/{id}/status",
            STAFF,
            post(monitoring::status_submit),
        ),
        spec(
            M::POST,
            "/alerts/{id}",
            STAFF,
            post(monitoring::alert_submit),
        ),
        spec(
            M::POST,
            "/api/v1/monitoring/reports",
            REPORTERS,
            post(monitoring::api_reports),
        )
        .with_body_limit(monitoring::MAX_BATCH_BYTES),
        spec(
            M::GET,
            "/api/v1/deployments",
            ORG_MEMBERS,
            get(monitoring::api_deployments),
        ),
        spec(
            M::POST,
            "/api/v1/deployments",
            STAFF,
            post(monitoring::api_create_deployment),
        ),
        spec(
            M::GET,
            "/api/v1/deployments/{id}",
            ORG_MEMBERS,
            get(monitoring::api_deployment),
        ),
        spec(
            M::POST,
            "/api/v1/trainings",
            REPORTERS,
            post(monitoring::api_training),
        ),
        spec(
            M::GET,
            "/api/v1/kpis",
            ORG_MEMBERS,
            get(monitoring::api_kpis),
        ),
        // Period reports: public routes; the handler picks the variant (staff full, a vendor
        // full for its own product, everybody else public).
        spec(
            M::GET,
            "/reports",
            Public,
            get(monitoring_report::reports_page),
        ),
        spec(
            M::GET,
            "/reports/{period}",
            Public,
            get(monitoring_report::report),
        ),
        spec(M::GET, "/api/v1/impact", STAFF, get(impact::api_impact)),
        spec(
            M::GET,
            "/alerts",
            VENDOR_OR_STAFF,
            get(monitoring_alerts::alerts_page),
        ),
        spec(
            M::GET,
            "/api/v1/alerts",
            VENDOR_OR_STAFF,
            get(monitoring_alerts::api_alerts),
        ),
        spec(M::GET, "/sandbox", VENDOR_OR_STAFF, get(sandbox::desk)),
        spec(
            M::POST,
            "/sandbox/datasets",
            STAFF,
            post(sandbox::dataset_upload),
        )
        .with_body_limit(sandbox::MAX_UPLOAD),
        spec(
            M::POST,
            "/sandbox/studies",
            STAFF,
            post(sandbox::study_create),
        ),
        spec(
            M::GET,
            "/sandbox/studies/{id}",
            VENDOR_OR_STAFF,
            get(sandbox::study_detail),
        ),
        spec(
            M::POST,
            "/sandbox/studies/{id}/submissions",
            VENDOR,
            post(sandbox::submit),
        )
        .with_body_limit(sandbox::MAX_UPLOAD),
        spec(
            M::GET,
            "/sandbox/submissions/{id}",
            VENDOR_OR_STAFF,
            get(sandbox::report_page),
        ),
        spec(
            M::GET,
            "/sandbox/submissions/{id}/report.json",
            VENDOR_OR_STAFF,
            get(sandbox::report_json),
        ),
        spec(
            M::GET,
            "/sandbox/submissions/{id}/report.pdf",
            VENDOR_OR_STAFF,
            get(sandbox::report_pdf),
        ),
        spec(M::GET, "/licences", Public, get(appraisal::licences_page)),
        spec(
            M::GET,
            "/licences/{id}",
            Public,
            get(appraisal::licence_detail),
        ),
        spec(
            M::GET,
            "/licences/{id}/letter",
            Public,
            get(appraisal::letter_page),
        ),
        spec(
            M::GET,
            "/licences/{id}/letter.pdf",
            Public,
            get(appraisal::letter_pdf),
        ),
        spec(
            M::POST,
            "/licences/{id}/actions",
            ADMIN,
            post(appraisal::licence_action),
        ),
        spec(
            M::POST,
            "/licences/{id}/extend",
            STAFF,
            post(appraisal::licence_extend),
        ),
        spec(M::GET, "/provinces", Public, get(pages::provinces)),
        spec(M::GET, "/provinces/{code}", Public, get(pages::province)),
        // JSON API
        spec(
            M::GET,
            "/api/v1/openapi.json",
            Public,
            get(api::openapi_json),
        ),
        spec(M::GET, "/api/v1/me", Authenticated, get(api::me)),
        spec(
            M::GET,
            "/api/v1/applications",
            VENDOR_OR_STAFF,
            get(appraisal::api_list),
        ),
        spec(
            M::POST,
            "/api/v1/applications",
            VENDOR,
            post(appraisal::api_open),
        ),
        spec(
            M::GET,
            "/api/v1/applications/{id}",
            VENDOR_OR_STAFF,
            get(appraisal::api_get),
        ),
        spec(
            M::POST,
            "/api/v1/applications/{id}/actions",
            VENDOR_OR_STAFF,
            post(appraisal::api_action),
        ),
        spec(
            M::PUT,
            "/api/v1/applications/{id}/answers",
            VENDOR,
            axum::routing::put(appraisal::api_answers),
        ),
        spec(
            M::POST,
            "/api/v1/applications/{id}/documents",
            VENDOR,
            post(appraisal::api_document),
        )
        .with_body_limit(UPLOAD_LIMIT),
        spec(
            M::GET,
            "/api/v1/licences",
            Public,
            get(appraisal::api_licences),
        ),
        spec(
            M::GET,
            "/api/v1/licences/{id}",
            Public,
            get(appraisal::api_licence),
        ),
        spec(
            M::POST,
            "/api/v1/licences/{id}/actions",
            ADMIN,
            post(appraisal::api_licence_action),
        ),
        spec(M::GET, "/api/v1/admin-units", Public, get(api::admin_units)),
        spec(
            M::GET,
            "/api/v1/admin-units/{code}",
            Public,
            get(api::admin_unit),
        ),
        spec(
            M::GET,
            "/api/v1/organisations",
            Public,
            get(api::list_organisations),
        ),
        spec(
            M::POST,
            "/api/v1/organisations",
            ADMIN,
            post(api::create_organisation),
        ),
        spec(
            M::GET,
            "/api/v1/organisations/{id}/members",
            ORG_MEMBERS,
            get(api::organisation_members),
        ),
        spec(
            M::GET,
            "/api/v1/directory",
            Public,
            get(directory::api_search),
        ),
        spec(
            M::GET,
            "/api/v1/directory/changes",
            Public,
            get(directory::api_changes),
        ),
        spec(
            M::GET,
            "/api/v1/directory/{id}",
            Public,
            get(directory::api_entry),
        ),
        spec(
            M::GET,
            "/api/v1/directory/{id}/fhir",
            Public,
            get(directory::api_fhir),
        ),
        spec(
            M::POST,
            "/api/v1/products",
            VENDOR,
            post(products::api_create_product),
        ),
        spec(
            M::POST,
            "/api/v1/products/{id}/versions",
            VENDOR_OR_STAFF,
            post(products::api_create_version),
        ),
        spec(
            M::POST,
            "/api/v1/products/{id}/classification",
            STAFF,
            post(products::api_classify),
        ),
        spec(
            M::POST,
            "/api/v1/versions/{id}/publish",
            STAFF,
            post(products::api_publish_version),
        ),
        spec(M::GET, "/api/v1/users", ADMIN, get(api::list_users)),
        spec(M::POST, "/api/v1/users", ADMIN, post(api::create_user)),
        spec(M::GET, "/api/v1/audit", STAFF, get(api::list_audit)),
        spec(
            M::GET,
            "/api/v1/audit/verify",
            ADMIN,
            get(api::verify_audit),
        ),
    ]
}

async fn not_found(Extension(ctx): Extension<Arc<Ctx>>) -> impl IntoResponse {
    ctx.err(AppError::new(ErrorCode::NotFound))
}

async fn method_not_allowed(Extension(ctx): Extension<Arc<Ctx>>) -> impl IntoResponse {
    ctx.err(AppError::new(ErrorCode::MethodNotAllowed))
}

pub fn build(state: AppState) -> Router {
    let limit = state.config.body_limit;
    let mut router: Router<AppState> = Router::new();
    for r in route_table() {
        // Each method gets its own access layer, so GET and POST on one path may differ.
        let route_limit = r.body_limit.unwrap_or(limit).max(limit);
        let guarded = r
            .handler
            .route_layer(from_fn_with_state((r.access, route_limit), access_layer))
            .layer(DefaultBodyLimit::max(route_limit));
        router = router.route(r.path, guarded);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn(access_log))
        .layer(from_fn_with_state(state.clone(), context_layer))
        .layer(from_fn_with_state(
            state.in_flight.clone(),
            crate::overload::shed_load,
        ))
        .layer(from_fn_with_state(state.clone(), security_headers))
        .with_state(state)
}
