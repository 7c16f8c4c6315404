#![doc = include_str!("../README.md")]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod authenticator;
pub mod client;
pub mod credential;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "middleware")]
pub mod middleware;
pub mod ntlm;
pub mod store;

mod backend;
mod env;
mod exchange;
mod future;
mod json;
mod jwt;
mod origin;
mod redact;
mod token;
mod transport;

pub use authenticator::Authenticator;
pub use backend::automation_anywhere::{ApiVersion, AutomationAnywhereLogin};
pub use backend::pyramid::{
    PyramidApi, PyramidPasswordLogin, PyramidPlacement, PyramidWindowsLogin,
};
pub use backend::uipath::{UiPathBearerLogin, UiPathClientCredentialsLogin, UiPathNtlmLogin};
pub use client::{AuthClient, AuthClientBuilder, RequestBuilder};
pub use credential::{AuthenticatedTransport, Credential, Placement};
pub use error::{
    Endpoint, Error, RejectReason, Result, ServerMessage, TransportKind, WindowsCause,
};
pub use future::BoxFuture;
#[cfg(feature = "kerberos")]
pub use ntlm::KerberosError;
pub use ntlm::{HandshakeError, Scheme, WindowsCredentials, WindowsIdentity};
pub use redact::Secrets;

/// Re-exported so callers can build secrets without naming `secrecy` in their own `Cargo.toml`.
pub use secrecy::{ExposeSecret, SecretString};
