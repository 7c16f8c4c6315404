//! The login methods, one module per vendor and method. Backends know *how* to log in; the
//! [`AuthClient`](crate::AuthClient) alone decides *when*.

pub mod automation_anywhere;
pub mod pyramid;
pub mod uipath;
pub mod uipath_ntlm;
pub mod uipath_oauth;
