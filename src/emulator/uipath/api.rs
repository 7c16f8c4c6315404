//! Orchestrator's API behind the login: bearer-protected (or Windows-authenticated) `/odata/*` and
//! `/api/*`, folder-scoped entity sets, and the Automation Suite style prefix.

use std::sync::atomic::Ordering;

use hyper::StatusCode;
use serde_json::json;
use tokio::time::Instant;

use super::{DEFAULT_TENANT, Orchestrator, trace_id};
use crate::emulator::{EmuRequest, EmuResponse, json_response, lock};

/// Folder-scoped entity sets: calls to them need a folder header (error 1101 otherwise).
const FOLDER_SCOPED: &[&str] = &[
    "jobs",
    "queues",
    "queueitems",
    "queuedefinitions",
    "processes",
    "releases",
    "assets",
    "triggers",
    "processschedules",
    "buckets",
];

const FOLDER_HEADERS: &[&str] = &[
    "x-uipath-organizationunitid",
    "x-uipath-folderpath",
    "x-uipath-folderpath-encoded",
    "x-uipath-folderkey",
];

/// The path with an Automation Suite style `/{org}/{tenant}/orchestrator_` prefix removed.
pub(super) fn api_path(path: &str) -> &str {
    let mut parts = path.splitn(5, '/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(""), Some(org), Some(tenant), Some("orchestrator_"))
            if !org.is_empty() && !tenant.is_empty() =>
        {
            let prefix = 1 + org.len() + 1 + tenant.len() + "/orchestrator_".len();
            &path[prefix..]
        }
        _ => path,
    }
}

impl Orchestrator {
    pub(super) fn api_call(&self, request: &EmuRequest, path: &str) -> EmuResponse {
        let token = request.header("authorization").and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        });
        if let (None, Some(gate)) = (token, &self.windows) {
            return gate.guard(request, |user| {
                self.serve(request, path, DEFAULT_TENANT, user)
            });
        }
        let now = Instant::now();
        let session = token.and_then(|token| {
            lock(&self.sessions)
                .get(token)
                .filter(|s| now < s.expires_at)
                .map(|s| (s.tenant.clone(), s.username.clone()))
        });
        let Some((tenant, username)) = session else {
            self.counters.rejected_calls.fetch_add(1, Ordering::Relaxed);
            return self.error(StatusCode::UNAUTHORIZED, 0, "You are not authenticated!");
        };
        self.serve(request, path, &tenant, &username)
    }

    /// Answers an authenticated API call to `path` (the request's path without an Automation Suite prefix).
    fn serve(&self, request: &EmuRequest, path: &str, tenant: &str, username: &str) -> EmuResponse {
        let entity = path
            .trim_start_matches("/odata/")
            .split(['/', '(', '?'])
            .next()
            .unwrap_or_default();
        let has_folder = FOLDER_HEADERS
            .iter()
            .any(|h| request.headers.contains_key(*h));
        if path.starts_with("/odata/") && FOLDER_SCOPED.contains(&entity) && !has_folder {
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({
                    "message": "An organization unit is required for this action.",
                    "errorCode": 1101,
                    "traceId": trace_id(),
                }),
            );
        }
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let body = match entity {
            "users" if path.ends_with("getcurrentuser") => json!({
                "@odata.context": "/odata/$metadata#Users/$entity",
                "UserName": username, "TenancyName": tenant, "Name": username, "Id": 1,
            }),
            "settings" if path.ends_with("getauthenticationsettings") => json!({
                "Keys": ["Build.Version", "Auth.Windows.Enabled"],
                "Values": ["19.10.emulator", "false"],
            }),
            _ => json!({
                "@odata.context": format!("/odata/$metadata#{entity}"),
                "@odata.count": 0,
                "value": [],
            }),
        };
        json_response(StatusCode::OK, &body)
    }
}
