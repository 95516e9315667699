//! Test harness: a real Vigilo server on 127.0.0.1:0 over a fresh database, with
//! helpers to create accounts, log in and hold API tokens.
//!
//! PostgreSQL is used when `VIGILO_TEST_POSTGRES_URL` is set; test crates may
//! read the environment (the product's crates do not).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod load;

use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vigilo_core::federation::{NodeKeys, PeerIdentity};
use vigilo_core::{OrgKind, Role, Username};
use vigilo_server::federation::FederationConfig;
use vigilo_server::{AppState, ServerConfig};
use vigilo_store::testing::TestDb;
use vigilo_store::{NewOrganisation, NewUser, Store};

pub const PASSWORD: &str = "test-password-123";
pub const PG_ENV: &str = "VIGILO_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    pub store: Store,
    db: Option<TestDb>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    orgs: HashMap<String, String>,
    /// A federation node's keys and identity (see [`TestServer::start_node`]).
    pub node: Option<Node>,
}

/// A federation test node's keys and identity.
#[derive(Clone)]
pub struct Node {
    pub keys: Arc<NodeKeys>,
    pub identity: PeerIdentity,
}

impl TestServer {
    /// A server over a fresh database on the given backend; `None` (with a printed
    /// note) when PostgreSQL is asked for and not configured.
    pub async fn start(backend: Backend, config: ServerConfig) -> Option<TestServer> {
        Self::start_with(backend, |_| config).await
    }

