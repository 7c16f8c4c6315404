//! `sspi` turned into "token in, token out" for one client handshake.

use sspi::negotiate::NegotiateConfig;
use sspi::ntlm::NtlmConfig;
use sspi::{
    AuthIdentityBuffers, BufferType, ClientRequestFlags, CredentialUse, Credentials,
    CredentialsBuffers, DataRepresentation, Negotiate, Ntlm, SecurityBuffer, SecurityStatus, Sspi,
};

use super::error::{Malformed, Protocol};
use super::spnego::{self, NegTokenResp};
use super::{Scheme, WindowsCredentials, message};

/// `INTEGRITY` makes sspi negotiate signing keys; without it the SPNEGO mechListMIC it sends does
/// not verify (pyspnego refuses it). NTLMv2, MIC and 128-bit keys are always on in sspi.
const FLAGS: ClientRequestFlags = ClientRequestFlags::INTEGRITY;

enum Inner {
    Ntlm {
        ctx: Box<Ntlm>,
        handle: Option<AuthIdentityBuffers>,
    },
    Negotiate {
        ctx: Box<Negotiate>,
        handle: Option<CredentialsBuffers>,
    },
}

/// One client-side security context.
pub(crate) struct ClientContext {
    inner: Inner,
    target: String,
    channel_bindings: Option<Vec<u8>>,
}

impl std::fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientContext")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ClientContext {
    /// A fresh context for `scheme` against `host`, binding to the TLS channel when
    /// `channel_binding` (RFC 5929 `tls-server-end-point:` + hash) is given.
    pub(crate) fn new(
        scheme: Scheme,
        creds: &WindowsCredentials,
        host: &str,
        channel_binding: Option<&[u8]>,
    ) -> Result<Self, Protocol> {
        let identity = creds.to_sspi().map_err(Protocol::UserName)?;
        let inner = match scheme {
            Scheme::Ntlm => {
                let mut ctx = Box::new(Ntlm::with_config(NtlmConfig::default()));
                let handle = acquire(&mut *ctx, &identity, scheme)?;
                Inner::Ntlm { ctx, handle }
            }
            Scheme::Negotiate => {
                // Package list "ntlm": never Kerberos, so no KDC lookup (which can hang).
                let config = NegotiateConfig::new(
                    Box::new(NtlmConfig::default()),
                    Some("ntlm".to_owned()),
                    String::new(),
                );
                let mut ctx = Box::new(Negotiate::new_client(config).map_err(Protocol::Setup)?);
                let handle = acquire(&mut *ctx, &Credentials::from(identity), scheme)?;
                Inner::Negotiate { ctx, handle }
            }
        };
        Ok(Self {
            inner,
            target: format!("HTTP/{host}"),
            channel_bindings: channel_binding.map(sec_channel_bindings),
        })
    }

    /// The first token (NEGOTIATE, or SPNEGO `NegTokenInit` around it).
    pub(crate) fn first_token(&mut self) -> Result<Vec<u8>, Protocol> {
        self.run(None)
            .map(|(token, _)| token)
            .map_err(Protocol::Context)
    }

    /// The answer to the server's challenge token (already base64-decoded). The challenge is fully
    /// validated here first, so `sspi` never sees a malformed message.
    pub(crate) fn answer(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ChallengeError> {
        let ntlm_token;
        let ntlm = match self.inner {
            Inner::Ntlm { .. } => challenge,
            Inner::Negotiate { .. } => {
                let resp = NegTokenResp::parse(challenge)
                    .map_err(|e| ChallengeError::Malformed(Malformed::Spnego(e)))?;
                if resp.is_reject() {
                    return Err(ChallengeError::Rejected);
                }
                if resp
                    .supported_mech
                    .as_ref()
                    .is_some_and(|m| *m != spnego::ntlmssp_oid())
                {
                    return Err(ChallengeError::Malformed(Malformed::OtherMechanism));
                }
                ntlm_token = resp
                    .response_token
                    .ok_or(ChallengeError::Malformed(Malformed::NoChallenge))?;
                &ntlm_token
            }
        };
        message::parse_challenge(ntlm).map_err(|e| ChallengeError::Malformed(e.into()))?;
        let (token, _) = self
            .run(Some(challenge))
            .map_err(|e| ChallengeError::Malformed(Malformed::Context(e)))?;
        Ok(token)
    }

    /// Feeds the server's final Negotiate token (sent with the 2xx), verifying its mechListMIC.
    pub(crate) fn finish(&mut self, token: &[u8]) -> Result<(), Malformed> {
        if let Inner::Negotiate { .. } = self.inner {
            NegTokenResp::parse(token).map_err(Malformed::FinalToken)?;
            let (_, status) = self.run(Some(token)).map_err(Malformed::Context)?;
            if status != SecurityStatus::Ok {
                return Err(Malformed::Incomplete(status));
            }
        }
        Ok(())
    }

    fn run(&mut self, input: Option<&[u8]>) -> Result<(Vec<u8>, SecurityStatus), sspi::Error> {
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut input_buffers = input.map(|token| {
            let mut buffers = vec![SecurityBuffer::new(token.to_vec(), BufferType::Token)];
            if let Some(cb) = &self.channel_bindings {
                buffers.push(SecurityBuffer::new(cb.clone(), BufferType::ChannelBindings));
            }
            buffers
        });
        let input = input_buffers.as_deref_mut();
        let status = match &mut self.inner {
            Inner::Ntlm { ctx, handle } => {
                initialize(&mut **ctx, handle, &self.target, &mut output, input)
            }
            Inner::Negotiate { ctx, handle } => {
                initialize(&mut **ctx, handle, &self.target, &mut output, input)
            }
        }?;
        let token = output
            .into_iter()
            .next()
            .map(|b| b.buffer)
            .unwrap_or_default();
        Ok((token, status))
    }
}

