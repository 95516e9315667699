//! The Navigator through the real server, on both backends: a station answers its readiness
//! self-assessment in the form (drafts, refused saves that keep what was typed, a stale form),
//! submits through the API, records training; staff see the readiness map and its CSV; the
//! administrator's minimum level holds back a high-risk deployment until the station is ready.
//! Anyone reads the blueprints and downloads them as PDF and DOCX in either language.
#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::Reader;
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigilo_core::blueprints::builtin_blueprint_documents;
use vigilo_core::checklist::Catalog;
use vigilo_core::navigator::READINESS_FRAMEWORK;
use vigilo_core::Role;
use vigilo_server::ServerConfig;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    a_station_assesses_its_readiness_in_the_form_and_the_api,
    training_the_map_and_the_readiness_gate
);

async fn start(backend: Backend) -> Option<TestServer> {
    TestServer::start(
        backend,
        ServerConfig {
            run_jobs: false,
            ..ServerConfig::default()
        },
    )
    .await
}

fn item_ids() -> Vec<String> {
    let c = Catalog::builtin().unwrap();
    c.latest(READINESS_FRAMEWORK)
        .unwrap()
        .items()
        .iter()
        .map(|i| i.id.clone())
        .collect()
}

fn all_at(level: i64) -> Vec<Value> {
    item_ids()
        .into_iter()
        .map(|id| json!({"item_id": id, "level": level}))
        .collect()
}

