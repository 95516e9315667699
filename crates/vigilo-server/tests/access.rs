//! The access matrix (issue 10, section 5): every route of `route_table()` called as every
//! principal (anonymous, a facility reporter, the vendors of organisations A and B, a
//! reviewer, an administrator, a federation peer) on real objects of the right kind, "own"
//! and "foreign" where the route is object-scoped, on SQLite and (when configured)
//! PostgreSQL.
//!
//! Expected outcomes: anonymous visitors are sent to `/login` on pages and get 401 on
//! `/api`, `/fhir` and `/federation`; a role the table does not name gets 403 `forbidden`;
//! an object of another organisation answers exactly what the handler uses to hide it (404
//! `not_found` almost everywhere, so existence does not leak; 403 `forbidden` for the
//! member list of an organisation, whose list is public anyway); an allowed call is never
//! refused, never "not found" on a real object, never a 5xx. Every body a principal
//! receives is searched for the private identifiers of the organisations it does not
//! belong to and for the sandbox's reference labels.
#![allow(clippy::unwrap_used)]

use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use vigilo_core::appraisal::{Actor, ApplicationCommand as C};
use vigilo_core::directory::{AiKind, ClinicalArea, InputModality, ModelCard, VersionLabel};
use vigilo_core::federation::{sign_request, Audience, HttpRequest, ItemType, NodeKeys};
use vigilo_core::monitoring::TrainingRecord;
use vigilo_core::signal::{NoticeKind, SignalMethod};
use vigilo_core::Role;
use vigilo_server::federation::FEED_PATH;
use vigilo_server::{route_table, Access};
use vigilo_store::{NewAlert, NewDeployment, NewNotice, NewPublication};
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(access_matrix);

/// The matrix may grow; it must not shrink without this number being lowered on purpose.
const MIN_CELLS: usize = 1600;

const REFERENCE: &[u8] = include_bytes!("../../vigilo-sandbox/fixtures/wdbc_reference.csv");
const PREDICTIONS: &[u8] =
    include_bytes!("../../vigilo-sandbox/fixtures/wdbc_sklearn_predictions.csv");
/// The reference dataset's label column, renamed so that it can be searched for.
const LABEL_COLUMN: &str = "truth_label_zq";

// ---------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum P {
    Anon,
    Peer,
    Reporter,
    VendorA,
    VendorB,
    Reviewer,
    Admin,
}

/// The administrator goes last: its calls change the most.
const PRINCIPALS: [P; 7] = [
    P::Anon,
    P::Peer,
    P::Reporter,
    P::VendorA,
    P::VendorB,
    P::Reviewer,
    P::Admin,
];

impl P {
    fn role(self) -> Option<Role> {
        match self {
            P::Anon => None,
            P::Peer => Some(Role::Peer),
            P::Reporter => Some(Role::Reporter),
            P::VendorA | P::VendorB => Some(Role::Vendor),
            P::Reviewer => Some(Role::Reviewer),
            P::Admin => Some(Role::Admin),
        }
    }
    fn username(self) -> &'static str {
        match self {
            P::Anon => "",
            P::Peer => "m-peer",
            P::Reporter => "m-reporter",
            P::VendorA => "m-vendor-a",
            P::VendorB => "m-vendor-b",
            P::Reviewer => "m-reviewer",
            P::Admin => "m-admin",
        }
    }
    fn staff(self) -> bool {
        matches!(self, P::Reviewer | P::Admin)
    }
}

// ---------------------------------------------------------------------------------------
// Objects: which kind a path parameter names
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A product managed through the vendor and review desks.
    Product,
    /// A product's public directory entry.
    PublicProduct,
    Version,
    Application,
    Document,
    Incident,
    Notice,
    Signal,
    Warning,
    Assessment,
    Deployment,
    Alert,
    Study,
    Submission,
    Licence,
    Organisation,
    Token,
    FedPeer,
    Username,
    AdminUnit,
    Period,
    /// A Navigator blueprint's file name (its page, or `.pdf`/`.docx`): public content.
    BlueprintFile,
}

/// The kind of object a path parameter names, from its name and the path it is in. A route
/// with a parameter this does not know fails the matrix: new routes cannot slip past.
fn kind_of(path: &str, param: &str) -> Kind {
    let starts = |p: &str| path.starts_with(p);
    match param {
        "id" if starts("/vendor/products/")
            || starts("/review/products/")
            || starts("/api/v1/products/") =>
        {
            Kind::Product
        }
        "id" if starts("/directory/") || starts("/api/v1/directory/") => Kind::PublicProduct,
        "id" if starts("/review/versions/") || starts("/api/v1/versions/") => Kind::Version,
        "id" if starts("/applications/") || starts("/api/v1/applications/") => Kind::Application,
        "doc" if starts("/applications/") => Kind::Document,
        "id" if starts("/incidents/")
            || starts("/api/v1/incidents/")
            || starts("/fhir/r4/AdverseEvent/") =>
        {
            Kind::Incident
        }
        "id" if starts("/notices/") || starts("/api/v1/notices/") => Kind::Notice,
        "id" if starts("/signals/") || starts("/api/v1/signals/") => Kind::Signal,
        "id" if starts("/grn/warnings/") => Kind::Warning,
        "id" if starts("/navigator/assessments/") || starts("/api/v1/navigator/assessments/") => {
            Kind::Assessment
        }
        "id" if starts("/deployments/") || starts("/api/v1/deployments/") => Kind::Deployment,
        "id" if starts("/alerts/") => Kind::Alert,
        "id" if starts("/sandbox/studies/") => Kind::Study,
        "id" if starts("/sandbox/submissions/") => Kind::Submission,
        "id" if starts("/licences/") || starts("/api/v1/licences/") => Kind::Licence,
        "id" if starts("/api/v1/organisations/") => Kind::Organisation,
        "id" if starts("/account/tokens/") => Kind::Token,
        "id" if starts("/admin/federation/peers/") => Kind::FedPeer,
        "username" if starts("/admin/users/") => Kind::Username,
        "code" if starts("/provinces/") || starts("/api/v1/admin-units/") => Kind::AdminUnit,
        "period" if starts("/reports/") => Kind::Period,
        "file" if starts("/navigator/blueprints/") => Kind::BlueprintFile,
        _ => panic!(
            "the access matrix does not know parameter {{{param}}} of {path}: \
             map it to an object in kind_of (tests/access.rs)"
        ),
    }
}

