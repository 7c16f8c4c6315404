//! The two login endpoints, `POST /v1/authentication` and `POST /v2/authentication` (§2.1), with the
//! lockout policy.

use std::sync::atomic::Ordering;

use hyper::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{ControlRoom, Kind, LockoutAction, User, error, find_user};
use crate::emulator::{EmuRequest, EmuResponse, json_response, lock};

impl ControlRoom {
    fn failed(&self, response: EmuResponse) -> EmuResponse {
        self.counters.failed_logins.fetch_add(1, Ordering::Relaxed);
        response
    }

    fn bad_credentials(&self) -> EmuResponse {
        self.failed(error(
            StatusCode::UNAUTHORIZED,
            "authentication.invalid.credentials",
            "Invalid credentials. Please check your username and password or API key.",
        ))
    }

    /// Counts a failed attempt and disables or locks the user when it was one too many.
    fn count_failure(&self, user: &mut User, now: Instant) {
        user.failures += 1;
        let limit = self.settings.failures_before_lockout;
        if limit > 0 && user.failures >= limit {
            match self.settings.lockout {
                LockoutAction::Disable => user.disabled = true,
                LockoutAction::Lock(duration) => {
                    user.locked_until = Some(now + duration);
                    user.failures = 0;
                }
            }
        }
    }

    pub(super) fn login(&self, request: &EmuRequest, version: u8) -> EmuResponse {
        if version == 2 && !self.settings.v2_available && self.settings.missing_v2_filtered {
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({
                    "code": "UM1117", "details": null,
                    "message": "Access token expected in the 'X-Authorization' header",
                }),
            );
        }
        if version == 2 && !self.settings.v2_available {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({
                    "status": 404, "error": "Not Found", "message": "No message available",
                    "path": "/v2/authentication",
                }),
            );
        }
        if version == 1 && self.settings.v1_deprecated {
            return self.failed(error(
                StatusCode::BAD_REQUEST,
                "authentication.v1.deprecated",
                "v1/authentication is deprecated and will always return a failure; use v2/authentication",
            ));
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return self.failed(error(
                StatusCode::BAD_REQUEST,
                "generic.bad.request",
                "The request body is not valid JSON",
            ));
        };
        let text = |key: &str| body.get(key).and_then(Value::as_str);
        let Some(username) = text("username").filter(|u| !u.is_empty()) else {
            return self.failed(error(
                StatusCode::BAD_REQUEST,
                "generic.bad.request",
                "username is required",
            ));
        };
        let (kind, secret) = match (text("apiKey"), text("password")) {
            (Some(key), _) => (Kind::ApiKey, key),
            (None, Some(password)) => (Kind::Password, password),
            (None, None) => {
                return self.failed(error(
                    StatusCode::BAD_REQUEST,
                    "generic.bad.request",
                    "password or apiKey is required",
                ));
            }
        };
        // Jackson reads an int field from a number or a digit string alike.
        let mfa_code = body.get("mfaCode").and_then(|code| match code {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        let multiple = body
            .get("multipleLogin")
            .and_then(Value::as_bool)
            .unwrap_or(false);

        let now = Instant::now();
        let mut users = lock(&self.users);
        let Some(user) = find_user(&mut users, username) else {
            drop(users);
            return self.bad_credentials();
        };
        if user.locked_until.is_some_and(|until| until <= now) {
            user.locked_until = None;
        }
        let expected = match kind {
            Kind::ApiKey => user.api_key.as_deref(),
            Kind::Password => user.password.as_deref(),
        };
        if expected != Some(secret) {
            if user.locked_until.is_none() && !user.disabled {
                self.count_failure(user, now);
            }
            drop(users);
            return self.bad_credentials();
        }
        if user.disabled {
            drop(users);
            return self.failed(error(
                StatusCode::UNAUTHORIZED,
                "user.disabled",
                "User account is disabled. Contact your Control Room administrator.",
            ));
        }
        if user.locked_until.is_some() {
            drop(users);
            return self.failed(error(
                StatusCode::UNAUTHORIZED,
                "user.locked",
                "User account is locked. Try again later.",
            ));
        }
        if kind == Kind::Password && user.mfa {
            match mfa_code {
                None => {
                    drop(users);
                    return self.failed(error(
                        StatusCode::UNAUTHORIZED,
                        "authentication.mfa.required",
                        "Multi-factor authentication code is required",
                    ));
                }
                Some(code) if code != self.settings.mfa_code => {
                    self.count_failure(user, now);
                    drop(users);
                    return self.failed(error(
                        StatusCode::UNAUTHORIZED,
                        "authentication.mfa.invalid",
                        "Invalid multi-factor authentication code",
                    ));
                }
                Some(_) => {}
            }
        }
        user.failures = 0;
        let (user_id, user_json) = (user.id, user_json(user));
        drop(users);

        let token = self.issue_token(user_id);
        {
            let mut sessions = lock(&self.sessions);
            if kind == Kind::Password && !multiple {
                for session in sessions.values_mut() {
                    if session.user_id == user_id && session.kind == Kind::Password {
                        session.ended = true;
                    }
                }
            }
            sessions.insert(token.clone(), self.session(user_id, kind, now));
        }
        self.counters.logins.fetch_add(1, Ordering::Relaxed);
        json_response(
            StatusCode::OK,
            &json!({ "token": token, "user": user_json }),
        )
    }
}

fn user_json(user: &User) -> Value {
    let (domain, name) = match user.username.split_once('\\') {
        Some((domain, name)) => (Value::String(domain.to_owned()), name),
        None => (Value::Null, user.username.as_str()),
    };
    json!({
        "id": user.id, "email": format!("{name}@example.com"), "username": name, "domain": domain,
        "firstName": "", "lastName": "", "version": 1, "principalId": user.id, "deleted": false,
        "roles": [ { "name": "AAE_Basic", "id": 2, "version": 0 } ],
        "sysAssignedRoles": [], "groupNames": [], "permissions": [],
        "licenseFeatures": ["DEVELOPMENT"], "emailVerified": true, "passwordSet": user.password.is_some(),
        "questionsSet": true, "enableAutoLogin": false, "disabled": user.disabled,
        "clientRegistered": false, "description": "", "createdBy": 1,
        "createdOn": "2019-10-10T13:39:56-05:00", "updatedBy": 1,
        "updatedOn": "2019-10-13T02:09:38-05:00", "publicKey": null, "appType": null,
        "routingName": null, "appUrl": null,
    })
}