async fn a_station_assesses_its_readiness_in_the_form_and_the_api(backend: Backend) {
    let Some(mut s) = start(backend).await else {
        return;
    };
    s.user("station", Role::Reporter, Some("TYT-NAV")).await;
    s.user("other", Role::Reporter, Some("TYT-OTHER")).await;
    let c = s.login("station").await;
    let home = c
        .get(s.url("/navigator?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("start-assessment"), "{home}");
    assert!(home.contains("id=\"blueprint-patient-info\""));
    let csrf = s.form_csrf(&c, "/navigator").await;
    let r = c
        .post(s.url("/navigator/assessment"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let id = path.rsplit('/').next().unwrap().to_string();
    let page = c.get(s.url(&path)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("assessment-form"));
    assert!(page.len() < 100_000, "page is {} bytes", page.len());
    // A partial draft.
    let r = c
        .post(s.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("revision", "1"),
            ("action", "save"),
            ("level-gov-committee", "2"),
            ("comment-gov-committee", "Quyết định số 12"),
            ("level-gov-policy", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(s.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Quyết định số 12"));
    // Each gap links to its blueprint's page.
    assert!(
        page.contains("href=\"/navigator/blueprints/blueprint-"),
        "gaps link to the blueprints"
    );
    // Out of range: refused, and what was typed comes back in the form.
    let r = c
        .post(s.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("revision", "2"),
            ("action", "save"),
            ("level-gov-committee", "9"),
            ("comment-gov-accountable", "ghi chú chưa lưu"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("ghi chú chưa lưu"), "typed comment lost");
    assert!(body.contains("out of range"), "{body}");
    // A stale form (revision 1) is refused with a conflict, again keeping the answers.
    let r = c
        .post(s.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("revision", "1"),
            ("action", "save"),
            ("comment-gov-inventory", "từ tab cũ"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("từ tab cũ"));
    // Submitting with questions open: refused, the draft is kept.
    let r = c
        .post(s.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("revision", "2"),
            ("action", "submit"),
            ("level-gov-committee", "3"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The API: unknown items are named; a full set submits.
    let token = s.token("station").await;
    let api = TestServer::client();
    let a: Value = api
        .get(s.url(&format!("/api/v1/navigator/assessments/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["status"], "draft");
    assert_eq!(a["revision"], 3);
    assert_eq!(a["domains"].as_array().unwrap().len(), 8);
    assert!(a["gaps"][0]["blueprint"]
        .as_str()
        .unwrap()
        .starts_with("blueprint-"));
    let r = api
        .put(s.url(&format!("/api/v1/navigator/assessments/{id}/answers")))
        .bearer_auth(&token)
        .json(&json!({"revision": 3, "answers": [{"item_id": "nope", "level": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("nope"), "{p}");
    let r = api
        .put(s.url(&format!("/api/v1/navigator/assessments/{id}/answers")))
        .bearer_auth(&token)
        .json(&json!({"revision": 3, "answers": all_at(2), "submit": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["status"], "submitted");
    assert_eq!(a["overall_level"], 2);
    assert_eq!(a["unanswered"], 0);
    // History and the next draft.
    let r: Value = api
        .post(s.url("/api/v1/navigator/assessments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "draft");
    assert_eq!(r["answered"], item_ids().len());
    let history: Value = api
        .get(s.url("/api/v1/navigator/assessments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);
    // Another station cannot see it.
    let other = s.token("other").await;
    let r = api
        .get(s.url(&format!("/api/v1/navigator/assessments/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The page in English shows the history.
    let page = c
        .get(s.url(&format!("{path}?lang=en")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("History") && page.contains("Submitted"));
    s.stop().await;
}

async fn training_the_map_and_the_readiness_gate(backend: Backend) {
    let Some(mut s) = start(backend).await else {
        return;
    };
    let vendor = s.user("vendor-n", Role::Vendor, Some("MFR-N")).await;
    let station = s.user("station", Role::Reporter, Some("TYT-NAV")).await;
    s.user("rev", Role::Reviewer, None).await;
    s.user("boss", Role::Admin, None).await;
    let facility = station.organisation_id.clone().unwrap();
    let (p, v) = s
        .licensed_version(vendor.organisation_id.as_deref().unwrap(), "PhổiAI", vec![])
        .await;
    let api = TestServer::client();
    let rev = s.token("rev").await;
    let boss = s.token("boss").await;
    let st = s.token("station").await;
    // A course on the tool, then the station records its session.
    let r = api
        .post(s.url("/api/v1/navigator/courses"))
        .bearer_auth(&rev)
        .json(
            &json!({"title": "PhổiAI cho bác sĩ", "audience": ["doctor", "nurse"], "hours": 4,
            "provider": "NHIC", "product_id": p.id}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let course: Value = r.json().await.unwrap();
    let r = api
        .post(s.url("/api/v1/navigator/courses"))
        .bearer_auth(&rev)
        .json(&json!({"title": "x", "audience": ["astronaut"], "hours": 4, "provider": "NHIC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let today = s.store.now().date();
    let r = api
        .post(s.url("/api/v1/navigator/sessions"))
        .bearer_auth(&st)
        .json(&json!({"course_id": course["id"], "held_on": (today - time::Duration::days(10)).to_string(),
            "trained": [{"role": "doctor", "count": 2}, {"role": "nurse", "count": 5}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let session: Value = r.json().await.unwrap();
    assert_eq!(session["total_trained"], 7);
    assert!(session["training_record_id"].is_string());
    let status: Value = api
        .get(s.url("/api/v1/navigator/training-status"))
        .bearer_auth(&st)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status[0]["staff_trained"], 7);
    let c = s.login("station").await;
    let page = c
        .get(s.url("/navigator/training"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("PhổiAI cho bác sĩ") && page.contains("tool-status"));

    // The administrator sets a minimum level; a high-risk tool is then held back.
    let r = api
        .put(s.url("/api/v1/navigator/settings"))
        .bearer_auth(&boss)
        .json(&json!({"min_level_high_risk": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = api
        .put(s.url("/api/v1/navigator/settings"))
        .bearer_auth(&boss)
        .json(&json!({"min_level_high_risk": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.store
        .set_classification(
            "test",
            &p.id,
            &json!({"vn_ai_tier": "high"}),
            "C",
            "confirmed",
        )
        .await
        .unwrap();
    let deploy = || {
        api.post(s.url("/api/v1/deployments"))
            .bearer_auth(&rev)
            .json(
                &json!({"version_id": v.id, "facility_id": facility, "go_live": today.to_string()}),
            )
            .send()
    };
    let r = deploy().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("readiness"),
        "{problem}"
    );
    let a: Value = api
        .post(s.url("/api/v1/navigator/assessments"))
        .bearer_auth(&st)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = api
        .put(s.url(&format!(
            "/api/v1/navigator/assessments/{}/answers",
            a["id"].as_str().unwrap()
        )))
        .bearer_auth(&st)
        .json(&json!({"revision": a["revision"], "answers": all_at(2), "submit": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(deploy().await.unwrap().status(), StatusCode::CREATED);

    // The map: staff see the station assessed at level 2 with training; CSV too.
    let map: Value = api
        .get(s.url("/api/v1/navigator/map"))
        .bearer_auth(&rev)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(map["min_level_high_risk"], 2);
    let cell = map["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["province_code"] == "01")
        .unwrap();
    assert_eq!(cell["assessed"], 1);
    assert_eq!(cell["levels"][2], 1);
    assert_eq!(cell["at_minimum"], 1);
    assert_eq!(cell["people_trained"], 7);
    let r = api
        .get(s.url("/navigator/map.csv"))
        .bearer_auth(&rev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("province_code,province_name,facility_type,units,assessed,level_0"));
    assert!(csv.contains("\n01,"), "{csv}");
    let rc = s.login("rev").await;
    let page = rc
        .get(s.url("/navigator/map?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"readiness\"") && page.contains("Not declared"));
    // Vendors do not see the map.
    let vt = s.token("vendor-n").await;
    let r = api
        .get(s.url("/api/v1/navigator/map"))
        .bearer_auth(&vt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    s.stop().await;
}

/// The text of a DOCX file's `word/document.xml`, paragraph by paragraph (runs joined),
/// parsed strictly.
fn docx_paragraphs(bytes: &[u8]) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    let mut reader = Reader::from_str(&xml);
    reader.config_mut().check_end_names = true;
    let (mut out, mut current, mut in_text) = (Vec::new(), String::new(), false);
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) if e.name().as_ref() == b"w:t" => in_text = true,
            Event::End(e) if e.name().as_ref() == b"w:t" => in_text = false,
            Event::End(e) if e.name().as_ref() == b"w:p" => out.push(std::mem::take(&mut current)),
            Event::Text(t) if in_text => current.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) if in_text => {
                current.push_str(match r.decode().unwrap().as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("entity {other}"),
                })
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn pdf_text(bytes: &[u8], name: &str) -> String {
    let path = std::env::temp_dir().join(format!("vigilo-nav-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils)");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blueprints_are_read_and_downloaded_in_both_languages() {
    let Some(s) = start(Backend::Sqlite).await else {
        return;
    };
    let c = TestServer::client();
    let docs = builtin_blueprint_documents().unwrap();
    // The list, public, in the page language, with every download in both languages.
    let r = c
        .get(s.url("/navigator/blueprints"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list = r.text().await.unwrap();
    assert!(list.contains("AI governance policy"), "{list}");
    for d in &docs {
        for lang in ["vi", "en"] {
            for ext in ["pdf", "docx"] {
                let href = format!("/navigator/blueprints/{}.{ext}?lang={lang}", d.id);
                assert!(list.contains(&href), "{href} missing");
            }
        }
    }
    let vi_list = c
        .get(s.url("/navigator/blueprints?lang=vi"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(vi_list.contains("Quy chế quản trị AI của đơn vị"));

    for d in &docs {
        // The page: the whole document, light.
        let page = c
            .get(s.url(&format!("/navigator/blueprints/{}?lang=vi", d.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let page = page.text().await.unwrap();
        assert!(page.len() < 100_000, "{}: {} bytes", d.id, page.len());
        let heading = d.sections[0].heading.vi.as_str();
        assert!(page.contains(heading), "{}: {heading}", d.id);
        assert!(
            page.contains("<mark class=\"fill\">"),
            "{}: fill-in fields",
            d.id
        );

        for (lang, text) in [
            ("vi", &d.sections[1].heading.vi),
            ("en", &d.sections[1].heading.en),
        ] {
            // DOCX: type, file name with id and language, the text back from document.xml.
            let r = c
                .get(s.url(&format!("/navigator/blueprints/{}.docx?lang={lang}", d.id)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(
                r.headers()["content-type"],
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            );
            assert_eq!(
                r.headers()["content-disposition"],
                format!("attachment; filename=\"{}-{lang}.docx\"", d.id).as_str()
            );
            // The document's language does not become the interface's.
            assert!(r
                .headers()
                .get("set-cookie")
                .is_none_or(|v| !v.to_str().unwrap().contains("vigilo_lang")));
            let paragraphs = docx_paragraphs(&r.bytes().await.unwrap());
            assert!(
                paragraphs.iter().any(|p| p == text),
                "{}: {text} not in the DOCX",
                d.id
            );
            // PDF: typeset, and the text (diacritics included) extracts again.
            let r = c
                .get(s.url(&format!("/navigator/blueprints/{}.pdf?lang={lang}", d.id)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "application/pdf");
            assert_eq!(
                r.headers()["content-disposition"],
                format!("attachment; filename=\"{}-{lang}.pdf\"", d.id).as_str()
            );
            let pdf = r.bytes().await.unwrap();
            assert!(pdf.starts_with(b"%PDF-"));
            let extracted = pdf_text(&pdf, &format!("{}-{lang}.pdf", d.id));
            let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                squash(&extracted).contains(&squash(text)),
                "{}: {text} not in the {lang} PDF",
                d.id
            );
        }
    }
    // Unknown blueprints and formats are 404 problems.
    for path in [
        "/navigator/blueprints/blueprint-nope",
        "/navigator/blueprints/blueprint-nope.pdf",
        "/navigator/blueprints/blueprint-patient-info.odt",
    ] {
        let r = c.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json"));
    }
}