/// The outbound credentials handle of `ctx` for `auth`.
fn acquire<C: Sspi>(
    ctx: &mut C,
    auth: &C::AuthenticationData,
    scheme: Scheme,
) -> Result<C::CredentialsHandle, Protocol> {
    ctx.acquire_credentials_handle()
        .with_credential_use(CredentialUse::Outbound)
        .with_auth_data(auth)
        .execute(ctx)
        .map(|acquired| acquired.credentials_handle)
        .map_err(|cause| Protocol::Credentials { scheme, cause })
}

/// One `InitializeSecurityContext` call of `ctx` towards `target`, writing the token into `output`.
fn initialize<C: Sspi>(
    ctx: &mut C,
    handle: &mut C::CredentialsHandle,
    target: &str,
    output: &mut [SecurityBuffer],
    input: Option<&mut [SecurityBuffer]>,
) -> sspi::Result<SecurityStatus> {
    let mut builder = ctx
        .initialize_security_context()
        .with_credentials_handle(handle)
        .with_context_requirements(FLAGS)
        .with_target_data_representation(DataRepresentation::Native)
        .with_target_name(target)
        .with_output(output);
    if let Some(buffers) = input {
        builder = builder.with_input(buffers);
    }
    ctx.initialize_security_context_impl(&mut builder)
        .and_then(|mut generator| generator.resolve_to_result())
        .map(|result| result.status)
}

/// Why a challenge could not be answered.
#[derive(Debug)]
pub(crate) enum ChallengeError {
    /// SPNEGO `reject`.
    Rejected,
    /// Anything malformed, with its cause.
    Malformed(Malformed),
}

/// A `SEC_CHANNEL_BINDINGS` structure with only application data, the form `sspi` reads.
fn sec_channel_bindings(application_data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 24];
    let len = u32::try_from(application_data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&32u32.to_le_bytes());
    out.extend_from_slice(application_data);
    out
}