/// The `{name}` parameters of a path, in order.
fn params_of(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// How the code hides an object of another organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotFound,
    Forbidden,
    /// The same answer as for an id that does not exist (a form page naming the error).
    AsUnknown,
}

/// Who passes the object-level check without owning the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bypass {
    Staff,
    AdminOnly,
}

/// The object-level rule of a kind on a route, if it has one.
fn object_rule(kind: Kind, method: &Method) -> Option<(Refusal, Bypass)> {
    match kind {
        Kind::Product
        | Kind::Application
        | Kind::Document
        | Kind::Incident
        | Kind::Study
        | Kind::Submission
        | Kind::Assessment
        | Kind::Deployment => Some((Refusal::NotFound, Bypass::Staff)),
        // Notices are public to read; only a facility they reached acknowledges one.
        Kind::Notice if method != Method::GET => Some((Refusal::NotFound, Bypass::Staff)),
        Kind::Organisation => Some((Refusal::Forbidden, Bypass::Staff)),
        Kind::Token => Some((Refusal::NotFound, Bypass::AdminOnly)),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Obj {
    side: &'static str,
    id: String,
    owners: Vec<P>,
}

fn obj(side: &'static str, id: &str, owners: &[P]) -> Obj {
    Obj {
        side,
        id: id.to_string(),
        owners: owners.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct World {
    tokens: BTreeMap<P, String>,
    /// A second token of each principal's own (and of the victim), for the revoke route.
    spare_tokens: BTreeMap<P, String>,
    victim_token: String,
    org_a: String,
    org_b: String,
    org_r1: String,
    org_r2: String,
    product_a: String,
    product_b: String,
    version_a: String,
    version_b: String,
    /// Drafts the review desk publishes and withdraws during the matrix.
    review_version_a: String,
    review_version_b: String,
    app_a: String,
    app_b: String,
    doc_a: String,
    doc_b: String,
    incident_a: String,
    incident_b: String,
    notice_a: String,
    notice_b: String,
    signal: String,
    warning: String,
    assessment_r1: String,
    assessment_r2: String,
    deployment_a: String,
    deployment_b: String,
    alert: String,
    study_a: String,
    study_b: String,
    submission_a: String,
    submission_b: String,
    licence_a: String,
    licence_b: String,
    removable_peer: String,
    peer_keys: Option<NodeKeys>,
    /// Strings only the listed principals (and staff) may ever receive.
    private: Vec<(String, Vec<P>)>,
    /// `case_id,label` pairs of the reference dataset: never to anyone but staff.
    label_pairs: Vec<String>,
}

impl World {
    fn objects(&self, kind: Kind, caller: P) -> Vec<Obj> {
        use P::*;
        match kind {
            Kind::Product => vec![
                obj("A", &self.product_a, &[VendorA]),
                obj("B", &self.product_b, &[VendorB]),
            ],
            Kind::PublicProduct => vec![
                obj("A", &self.product_a, &[]),
                obj("B", &self.product_b, &[]),
            ],
            Kind::Version => vec![
                obj("A", &self.review_version_a, &[VendorA]),
                obj("B", &self.review_version_b, &[VendorB]),
            ],
            Kind::Application => vec![
                obj("A", &self.app_a, &[VendorA]),
                obj("B", &self.app_b, &[VendorB]),
            ],
            Kind::Document => vec![
                obj("A", &self.doc_a, &[VendorA]),
                obj("B", &self.doc_b, &[VendorB]),
            ],
            Kind::Incident => vec![
                obj("A", &self.incident_a, &[VendorA]),
                obj("B", &self.incident_b, &[VendorB]),
            ],
            // Notice A reached facility R1's deployment; notice B facility R2's.
            Kind::Notice => vec![
                obj("A", &self.notice_a, &[Reporter]),
                obj("B", &self.notice_b, &[]),
            ],
            Kind::Signal => vec![obj("-", &self.signal, &[])],
            Kind::Warning => vec![obj("-", &self.warning, &[])],
            Kind::Assessment => vec![
                obj("R1", &self.assessment_r1, &[Reporter]),
                obj("R2", &self.assessment_r2, &[]),
            ],
            Kind::Deployment => vec![
                obj("A", &self.deployment_a, &[VendorA, Reporter]),
                obj("B", &self.deployment_b, &[VendorB]),
            ],
            Kind::Alert => vec![obj("-", &self.alert, &[])],
            Kind::Study => vec![
                obj("A", &self.study_a, &[VendorA]),
                obj("B", &self.study_b, &[VendorB]),
            ],
            Kind::Submission => vec![
                obj("A", &self.submission_a, &[VendorA]),
                obj("B", &self.submission_b, &[VendorB]),
            ],
            Kind::Licence => vec![
                obj("A", &self.licence_a, &[]),
                obj("B", &self.licence_b, &[]),
            ],
            Kind::Organisation => vec![
                obj("A", &self.org_a, &[VendorA]),
                obj("B", &self.org_b, &[VendorB]),
                obj("R1", &self.org_r1, &[Reporter]),
                obj("R2", &self.org_r2, &[]),
            ],
            Kind::Token => {
                let own = self
                    .spare_tokens
                    .get(&caller)
                    .cloned()
                    .unwrap_or_else(|| self.victim_token.clone());
                vec![
                    Obj {
                        side: "own",
                        id: own,
                        owners: vec![caller],
                    },
                    obj("foreign", &self.victim_token, &[]),
                ]
            }
            Kind::FedPeer => vec![obj("-", &self.removable_peer, &[])],
            Kind::Username => vec![obj("-", "m-victim", &[])],
            Kind::AdminUnit => vec![obj("-", "01", &[])],
            Kind::Period => vec![obj("-", "2025", &[])],
            Kind::BlueprintFile => vec![obj("-", "blueprint-patient-info.docx", &[])],
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests and outcomes
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
    /// Multipart fields and one file (name, bytes).
    Multipart(Vec<(String, String)>, Option<(String, Vec<u8>)>),
    Raw(&'static str, Vec<u8>),
}

fn form(pairs: &[(&str, &str)]) -> Body {
    Body::Form(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    LoginRedirect,
    Unauthenticated,
    Forbidden,
    NotFound,
    ServerError(u16),
    Other(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    LoginRedirect,
    Unauthenticated,
    Forbidden,
    NotFound,
    /// Exactly what the same request with an unknown id gets.
    AsUnknown,
    Allowed,
}

struct Target {
    label: String,
    path: String,
    body: Body,
    /// The object-level rule: owners, how others are refused, who passes anyway.
    rule: Option<(Vec<P>, Refusal, Bypass)>,
    /// Parameters naming objects of different sides (an application with another's
    /// document): not found for everyone.
    mismatched: bool,
    /// The object id a refusal must not tell apart from an unknown one.
    hide_id: Option<String>,
}

struct Matrix<'a> {
    s: &'a TestServer,
    w: &'a World,
    client: reqwest::Client,
    cells: usize,
    failures: Vec<String>,
    nonce: AtomicU64,
    /// Allowed GETs that did not answer 200, for the report.
    non_200: BTreeMap<String, u16>,
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/fhir/") || path.starts_with("/federation/")
}

/// What the role check alone decides.
fn by_role(access: Access, p: P, path: &str) -> Expect {
    let logged_in = p != P::Anon;
    let allowed = match access {
        Access::Public => true,
        Access::Authenticated => logged_in,
        Access::Roles(roles) => p.role().is_some_and(|r| roles.contains(&r)),
    };
    if allowed {
        Expect::Allowed
    } else if !logged_in {
        if is_api(path) {
            Expect::Unauthenticated
        } else {
            Expect::LoginRedirect
        }
    } else {
        Expect::Forbidden
    }
}

fn expected(access: Access, p: P, t: &Target) -> Expect {
    let e = by_role(access, p, &t.path);
    if e != Expect::Allowed {
        return e;
    }
    if t.mismatched {
        return Expect::NotFound;
    }
    match &t.rule {
        None => Expect::Allowed,
        Some((owners, refusal, bypass)) => {
            let passes = match bypass {
                Bypass::Staff => p.staff(),
                Bypass::AdminOnly => p == P::Admin,
            };
            if passes || owners.contains(&p) {
                Expect::Allowed
            } else {
                match refusal {
                    Refusal::NotFound => Expect::NotFound,
                    Refusal::Forbidden => Expect::Forbidden,
                    Refusal::AsUnknown => Expect::AsUnknown,
                }
            }
        }
    }
}

fn problem_code(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    if let Some(c) = v["code"].as_str() {
        return Some(c.to_string());
    }
    // FHIR errors are OperationOutcome resources.
    v["issue"][0]["code"].as_str().map(str::to_string)
}

fn classify(status: u16, location: Option<&str>, body: &str) -> Outcome {
    let code = problem_code(body);
    match status {
        303 | 302 | 307 if location.is_some_and(|l| l.starts_with("/login")) => {
            Outcome::LoginRedirect
        }
        // FHIR answers a login refusal with OperationOutcome code `login`.
        401 if matches!(code.as_deref(), Some("unauthenticated") | Some("login")) => {
            Outcome::Unauthenticated
        }
        403 if code.as_deref() == Some("forbidden") => Outcome::Forbidden,
        404 if matches!(code.as_deref(), Some("not_found") | Some("not-found")) => {
            Outcome::NotFound
        }
        s if s >= 500 => Outcome::ServerError(s),
        s => Outcome::Other(s),
    }
}

impl Matrix<'_> {
    fn next_nonce(&self) -> String {
        format!(
            "matrix-nonce-{:010}",
            self.nonce.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A GET of the feed signed with the pinned peer's key.
    fn signed_feed(&self, query: &str) -> reqwest::RequestBuilder {
        let node = self.s.node.as_ref().unwrap();
        let keys = self.w.peer_keys.as_ref().unwrap();
        let h = sign_request(
            keys,
            &HttpRequest {
                method: "GET",
                authority: &node.identity.base_url.authority(),
                path: FEED_PATH,
                query: Some(query),
                headers: &[],
                body: b"",
            },
            self.s.store.now().unix_timestamp(),
            &self.next_nonce(),
        )
        .unwrap();
        self.client
            .get(self.s.url(&format!("{FEED_PATH}?{query}")))
            .header("signature-input", h.signature_input)
            .header("signature", h.signature)
    }

    async fn send(
        &self,
        p: P,
        method: &Method,
        path: &str,
        body: &Body,
    ) -> (u16, Option<String>, String) {
        let mut req = if p == P::Peer && path.starts_with(FEED_PATH) {
            // A peer reads the feed with signed requests, as nodes do.
            let query = path.split_once('?').map(|(_, q)| q).unwrap_or("after=0");
            self.signed_feed(query)
        } else {
            let mut req = self.client.request(method.clone(), self.s.url(path));
            if let Some(t) = self.w.tokens.get(&p) {
                req = req.bearer_auth(t);
            }
            req
        };
        req = match body {
            Body::None => req,
            Body::Form(pairs) => req.form(pairs),
            Body::Json(v) => req.json(v),
            Body::Raw(ct, bytes) => req.header("content-type", *ct).body(bytes.clone()),
            Body::Multipart(fields, file) => {
                let mut f = Form::new();
                for (k, v) in fields {
                    f = f.text(k.clone(), v.clone());
                }
                if let Some((name, bytes)) = file {
                    f = f.part("file", Part::bytes(bytes.clone()).file_name(name.clone()));
                }
                req.multipart(f)
            }
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.unwrap_or_default();
        (
            status,
            location,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// Checks that nothing private to others reached `p`.
    fn check_leaks(&mut self, p: P, what: &str, body: &str) {
        if p.staff() {
            return;
        }
        for (marker, allowed) in &self.w.private {
            if !allowed.contains(&p) && body.contains(marker.as_str()) {
                self.failures.push(format!(
                    "{what} as {p:?}: body contains {marker}, private to {allowed:?}"
                ));
            }
        }
        for pair in &self.w.label_pairs {
            if body.contains(pair.as_str()) {
                self.failures.push(format!(
                    "{what} as {p:?}: body contains the reference label {pair}"
                ));
                break;
            }
        }
        if body.contains(LABEL_COLUMN) && matches!(p, P::VendorA | P::VendorB) {
            self.failures.push(format!(
                "{what} as {p:?}: body names the reference label column {LABEL_COLUMN}"
            ));
        }
    }

    async fn cell(&mut self, access: Access, method: &Method, p: P, t: &Target, may_404: bool) {
        let what = format!("{method} {} [{}]", t.path, t.label);
        let want = expected(access, p, t);
        let (status, location, body) = self.send(p, method, &t.path, &t.body).await;
        self.cells += 1;
        let got = classify(status, location.as_deref(), &body);
        self.check_leaks(p, &what, &body);
        let mut ok = match (&got, want) {
            (Outcome::ServerError(_), _) => false,
            (Outcome::LoginRedirect, Expect::LoginRedirect)
            | (Outcome::Unauthenticated, Expect::Unauthenticated)
            | (Outcome::Forbidden, Expect::Forbidden)
            | (Outcome::NotFound, Expect::NotFound) => true,
            (Outcome::NotFound, Expect::Allowed) => may_404,
            (_, Expect::AsUnknown) => true,
            (Outcome::Other(s), Expect::Allowed) => {
                if *method == Method::GET && *s != 200 {
                    self.non_200.insert(format!("{what} as {p:?}"), *s);
                }
                true
            }
            _ => false,
        };
        // A hidden object answers exactly as an id that does not exist.
        if ok && matches!(want, Expect::NotFound | Expect::AsUnknown) {
            if let Some(id) = &t.hide_id {
                let unknown = "00000000-0000-7000-8000-00000000dead";
                let body2 = match &t.body {
                    Body::Form(pairs) => Body::Form(
                        pairs
                            .iter()
                            .map(|(k, v)| (k.clone(), v.replace(id.as_str(), unknown)))
                            .collect(),
                    ),
                    Body::Json(v) => Body::Json(
                        serde_json::from_str(&v.to_string().replace(id.as_str(), unknown)).unwrap(),
                    ),
                    other => other.clone(),
                };
                let path2 = t.path.replace(id.as_str(), unknown);
                let (status2, _, text2) = self.send(p, method, &path2, &body2).await;
                let norm = |s: &str, id: &str| normalise(&s.replace(id, "ID"));
                if status2 != status || norm(&body, id) != norm(&text2, unknown) {
                    ok = false;
                    self.failures.push(format!(
                        "{what} as {p:?}: the refusal ({status}) differs from an unknown id's ({status2})"
                    ));
                }
            }
        }
        if !ok {
            let excerpt: String = body.chars().take(200).collect();
            self.failures.push(format!(
                "{what} as {p:?}: expected {want:?}, got {got:?} ({status}) {excerpt}"
            ));
        }
    }
}

/// A body with its per-request secrets (CSRF tokens: 48 hex digits) blanked.
fn normalise(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut run = String::new();
    for ch in body.chars() {
        if ch.is_ascii_hexdigit() {
            run.push(ch);
            continue;
        }
        out.push_str(if run.len() == 48 { "CSRF" } else { &run });
        run.clear();
        out.push(ch);
    }
    out.push_str(if run.len() == 48 { "CSRF" } else { &run });
    out
}

// ---------------------------------------------------------------------------------------
// Targets: paths with real ids, and bodies good enough to reach the handler's checks
// ---------------------------------------------------------------------------------------

fn model_card() -> ModelCard {
    ModelCard {
        intended_use: "Sàng lọc lao".into(),
        intended_use_en: String::new(),
        intended_users: "Bác sĩ".into(),
        target_population: "Người lớn".into(),
        clinical_area: ClinicalArea::TuberculosisScreening,
        input_modality: InputModality::Imaging,
        ai_kind: AiKind::Locked,
        training_data: "—".into(),
        claimed_performance: vec![],
        subgroups_reported: vec![],
        known_limitations: "—".into(),
        change_control_plan: "—".into(),
        languages: vec![],
    }
}

static VERSION_SEQ: AtomicU64 = AtomicU64::new(1);

/// A body for a route: valid enough to pass extraction and reach the object checks, and
/// harmless when allowed (actions that the object's state refuses, files that do not parse).
fn body_for(method: &Method, path: &str) -> Body {
    if *method == Method::GET {
        return Body::None;
    }
    let tail = |s: &str| path.ends_with(s);
    let api = is_api(path);
    if path.starts_with("/applications/") && tail("/documents") {
        return Body::Multipart(
            vec![("item".into(), String::new())],
            Some(("matrix.pdf".into(), b"%PDF-1.4\n%%EOF\n".to_vec())),
        );
    }
    if path.starts_with("/api/v1/applications/") && tail("/documents") {
        return Body::Raw("application/pdf", b"%PDF-1.4\n%%EOF\n".to_vec());
    }
    if path == "/sandbox/datasets" {
        return Body::Multipart(vec![("name".into(), String::new())], None);
    }
    if path.starts_with("/sandbox/studies/") && tail("/submissions") {
        // A predictions file naming no known case: refused, not counted.
        return Body::Multipart(
            vec![("kind".into(), "predictions".into())],
            Some(("p.csv".into(), b"case_id,score\nnobody,0.5\n".to_vec())),
        );
    }
    if path.starts_with("/api/v1/applications/") && tail("/actions") {
        return Body::Json(json!({"action": "submit", "reason": "matrix"}));
    }
    if path.starts_with("/api/v1/applications/") && tail("/answers") {
        return Body::Json(
            json!({"framework_id": "vn-dossier", "framework_version": 1, "answers": []}),
        );
    }
    if path.starts_with("/applications/") && tail("/actions") {
        return form(&[("action", "submit"), ("reason", "matrix")]);
    }
    if path.starts_with("/api/v1/products/") && tail("/versions") {
        let n = VERSION_SEQ.fetch_add(1, Ordering::Relaxed);
        return Body::Json(json!({"version": format!("7.{n}"), "model_card": model_card()}));
    }
    if path.starts_with("/vendor/products/") && tail("/versions") {
        let n = VERSION_SEQ.fetch_add(1, Ordering::Relaxed);
        return form(&[("version", &format!("8.{n}")), ("intended_use", "matrix")]);
    }
    if path.starts_with("/incidents/") && tail("/messages") {
        return form(&[("body", "A question from the matrix.")]);
    }
    if path.starts_with("/navigator/assessments/") {
        return form(&[("revision", "1"), ("action", "save")]);
    }
    if path.starts_with("/api/v1/navigator/assessments/") && tail("/answers") {
        return Body::Json(json!({"revision": 1, "answers": []}));
    }
    if path.starts_with("/deployments/") && tail("/reports") {
        return form(&[("period", "2999-01"), ("uses", "1")]);
    }
    if path.starts_with("/licences/") && tail("/actions") || path.starts_with("/api/v1/licences/") {
        return if api {
            Body::Json(json!({"action": "no-such-action", "reason": "matrix"}))
        } else {
            form(&[("action", "no-such-action"), ("reason", "matrix")])
        };
    }
    if path == "/api/v1/monitoring/reports" {
        return Body::Json(json!({"reports": []}));
    }
    if path == "/api/v1/incidents/preview" {
        return Body::Json(json!({"narrative": "Nothing personal here."}));
    }
    if path.starts_with("/admin/users/") && tail("/disable") {
        return form(&[("disabled", "false")]);
    }
    if path.starts_with("/admin/users/") && tail("/role") {
        return form(&[("role", "reviewer")]);
    }
    if api {
        Body::Json(json!({}))
    } else {
        form(&[("matrix", "1")])
    }
}

/// Routes that name objects in their query or body rather than their path.
fn extra_targets(w: &World, method: &Method, path: &str) -> Vec<Target> {
    use P::*;
    let mut out = Vec::new();
    match (method.as_str(), path) {
        ("GET", "/api/v1/kpis") | ("GET", "/monitoring") | ("GET", "/reports/{period}") => {
            let base = path.replace("{period}", "2025");
            for (side, product, owner) in
                [("A", &w.product_a, VendorA), ("B", &w.product_b, VendorB)]
            {
                // Vendors are limited to their own products; on the monitoring page a
                // facility to the products deployed there (facility R1 runs A's).
                let mut owners = vec![owner, Reporter, Peer, Anon];
                owners.retain(|p| *p != if owner == VendorA { VendorB } else { VendorA });
                if path == "/monitoring" && owner == VendorB {
                    owners.retain(|p| *p != Reporter);
                }
                out.push(Target {
                    label: format!("?product={side}"),
                    path: format!("{base}?product={product}"),
                    body: Body::None,
                    rule: Some((owners, Refusal::NotFound, Bypass::Staff)),
                    mismatched: false,
                    hide_id: Some(product.to_string()),
                });
            }
        }
        ("POST", "/api/v1/applications") | ("POST", "/applications") => {
            // The API answers 404; the form shows the store's "not found" on the page, the
            // same page as for a version that does not exist.
            let refusal = if path.starts_with("/api/") {
                Refusal::NotFound
            } else {
                Refusal::AsUnknown
            };
            for (side, version, owner) in
                [("A", &w.version_a, VendorA), ("B", &w.version_b, VendorB)]
            {
                let body = if path.starts_with("/api/") {
                    Body::Json(json!({"version_id": version, "frameworks": ["vn-dossier@1"]}))
                } else {
                    form(&[("version_id", version), ("framework", "vn-dossier@1")])
                };
                out.push(Target {
                    label: format!("version {side}"),
                    path: path.to_string(),
                    body,
                    rule: Some((vec![owner], refusal, Bypass::Staff)),
                    mismatched: false,
                    hide_id: Some(version.to_string()),
                });
            }
        }
        ("GET", "/api/v1/navigator/assessments") | ("GET", "/api/v1/navigator/training-status") => {
            // Staff name the organisation; a facility always gets its own (the leak check
            // looks for R2's assessment in R1's answers).
            for (side, org) in [("R1", &w.org_r1), ("R2", &w.org_r2)] {
                out.push(Target {
                    label: format!("?org={side}"),
                    path: format!("{path}?org={org}"),
                    body: Body::None,
                    rule: None,
                    mismatched: false,
                    hide_id: None,
                });
            }
        }
        ("GET", "/notices/new") | ("GET", "/api/v1/impact") => {
            out.push(Target {
                label: "?product=A".into(),
                path: format!("{path}?product={}", w.product_a),
                body: Body::None,
                rule: None,
                mismatched: false,
                hide_id: None,
            });
        }
        ("POST", "/api/v1/trainings") => {
            for (side, facility, owners) in
                [("R1", &w.org_r1, vec![Reporter]), ("R2", &w.org_r2, vec![])]
            {
                out.push(Target {
                    label: format!("facility {side}"),
                    path: path.to_string(),
                    body: Body::Json(json!({"facility_id": facility, "product_id": w.product_a,
                        "trained_on": "2025-01-02", "course": "matrix", "staff_trained": 1})),
                    rule: Some((owners, Refusal::Forbidden, Bypass::Staff)),
                    mismatched: false,
                    hide_id: None,
                });
            }
        }
        _ => {}
    }
    out
}

fn targets(w: &World, method: &Method, path: &str, caller: P) -> Vec<Target> {
    let extra = extra_targets(w, method, path);
    if !extra.is_empty() {
        return extra;
    }
    let params = params_of(path);
    if params.is_empty() {
        return vec![Target {
            label: "-".into(),
            path: path.to_string(),
            body: body_for(method, path),
            rule: None,
            mismatched: false,
            hide_id: None,
        }];
    }
    // Every combination of the parameters' objects.
    let mut combos: Vec<(String, Vec<(&str, Obj)>)> = vec![(String::new(), Vec::new())];
    for name in &params {
        let kind = kind_of(path, name);
        let mut next = Vec::new();
        for (label, chosen) in &combos {
            for o in w.objects(kind, caller) {
                let mut c = chosen.clone();
                c.push((*name, o.clone()));
                let l = if label.is_empty() {
                    format!("{name}={}", o.side)
                } else {
                    format!("{label},{name}={}", o.side)
                };
                next.push((l, c));
            }
        }
        combos = next;
    }
    combos
        .into_iter()
        .map(|(label, chosen)| {
            let mut p = path.to_string();
            let mut rule: Option<(Vec<P>, Refusal, Bypass)> = None;
            for (name, o) in &chosen {
                p = p.replace(&format!("{{{name}}}"), &o.id);
                if let Some((refusal, bypass)) = object_rule(kind_of(path, name), method) {
                    rule = Some(match rule {
                        None => (o.owners.clone(), refusal, bypass),
                        Some((owners, r, b)) => (
                            owners
                                .into_iter()
                                .filter(|x| o.owners.contains(x))
                                .collect(),
                            r,
                            b,
                        ),
                    });
                }
            }
            let sides: Vec<&str> = chosen.iter().map(|(_, o)| o.side).collect();
            let mismatched = sides.windows(2).any(|w| w[0] != w[1]);
            let hide_id = (chosen.len() == 1).then(|| chosen[0].1.id.clone());
            Target {
                label,
                path: p,
                body: body_for(method, path),
                rule,
                mismatched,
                hide_id,
            }
        })
        .collect()
}

/// Routes where an allowed call may still answer 404 on a real object (none so far).
fn may_404(_method: &Method, _path: &str) -> bool {
    false
}

// ---------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------

async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"))
}

async fn seed(s: &mut TestServer) -> World {
    let mut w = World::default();
    for p in PRINCIPALS {
        let Some(role) = p.role() else { continue };
        let org = match p {
            P::Reporter => Some("FAC-R1"),
            P::VendorA => Some("MFR-A"),
            P::VendorB => Some("MFR-B"),
            _ => None,
        };
        s.user(p.username(), role, org).await;
        w.tokens.insert(p, s.token(p.username()).await);
        w.spare_tokens.insert(p, token_id(s, p.username()).await);
    }
    s.user("m-reporter-r2", Role::Reporter, Some("FAC-R2"))
        .await;
    s.user("m-victim", Role::Reviewer, None).await;
    w.victim_token = token_id(s, "m-victim").await;
    let r2_token = s.token("m-reporter-r2").await;
    w.org_a = s.org("MFR-A", vigilo_core::OrgKind::Manufacturer).await;
    w.org_b = s.org("MFR-B", vigilo_core::OrgKind::Manufacturer).await;
    w.org_r1 = s.org("FAC-R1", vigilo_core::OrgKind::Facility).await;
    w.org_r2 = s.org("FAC-R2", vigilo_core::OrgKind::Facility).await;
    let c = TestServer::client();
    let tokens = w.tokens.clone();
    let tok = |p: P| tokens[&p].clone();

    // Products, each with a licensed version 1.0, a draft for the review desk and a
    // private draft nobody publishes.
    let (pa, va) = s.licensed_version(&w.org_a, "Alpha Scan", vec![]).await;
    let (pb, vb) = s.licensed_version(&w.org_b, "Beta Scan", vec![]).await;
    w.product_a = pa.id.clone();
    w.product_b = pb.id.clone();
    w.version_a = va.id.clone();
    w.version_b = vb.id.clone();
    let card = model_card();
    for (product, owner, review_slot) in [(&pa.id, P::VendorA, true), (&pb.id, P::VendorB, false)] {
        let review = s
            .store
            .create_version("test", product, &VersionLabel::parse("2.0").unwrap(), &card)
            .await
            .unwrap();
        let private = s
            .store
            .create_version("test", product, &VersionLabel::parse("3.0").unwrap(), &card)
            .await
            .unwrap();
        if review_slot {
            w.review_version_a = review.id;
        } else {
            w.review_version_b = review.id;
        }
        w.private.push((private.id, vec![owner]));
    }
    for (p, product) in [(&pa, P::VendorA), (&pb, P::VendorB)] {
        let l = s.store.authorisations_of_product(&p.id).await.unwrap();
        if product == P::VendorA {
            w.licence_a = l[0].id.clone();
        } else {
            w.licence_b = l[0].id.clone();
        }
    }

    // A dossier per vendor with an evidence document, then sent to the sandbox.
    for (org, version, owner) in [
        (&w.org_a.clone(), &va.id, P::VendorA),
        (&w.org_b.clone(), &vb.id, P::VendorB),
    ] {
        let app = s
            .store
            .open_application("test", org, version, &[("vn-dossier".into(), 1)])
            .await
            .unwrap();
        let filename = format!(
            "evidence-{}-secret.pdf",
            if owner == P::VendorA { "alpha" } else { "beta" }
        );
        let doc = s
            .store
            .add_document(
                "test",
                &app.id,
                &filename,
                "application/pdf",
                b"%PDF-1.4\n%%EOF\n",
                None,
            )
            .await
            .unwrap();
        for (cmd, actor) in [
            (C::Submit, Actor::Vendor),
            (C::StartScreening, Actor::Staff),
            (C::AcceptForReview, Actor::Staff),
            (C::SendToSandbox, Actor::Staff),
        ] {
            s.store
                .transition_application("test", actor, &app.id, cmd, "ok", None)
                .await
                .unwrap();
        }
        w.private.push((app.id.clone(), vec![owner]));
        w.private.push((app.reference.clone(), vec![owner]));
        w.private.push((doc.id.clone(), vec![owner]));
        w.private.push((filename, vec![owner]));
        if owner == P::VendorA {
            w.app_a = app.id;
            w.doc_a = doc.id;
        } else {
            w.app_b = app.id;
            w.doc_b = doc.id;
        }
    }

    // The sandbox: one reference dataset (label column renamed so it can be searched for),
    // a study per dossier, one evaluated submission each.
    let reference = String::from_utf8(REFERENCE.to_vec()).unwrap().replacen(
        "case_id,label,",
        &format!("case_id,{LABEL_COLUMN},"),
        1,
    );
    w.label_pairs = reference
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            Some(format!("{},{}", f.next()?, f.next()?))
        })
        .collect();
    let r = c
        .post(s.url("/sandbox/datasets"))
        .bearer_auth(tok(P::Reviewer))
        .multipart(
            Form::new()
                .text("name", "WDBC held-out")
                .text("case_id", "case_id")
                .text("label", LABEL_COLUMN)
                .text("features", "mean_texture, worst_area, worst_smoothness")
                .text("subgroups", "radius_band")
                .part(
                    "file",
                    Part::bytes(reference.into_bytes()).file_name("wdbc.csv"),
                ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let ds = s.store.datasets().await.unwrap().remove(0);
    for owner in [P::VendorA, P::VendorB] {
        let app = if owner == P::VendorA {
            &w.app_a
        } else {
            &w.app_b
        };
        let r = c
            .post(s.url("/sandbox/studies"))
            .bearer_auth(tok(P::Reviewer))
            .form(&[
                ("title", "Blind test"),
                ("application_id", app.as_str()),
                ("dataset_id", ds.id.as_str()),
                ("metric", "sensitivity"),
                ("threshold", "0.5"),
                ("min_lower_bound", "0.8"),
                ("secondary", "auroc; ; 0.9"),
                ("score_kind", "probability"),
                ("subgroup_columns", "radius_band"),
                ("min_subgroup_size", "10"),
                ("max_submissions", "5"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let study_path = r.headers()["location"].to_str().unwrap().to_string();
        let study = study_path.rsplit('/').next().unwrap().to_string();
        let r = c
            .post(s.url(&format!("{study_path}/submissions")))
            .bearer_auth(tok(owner))
            .multipart(Form::new().text("kind", "predictions").part(
                "file",
                Part::bytes(PREDICTIONS).file_name("predictions.csv"),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let sub_path = r.headers()["location"].to_str().unwrap().to_string();
        let sub = sub_path.rsplit('/').next().unwrap().to_string();
        w.private.push((study.clone(), vec![owner]));
        w.private.push((sub.clone(), vec![owner]));
        if owner == P::VendorA {
            w.study_a = study;
            w.submission_a = sub;
        } else {
            w.study_b = study;
            w.submission_b = sub;
        }
    }

    // Deployments: A's version at facility R1, B's at facility R2.
    let today = s.store.now().date();
    for (facility, product, version, slot) in [
        (&w.org_r1.clone(), &pa.id, &va.id, 'a'),
        (&w.org_r2.clone(), &pb.id, &vb.id, 'b'),
    ] {
        s.store
            .record_training(
                "test",
                facility,
                product,
                &TrainingRecord {
                    trained_on: today - time::Duration::days(40),
                    course: "Matrix course".into(),
                    staff_trained: 2,
                },
            )
            .await
            .unwrap();
        let d = s
            .store
            .create_deployment(
                "test",
                &NewDeployment {
                    version_id: version,
                    facility_id: facility,
                    go_live: today - time::Duration::days(30),
                    end_date: None,
                    frequency: vigilo_core::period::PeriodKind::Month,
                },
            )
            .await
            .unwrap();
        if slot == 'a' {
            w.deployment_a = d.id;
        } else {
            w.deployment_b = d.id;
        }
    }
    s.store
        .raise_alert(&NewAlert {
            deployment_id: w.deployment_a.clone(),
            metric: "sensitivity".into(),
            method: "cusum".into(),
            period: "2025-01".into(),
            level: "watch".into(),
            value: 0.5,
            threshold: 0.7,
            evidence: json!({}),
        })
        .await
        .unwrap();
    w.alert = s
        .store
        .alerts(&vigilo_store::AlertFilter::default())
        .await
        .unwrap()
        .remove(0)
        .id;

    // Incident reports: R1 about A's product, R2 about B's.
    for (token, product, owner) in [
        (tok(P::Reporter), &pa.id, P::VendorA),
        (r2_token.clone(), &pb.id, P::VendorB),
    ] {
        let r = json_of(
            c.post(s.url("/api/v1/incidents"))
                .bearer_auth(&token)
                .json(&json!({"reporter_kind": "health_worker", "product_id": product,
                    "seriousness": "other_injury",
                    "narrative": "The tool's output was wrong and the patient needed another visit."}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let receipt = r["receipt"].as_str().unwrap().to_string();
        let id = s
            .store
            .incident_by_receipt(&receipt)
            .await
            .unwrap()
            .unwrap()
            .incident
            .id;
        w.private.push((id.clone(), vec![owner]));
        if owner == P::VendorA {
            w.incident_a = id;
        } else {
            w.incident_b = id;
        }
    }
    s.store
        .record_detections(
            "test",
            &[vigilo_store::Detection {
                method: SignalMethod::Disproportionality,
                product_key: pa.id.clone(),
                product_label: "Alpha Scan".into(),
                product_id: Some(pa.id.clone()),
                version_id: None,
                code: "AI02".into(),
                region: String::new(),
                window_start: None,
                window_end: None,
                observed: 1,
                expected: 0.1,
                score_label: "PRR".into(),
                score: 3.0,
                evidence: json!({}),
                incident_ids: vec![w.incident_a.clone()],
            }],
        )
        .await
        .unwrap();
    w.signal = s
        .store
        .signals(&vigilo_store::SignalFilter::default())
        .await
        .unwrap()
        .remove(0)
        .id;
    // An early warning for GRN peers awaiting approval, composed from that signal.
    w.warning = s
        .store
        .create_warning_draft(
            "test",
            &w.signal,
            "VN-EW-2026-000001",
            &serde_json::json!({ "reference": "VN-EW-2026-000001" }),
            &serde_json::to_value(vigilo_core::federation::Audience::Members).unwrap(),
        )
        .await
        .unwrap()
        .id;
    // Field safety notices reaching each facility's deployment.
    for (product, version, slot) in [(&pa.id, &va.id, 'a'), (&pb.id, &vb.id, 'b')] {
        let n = s
            .store
            .issue_notice(
                "test",
                &NewNotice {
                    kind: NoticeKind::FieldSafetyNotice,
                    product_id: product,
                    version_ids: std::slice::from_ref(version),
                    signal_id: None,
                    title_vi: "Thông báo",
                    title_en: "Notice",
                    body_vi: "Nội dung",
                    body_en: "Body",
                    action_vi: "Kiểm tra",
                    action_en: "Check",
                },
            )
            .await
            .unwrap();
        if slot == 'a' {
            w.notice_a = n.notice.id;
        } else {
            w.notice_b = n.notice.id;
        }
    }

    // Readiness self-assessments of facilities R1 and R2.
    for (token, slot) in [(tok(P::Reporter), 1), (r2_token.clone(), 2)] {
        let a = json_of(
            c.post(s.url("/api/v1/navigator/assessments"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let id = a["id"].as_str().unwrap().to_string();
        if slot == 1 {
            w.private.push((id.clone(), vec![P::Reporter]));
            w.assessment_r1 = id;
        } else {
            w.private.push((id.clone(), vec![]));
            w.assessment_r2 = id;
        }
    }

    // Federation: the peer principal's node is pinned; another pinned peer is removed by
    // the matrix; a members-only item is for peers' eyes.
    let peer_keys = NodeKeys::from_seed(&[9; 32]);
    s.store
        .add_peer(
            "test",
            &peer_keys.identity(
                "HSA".parse().unwrap(),
                "SG".parse().unwrap(),
                "https://vigilo.example.gov.sg".parse().unwrap(),
            ),
        )
        .await
        .unwrap();
    let removable = NodeKeys::from_seed(&[11; 32]);
    s.store
        .add_peer(
            "test",
            &removable.identity(
                "FDA".parse().unwrap(),
                "TH".parse().unwrap(),
                "https://vigilo.example.go.th".parse().unwrap(),
            ),
        )
        .await
        .unwrap();
    w.removable_peer = removable.key_id().to_string();
    w.peer_keys = Some(peer_keys);
    let node = s.node.as_ref().unwrap();
    for (id, members) in [("de-matrix", false), ("ew-matrix-members", true)] {
        s.store
            .publish(
                "test",
                &node.keys,
                NewPublication {
                    item_type: if members {
                        ItemType::EarlyWarning
                    } else {
                        ItemType::DirectoryEntry
                    },
                    id: id.parse().unwrap(),
                    audience: if members {
                        Audience::Members
                    } else {
                        Audience::Public
                    },
                    payload: if members {
                        federation_warning()
                    } else {
                        vigilo_core::federation::SharedDirectoryEntry::new(
                            "Alpha Scan",
                            "Alpha Ltd",
                        )
                        .to_payload()
                    },
                },
            )
            .await
            .unwrap();
    }
    w.private.push(("ew-matrix-members".into(), vec![P::Peer]));
    w
}

fn federation_warning() -> Value {
    use vigilo_core::federation::{
        compose_early_warning, ReportStage, SeriousnessCounts, WarningInput, WarningProduct,
    };
    use vigilo_core::incident::Seriousness;
    compose_early_warning(
        &WarningInput {
            reference: "VN-EW-2026-000009".into(),
            stage: ReportStage::Initial,
            product: WarningProduct {
                name: "Alpha Scan".into(),
                manufacturer: "MFR-A".into(),
                versions: vec!["1.0".into()],
                input_modality: InputModality::Imaging,
                ai_kind: Some(AiKind::Locked),
            },
            imdrf_codes: vec![],
            ai_codes: vec!["AI02".into()],
            counts: SeriousnessCounts::tally(std::iter::repeat_n(Seriousness::Malfunction, 9)),
            period_from: time::macros::date!(2026 - 01 - 01),
            period_to: time::macros::date!(2026 - 01 - 31),
            summary: "Members only.".into(),
            recommendation: "Check deployments.".into(),
            actions_taken: vec![],
            countries_concerned: vec!["SG".parse().unwrap()],
        },
        vigilo_core::suppression::SuppressionRule::default(),
    )
    .unwrap()
    .to_payload()
}

/// Creates a second token for an account and returns its id (not its secret).
async fn token_id(s: &TestServer, username: &str) -> String {
    s.store
        .create_token("test", username, "spare", None)
        .await
        .unwrap()
        .1
        .id
}

// ---------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------

#[test]
fn every_route_parameter_maps_to_an_object() {
    for r in route_table() {
        for p in params_of(r.path) {
            kind_of(r.path, p);
        }
    }
}

async fn access_matrix(backend: Backend) {
    let Some(mut s) = TestServer::start_node(backend, 7, "VN", "Cục HTTBYT").await else {
        return;
    };
    let w = seed(&mut s).await;
    let mut m = Matrix {
        s: &s,
        w: &w,
        client: TestServer::client(),
        cells: 0,
        failures: Vec::new(),
        nonce: AtomicU64::new(1),
        non_200: BTreeMap::new(),
    };
    let table = route_table();
    // Reads first, then the calls that change things, so that every read sees the
    // world as seeded.
    for pass_reads in [true, false] {
        for r in &table {
            if (r.method == Method::GET) != pass_reads {
                continue;
            }
            for p in PRINCIPALS {
                for t in targets(&w, &r.method, r.path, p) {
                    m.cell(r.access, &r.method, p, &t, may_404(&r.method, r.path))
                        .await;
                }
            }
        }
    }
    extra_checks(&mut m).await;
    // Allowed reads answer 200, except a logged-in visitor's /login (sent on).
    let non_200 = std::mem::take(&mut m.non_200);
    for (what, status) in non_200 {
        if !(what.starts_with("GET /login ") && status == 303) {
            m.failures
                .push(format!("{what}: allowed but answered {status}"));
        }
    }
    eprintln!(
        "access matrix ({backend:?}): {} cells checked, {} failures",
        m.cells,
        m.failures.len()
    );
    assert!(
        m.failures.is_empty(),
        "{} access matrix failures:\n{}",
        m.failures.len(),
        m.failures.join("\n")
    );
    assert!(
        m.cells >= MIN_CELLS,
        "the access matrix shrank to {} cells (floor {MIN_CELLS})",
        m.cells
    );
    s.stop().await;
}

/// Checks that need more than a status: audiences of the federation feed, rows sent for
/// another facility's deployment.
async fn extra_checks(m: &mut Matrix<'_>) {
    // The peer's signed read of the feed includes the members-only item; nobody else's does.
    let (status, _, body) = m.send(P::Peer, &Method::GET, FEED_PATH, &Body::None).await;
    m.cells += 1;
    if status != 200 || !body.contains("ew-matrix-members") {
        m.failures.push(format!(
            "signed peer feed: {status}, members item missing: {body}"
        ));
    }
    // A signature by a key nobody pinned is refused.
    let stranger = NodeKeys::from_seed(&[13; 32]);
    let node = m.s.node.as_ref().unwrap();
    let h = sign_request(
        &stranger,
        &HttpRequest {
            method: "GET",
            authority: &node.identity.base_url.authority(),
            path: FEED_PATH,
            query: Some("after=0"),
            headers: &[],
            body: b"",
        },
        m.s.store.now().unix_timestamp(),
        &m.next_nonce(),
    )
    .unwrap();
    let r = m
        .client
        .get(m.s.url(&format!("{FEED_PATH}?after=0")))
        .header("signature-input", h.signature_input)
        .header("signature", h.signature)
        .send()
        .await
        .unwrap();
    m.cells += 1;
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    if status != 401 || body.contains("ew-matrix-members") {
        m.failures
            .push(format!("feed signed by an unpinned key: {status} {body}"));
    }
    // Monitoring rows for another facility's deployment are rejected, one's own accepted.
    let period = vigilo_core::period::Period::containing(
        vigilo_core::period::PeriodKind::Month,
        m.s.store.now().date() - time::Duration::days(20),
    )
    .to_string();
    for (dep, own) in [
        (m.w.deployment_a.clone(), true),
        (m.w.deployment_b.clone(), false),
    ] {
        let r = m
            .client
            .post(m.s.url("/api/v1/monitoring/reports"))
            .bearer_auth(&m.w.tokens[&P::Reporter])
            .json(&json!({"reports": [{"deployment": dep, "period": period, "uses": 10}]}))
            .send()
            .await
            .unwrap();
        m.cells += 1;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or_default();
        let accepted = v["accepted"].as_u64().unwrap_or(0);
        if status >= 500 || (accepted == 1) != own {
            m.failures.push(format!(
                "monitoring report for {} deployment: {status} {v}",
                if own { "its own" } else { "another facility's" }
            ));
        }
    }
}
