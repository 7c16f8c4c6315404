//! Variables for `from_env_with`, from a list of pairs: the process environment is never touched.

use std::collections::HashMap;

use rpa_auth::Error;

/// A lookup function over `pairs`.
pub fn vars<K: AsRef<str>, V: AsRef<str>>(
    pairs: &[(K, V)],
) -> impl Fn(&str) -> Option<String> + use<K, V> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// `base` with `name` set to `value`, or removed when `value` is `None`.
pub fn with<K: AsRef<str>, V: AsRef<str>>(
    base: &[(K, V)],
    name: &str,
    value: Option<&str>,
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = base
        .iter()
        .filter(|(k, _)| k.as_ref() != name)
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect();
    if let Some(value) = value {
        pairs.push((name.to_owned(), value.to_owned()));
    }
    pairs
}

/// The message of a configuration error, after checking that neither its `Display` nor its `Debug`
/// contains any of `secrets`.
pub fn config_message(error: Error, secrets: &[&str]) -> String {
    let text = format!("{error} {error:?}");
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
    match error {
        Error::Config { message, .. } => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
