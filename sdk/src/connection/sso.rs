//! SSO: the password grant (R5.1, R5.2), the shared token and its renewal, the logout (R5.3).

use bytes::Bytes;
use tracing::Level;

use crate::logging;

use super::{lock, Inner, Secret};
use crate::error::{Error, ErrorKind};
use crate::service::{form_encode, read_raw, RawResponse};

impl Inner {
    /// The current token, logging in when there is none or when `failed` names the
    /// generation of the token that was just rejected.
    pub(super) async fn token(&self, failed: Option<u64>) -> Result<(Secret, u64), Error> {
        if let Some(t) = self.current(failed) {
            return Ok(t);
        }
        let _guard = self.login_lock.lock().await;
        // Someone else may have logged in while we waited.
        if let Some(t) = self.current(failed) {
            return Ok(t);
        }
        self.check_open()?;
        let token = self.login().await?;
        let mut auth = lock(&self.auth);
        auth.generation += 1;
        auth.token = Some(token.clone());
        auth.from_login = true;
        Ok((token, auth.generation))
    }

    pub(super) fn current(&self, failed: Option<u64>) -> Option<(Secret, u64)> {
        let auth = lock(&self.auth);
        let token = auth.token.as_ref()?;
        if failed == Some(auth.generation) {
            return None;
        }
        Some((token.clone(), auth.generation))
    }

    /// SSO password grant (R5.1, R5.2).
    pub(super) async fn login(&self) -> Result<Secret, Error> {
        if let Some(options) = &self.kerberos {
            return self.kerberos_login(options).await;
        }
        let Some((user, password)) = &self.credentials else {
            return Err(Error::with_message(
                ErrorKind::Authentication,
                "the token was rejected and no username and password are set to log in again",
            )
            .for_request("POST", &self.sso.url));
        };
        tracing::debug!(target: logging::REQUEST, user = %user, "POST {} (SSO login)", self.sso.url);
        let mut form = String::from("grant_type=password&scope=ovirt-app-api&username=");
        form.push_str(&form_encode(user));
        form.push_str("&password=");
        form.push_str(&form_encode(&password.0));
        if self.logs_bodies() {
            tracing::trace!(target: logging::BODY, "request body: {}", logging::redact_form(&form));
        }
        let req = http1_pipeline::Request::new(http1_pipeline::Method::Post, self.sso.path.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(Bytes::from(form));
        let started = std::time::Instant::now();
        let raw = read_raw(self.sso.client.send(req))
            .await
            .map_err(|e| e.for_request("POST", &self.sso.url))?;
        logging::response(
            &format!("POST {} (SSO login)", self.sso.url),
            raw.status,
            &raw.reason,
            &raw.body.len(),
            started,
        );
        self.login_reply(raw)
    }

    /// The token of the SSO's login reply (R5.2), or the error it reports; shared by the
    /// password grant and the Kerberos login.
    pub(super) fn login_reply(&self, raw: RawResponse) -> Result<Secret, Error> {
        let fail = |message: String| {
            Error::with_message(ErrorKind::Authentication, message)
                .status(raw.status)
                .reason(&raw.reason)
                .for_request("POST", &self.sso.url)
        };
        let json: serde_json::Value = match serde_json::from_slice(&raw.body) {
            Ok(v) => v,
            Err(_) => {
                return Err(fail(format!(
                    "the SSO service answered with a body that is not JSON (content type {})",
                    raw.content_type.as_deref().unwrap_or("none")
                )))
            }
        };
        if self.log_bodies && tracing::enabled!(target: logging::BODY, Level::TRACE) {
            tracing::trace!(target: logging::BODY, "response body: {}", logging::redact_json(&json));
        }
        // R5.2: an array reply holds the object first.
        let obj = match &json {
            serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
            other => other.clone(),
        };
        if let Some((code, text)) = sso_error(&obj) {
            // The SSO service's own words: they say what was wrong.
            return Err(fail(format!("{text} (SSO error {code})")));
        }
        match obj.get(&self.sso_token_name).and_then(|t| t.as_str()) {
            Some(token) if !token.is_empty() && (200..300).contains(&raw.status) => {
                Ok(Secret(token.to_string()))
            }
            _ => Err(fail(format!(
                "the SSO reply has no {:?} field",
                self.sso_token_name
            ))),
        }
    }

    /// SSO logout (R5.3).
    pub(super) async fn revoke(&self, token: &Secret) -> Result<(), Error> {
        tracing::debug!(target: logging::REQUEST, "POST {} (SSO logout)", self.revoke.url);
        let mut form = String::from("scope=ovirt-app-api&token=");
        form.push_str(&form_encode(&token.0));
        let req =
            http1_pipeline::Request::new(http1_pipeline::Method::Post, self.revoke.path.clone())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .body(Bytes::from(form))
                .timeout(Some(self.logout_timeout));
        let started = std::time::Instant::now();
        let pending = read_raw(self.revoke.client.send(req));
        let raw = match tokio::time::timeout(self.logout_timeout, pending).await {
            Ok(r) => r.map_err(|e| e.for_request("POST", &self.revoke.url))?,
            Err(_) => {
                return Err(Error::with_message(
                    ErrorKind::Timeout,
                    format!("the SSO logout took longer than {:?}", self.logout_timeout),
                )
                .for_request("POST", &self.revoke.url))
            }
        };
        logging::response(
            &format!("POST {} (SSO logout)", self.revoke.url),
            raw.status,
            &raw.reason,
            &raw.body.len(),
            started,
        );
        let fail = |message: String| {
            Error::with_message(ErrorKind::Authentication, message)
                .status(raw.status)
                .reason(&raw.reason)
                .for_request("POST", &self.revoke.url)
        };
        match serde_json::from_slice::<serde_json::Value>(&raw.body) {
            Ok(obj) => match sso_error(&obj) {
                Some((code, text)) => Err(fail(format!("logout: {text} (SSO error {code})"))),
                None if (200..300).contains(&raw.status) => Ok(()),
                None => Err(fail("the SSO logout failed".to_owned())),
            },
            Err(_) if (200..300).contains(&raw.status) && raw.body.is_empty() => Ok(()),
            Err(_) => Err(fail(
                "the SSO logout answered with a body that is not JSON".to_owned(),
            )),
        }
    }
}

/// The (code, text) of an SSO error object (R5.2): `error` + `error_description`, or
/// `error_code` + `error`.
fn sso_error(obj: &serde_json::Value) -> Option<(String, String)> {
    let s = |k: &str| {
        obj.get(k).map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
    };
    match (s("error"), s("error_description"), s("error_code")) {
        (Some(code), Some(text), _) => Some((code, text)),
        (Some(text), None, Some(code)) => Some((code, text)),
        (Some(text), None, None) => Some(("error".to_string(), text)),
        (None, _, Some(code)) => Some((code, String::new())),
        (None, _, None) => None,
    }
}
