//! Accounts, password checks, sessions, API tokens and login throttling.

use crate::audit::{append, AuditEntry};
use crate::{format_time, new_id, random_token, sha256_hex, Store, StoreError};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use serde::Serialize;
use serde_json::json;
use time::Duration;
use vigilo_core::identity::check_password_policy;
use vigilo_core::{Role, Username};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub organisation_id: Option<String>,
    pub disabled: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl User {
    /// The account's role; an unknown stored value (never written by us) counts as
    /// no rights at all.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Public)
    }
    pub fn is_disabled(&self) -> bool {
        self.disabled != 0
    }
    fn audit_view(&self) -> serde_json::Value {
        json!({
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "organisation_id": self.organisation_id,
            "disabled": self.is_disabled(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub display_name: String,
    pub password: String,
    pub role: Role,
    pub organisation_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Session {
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

const USER_COLUMNS: &str = "id, username, display_name, password_hash, role, organisation_id, disabled, created_at, updated_at";
const TOKEN_COLUMNS: &str =
    "id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at";

/// API tokens start with this, so they are recognisable in configuration files and
/// secret scanners.
pub const TOKEN_PREFIX: &str = "vgl_";

async fn hash_password(password: String) -> Result<String, StoreError> {
    // Argon2id is deliberately slow: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}

async fn verify_password_hash(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A fixed Argon2id hash to verify against when the user does not exist, so a
/// wrong user name costs the same time as a wrong password.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Store {
    pub async fn create_user(&self, actor: &str, new: NewUser) -> Result<User, StoreError> {
        if new.role == Role::Public {
            return Err(StoreError::Invalid {
                field: "role",
                reason: "public is the anonymous visitor, not an account role".into(),
            });
        }
        check_password_policy(&new.password).map_err(|e| StoreError::Invalid {
            field: "password",
            reason: e.to_string(),
        })?;
        self.check_org_for_role(new.role, new.organisation_id.as_deref())
            .await?;
        let display_name = new.display_name.trim().to_string();
        let display_name = if display_name.is_empty() {
            new.username.to_string()
        } else {
            display_name
        };
        let password_hash = hash_password(new.password).await?;
        let now = self.now_text();
        let user = User {
            id: new_id(),
            username: new.username.to_string(),
            display_name,
            password_hash,
            role: new.role.as_str().to_string(),
            organisation_id: new.organisation_id,
            disabled: 0,
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        let mut tx = self.begin_write().await?;
        insert_user(&mut tx, actor, &now, &user).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// A company's self-registration: a manufacturer organisation and a disabled
    /// vendor account, stored together or not at all. An administrator enables the
    /// account after checking the company.
    pub async fn register_vendor(
        &self,
        org: crate::NewOrganisation,
        username: Username,
        display_name: &str,
        password: String,
    ) -> Result<(crate::Organisation, User), StoreError> {
        check_password_policy(&password).map_err(|e| StoreError::Invalid {
            field: "password",
            reason: e.to_string(),
        })?;
        if org.kind != vigilo_core::OrgKind::Manufacturer {
            return Err(StoreError::Invalid {
                field: "kind",
                reason: "self-registration is for manufacturers".into(),
            });
        }
        if self.user_by_username(username.as_str()).await?.is_some() {
            return Err(StoreError::Conflict {
                what: "user",
                key: username.to_string(),
            });
        }
        let org = self.prepare_organisation(org).await?;
        let password_hash = hash_password(password).await?;
        let now = self.now_text();
        let display_name = display_name.trim();
        let user = User {
            id: new_id(),
            username: username.to_string(),
            display_name: if display_name.is_empty() {
                username.to_string()
            } else {
                display_name.to_string()
            },
            password_hash,
            role: Role::Vendor.as_str().to_string(),
            organisation_id: Some(org.id.clone()),
            disabled: 1,
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        let actor = format!("signup:{}", user.username);
        let mut tx = self.begin_write().await?;
        crate::orgs::insert_organisation(&mut tx, &actor, &org).await?;
        insert_user(&mut tx, &actor, &now, &user).await?;
        tx.commit().await?;
        Ok((org, user))
    }

    /// Vendors must belong to a manufacturer and reporters to a facility, so
    /// object-level checks ("vendors see only their own organisation") always have
    /// an organisation to compare.
    async fn check_org_for_role(&self, role: Role, org_id: Option<&str>) -> Result<(), StoreError> {
        let org = match org_id {
            Some(id) => Some(
                self.organisation(id)
                    .await?
                    .ok_or_else(|| StoreError::Invalid {
                        field: "organisation",
                        reason: format!("no organisation has id '{id}'"),
                    })?,
            ),
            None => None,
        };
        if let Some(kind) = role.required_org_kind() {
            match &org {
                Some(o) if o.kind == kind.as_str() => {}
                Some(o) => {
                    return Err(StoreError::Invalid {
                        field: "organisation",
                        reason: format!(
                            "a {role} account must belong to a {} organisation, not '{}' ({})",
                            kind.as_str(),
                            o.name,
                            o.kind
                        ),
                    })
                }
                None => {
                    return Err(StoreError::Invalid {
                        field: "organisation",
                        reason: format!(
                            "a {role} account must belong to a {} organisation",
                            kind.as_str()
                        ),
                    })
                }
            }
        }
        Ok(())
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        ))
        .bind(username.trim().to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(
            sqlx::query_as(sqlf!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(
            sqlx::query_as(sqlf!("SELECT {USER_COLUMNS} FROM users ORDER BY username"))
                .fetch_all(self.pool())
                .await?,
        )
    }

    async fn require_user(&self, username: &str) -> Result<User, StoreError> {
        self.user_by_username(username)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "user",
                key: username.to_string(),
            })
    }

    /// Changes a user's role (and organisation, which the role may require).
    pub async fn set_role(
        &self,
        actor: &str,
        username: &str,
        role: Role,
        organisation_id: Option<String>,
    ) -> Result<User, StoreError> {
        if role == Role::Public {
            return Err(StoreError::Invalid {
                field: "role",
                reason: "public is the anonymous visitor, not an account role".into(),
            });
        }
        let before = self.require_user(username).await?;
        let org = organisation_id.or(before.organisation_id.clone());
        // An organisation only matters for roles that need one.
        let org = if role.required_org_kind().is_some() {
            org
        } else {
            None
        };
        self.check_org_for_role(role, org.as_deref()).await?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE users SET role = $1, organisation_id = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(role.as_str())
        .bind(&org)
        .bind(&now)
        .bind(&before.id)
        .execute(&mut *tx)
        .await?;
        // A role change ends the user's sessions so old rights do not linger.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&before.id)
            .execute(&mut *tx)
            .await?;
        let mut after = before.clone();
        after.role = role.as_str().to_string();
        after.organisation_id = org;
        after.updated_at = now.clone();
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "user.set_role", "user", &before.id)
                .before(before.audit_view())
                .after(after.audit_view()),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Disables (or re-enables) an account; disabling ends its sessions and its
    /// API tokens stop working.
    pub async fn set_disabled(
        &self,
        actor: &str,
        username: &str,
        disabled: bool,
    ) -> Result<User, StoreError> {
        let before = self.require_user(username).await?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(disabled))
            .bind(&now)
            .bind(&before.id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(&before.id)
                .execute(&mut *tx)
                .await?;
        }
        let mut after = before.clone();
        after.disabled = i64::from(disabled);
        after.updated_at = now.clone();
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, action, "user", &before.id)
                .before(before.audit_view())
                .after(after.audit_view()),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Checks a password. Returns the user only when the account exists, is enabled
    /// and the password matches; takes the same time whichever part fails.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let user = self.user_by_username(username).await?;
        let hash = match &user {
            Some(u) => u.password_hash.clone(),
            None => match DUMMY_HASH.get() {
                Some(h) => h.clone(),
                None => {
                    let h = hash_password("not-a-real-password".into()).await?;
                    DUMMY_HASH.get_or_init(|| h).clone()
                }
            },
        };
        let ok = verify_password_hash(password.to_string(), hash).await;
        Ok(user.filter(|u| ok && !u.is_disabled()))
    }

    // ---- sessions ----

    /// Creates a session; returns the secret cookie value and the session.
    pub async fn create_session(
        &self,
        user_id: &str,
        ttl: Duration,
    ) -> Result<(String, Session), StoreError> {
        let token = random_token(32);
        let now = self.now();
        let session = Session {
            user_id: user_id.to_string(),
            csrf_token: random_token(24),
            created_at: format_time(now),
            expires_at: format_time(now + ttl),
        };
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(sha256_hex(&token))
        .bind(&session.user_id)
        .bind(&session.csrf_token)
        .bind(&session.created_at)
        .bind(&session.expires_at)
        .execute(self.pool())
        .await?;
        Ok((token, session))
    }

    /// The live session and its enabled user for a cookie value.
    pub async fn session_user(&self, token: &str) -> Result<Option<(Session, User)>, StoreError> {
        let session: Option<Session> = sqlx::query_as(
            "SELECT user_id, csrf_token, created_at, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(sha256_hex(token))
        .bind(self.now_text())
        .fetch_optional(self.pool())
        .await?;
        let Some(session) = session else {
            return Ok(None);
        };
        let user = self.user_by_id(&session.user_id).await?;
        Ok(user.filter(|u| !u.is_disabled()).map(|u| (session, u)))
    }

    pub async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(sha256_hex(token))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes expired sessions and old login failures; run by a periodic job.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.now();
        let a = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(format_time(now))
            .execute(self.pool())
            .await?
            .rows_affected();
        let b = sqlx::query("DELETE FROM login_failures WHERE at <= $1")
            .bind(format_time(now - Duration::days(1)))
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(a + b)
    }

    // ---- login throttling ----

    pub async fn record_login_failure(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
            .bind(key)
            .bind(self.now_text())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Failures for a key within the window.
    pub async fn login_failures_since(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE key = $1 AND at > $2")
                .bind(key)
                .bind(format_time(self.now() - window))
                .fetch_one(self.pool())
                .await?,
        )
    }

    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    // ---- API tokens ----

    /// Creates an API token for a user; returns the secret once (only its hash is kept).
    pub async fn create_token(
        &self,
        actor: &str,
        username: &str,
        name: &str,
        ttl: Option<Duration>,
    ) -> Result<(String, ApiToken), StoreError> {
        let user = self.require_user(username).await?;
        if user.is_disabled() {
            return Err(StoreError::Invalid {
                field: "user",
                reason: format!("account '{username}' is disabled"),
            });
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::Invalid {
                field: "name",
                reason: "token name must be 1 to 100 characters".into(),
            });
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_token(32));
        let now = self.now();
        let token = ApiToken {
            id: new_id(),
            user_id: user.id.clone(),
            name: name.to_string(),
            prefix: secret.chars().take(TOKEN_PREFIX.len() + 8).collect(),
            created_at: format_time(now),
            expires_at: ttl.map(|d| format_time(now + d)),
            revoked_at: None,
            last_used_at: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, prefix, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&token.id)
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(&token.prefix)
        .bind(sha256_hex(&secret))
        .bind(&token.created_at)
        .bind(&token.expires_at)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &token.created_at,
            &AuditEntry::new(actor, "token.create", "api_token", &token.id).after(json!({
                "user": user.username, "name": token.name, "prefix": token.prefix, "expires_at": token.expires_at,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok((secret, token))
    }

    /// Revokes a token named by its id or its shown prefix.
    pub async fn revoke_token(
        &self,
        actor: &str,
        id_or_prefix: &str,
    ) -> Result<ApiToken, StoreError> {
        let key = id_or_prefix.trim();
        let found: Vec<ApiToken> = sqlx::query_as(sqlf!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 OR prefix = $1"
        ))
        .bind(key)
        .fetch_all(self.pool())
        .await?;
        let token = match found.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(StoreError::NotFound {
                    what: "API token",
                    key: key.to_string(),
                })
            }
            _ => {
                return Err(StoreError::Invalid {
                    field: "token",
                    reason: format!("'{key}' matches several tokens; give the token id"),
                })
            }
        };
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(&token.id)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "token.revoke", "api_token", &token.id)
                .before(json!({"revoked_at": null}))
                .after(json!({"revoked_at": now})),
        )
        .await?;
        tx.commit().await?;
        Ok(ApiToken {
            revoked_at: Some(now),
            ..token
        })
    }

    pub async fn list_tokens(&self, user_id: Option<&str>) -> Result<Vec<ApiToken>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ($1 IS NULL OR user_id = $1) ORDER BY created_at"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The enabled user behind a live bearer token.
    pub async fn token_user(&self, secret: &str) -> Result<Option<User>, StoreError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let now = self.now();
        let now_text = format_time(now);
        let found: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT user_id, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(sha256_hex(secret))
        .bind(&now_text)
        .fetch_optional(self.pool())
        .await?;
        let Some((user_id, last_used_at)) = found else {
            return Ok(None);
        };
        // "Last used" to the minute is enough for the token list, and writing it on
        // every request would put a durable write (and the write lock) in front of
        // every API call, reads included. Best effort: a failed update must not fail
        // the request.
        let stale_before = format_time(now - Duration::minutes(1));
        if last_used_at.is_none_or(|t| t < stale_before) {
            let _ = sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
                .bind(&now_text)
                .bind(sha256_hex(secret))
                .execute(self.pool())
                .await;
        }
        Ok(self
            .user_by_id(&user_id)
            .await?
            .filter(|u| !u.is_disabled()))
    }
}

/// Inserts a new account and its audit row inside the caller's transaction.
async fn insert_user(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    now: &str,
    user: &User,
) -> Result<(), StoreError> {
    sqlx::query(sqlf!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&user.id)
    .bind(&user.username)
    .bind(&user.display_name)
    .bind(&user.password_hash)
    .bind(&user.role)
    .bind(&user.organisation_id)
    .bind(user.disabled)
    .bind(&user.created_at)
    .bind(&user.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("user", &user.username))?;
    append(
        &mut *conn,
        now,
        &AuditEntry::new(actor, "user.create", "user", &user.id).after(user.audit_view()),
    )
    .await?;
    Ok(())
}
