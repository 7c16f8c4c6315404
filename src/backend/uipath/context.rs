//! The tenant and folder headers every UiPath login attaches to its credential (vendor-apis.md §1.3):
//! `X-UIPATH-TenantName`, `X-UIPATH-OrganizationUnitId` (folder id), `X-UIPATH-FolderPath` (or
//! `X-UIPATH-FolderPath-Encoded`, base64 of UTF-16LE, for paths that are not plain ASCII) and
//! `X-UIPATH-FolderKey`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{HeaderName, HeaderValue};

use super::{ENV_FOLDER_ID, ENV_FOLDER_PATH, ENV_TENANT};
use crate::credential::Credential;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::store::LoginIdentity;

/// Folder by numeric id.
const HEADER_FOLDER_ID: &str = "x-uipath-organizationunitid";
/// Folder by plain path.
const HEADER_FOLDER_PATH: &str = "x-uipath-folderpath";
/// Folder by path, base64 of UTF-16LE (for paths that are not plain ASCII).
const HEADER_FOLDER_PATH_ENCODED: &str = "x-uipath-folderpath-encoded";
/// Folder by key (GUID).
const HEADER_FOLDER_KEY: &str = "x-uipath-folderkey";
/// Tenant logical name.
const HEADER_TENANT_NAME: &str = "x-uipath-tenantname";

/// The tenant and folder headers (§1.3) a UiPath login attaches to its credential, shared by every UiPath
/// backend so they all spell and encode them the same way.
#[derive(Clone, Debug, Default)]
pub(crate) struct ContextHeaders(Vec<(HeaderName, HeaderValue)>);

impl ContextHeaders {
    /// `X-UIPATH-TenantName`.
    pub(crate) fn tenant_name(&mut self, backend: &'static str, name: &str) -> Result<()> {
        self.text(backend, HEADER_TENANT_NAME, name)
    }

    /// `identity` with these headers added: they change what a stored login carries.
    pub(crate) fn identify(&self, mut identity: LoginIdentity) -> LoginIdentity {
        for (name, value) in &self.0 {
            let value = value.to_str().unwrap_or_default();
            identity = identity.with("header", format!("{name}={value}"));
        }
        identity
    }

    /// `X-UIPATH-OrganizationUnitId`.
    pub(crate) fn folder_id(&mut self, folder_id: i64) {
        self.0.push((
            HeaderName::from_static(HEADER_FOLDER_ID),
            HeaderValue::from(folder_id),
        ));
    }

    /// `X-UIPATH-FolderPath`, or `X-UIPATH-FolderPath-Encoded` (base64 of UTF-16LE) when the path is not
    /// plain ASCII.
    pub(crate) fn folder_path(&mut self, path: &str) {
        let plain = path.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        let header = match HeaderValue::from_str(path) {
            Ok(value) if plain => (HeaderName::from_static(HEADER_FOLDER_PATH), value),
            _ => {
                let utf16: Vec<u8> = path.encode_utf16().flat_map(u16::to_le_bytes).collect();
                let encoded = HeaderValue::from_str(&STANDARD.encode(utf16))
                    .unwrap_or(HeaderValue::from_static(""));
                (HeaderName::from_static(HEADER_FOLDER_PATH_ENCODED), encoded)
            }
        };
        self.0.push(header);
    }

    /// `X-UIPATH-FolderKey`.
    pub(crate) fn folder_key(&mut self, backend: &'static str, key: &str) -> Result<()> {
        self.text(backend, HEADER_FOLDER_KEY, key)
    }

    fn text(&mut self, backend: &'static str, name: &'static str, value: &str) -> Result<()> {
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::config(
                backend,
                format!("`{value}` is not a valid value for {name}"),
            )
        })?;
        self.0.push((HeaderName::from_static(name), value));
        Ok(())
    }

    /// Reads `UIPATH_TENANT` (as `X-UIPATH-TenantName` when `tenant_as_header`), `UIPATH_FOLDER_PATH` and
    /// `UIPATH_FOLDER_ID`.
    pub(crate) fn read_env(&mut self, env: &Env<'_>, tenant_as_header: bool) -> Result<()> {
        if tenant_as_header && let Some(tenant) = env.optional(ENV_TENANT)? {
            self.tenant_name(env.backend(), &tenant)
                .map_err(|_| env.malformed(ENV_TENANT, "is not a valid header value"))?;
        }
        if let Some(path) = env.optional(ENV_FOLDER_PATH)? {
            self.folder_path(&path);
        }
        if let Some(id) = env.parsed::<i64>(ENV_FOLDER_ID, "is not a whole number (a folder id)")? {
            self.folder_id(id);
        }
        Ok(())
    }

    /// Adds the headers to `credential`.
    pub(crate) fn apply(&self, credential: Credential) -> Credential {
        self.0.iter().fold(credential, |credential, (name, value)| {
            credential.with_header(name.clone(), value.clone())
        })
    }
}

/// Writes the tenant and folder setters of a UiPath login whose `headers` field is a
/// [`ContextHeaders`], so that every UiPath login offers them with the same names and meaning.
macro_rules! context_setters {
    () => {
        /// Sends `X-UIPATH-TenantName` on every call. Defaults to not sending it (a token or login body
        /// that already names the tenant is enough for most servers).
        ///
        /// # Errors
        /// [`Error::Config`](crate::Error::Config) when the name is not a valid header value.
        pub fn tenant_header(mut self, tenant_name: &str) -> $crate::Result<Self> {
            self.headers.tenant_name(BACKEND, tenant_name)?;
            Ok(self)
        }

        /// Sends `X-UIPATH-OrganizationUnitId: <id>` on every call, for folder-scoped APIs. Defaults to
        /// no folder.
        pub fn folder_id(mut self, folder_id: i64) -> Self {
            self.headers.folder_id(folder_id);
            self
        }

        /// Sends the folder path on every call: `X-UIPATH-FolderPath`, or `X-UIPATH-FolderPath-Encoded`
        /// (base64 of UTF-16LE) when the path is not plain ASCII. Defaults to no folder.
        pub fn folder_path(mut self, path: &str) -> Self {
            self.headers.folder_path(path);
            self
        }

        /// Sends `X-UIPATH-FolderKey: <guid>` on every call. Defaults to no folder.
        ///
        /// # Errors
        /// [`Error::Config`](crate::Error::Config) when the key is not a valid header value.
        pub fn folder_key(mut self, key: &str) -> $crate::Result<Self> {
            self.headers.folder_key(BACKEND, key)?;
            Ok(self)
        }
    };
}
pub(super) use context_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_path_encodes_non_ascii() {
        let mut headers = ContextHeaders::default();
        headers.folder_path("Finance/Zürich");
        let (name, value) = &headers.0[0];
        assert_eq!(name.as_str(), HEADER_FOLDER_PATH_ENCODED);
        let bytes = STANDARD.decode(value.as_bytes()).unwrap();
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&units).unwrap(), "Finance/Zürich");
    }
}
