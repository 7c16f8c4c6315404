//! RFC 5929 `tls-server-end-point` channel binding, which IIS Extended Protection checks.

use sha2::{Digest, Sha256, Sha384, Sha512};

use super::spnego::tlv;

const PREFIX: &[u8] = b"tls-server-end-point:";

const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
/// Prefix of the NIST hash OIDs 2.16.840.1.101.3.4.2.x (x = 1 SHA-256, 2 SHA-384, 3 SHA-512).
const NIST_HASH: &[u8] = &[0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// The hash RFC 5929 §4.1 prescribes for `cert_der`: the certificate's own signature hash, with
/// MD5, SHA-1 and anything unrecognised (or unparsable) mapped to SHA-256.
fn hash_for(cert_der: &[u8]) -> Hash {
    let algorithm = (|| {
        let cert = tlv(cert_der).ok()?;
        let tbs = tlv(cert.content).ok()?;
        let sig_alg = tlv(tbs.rest).ok()?;
        let oid = tlv(sig_alg.content).ok()?;
        Some((oid.content, oid.rest))
    })();
    match algorithm {
        Some((oid, _)) if oid == SHA384_WITH_RSA || oid == ECDSA_SHA384 => Hash::Sha384,
        Some((oid, _)) if oid == SHA512_WITH_RSA || oid == ECDSA_SHA512 => Hash::Sha512,
        Some((oid, params)) if oid == RSASSA_PSS => {
            // The first NIST hash OID in the parameters is hashAlgorithm (absent = SHA-1 → SHA-256).
            match params
                .windows(NIST_HASH.len() + 1)
                .find(|w| w.starts_with(NIST_HASH))
                .map(|w| w[NIST_HASH.len()])
            {
                Some(2) => Hash::Sha384,
                Some(3) => Hash::Sha512,
                _ => Hash::Sha256,
            }
        }
        _ => Hash::Sha256,
    }
}

/// `tls-server-end-point:` followed by the certificate hash: the application data of the channel
/// bindings for the server's leaf certificate `cert_der`.
pub(crate) fn tls_server_end_point(cert_der: &[u8]) -> Vec<u8> {
    let mut out = PREFIX.to_vec();
    match hash_for(cert_der) {
        Hash::Sha256 => out.extend_from_slice(&Sha256::digest(cert_der)),
        Hash::Sha384 => out.extend_from_slice(&Sha384::digest(cert_der)),
        Hash::Sha512 => out.extend_from_slice(&Sha512::digest(cert_der)),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlm::spnego::der;

    fn cert_signed_with(oid: &[u8], params: &[u8]) -> Vec<u8> {
        let tbs = der(0x30, &der(0x02, &[1]));
        let mut alg = der(0x06, oid);
        alg.extend_from_slice(params);
        let mut body = tbs;
        body.extend(der(0x30, &alg));
        body.extend(der(0x03, &[0, 1, 2]));
        der(0x30, &body)
    }

    #[test]
    fn picks_the_hash_per_rfc_5929() {
        let sha256_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
        assert_eq!(hash_for(&cert_signed_with(&sha256_rsa, &[])), Hash::Sha256);
        assert_eq!(
            hash_for(&cert_signed_with(SHA384_WITH_RSA, &[])),
            Hash::Sha384
        );
        assert_eq!(hash_for(&cert_signed_with(ECDSA_SHA512, &[])), Hash::Sha512);
        let mut pss_params = NIST_HASH.to_vec();
        pss_params.push(3);
        assert_eq!(
            hash_for(&cert_signed_with(RSASSA_PSS, &der(0x30, &pss_params))),
            Hash::Sha512
        );
        assert_eq!(hash_for(b"not a certificate"), Hash::Sha256);
        let cb = tls_server_end_point(&cert_signed_with(SHA384_WITH_RSA, &[]));
        assert_eq!(cb.len(), PREFIX.len() + 48);
        assert!(cb.starts_with(PREFIX));
    }
}
