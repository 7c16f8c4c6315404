//! RFC 5929 `tls-server-end-point` channel binding, which IIS Extended Protection checks.

use picky_asn1::wrapper::{Asn1SequenceOf, ObjectIdentifierAsn1};
use picky_asn1_der::Asn1RawDer;
use picky_asn1_x509::oids;
use sha2::{Digest, Sha256, Sha384, Sha512};

const PREFIX: &[u8] = b"tls-server-end-point:";

/// Prefix of the NIST hash OIDs 2.16.840.1.101.3.4.2.x (x = 1 SHA-256, 2 SHA-384, 3 SHA-512), as DER.
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
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }, and
    // AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }: read as sequences of
    // raw elements, so a certificate picky does not fully understand still yields its algorithm.
    let algorithm = (|| {
        let cert: Asn1SequenceOf<Asn1RawDer> = picky_asn1_der::from_bytes(cert_der).ok()?;
        let sig_alg: Asn1SequenceOf<Asn1RawDer> =
            picky_asn1_der::from_bytes(&cert.0.get(1)?.0).ok()?;
        let oid: ObjectIdentifierAsn1 = picky_asn1_der::from_bytes(&sig_alg.0.first()?.0).ok()?;
        let params = sig_alg.0.get(1).map(|p| p.0.clone()).unwrap_or_default();
        Some((Into::<String>::into(&oid.0), params))
    })();
    match algorithm {
        Some((oid, _))
            if oid == oids::SHA384_WITH_RSA_ENCRYPTION || oid == oids::ECDSA_WITH_SHA384 =>
        {
            Hash::Sha384
        }
        Some((oid, _))
            if oid == oids::SHA512_WITH_RSA_ENCRYPTION || oid == oids::ECDSA_WITH_SHA512 =>
        {
            Hash::Sha512
        }
        Some((oid, params)) if oid == oids::RSASSA_PSS => {
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

    fn der<T: serde::Serialize>(value: &T) -> Vec<u8> {
        picky_asn1_der::to_vec(value).expect("encodes")
    }

    /// A certificate-shaped SEQUENCE signed with `oid`, with raw `params` after it.
    fn cert_signed_with<O: Into<ObjectIdentifierAsn1>>(oid: O, params: Option<Vec<u8>>) -> Vec<u8> {
        let mut alg = vec![Asn1RawDer(der(&oid.into()))];
        alg.extend(params.map(Asn1RawDer));
        let tbs = Asn1SequenceOf(vec![Asn1RawDer(vec![0x02, 0x01, 0x01])]);
        der(&Asn1SequenceOf(vec![
            Asn1RawDer(der(&tbs)),
            Asn1RawDer(der(&Asn1SequenceOf(alg))),
            Asn1RawDer(vec![0x03, 0x02, 0x00, 0x01]),
        ]))
    }

    #[test]
    fn picks_the_hash_per_rfc_5929() {
        assert_eq!(
            hash_for(&cert_signed_with(oids::sha256_with_rsa_encryption(), None)),
            Hash::Sha256
        );
        assert_eq!(
            hash_for(&cert_signed_with(oids::sha384_with_rsa_encryption(), None)),
            Hash::Sha384
        );
        assert_eq!(
            hash_for(&cert_signed_with(oids::ecdsa_with_sha512(), None)),
            Hash::Sha512
        );
        let mut pss_params = vec![0x30, u8::try_from(NIST_HASH.len() + 1).expect("short")];
        pss_params.extend_from_slice(NIST_HASH);
        pss_params.push(3);
        assert_eq!(
            hash_for(&cert_signed_with(oids::rsassa_pss(), Some(pss_params))),
            Hash::Sha512
        );
        assert_eq!(hash_for(b"not a certificate"), Hash::Sha256);
        let cb = tls_server_end_point(&cert_signed_with(oids::sha384_with_rsa_encryption(), None));
        assert_eq!(cb.len(), PREFIX.len() + 48);
        assert!(cb.starts_with(PREFIX));
    }
}
