//! The Control Room session after login: token renewal, validation and logout (vendor-apis.md §2.3).

use super::*;

impl AutomationAnywhereLogin {
    /// Renews `current` at `POST /v1/authentication/token`; when the server refuses (the token expired or
    /// was ended), logs in again.
    ///
    /// # Errors
    /// [`Error::Status`] for 429 and 5xx (the current token stays usable until it expires), the login's
    /// errors when the renewal was refused, [`Error::InvalidResponse`], [`Error::Transport`].
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        current: &Credential,
    ) -> Result<Credential> {
        self.secrets.remember_token(current.secret());
        let url = self.url(TOKEN_PATH)?;
        let endpoint = Endpoint::new(reqwest::Method::POST, &url);
        let token = current.secret().expose_secret();
        let body = serde_json::to_vec(&serde_json::json!({ "token": token })).map_err(|e| {
            Error::config(BACKEND, format!("could not write the refresh body ({e})"))
        })?;
        let request = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(HEADER_AUTHORIZATION, token_header(current, &endpoint)?)
            .body(body);
        let reply = exchange::send(BACKEND, &self.secrets, http, request).await?;
        if reply.status.is_success() {
            let body: Value = reply.json()?;
            let token = reply.token(read_token(&body), None, |_| RejectReason::Other)?;
            return Ok(self.credential(token));
        }
        if is_refusal(reply.status) {
            return self.login(http).await;
        }
        let server = reply.server_message(server_message);
        Err(reply.status_error(server))
    }

    /// Ends the server-side session of `credential` at `POST /v1/authentication/logout`. A token the
    /// server no longer knows (401) counts as logged out. Prefer
    /// [`AuthClient::logout`](crate::AuthClient::logout), which also drops the cached token.
    ///
    /// # Errors
    /// [`Error::Status`] for any other non-2xx answer, [`Error::Transport`].
    pub async fn logout(&self, http: &reqwest::Client, credential: &Credential) -> Result<()> {
        self.secrets.remember_token(credential.secret());
        let url = self.url(LOGOUT_PATH)?;
        let endpoint = Endpoint::new(reqwest::Method::POST, &url);
        // One documented form has no body, another `{"token"}`: send the header and the body.
        let body = serde_json::to_vec(
            &serde_json::json!({ "token": credential.secret().expose_secret() }),
        )
        .map_err(|e| Error::config(BACKEND, format!("could not write the logout body ({e})")))?;
        let request = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(HEADER_AUTHORIZATION, token_header(credential, &endpoint)?)
            .body(body);
        let reply = exchange::send(BACKEND, &self.secrets, http, request).await?;
        if reply.status.is_success() || reply.status == StatusCode::UNAUTHORIZED {
            return Ok(());
        }
        let server = reply.server_message(server_message);
        Err(reply.status_error(server))
    }

    /// Asks the server whether `credential` is still valid: `GET /v1/authentication/token?token=…`.
    /// A 401 answer counts as "not valid". Errors name only the method and path, never the query.
    ///
    /// # Errors
    /// [`Error::Status`] for other non-2xx answers, [`Error::InvalidResponse`] for an answer without
    /// `valid`, [`Error::Transport`].
    pub async fn validate(&self, http: &reqwest::Client, credential: &Credential) -> Result<bool> {
        self.secrets.remember_token(credential.secret());
        let mut url = self.url(TOKEN_PATH)?;
        let endpoint = Endpoint::new(reqwest::Method::GET, &url);
        url.query_pairs_mut()
            .append_pair("token", credential.secret().expose_secret());
        let request = http
            .get(url)
            .header(ACCEPT, "application/json")
            .header(HEADER_AUTHORIZATION, token_header(credential, &endpoint)?);
        let reply = exchange::send(BACKEND, &self.secrets, http, request).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            return Ok(false);
        }
        if !reply.status.is_success() {
            let server = reply.server_message(server_message);
            return Err(reply.status_error(server));
        }
        let body: Value = reply.json()?;
        get_ci(&body, "valid")
            .and_then(|valid| match valid {
                Value::Bool(valid) => Some(*valid),
                Value::String(text) => text.trim().parse().ok(),
                _ => None,
            })
            .ok_or_else(|| reply.invalid("no boolean `valid` in the validation answer"))
    }
}

/// The token as a sensitive header value.
fn token_header(credential: &Credential, endpoint: &Endpoint) -> Result<HeaderValue> {
    sensitive_header(credential.secret().expose_secret()).map_err(|cause| Error::Request {
        backend: BACKEND,
        endpoint: endpoint.clone(),
        cause,
    })
}