    /// Like [`start`](Self::start), with a configuration made once the address is known
    /// (a federation node's base URL names its own port).
    pub async fn start_with(
        backend: Backend,
        config: impl FnOnce(std::net::SocketAddr) -> ServerConfig,
    ) -> Option<TestServer> {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite().expect("temp sqlite"),
            Backend::Postgres => match std::env::var(PG_ENV) {
                Ok(url) => TestDb::postgres(&url)
                    .await
                    .expect("create postgres test database"),
                Err(_) => {
                    eprintln!("skipped: set {PG_ENV} to run on PostgreSQL");
                    return None;
                }
            },
        };
        let store = db.open().await.expect("open test database");
        let listener = vigilo_server::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::new(store.clone(), config(addr)).expect("state");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = vigilo_server::serve(listener, state, async {
                let _ = rx.await;
            })
            .await;
        });
        Some(TestServer {
            base: format!("http://{addr}"),
            store,
            db: Some(db),
            stop: Some(tx),
            handle: Some(handle),
            orgs: HashMap::new(),
            node: None,
        })
    }

    /// A GRN federation node on loopback: keys from `seed`, identity of `country` with its
    /// own `http://127.0.0.1:PORT` as base URL, jobs off (tests run the sync themselves).
    pub async fn start_node(
        backend: Backend,
        seed: u8,
        country: &str,
        name: &str,
    ) -> Option<TestServer> {
        Self::start_node_with(backend, seed, country, name, |c| c).await
    }

    /// [`start_node`](Self::start_node) with the configuration adjusted by `adjust`.
    pub async fn start_node_with(
        backend: Backend,
        seed: u8,
        country: &str,
        name: &str,
        adjust: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Option<TestServer> {
        let keys = Arc::new(NodeKeys::from_seed(&[seed; 32]));
        let mut identity = None;
        let k = keys.clone();
        let mut server = Self::start_with(backend, |addr| {
            let id = k.identity(
                name.parse().expect("node name"),
                country.parse().expect("country"),
                format!("http://{addr}").parse().expect("base URL"),
            );
            identity = Some(id.clone());
            adjust(ServerConfig {
                run_jobs: false,
                federation: FederationConfig {
                    keys: Some(k.clone()),
                    identity: Some(id),
                    ..FederationConfig::default()
                },
                ..ServerConfig::default()
            })
        })
        .await?;
        let identity = identity.expect("identity");
        server
            .store
            .set_node_identity("test", &identity)
            .await
            .expect("node identity");
        server.node = Some(Node { keys, identity });
        Some(server)
    }

    /// This node's federation settings (a node started with [`start_node`](Self::start_node)).
    pub fn federation_config(&self) -> FederationConfig {
        let node = self.node.as_ref().expect("a federation node");
        FederationConfig {
            keys: Some(node.keys.clone()),
            identity: Some(node.identity.clone()),
            ..FederationConfig::default()
        }
    }

    /// Pins another node as a peer of this one.
    pub async fn pin(&self, other: &TestServer) -> vigilo_store::Peer {
        let id = &other.node.as_ref().expect("a federation node").identity;
        self.store.add_peer("test", id).await.expect("pin peer")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client that keeps cookies and does not follow redirects (tests look at them).
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// The id of a demo organisation of a kind, created on first use.
    pub async fn org(&mut self, code: &str, kind: OrgKind) -> String {
        if let Some(id) = self.orgs.get(code) {
            return id.clone();
        }
        let org = self
            .store
            .create_organisation(
                "test",
                NewOrganisation {
                    code: code.into(),
                    kind,
                    name: format!("Org {code}"),
                    name_en: None,
                    admin_unit_code: (kind == OrgKind::Facility).then(|| "00004".to_string()),
                },
            )
            .await
            .expect("create org");
        self.orgs.insert(code.into(), org.id.clone());
        org.id
    }

    /// Creates an account; vendors and reporters get an organisation of their own
    /// unless `org` names one.
    pub async fn user(&mut self, name: &str, role: Role, org: Option<&str>) -> vigilo_store::User {
        let org_id = match (role.required_org_kind(), org) {
            (Some(kind), Some(code)) => Some(self.org(code, kind).await),
            (Some(kind), None) => Some(self.org(&format!("ORG-{name}"), kind).await),
            _ => None,
        };
        self.store
            .create_user(
                "test",
                NewUser {
                    username: Username::parse(name).expect("name"),
                    display_name: name.into(),
                    password: PASSWORD.into(),
                    role,
                    organisation_id: org_id,
                },
            )
            .await
            .expect("create user")
    }

    /// A published version 1.0 of a new tuberculosis screening product made by `maker`,
    /// licensed (approved with conditions) for province 01 with these KPI duties, for tests
    /// that need deployments.
    pub async fn licensed_version(
        &self,
        maker: &str,
        name: &str,
        kpis: Vec<vigilo_core::appraisal::KpiDuty>,
    ) -> (vigilo_store::Product, vigilo_store::ProductVersion) {
        use vigilo_core::appraisal::{
            Actor, ApplicationCommand as C, DecisionOutcome, LicenceConditions,
        };
        use vigilo_core::directory::{
            AiKind, ClinicalArea, InputModality, ModelCard, VersionCommand, VersionLabel,
        };
        let p = self
            .store
            .create_product(
                "test",
                vigilo_store::NewProduct {
                    manufacturer_id: maker.into(),
                    name: name.into(),
                    name_en: None,
                    clinical_area: ClinicalArea::TuberculosisScreening,
                    input_modality: InputModality::Imaging,
                    ai_kind: AiKind::Locked,
                    country: "VN".into(),
                },
            )
            .await
            .expect("product");
        let card = ModelCard {
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
        };
        let label = VersionLabel::parse("1.0").expect("label");
        let v = self
            .store
            .create_version("test", &p.id, &label, &card)
            .await
            .expect("version");
        self.store
            .change_version_status("test", &v.id, VersionCommand::Publish)
            .await
            .expect("publish");
        let app = self
            .store
            .open_application("test", maker, &v.id, &[("vn-dossier".into(), 1)])
            .await
            .expect("dossier");
        for (cmd, actor) in [
            (C::Submit, Actor::Vendor),
            (C::StartScreening, Actor::Staff),
            (C::AcceptForReview, Actor::Staff),
        ] {
            self.store
                .transition_application("test", actor, &app.id, cmd, "ok", None)
                .await
                .expect("transition");
        }
        let expires_on = self.store.now().date() + time::Duration::days(700);
        self.store
            .transition_application(
                "test",
                Actor::Staff,
                &app.id,
                C::Decide,
                "ok",
                Some(vigilo_store::DecisionInput {
                    outcome: DecisionOutcome::ApprovedWithConditions,
                    conditions: Some(LicenceConditions {
                        provinces: vec!["01".into()],
                        facilities: vec![],
                        pilot_only: true,
                        monitoring_duties: "—".into(),
                        monitoring_duties_en: "—".into(),
                        kpis,
                        expires_on,
                    }),
                }),
            )
            .await
            .expect("decision");
        (p, v)
    }

    /// A bearer token for an existing account.
    pub async fn token(&self, username: &str) -> String {
        self.store
            .create_token("test", username, "test", None)
            .await
            .expect("token")
            .0
    }

    /// Logs in through the form, as a browser would; returns the client holding the session.
    pub async fn login(&self, username: &str) -> reqwest::Client {
        let client = Self::client();
        let csrf = self.form_csrf(&client, "/login").await;
        let resp = client
            .post(self.url("/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", username),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status().as_u16(), 303, "login of {username} failed");
        client
    }

    /// Loads a page and returns the CSRF token its forms carry.
    pub async fn form_csrf(&self, client: &reqwest::Client, path: &str) -> String {
        let html = client
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        extract_csrf(&html).unwrap_or_else(|| panic!("no csrf field on {path}"))
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        self.store.close().await;
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }
}

pub fn extract_csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// Runs a test body on SQLite and (when configured) PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if std::env::var($crate::PG_ENV).is_err() {
                        eprintln!("skipped: set {} to run on PostgreSQL", $crate::PG_ENV);
                        return;
                    }
                    super::$name($crate::Backend::Postgres).await;
                }
            )*
        }
    };
}
