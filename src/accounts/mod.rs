//! Accounts: registration, password login, sessions, API keys, profile, and who is calling;
//! with what hangs off an account: its projects, preferences, lifecycle (verification, reset,
//! deletion, data export), two-factor, audit trail, and the operators' actions on accounts.

pub mod admin;
pub mod audit;
pub mod cache;
pub mod export;
pub mod google;
pub mod lifecycle;
pub mod preferences;
pub mod projects;
pub mod scopes;
pub mod secrets;
pub mod totp;

use chrono::{Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::cache::Invalidate;
use crate::db::api_keys::ApiKeyRow;
use crate::db::users::{NewUser, UserRow};
use crate::db::{self, sessions::NewSession};
use crate::domain::{ApiKeyName, Email, Password, PersonName, Role};
use crate::error::{ApiError, ApiResult};
use crate::notify;
use crate::ratelimit::Limit;
use crate::state::AppState;
use audit::{Actor, Change};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRow,
    /// Set when authenticated by a session token (logout revokes it).
    pub session_id: Option<Uuid>,
    /// Set when authenticated by an API key.
    pub api_key_id: Option<Uuid>,
    /// The key's scopes; `None` for a session (a person signed in may do everything).
    pub scopes: Option<Vec<String>>,
    /// When the key stops working (cached principals are checked against it too).
    pub expires_at: Option<chrono::DateTime<Utc>>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// Whether this credential may do what needs scope `need`.
    pub fn allows(&self, need: &str) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|have| have.iter().any(|h| scopes::grants(h, need)))
    }
}

/// Where a request comes from; recorded on sessions and audit rows.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: String,
    pub request_id: String,
    pub user_agent: Option<String>,
}

impl Origin {
    pub fn actor(&self, principal: Option<&Principal>) -> Actor {
        Actor {
            user_id: principal.map(|p| p.user.id),
            api_key_id: principal.and_then(|p| p.api_key_id),
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// The audit image of a user: never the password hash.
#[derive(Serialize)]
struct UserSnapshot<'a> {
    email: &'a str,
    name: Option<&'a str>,
    role: Role,
    suspended: bool,
}

pub(crate) fn snapshot(u: &UserRow) -> impl Serialize + '_ {
    UserSnapshot {
        email: &u.email,
        name: u.name.as_deref(),
        role: u.role,
        suspended: u.suspended_at.is_some(),
    }
}

pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub name: PersonName,
}

/// Failed-login budgets: per client address, per (account, address), and per account from
/// everywhere over a longer window. Locking an account by its e-mail alone would let anyone
/// lock its owner out with a few wrong passwords; per (account, address) it locks only the
/// guesser, and the slow global budget still stops a guesser spread over many addresses.
fn login_limits(state: &AppState) -> [Limit; 3] {
    let l = &state.settings.auth_limits;
    [
        Limit {
            bucket: "login-ip",
            limit: l.failures_per_ip,
            window_secs: l.window_secs,
        },
        Limit {
            bucket: "login-email-ip",
            limit: l.failures_per_email_and_ip,
            window_secs: l.window_secs,
        },
        Limit {
            bucket: "login-email",
            limit: l.failures_per_email,
            window_secs: l.email_window_secs,
        },
    ]
}

pub async fn register(
    state: &AppState,
    origin: &Origin,
    r: Registration,
) -> ApiResult<(UserRow, String)> {
    let limit = Limit {
        bucket: "register-ip",
        limit: state.settings.auth_limits.registrations_per_ip,
        window_secs: 3600,
    };
    state.limiter.hit_or_refuse(&limit, &origin.ip).await?;

    let hash = secrets::hash_password(r.password.expose().to_owned()).await?;
    let mut tx = state.db.begin().await?;
    let user = db::users::insert(
        &mut *tx,
        &NewUser {
            id: Uuid::now_v7(),
            email: r.email.as_str(),
            name: Some(r.name.as_str()),
            avatar_url: None,
            provider: "local",
            provider_id: None,
            password_hash: Some(&hash),
        },
    )
    .await
    .map_err(email_taken)?;
    let actor = Actor {
        user_id: Some(user.id),
        ..origin.actor(None)
    };
    audit::record(
        &mut tx,
        &actor,
        Change::created("user.register", "user", user.id, &snapshot(&user)),
    )
    .await?;
    let token = start_session(&mut tx, state, &user, origin).await?;
    let email_id = notify::emails::welcome(&mut tx, state, &user).await?;
    let verify_id = lifecycle::send_verification(&mut tx, state, &user, &user.email).await?;
    tx.commit().await?;
    notify::emails::dispatch(state, email_id).await;
    notify::emails::dispatch(state, verify_id).await;
    Ok((user, token))
}

