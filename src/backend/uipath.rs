//! UiPath Orchestrator (vendor-apis.md §1): the bearer login with user name and password, Windows
//! (NTLM / Negotiate) passthrough, and OAuth client credentials for External Applications. All three
//! attach the same tenant and folder headers to later calls.
//!
//! Environment variables shared by the three (the names UiPath's own tools use): `UIPATH_URL`,
//! `UIPATH_USERNAME`, `UIPATH_PASSWORD`, `UIPATH_TENANT`, `UIPATH_FOLDER_PATH`, `UIPATH_FOLDER_ID`.

pub(crate) mod bearer;
mod context;
mod oauth;
mod windows;

pub use bearer::UiPathBearerLogin;
pub use oauth::UiPathClientCredentialsLogin;
pub use windows::UiPathNtlmLogin;

use context::ContextHeaders;

/// Environment variable: the Orchestrator URL (on Automation Cloud `https://cloud.uipath.com/{org}/{tenant}/`).
const ENV_URL: &str = "UIPATH_URL";
/// Environment variable: the tenant (`tenancyName` for the bearer login, `X-UIPATH-TenantName` for OAuth).
const ENV_TENANT: &str = "UIPATH_TENANT";
/// Environment variable: the folder path, sent as `X-UIPATH-FolderPath`.
const ENV_FOLDER_PATH: &str = "UIPATH_FOLDER_PATH";
/// Environment variable: the folder id, sent as `X-UIPATH-OrganizationUnitId`.
const ENV_FOLDER_ID: &str = "UIPATH_FOLDER_ID";
/// Environment variable: the user name for the bearer login.
const ENV_USERNAME: &str = "UIPATH_USERNAME";
/// Environment variable: the password for the bearer login.
const ENV_PASSWORD: &str = "UIPATH_PASSWORD";
