//! Base URLs: parsing, loopback detection, joining API paths, and the same-origin rule for credentials.

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::{Error, Result};

/// Parses a server's base URL as configured by the user: `http` or `https`, no userinfo, no query or
/// fragment, and a trailing `/` so relative API paths join under it (Automation Suite bases carry
/// `/{org}/{tenant}/`).
pub(crate) fn parse_base_url(backend: &'static str, text: &str) -> Result<Url> {
    let mut url = parse_url(backend, "server URL", text)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Parses a URL the user configured for a server (`what` names it in errors, e.g. "token URL"):
/// `http` or `https` with a host, no userinfo (credentials are passed separately), no query or fragment.
pub(crate) fn parse_url(backend: &'static str, what: &str, text: &str) -> Result<Url> {
    let url = Url::parse(text.trim())
        .map_err(|e| Error::config(backend, format!("the {what} is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::config(
            backend,
            format!(
                "the {what} must start with https:// (got {}://)",
                url.scheme()
            ),
        ));
    }
    if url.host().is_none() {
        return Err(Error::config(backend, format!("the {what} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            backend,
            format!(
                "the {what} must not carry a user name or password; pass credentials separately"
            ),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            backend,
            format!("the {what} must not have a query string or fragment"),
        ));
    }
    Ok(url)
}

/// True for `localhost`, 127.0.0.0/8 and `::1`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Joins an API path (`api/Account/Authenticate`, `/odata/Jobs`, or an absolute URL) onto the base URL.
/// A leading `/` is taken as relative to the base, so `/odata/Jobs` stays under an Automation Suite
/// `/{org}/{tenant}/` base.
pub(crate) fn join(base: &Url, path: &str) -> Result<Url, url::ParseError> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return Url::parse(path);
    }
    base.join(path.trim_start_matches('/'))
}

/// True when `url` has the same scheme, host and port as `base` (compared in place: `Url::origin` would
/// allocate, and this runs on every request).
pub(crate) fn same_origin(base: &Url, url: &Url) -> bool {
    base.scheme() == url.scheme()
        && base.host() == url.host()
        && base.port_or_known_default() == url.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_trailing_slash() {
        let url = parse_base_url("t", "https://cloud.example.com/org/tenant").unwrap();
        assert_eq!(url.as_str(), "https://cloud.example.com/org/tenant/");
        assert_eq!(
            join(&url, "/odata/Jobs").unwrap().as_str(),
            "https://cloud.example.com/org/tenant/odata/Jobs"
        );
    }

    #[test]
    fn base_url_rejects_userinfo_query_and_other_schemes() {
        for bad in [
            "https://u:p@h.example.com/",
            "https://h.example.com/?a=1",
            "ftp://h.example.com/",
            "not a url",
        ] {
            let error = parse_base_url("t", bad).unwrap_err();
            assert!(matches!(error, Error::Config { .. }), "{bad}");
            assert!(!error.to_string().contains(":p@"));
        }
    }

    #[test]
    fn loopback_hosts() {
        for (text, expected) in [
            ("http://127.0.0.1:8080/", true),
            ("http://127.8.9.10/", true),
            ("http://localhost/", true),
            ("http://[::1]:9/", true),
            ("http://10.0.0.1/", false),
            ("http://orch.example.com/", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(text).unwrap()), expected, "{text}");
        }
    }

    #[test]
    fn origin_compares_scheme_host_port() {
        let base = Url::parse("https://a.example.com/org/").unwrap();
        assert!(same_origin(
            &base,
            &Url::parse("https://a.example.com/other").unwrap()
        ));
        assert!(!same_origin(
            &base,
            &Url::parse("http://a.example.com/").unwrap()
        ));
        assert!(!same_origin(
            &base,
            &Url::parse("https://b.example.com/").unwrap()
        ));
        assert!(!same_origin(
            &base,
            &Url::parse("https://a.example.com:8443/").unwrap()
        ));
    }
}