/// 409 `email_taken` when a write hit the unique address of another account.
pub(crate) fn email_taken(e: sqlx::Error) -> ApiError {
    if db::is_unique_violation(&e) {
        ApiError::Conflict {
            code: "email_taken",
            message: "an account with this e-mail already exists".into(),
        }
    } else {
        e.into()
    }
}

/// Creates a session row inside `tx` and returns the token (shown to the client once).
pub(crate) async fn start_session(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    origin: &Origin,
) -> ApiResult<String> {
    let (token, hash) = secrets::new_session_token();
    db::sessions::insert(
        tx,
        &NewSession {
            id: Uuid::now_v7(),
            user_id: user.id,
            token_hash: &hash,
            ip: &origin.ip,
            user_agent: origin.user_agent.as_deref(),
            expires_at: Utc::now() + Duration::days(state.settings.session_ttl_days),
        },
    )
    .await?;
    Ok(token)
}

/// The second factor sent with a password login, if any.
#[derive(Default, Clone, Copy)]
pub struct SecondFactor<'a> {
    pub code: Option<&'a str>,
    pub recovery: Option<&'a str>,
}

pub async fn login(
    state: &AppState,
    origin: &Origin,
    email: &str,
    password: String,
    second: SecondFactor<'_>,
) -> ApiResult<(UserRow, String)> {
    let [per_ip, per_pair, per_email] = login_limits(state);
    let email_key = hex::encode(secrets::sha256(&email.trim().to_lowercase()));
    let pair_key = format!("{email_key}:{}", origin.ip);
    state.limiter.check(&per_ip, &origin.ip).await?;
    state.limiter.check(&per_pair, &pair_key).await?;
    state.limiter.check(&per_email, &email_key).await?;

    let user = match Email::parse(email) {
        Ok(e) => db::users::by_email(&state.db, e.as_str()).await?,
        Err(_) => None,
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    if !secrets::verify_password(password, hash).await? {
        state.limiter.hit(&per_ip, &origin.ip).await;
        state.limiter.hit(&per_pair, &pair_key).await;
        state.limiter.hit(&per_email, &email_key).await;
        return Err(ApiError::InvalidCredentials);
    }
    let user = user.ok_or(ApiError::InvalidCredentials)?;
    if user.suspended_at.is_some() {
        return Err(ApiError::Forbidden("this account is suspended"));
    }
    let mut tx = state.db.begin().await?;
    // A wrong second factor counts as a failed login (the same budgets).
    if !totp::second_factor(
        &mut tx,
        &state.settings,
        &user,
        second.code,
        second.recovery,
    )
    .await?
    {
        state.limiter.hit(&per_ip, &origin.ip).await;
        state.limiter.hit(&per_pair, &pair_key).await;
        state.limiter.hit(&per_email, &email_key).await;
        return Err(ApiError::InvalidCredentials);
    }
    // The owner got in from here: this address's failures are forgiven (the global count
    // stays: it is what a distributed guesser is measured by).
    state.limiter.reset(&per_pair, &pair_key).await;
    let token = start_session(&mut tx, state, &user, origin).await?;
    audit::record(
        &mut tx,
        &Actor {
            user_id: Some(user.id),
            ..origin.actor(None)
        },
        Change::<(), ()> {
            action: "auth.login",
            entity_type: "session",
            entity_id: None,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((user, token))
}

pub async fn logout(state: &AppState, origin: &Origin, p: &Principal) -> ApiResult<()> {
    let Some(session_id) = p.session_id else {
        return Err(ApiError::BadRequest(
            "logout revokes session tokens; revoke an API key with DELETE /api/v1/api-keys/{id}"
                .into(),
        ));
    };
    let mut tx = state.db.begin().await?;
    db::sessions::revoke(&mut *tx, session_id).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::event("auth.logout", "session", session_id),
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: p.user.id }).await;
    Ok(())
}

/// Resolves a bearer credential (session token or API key) to its principal.
pub async fn authenticate(state: &AppState, bearer: &str) -> ApiResult<std::sync::Arc<Principal>> {
    let hash = secrets::sha256(bearer);
    let cache = &state.principals;
    let principal = match cache.get(&hash) {
        Some(p) => p,
        None => {
            // Taken before the load: an invalidation during it forbids caching the result.
            let epoch = cache.epoch();
            let loaded = if bearer.starts_with(secrets::API_KEY_PREFIX) {
                db::api_keys::user_by_key_hash(&state.db, &hash)
                    .await?
                    .map(|k| Principal {
                        user: k.user,
                        session_id: None,
                        api_key_id: Some(k.key_id),
                        scopes: Some(k.scopes),
                        expires_at: k.expires_at,
                    })
            } else {
                db::sessions::user_by_token_hash(&state.db, &hash)
                    .await?
                    .map(|(session_id, user)| Principal {
                        user,
                        session_id: Some(session_id),
                        api_key_id: None,
                        scopes: None,
                        expires_at: None,
                    })
            };
            let p = std::sync::Arc::new(loaded.ok_or(ApiError::Unauthorized)?);
            // Inserted once per load, never refreshed on hits, so the TTL bounds staleness.
            cache.insert(epoch, hash, p.clone());
            p
        }
    };
    if principal.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::Unauthorized);
    }
    if principal.user.suspended_at.is_some() {
        return Err(ApiError::Forbidden("this account is suspended"));
    }
    Ok(principal)
}

