//! Google sign-in: OpenID Connect authorization-code flow with state, nonce and PKCE.
//!
//! `start` stores the nonce and PKCE verifier in Redis under the random state (10 minutes, used
//! once) and sets the state in an HttpOnly cookie, so a callback is accepted only in the browser
//! that started it (login CSRF). The provider's endpoints come from its discovery document, so a
//! test (or another OIDC provider) only needs a different issuer URL.

use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use redis::AsyncCommands;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::Settings;
use crate::error::{ApiError, ApiResult};

/// Discovery documents change rarely; refetch hourly.
const METADATA_TTL: Duration = Duration::from_secs(3600);
const STATE_TTL_SECS: u64 = 600;
pub const STATE_COOKIE: &str = "qrsaas_oidc_state";

pub struct GoogleSignIn {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    http: openidconnect::reqwest::Client,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
    namespace: String,
}

/// A verified identity from the provider.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
    pub picture: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    nonce: String,
    pkce_verifier: String,
}

impl GoogleSignIn {
    /// `None` when no client id is configured (the routes then answer 404).
    pub fn from_settings(s: &Settings) -> anyhow::Result<Option<GoogleSignIn>> {
        let Some(client_id) = s.google.client_id.clone() else {
            return Ok(None);
        };
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects from the provider opens SSRF holes.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Some(GoogleSignIn {
            issuer: IssuerUrl::new(s.google.issuer_url.clone())?,
            client_id: ClientId::new(client_id),
            client_secret: s
                .google
                .client_secret
                .as_ref()
                .map(|c| ClientSecret::new(c.expose_secret().to_owned())),
            redirect: RedirectUrl::new(s.public_url("/api/v1/auth/google/callback"))?,
            http,
            metadata: Mutex::new(None),
            namespace: s.redis_namespace.clone(),
        }))
    }

    async fn metadata(&self) -> ApiResult<CoreProviderMetadata> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let m = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "OIDC discovery failed");
                ApiError::Unavailable("sign-in provider")
            })?;
        *cached = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    fn state_key(&self, state: &str) -> String {
        format!("{}:oidc:{state}", self.namespace)
    }

    /// Returns the provider URL to send the browser to, and the state for the cookie.
    pub async fn start(
        &self,
        redis: &mut redis::aio::ConnectionManager,
    ) -> ApiResult<(String, String)> {
        let client = CoreClient::from_provider_metadata(
            self.metadata().await?,
            self.client_id.clone(),
            self.client_secret.clone(),
        )
        .set_redirect_uri(self.redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = serde_json::to_string(&Pending {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
        .map_err(ApiError::internal)?;
        redis
            .set_ex::<_, _, ()>(self.state_key(csrf.secret()), pending, STATE_TTL_SECS)
            .await?;
        Ok((url.to_string(), csrf.secret().clone()))
    }

    /// Completes the flow: checks the state against the cookie, exchanges the code and verifies
    /// the ID token (signature, issuer, audience, expiry, nonce).
    pub async fn finish(
        &self,
        redis: &mut redis::aio::ConnectionManager,
        code: &str,
        state: &str,
        cookie_state: Option<&str>,
    ) -> ApiResult<Identity> {
        let bad_state = || {
            ApiError::BadRequest("sign-in state is missing, expired or from another browser".into())
        };
        if cookie_state != Some(state) {
            return Err(bad_state());
        }
        let pending: Option<String> = redis.get_del(self.state_key(state)).await?;
        let pending: Pending = pending
            .and_then(|p| serde_json::from_str(&p).ok())
            .ok_or_else(bad_state)?;

        let client = CoreClient::from_provider_metadata(
            self.metadata().await?,
            self.client_id.clone(),
            self.client_secret.clone(),
        )
        .set_redirect_uri(self.redirect.clone());
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(ApiError::internal)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::info!(error = %e, "OIDC code exchange refused");
                ApiError::Unauthorized
            })?;
        let id_token = token.id_token().ok_or(ApiError::Unauthorized)?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
            .map_err(|e| {
                tracing::info!(error = %e, "ID token rejected");
                ApiError::Unauthorized
            })?;
        let email = claims
            .email()
            .map(|e| e.as_str().to_owned())
            .ok_or(ApiError::Forbidden(
                "the provider did not share an e-mail address",
            ))?;
        // Linking by e-mail is only safe when the provider vouches for the address.
        if claims.email_verified() != Some(true) {
            return Err(ApiError::Forbidden(
                "the e-mail address is not verified by the provider",
            ));
        }
        Ok(Identity {
            subject: claims.subject().as_str().to_owned(),
            email,
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            picture: claims
                .picture()
                .and_then(|p| p.get(None))
                .map(|p| p.as_str().to_owned()),
        })
    }
}
