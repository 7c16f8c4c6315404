//! Unit tests of `store`.

use super::*;

fn key() -> StoreKey {
    StoreKey::new(
        "uipath",
        &Url::parse("https://orch.example.com/").unwrap(),
        &LoginIdentity::new("admin").with("tenant", "Default"),
    )
}

fn credential() -> Credential {
    Credential::new(SecretString::from("tok-123-secret"), Placement::Bearer)
        .with_header(
            HeaderName::from_static("x-uipath-organizationunitid"),
            HeaderValue::from_static("7"),
        )
        .expires_in(Duration::from_secs(600))
}

fn sealing() -> Codec {
    Codec::new(Some(EncryptionKey([7; 32])))
}

#[test]
fn keys_differ_by_user_tenant_server_and_backend() {
    let base = Url::parse("https://orch.example.com/").unwrap();
    let other = Url::parse("https://orch2.example.com/").unwrap();
    let id = LoginIdentity::new("admin").with("tenant", "Default");
    let keys = [
        StoreKey::new("uipath", &base, &id),
        StoreKey::new("aa", &base, &id),
        StoreKey::new("uipath", &other, &id),
        StoreKey::new("uipath", &base, &LoginIdentity::new("admin")),
        StoreKey::new(
            "uipath",
            &base,
            &LoginIdentity::new("bob").with("tenant", "Default"),
        ),
        StoreKey::new(
            "uipath",
            &base,
            &LoginIdentity::new("admin").with("tenant", "Other"),
        ),
    ];
    for (i, a) in keys.iter().enumerate() {
        assert_eq!(a.as_str().len(), 64);
        assert!(!a.as_str().contains("admin"));
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_eq!(StoreKey::new("uipath", &base, &id), keys[0]);
}

#[tokio::test]
async fn plain_entry_round_trips() {
    let codec = Codec::new(None);
    let bytes = codec.encode(&key(), &credential()).unwrap();
    let back = codec.decode(&key(), &bytes).unwrap();
    assert_eq!(back.secret().expose_secret(), "tok-123-secret");
    assert_eq!(back.placement(), &Placement::Bearer);
    assert_eq!(back.headers()["x-uipath-organizationunitid"], "7");
    let left = back.expires_at().unwrap() - Instant::now();
    assert!(left > Duration::from_secs(598) && left <= Duration::from_secs(600));
}

#[tokio::test]
async fn sealed_entry_hides_the_token_and_opens_only_with_its_key_and_entry() {
    let codec = sealing();
    let bytes = codec.encode(&key(), &credential()).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("tok-123"));
    assert!(!text.contains("organizationunitid"));
    assert_eq!(
        codec
            .decode(&key(), &bytes)
            .unwrap()
            .secret()
            .expose_secret(),
        "tok-123-secret"
    );
    // Another key, no key, another entry's key as associated data, a flipped byte: all misses.
    assert!(
        Codec::new(Some(EncryptionKey([8; 32])))
            .decode(&key(), &bytes)
            .is_none()
    );
    assert!(Codec::new(None).decode(&key(), &bytes).is_none());
    let other = StoreKey::new(
        "uipath",
        &Url::parse("https://orch.example.com/").unwrap(),
        &LoginIdentity::new("bob"),
    );
    assert!(codec.decode(&other, &bytes).is_none());
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(codec.decode(&key(), &damaged).is_none());
    // A plain entry is not accepted when entries must be sealed.
    let plain = Codec::new(None).encode(&key(), &credential()).unwrap();
    assert!(codec.decode(&key(), &plain).is_none());
    // Two writes of the same entry differ (random nonce).
    assert_ne!(bytes, codec.encode(&key(), &credential()).unwrap());
}

#[tokio::test]
async fn expired_or_garbage_entries_are_misses() {
    let codec = Codec::new(None);
    for garbage in [&b""[..], b"x", &[b'a'; 200], b"{}"] {
        assert!(codec.decode(&key(), garbage).is_none());
    }
    let expired = Credential::new(SecretString::from("t"), Placement::Bearer)
        .expires_in(Duration::from_millis(1));
    let bytes = codec.encode(&key(), &expired).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert!(codec.decode(&key(), &bytes).is_none());
}

#[test]
fn connection_credentials_are_never_encoded() {
    #[derive(Debug)]
    struct Nothing;
    impl crate::credential::AuthenticatedTransport for Nothing {
        fn send(&self, _: reqwest::Request) -> BoxFuture<'_, crate::Result<reqwest::Response>> {
            Box::pin(async { unreachable!() })
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let credential = Credential::over_connection(std::sync::Arc::new(Nothing));
        assert!(Codec::new(None).encode(&key(), &credential).is_err());
    });
}

#[test]
fn encryption_key_parsing_names_no_secret() {
    let text = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
    assert!(EncryptionKey::from_base64(&text).is_ok());
    let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
    let error = EncryptionKey::from_base64(&short).unwrap_err();
    assert!(error.to_string().contains("32 bytes"));
    assert!(!error.to_string().contains(&short));
    assert!(EncryptionKey::from_base64("not base64 !!").is_err());
    let key = EncryptionKey::from_base64(&text).unwrap();
    assert!(!format!("{key:?}").contains(&text));
}

#[test]
fn fingerprints_depend_on_token_key_and_secret() {
    let plain = Codec::new(None);
    let a = plain.fingerprint(&key(), &SecretString::from("a"));
    assert_eq!(a.len(), FINGERPRINT_LEN);
    assert_ne!(a, plain.fingerprint(&key(), &SecretString::from("b")));
    assert_ne!(a, sealing().fingerprint(&key(), &SecretString::from("a")));
}

#[test]
fn poll_waits_grow_and_stay_bounded() {
    for round in 0..20 {
        let wait = poll_wait(round);
        assert!(wait >= Duration::from_millis(25) && wait <= Duration::from_millis(750));
    }
    assert!(poll_wait(0) <= Duration::from_millis(75));
}