pub async fn update_profile(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    name: PersonName,
) -> ApiResult<UserRow> {
    let mut tx = state.db.begin().await?;
    let before = db::users::by_id_for_update(&mut *tx, p.user.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let after = db::users::set_name(&mut *tx, p.user.id, name.as_str()).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::updated(
            "user.update",
            "user",
            p.user.id,
            &snapshot(&before),
            &snapshot(&after),
        ),
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: p.user.id }).await;
    Ok(after)
}

/// The audit image of an API key: its name and visible prefix, never the key.
#[derive(Serialize)]
struct KeySnapshot<'a> {
    name: &'a str,
    prefix: &'a str,
    scopes: &'a [String],
    expires_at: Option<chrono::DateTime<Utc>>,
}

/// What a new key may do and until when.
pub struct KeyGrant {
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<chrono::DateTime<Utc>>,
}

impl KeyGrant {
    /// The scopes to store: known, held by the creator (a key cannot mint a wider key), and
    /// every scope the creator holds when none are named.
    fn scopes_for(&self, p: &Principal) -> ApiResult<Vec<String>> {
        let Some(asked) = &self.scopes else {
            return Ok(scopes::SCOPES
                .iter()
                .map(|(s, _)| (*s).to_owned())
                .filter(|s| p.allows(s))
                .collect());
        };
        let mut errors = crate::error::FieldErrors::new();
        if asked.is_empty() {
            errors.insert("scopes".into(), "must name at least one scope".into());
        }
        for (i, s) in asked.iter().enumerate() {
            if !scopes::is_scope(s) {
                errors.insert(format!("scopes[{i}]"), "is not a known scope".into());
            } else if !p.allows(s) {
                errors.insert(
                    format!("scopes[{i}]"),
                    "is not held by the key creating this one".into(),
                );
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let mut out = asked.clone();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

pub async fn create_api_key(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    name: ApiKeyName,
    grant: KeyGrant,
) -> ApiResult<(ApiKeyRow, String)> {
    if grant.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    let scopes = grant.scopes_for(p)?;
    let new = secrets::new_api_key();
    let mut tx = state.db.begin().await?;
    let ask = crate::billing::limits::Ask::ApiKey;
    // Caps have no notices.
    let _ = crate::billing::limits::admit(&mut tx, state, p.user.id, ask, Utc::now()).await?;
    let row = db::api_keys::insert(
        &mut *tx,
        &db::api_keys::NewApiKey {
            id: Uuid::now_v7(),
            user_id: p.user.id,
            name: name.as_str(),
            prefix: &new.prefix,
            key_hash: &new.hash,
            scopes: &scopes,
            expires_at: grant.expires_at,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::<(), _> {
            action: "api_key.create",
            entity_type: "api_key",
            entity_id: Some(row.id.to_string()),
            before: None,
            after: Some(&KeySnapshot {
                name: &row.name,
                prefix: &row.prefix,
                scopes: &row.scopes,
                expires_at: row.expires_at,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((row, new.key))
}

pub async fn list_api_keys(state: &AppState, p: &Principal) -> ApiResult<Vec<ApiKeyRow>> {
    Ok(db::api_keys::list_live(&state.db, p.user.id).await?)
}

pub async fn get_api_key(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<ApiKeyRow> {
    db::api_keys::get_live(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn revoke_api_key(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let row = db::api_keys::revoke(&mut *tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::<_, ()> {
            action: "api_key.revoke",
            entity_type: "api_key",
            entity_id: Some(row.id.to_string()),
            before: Some(&KeySnapshot {
                name: &row.name,
                prefix: &row.prefix,
                scopes: &row.scopes,
                expires_at: row.expires_at,
            }),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: p.user.id }).await;
    Ok(())
}

/// Signs in a verified Google identity: the linked user, else the local user with that e-mail
/// (linked now, not duplicated), else a new user.
pub async fn sign_in_with_google(
    state: &AppState,
    origin: &Origin,
    id: google::Identity,
) -> ApiResult<(UserRow, String)> {
    let email = Email::parse(&id.email)
        .map_err(|_| ApiError::Forbidden("the provider's e-mail address is not valid"))?;
    let mut tx = state.db.begin().await?;
    let mut welcome = None;
    let user = match db::users::by_identity(&mut *tx, "google", &id.subject).await? {
        Some(u) => u,
        None => {
            let (user, action) = match db::users::by_email(&mut *tx, email.as_str()).await? {
                Some(existing) => (existing, "user.link_google"),
                None => {
                    let name = id.name.as_deref().and_then(|n| PersonName::parse(n).ok());
                    let user = db::users::insert(
                        &mut *tx,
                        &NewUser {
                            id: Uuid::now_v7(),
                            email: email.as_str(),
                            name: name.as_ref().map(PersonName::as_str),
                            avatar_url: id.picture.as_deref(),
                            provider: "google",
                            provider_id: Some(&id.subject),
                            password_hash: None,
                        },
                    )
                    .await?;
                    welcome = Some(notify::emails::welcome(&mut tx, state, &user).await?);
                    (user, "user.register")
                }
            };
            db::users::link_identity(&mut *tx, "google", &id.subject, user.id).await?;
            audit::record(
                &mut tx,
                &Actor {
                    user_id: Some(user.id),
                    ..origin.actor(None)
                },
                Change::<(), _> {
                    action,
                    entity_type: "user",
                    entity_id: Some(user.id.to_string()),
                    before: None,
                    after: Some(&snapshot(&user)),
                },
            )
            .await?;
            user
        }
    };
    if user.suspended_at.is_some() {
        return Err(ApiError::Forbidden("this account is suspended"));
    }
    // Google vouches for the address (unverified Google addresses are refused above).
    db::users::mark_verified(&mut *tx, user.id).await?;
    let token = start_session(&mut tx, state, &user, origin).await?;
    tx.commit().await?;
    if let Some(email_id) = welcome {
        notify::emails::dispatch(state, email_id).await;
    }
    Ok((user, token))
}
