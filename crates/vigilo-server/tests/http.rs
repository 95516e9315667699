//! HTTP behaviour through the real router on a real loopback server, on SQLite
//! and (when configured) PostgreSQL.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use vigilo_core::{OrgKind, Role};
use vigilo_server::{route_table, ServerConfig};
use vigilo_testkit::{both_backends, extract_csrf, Backend, TestServer};

both_backends!(
    health_readiness_and_openapi,
    errors_are_problem_documents,
    oversized_bodies_get_413,
    login_logout_and_csrf,
    login_attempts_are_throttled,
    language_is_negotiated_and_remembered,
    vendors_see_only_their_own_organisation,
    admin_api_creates_and_audits,
    tokens_and_cookie_flags,
    login_issues_a_fresh_session,
    admin_manages_accounts_in_the_browser,
    users_manage_their_own_api_tokens,
    database_loss_answers_503_with_retry_after,
    vendors_register_and_admins_activate,
);

async fn server(backend: Backend) -> Option<TestServer> {
    TestServer::start(
        backend,
        ServerConfig {
            run_jobs: false,
            ..ServerConfig::default()
        },
    )
    .await
}

async fn health_readiness_and_openapi(backend: Backend) {
    let Some(s) = server(backend).await else {
        return;
    };
    let c = TestServer::client();
    let r = c.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r: Value = c
        .get(s.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ready");
    let doc: Value = c
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // Every API route in the table is documented.
    for r in route_table() {
        if r.path.starts_with("/api/v1/") && r.path != "/api/v1/openapi.json" {
            let entry = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
            assert!(
                entry.is_object(),
                "{} {} missing from OpenAPI",
                r.method,
                r.path
            );
        }
    }
    s.stop().await;
}

async fn problem(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(ct, "application/problem+json", "status {status}");
    (status, resp.json().await.unwrap())
}

async fn errors_are_problem_documents(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("admin1", Role::Admin, None).await;
    let admin = s.token("admin1").await;
    let c = TestServer::client();

    let (st, p) = problem(c.get(s.url("/no/such/page")).send().await.unwrap()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(p["code"], "not_found");
    assert_eq!(p["status"], 404);
    // Browsers get a page instead.
    let r = c
        .get(s.url("/no/such/page"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("404"));

    let (st, p) = problem(c.get(s.url("/api/v1/nothing")).send().await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // Malformed JSON names the field.
    let (st, p) = problem(
        c.post(s.url("/api/v1/users"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(r#"{"username":"x1y2z3","role":"reviewer"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(p["code"], "malformed_json");
    assert!(p["detail"].as_str().unwrap().contains("password"), "{p}");
    let (st, p) = problem(
        c.post(s.url("/api/v1/users"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    let (st, p) = problem(
        c.post(s.url("/api/v1/users"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(r#"{"username":"x1y2z3","role":"reviewer","password":12}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("password"), "{p}");
    // Validation errors are 400 with a reason.
    let (st, p) = problem(
        c.post(s.url("/api/v1/users"))
            .bearer_auth(&admin)
            .json(&json!({"username":"x1y2z3","role":"king","password":"long enough pw"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_input"))
    );
    assert!(p["detail"].as_str().unwrap().contains("role"));
    // Wrong content type.
    let (st, _) = problem(
        c.post(s.url("/api/v1/users"))
            .bearer_auth(&admin)
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Not logged in: 401 for the API, redirect for pages.
    let (st, p) = problem(c.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let r = c.get(s.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2Fadmin");
    // Unknown token: 401, never treated as anonymous.
    let (st, _) = problem(
        c.get(s.url("/api/v1/organisations"))
            .bearer_auth("vgl_0000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Method not allowed.
    let (st, p) = problem(c.delete(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    s.stop().await;
}

async fn oversized_bodies_get_413(backend: Backend) {
    let Some(mut s) = TestServer::start(
        backend,
        ServerConfig {
            body_limit: 64 * 1024,
            run_jobs: false,
            ..ServerConfig::default()
        },
    )
    .await
    else {
        return;
    };
    s.user("admin1", Role::Admin, None).await;
    let admin = s.token("admin1").await;
    let c = TestServer::client();
    let big = format!(
        r#"{{"code":"X","kind":"regulator","name":"{}"}}"#,
        "a".repeat(100 * 1024)
    );
    let (st, p) = problem(
        c.post(s.url("/api/v1/organisations"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    // Nothing was stored.
    assert!(s.store.organisation_by_code("X").await.unwrap().is_none());
    // Forms too.
    let r = c
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={}", "a".repeat(100 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    s.stop().await;
}

async fn login_logout_and_csrf(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("rev1", Role::Reviewer, None).await;
    let c = TestServer::client();
    let csrf = s.form_csrf(&c, "/login").await;
    // No CSRF token: refused, not logged in.
    let r = c
        .post(s.url("/login"))
        .form(&[("username", "rev1"), ("password", vigilo_testkit::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Wrong password: the form again, with an error.
    let r = c
        .post(s.url("/login"))
        .header("accept", "text/html")
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "rev1"),
            ("password", "wrong-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.text().await.unwrap();
    assert!(body.contains("login-error") && !body.contains("current-user"));
    // Right password: redirect to `next`, only if it is local.
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "REV1"),
            ("password", vigilo_testkit::PASSWORD),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    let set_cookie: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("vigilo_session="))
        .unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert!(
        !session.contains("Secure"),
        "plain HTTP without a TLS proxy"
    );
    let me: Value = c
        .get(s.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["username"], "rev1");
    let page = c
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("current-user") && page.contains("rev1"));
    // Cookie-authenticated API writes need the CSRF header.
    let r = c.get(s.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Logout needs the session's CSRF token.
    let r = c
        .post(s.url("/logout"))
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let token = extract_csrf(&page).unwrap();
    let r = c
        .post(s.url("/logout"))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c.get(s.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The login was audited.
    let audit = s.store.list_audit(None, 10).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "session.login" && a.actor == "user:rev1"));
    s.stop().await;
}

async fn login_attempts_are_throttled(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("rev1", Role::Reviewer, None).await;
    let c = TestServer::client();
    let csrf = s.form_csrf(&c, "/login").await;
    for _ in 0..5 {
        let r = c
            .post(s.url("/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", "rev1"),
                ("password", "wrong-password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits.
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "rev1"),
            ("password", vigilo_testkit::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(!r
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("vigilo_session=")));
    s.stop().await;
}

async fn language_is_negotiated_and_remembered(backend: Backend) {
    let Some(s) = server(backend).await else {
        return;
    };
    let c = TestServer::client();
    let home = c
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(r#"<html lang="vi">"#) && home.contains("Đăng nhập"));
    assert!(home.contains(r#"id="lang-switch" href="/?lang=en""#));
    let r = c.get(s.url("/?lang=en")).send().await.unwrap();
    assert!(r
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("vigilo_lang=en")));
    let en = r.text().await.unwrap();
    assert!(en.contains(r#"<html lang="en">"#) && en.contains("Log in"));
    // Remembered on the next page.
    let next = c
        .get(s.url("/provinces"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(next.contains(r#"<html lang="en">"#) && next.contains("Provinces and cities"));
    let back = c
        .get(s.url("/provinces?lang=vi"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(back.contains(r#"<html lang="vi">"#));
    // Accept-Language for a new visitor; problems in that language.
    let fresh = TestServer::client();
    let en = fresh
        .get(s.url("/"))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains(r#"<html lang="en">"#));
    let (_, p) = problem(
        fresh
            .get(s.url("/api/v1/me"))
            .header("accept-language", "en")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(p["title"], "Log in or send a valid API token.");
    let (_, p) = problem(fresh.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(p["title"], "Cần đăng nhập hoặc mã API hợp lệ.");
    // Reference data pages.
    let hanoi = c
        .get(s.url("/provinces/01"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(hanoi.contains("Phường Ba Đình"));
    assert!(home.len() < 100 * 1024);
    s.stop().await;
}

async fn vendors_see_only_their_own_organisation(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("vendor-b", Role::Vendor, Some("MFR-B")).await;
    let a = s.org("MFR-A", OrgKind::Manufacturer).await;
    let b = s.org("MFR-B", OrgKind::Manufacturer).await;
    let ta = s.token("vendor-a").await;
    let c = TestServer::client();
    let own: Value = c
        .get(s.url(&format!("/api/v1/organisations/{a}/members")))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["items"][0]["username"], "vendor-a");
    let r = c
        .get(s.url(&format!("/api/v1/organisations/{b}/members")))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    s.user("rev", Role::Reviewer, None).await;
    let tr = s.token("rev").await;
    let r = c
        .get(s.url(&format!("/api/v1/organisations/{b}/members")))
        .bearer_auth(&tr)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .get(s.url("/api/v1/organisations/nope/members"))
        .bearer_auth(&tr)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

async fn admin_api_creates_and_audits(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("admin1", Role::Admin, None).await;
    let admin = s.token("admin1").await;
    let c = TestServer::client();
    let r = c
        .post(s.url("/api/v1/organisations"))
        .bearer_auth(&admin)
        .json(&json!({"code":"BV-BN","kind":"facility","name":"Bệnh viện Bắc Ninh","admin_unit_code":"07210"}))
        .send()
        .await
        .unwrap();
    // 07210 may not exist in the map: either created or a clear 400 naming the field.
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(
        status == StatusCode::CREATED
            || body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("admin_unit_code")
    );
    let r = c
        .post(s.url("/api/v1/organisations"))
        .bearer_auth(&admin)
        .json(&json!({"code":"TYT-1","kind":"facility","name":"Trạm Y tế Ngọc Hà","admin_unit_code":"00008"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let org: Value = r.json().await.unwrap();
    let r = c
        .post(s.url("/api/v1/organisations"))
        .bearer_auth(&admin)
        .json(&json!({"code":"TYT-1","kind":"facility","name":"again","admin_unit_code":"00008"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"username":"station1","role":"reporter","password":"long enough pw","organisation_id": org["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let u: Value = r.json().await.unwrap();
    assert!(u.get("password_hash").is_none());
    // Audit: paginated by cursor, chain intact.
    let page: Value = c
        .get(s.url("/api/v1/audit?limit=2"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["action"], "user.create");
    assert_eq!(page["items"][0]["actor"], "user:admin1");
    let cursor = page["next_cursor"].as_i64().unwrap();
    let page2: Value = c
        .get(s.url(&format!("/api/v1/audit?limit=2&before={cursor}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(page2["items"][0]["seq"].as_i64().unwrap() < cursor);
    let v: Value = c
        .get(s.url("/api/v1/audit/verify"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["intact"], true);
    assert!(v["verified_rows"].as_u64().unwrap() >= 4);
    let list: Value = c
        .get(s.url("/api/v1/organisations?kind=facility"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["code"] == "TYT-1"));
    let r = c
        .get(s.url("/api/v1/organisations?kind=castle"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let units: Value = c
        .get(s.url("/api/v1/admin-units?q=ngoc%20ha"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(units["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["code"] == "00008"));
    s.stop().await;
}

async fn tokens_and_cookie_flags(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("rev1", Role::Reviewer, None).await;
    let (secret, token) = s
        .store
        .create_token("test", "rev1", "t", None)
        .await
        .unwrap();
    let c = TestServer::client();
    let r = c
        .get(s.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.store.revoke_token("test", &token.id).await.unwrap();
    let r = c
        .get(s.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Behind a TLS-terminating proxy, cookies are Secure.
    let csrf = s.form_csrf(&c, "/login").await;
    let r = c
        .post(s.url("/login"))
        .header("x-forwarded-proto", "https")
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "rev1"),
            ("password", vigilo_testkit::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("vigilo_session="))
        .unwrap();
    assert!(cookie.contains("; Secure"));
    // HSTS comes with TLS only.
    assert!(r.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    // Security headers on every response; no inline scripts allowed.
    let r = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
    assert!(r.headers().get("strict-transport-security").is_none());
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(
        csp.contains("default-src 'self'")
            && !csp.contains("unsafe-inline")
            && !csp.contains("unsafe-eval")
    );
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>"), "inline script on the home page");
    s.stop().await;
}

/// A session id planted before login (session fixation) is never the one that gets
/// logged in: login always issues a fresh id, and the planted one stays anonymous.
async fn login_issues_a_fresh_session(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("rev1", Role::Reviewer, None).await;
    let planted = "vigilo_session=attacker-chosen-0123456789abcdef";
    // The attacker's cookie sits in the victim's browser before the login page loads.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("{planted}; Path=/"), &s.url("/").parse().unwrap());
    let c = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let csrf = s.form_csrf(&c, "/login").await;
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "rev1"),
            ("password", vigilo_testkit::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let issued = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("vigilo_session="))
        .unwrap();
    assert!(!issued.starts_with(planted));
    let fresh = TestServer::client();
    let r = fresh
        .get(s.url("/api/v1/me"))
        .header("cookie", planted)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Logging in twice gives two different sessions; logging out ends only its own.
    let first = issued.split(';').next().unwrap().to_string();
    let other = TestServer::client();
    let csrf = s.form_csrf(&other, "/login").await;
    let r = other
        .post(s.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "rev1"),
            ("password", vigilo_testkit::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let second = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("vigilo_session="))
        .unwrap();
    assert_ne!(first, second.split(';').next().unwrap());
    s.stop().await;
}

async fn admin_manages_accounts_in_the_browser(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("boss", Role::Admin, None).await;
    let fac = s.org("TYT-X", OrgKind::Facility).await;
    let c = s.login("boss").await;
    let csrf = s.form_csrf(&c, "/admin").await;
    // A reporter without a facility is refused with a message, and the form keeps its values.
    let r = c
        .post(s.url("/admin/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "station9"),
            ("display_name", "Trạm 9"),
            ("role", "reporter"),
            ("organisation_id", ""),
            ("password", "long enough pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("admin-error") && body.contains("facility"),
        "{body}"
    );
    assert!(body.contains(r#"value="station9""#));
    let r = c
        .post(s.url("/admin/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "station9"),
            ("display_name", "Trạm 9"),
            ("role", "reporter"),
            ("organisation_id", fac.as_str()),
            ("password", "long enough pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/admin?created=station9");
    let page = c
        .get(s.url("/admin?created=station9"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("admin-notice") && page.contains("station9"));
    // Duplicate name: a message, not a crash.
    let r = c
        .post(s.url("/admin/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "station9"),
            ("role", "reviewer"),
            ("password", "long enough pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Role change and disabling, audited.
    let r = c
        .post(s.url("/admin/users/station9/role"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("role", "reviewer"),
            ("organisation_id", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        s.store
            .user_by_username("station9")
            .await
            .unwrap()
            .unwrap()
            .role,
        "reviewer"
    );
    let r = c
        .post(s.url("/admin/users/station9/disable"))
        .form(&[("csrf", csrf.as_str()), ("disabled", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(s
        .store
        .user_by_username("station9")
        .await
        .unwrap()
        .unwrap()
        .is_disabled());
    // An admin cannot lock themselves out.
    let r = c
        .post(s.url("/admin/users/boss/disable"))
        .form(&[("csrf", csrf.as_str()), ("disabled", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let actions: Vec<String> = s
        .store
        .list_audit(None, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(
        actions.contains(&"user.set_role".to_string())
            && actions.contains(&"user.disable".to_string())
    );
    // Without the CSRF token nothing changes.
    let r = c
        .post(s.url("/admin/users/station9/disable"))
        .form(&[("disabled", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(s
        .store
        .user_by_username("station9")
        .await
        .unwrap()
        .unwrap()
        .is_disabled());
    s.stop().await;
}

async fn users_manage_their_own_api_tokens(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("rep1", Role::Reporter, None).await;
    s.user("rep2", Role::Reporter, None).await;
    let c1 = s.login("rep1").await;
    let csrf = s.form_csrf(&c1, "/account").await;
    let r = c1
        .post(s.url("/account/tokens"))
        .form(&[("csrf", csrf.as_str()), ("name", "HIS"), ("days", "30")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let start = page.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
    let secret = &page[start..start + page[start..].find('<').unwrap()];
    assert!(secret.starts_with("vgl_"));
    let api = TestServer::client();
    let me: Value = api
        .get(s.url("/api/v1/me"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["username"], "rep1");
    // Shown once: the account page lists the prefix only.
    let again = c1
        .get(s.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!again.contains(secret) && again.contains("HIS"));
    let bad = c1
        .post(s.url("/account/tokens"))
        .form(&[("csrf", csrf.as_str()), ("name", "x"), ("days", "-4")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let id = s.store.list_tokens(None).await.unwrap()[0].id.clone();
    // Someone else cannot revoke it.
    let c2 = s.login("rep2").await;
    let csrf2 = s.form_csrf(&c2, "/account").await;
    let r = c2
        .post(s.url(&format!("/account/tokens/{id}/revoke")))
        .form(&[("csrf", csrf2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c1
        .post(s.url(&format!("/account/tokens/{id}/revoke")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = api
        .get(s.url("/api/v1/me"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}

async fn database_loss_answers_503_with_retry_after(backend: Backend) {
    let Some(s) = server(backend).await else {
        return;
    };
    let c = TestServer::client();
    assert_eq!(
        c.get(s.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // The pool is shared with the server: closing it is the database going away.
    s.store.close().await;
    let r = c.get(s.url("/readyz")).send().await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    let (st, p) = problem(r).await;
    assert_eq!(
        (st, p["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    // Liveness is not readiness.
    assert_eq!(
        c.get(s.url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let r = c.get(s.url("/api/v1/organisations")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = c
        .get(s.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("503"));
    s.stop().await;
}

async fn vendors_register_and_admins_activate(backend: Backend) {
    let Some(mut s) = server(backend).await else {
        return;
    };
    s.user("boss", Role::Admin, None).await;
    let c = TestServer::client();
    let csrf = s.form_csrf(&c, "/register").await;
    let form = |code: &'static str, user: &'static str, pw: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("org_name", "Công ty AI Sông Hồng".to_string()),
            ("org_name_en", "Song Hong AI".to_string()),
            ("org_code", code.to_string()),
            ("username", user.to_string()),
            ("display_name", "Trần Thị B".to_string()),
            ("password", pw.to_string()),
        ]
    };
    let r = c
        .post(s.url("/register"))
        .form(&form("0101234567", "songhong", "short"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("reg-error") && body.contains("10 characters") && body.contains("0101234567")
    );
    let r = c
        .post(s.url("/register"))
        .form(&form("0101234567", "songhong", vigilo_testkit::PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("reg-done"));
    // Not active yet.
    let csrf_login = s.form_csrf(&c, "/login").await;
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf", csrf_login.as_str()),
            ("username", "songhong"),
            ("password", vigilo_testkit::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The admin sees it waiting and activates it.
    let admin = s.login("boss").await;
    let page = admin
        .get(s.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"pending\"") && page.contains("songhong"));
    let acsrf = vigilo_testkit::extract_csrf(&page).unwrap();
    let r = admin
        .post(s.url("/admin/users/songhong/disable"))
        .form(&[("csrf", acsrf.as_str()), ("disabled", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let vendor = s.login("songhong").await;
    assert_eq!(
        vendor.get(s.url("/vendor")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Registrations are throttled per address.
    let mut last = StatusCode::OK;
    for i in 0..6 {
        let code: &'static str = Box::leak(format!("010999000{i}").into_boxed_str());
        let user: &'static str = Box::leak(format!("bot{i}x").into_boxed_str());
        last = c
            .post(s.url("/register"))
            .form(&form(code, user, "long enough pw"))
            .send()
            .await
            .unwrap()
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Admins add facilities from the organisations page.
    let opage = admin
        .get(s.url("/admin/organisations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ocsrf = vigilo_testkit::extract_csrf(&opage).unwrap();
    let r = admin
        .post(s.url("/admin/organisations"))
        .form(&[
            ("csrf", ocsrf.as_str()),
            ("kind", "facility"),
            ("code", "TYT-00008"),
            ("name", "Trạm Y tế Ngọc Hà"),
            ("name_en", ""),
            ("admin_unit_code", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a facility needs its commune or ward"
    );
    let r = admin
        .post(s.url("/admin/organisations"))
        .form(&[
            ("csrf", ocsrf.as_str()),
            ("kind", "facility"),
            ("code", "TYT-00008"),
            ("name", "Trạm Y tế Ngọc Hà"),
            ("name_en", ""),
            ("admin_unit_code", "00008"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(s
        .store
        .organisation_by_code("TYT-00008")
        .await
        .unwrap()
        .is_some());
    s.stop().await;
}
