//! Configuration from environment variables, shared by every backend's `from_env`.
//!
//! Variables are read through a lookup function, so `from_env_with` (and the tests) can supply them
//! without touching the process environment. Errors name the variable; they quote a value only when it
//! is not a secret and not a URL (which could carry one).

use std::ffi::OsString;
use std::str::FromStr;

use secrecy::SecretString;

use crate::error::{Error, Result};

/// Where variables come from: the process environment or a caller's function.
pub(crate) struct Env<'a> {
    backend: &'static str,
    lookup: &'a dyn Fn(&str) -> Option<OsString>,
}

/// Reads the process environment.
pub(crate) fn process(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

impl<'a> Env<'a> {
    /// Variables for `backend`, read through `lookup`.
    pub(crate) fn new(backend: &'static str, lookup: &'a dyn Fn(&str) -> Option<OsString>) -> Self {
        Self { backend, lookup }
    }

    /// The backend errors are reported for.
    pub(crate) fn backend(&self) -> &'static str {
        self.backend
    }

    /// The raw value: `None` when unset, an error when it is not UTF-8.
    fn raw(&self, name: &str) -> Result<Option<String>> {
        match (self.lookup)(name) {
            None => Ok(None),
            Some(value) => value
                .into_string()
                .map(Some)
                .map_err(|_| self.malformed(name, "is not valid UTF-8")),
        }
    }

    /// A non-secret value, trimmed; unset or blank is `None`.
    pub(crate) fn optional(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .raw(name)?
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()))
    }

    /// The first of `names` that is set (and not blank), with the name it came from.
    pub(crate) fn first_optional(
        &self,
        names: &[&'static str],
    ) -> Result<Option<(&'static str, String)>> {
        for name in names {
            if let Some(value) = self.optional(name)? {
                return Ok(Some((name, value)));
            }
        }
        Ok(None)
    }

    /// A non-secret value that must be set.
    pub(crate) fn required(&self, name: &str) -> Result<String> {
        match self.raw(name)? {
            None => Err(self.missing(name)),
            Some(value) if value.trim().is_empty() => Err(self.malformed(name, "is set but empty")),
            Some(value) => Ok(value.trim().to_owned()),
        }
    }

    /// A secret that must be set. Taken as it is (not trimmed: spaces may be part of it); never quoted.
    pub(crate) fn secret(&self, name: &str) -> Result<SecretString> {
        match self.raw(name)? {
            None => Err(self.missing(name)),
            Some(value) if value.is_empty() => Err(self.malformed(name, "is set but empty")),
            Some(value) => Ok(SecretString::from(value)),
        }
    }

    /// A secret that may be unset; unset or empty is `None`. Taken as it is; never quoted.
    pub(crate) fn optional_secret(&self, name: &str) -> Result<Option<SecretString>> {
        Ok(self
            .raw(name)?
            .filter(|v| !v.is_empty())
            .map(SecretString::from))
    }

    /// An optional yes/no: `true`/`false`/`1`/`0` (any case); unset or blank is `None`.
    pub(crate) fn flag(&self, name: &str) -> Result<Option<bool>> {
        match self.optional(name)? {
            None => Ok(None),
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(self.malformed(name, &format!("is not true, false, 1 or 0: `{text}`"))),
            },
        }
    }

    /// A Windows account name that must be set: `DOMAIN\user`, `user@domain` or a plain `user`.
    /// Not quoted in errors (a password pasted into the wrong variable should not reach a log).
    pub(crate) fn windows_user(&self, name: &str) -> Result<String> {
        let user = self.required(name)?;
        let well_formed = match user.split_once('\\') {
            Some((domain, account)) => {
                !domain.is_empty() && !account.is_empty() && !account.contains('\\')
            }
            None => match user.split_once('@') {
                Some((account, domain)) => !account.is_empty() && !domain.is_empty(),
                None => true,
            },
        };
        if !well_formed || user.chars().any(char::is_control) {
            return Err(self.malformed(
                name,
                "is not a Windows user name (DOMAIN\\user, user@domain or a plain user name)",
            ));
        }
        Ok(user)
    }

    /// An optional value parsed as `T`; `what` says what it should be, e.g. "is not a whole number".
    /// The value is quoted in the error, so use this for non-secrets only.
    pub(crate) fn parsed<T: FromStr>(&self, name: &str, what: &str) -> Result<Option<T>> {
        match self.optional(name)? {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| self.malformed(name, &format!("{what}: `{text}`"))),
        }
    }

    /// The error for a variable that must be set and is not.
    pub(crate) fn missing(&self, name: &str) -> Error {
        Error::config(
            self.backend,
            format!("the environment variable {name} is not set"),
        )
    }

    /// The error for a variable whose value is unusable; `what` must not quote a secret.
    pub(crate) fn malformed(&self, name: &str, what: &str) -> Error {
        Error::config(
            self.backend,
            format!("the environment variable {name} {what}"),
        )
    }

    /// Turns a configuration error raised while using the value of `name` into one that names it.
    pub(crate) fn blame(&self, name: &str, error: Error) -> Error {
        match error {
            Error::Config { backend, message } => Error::config(
                backend,
                format!("the environment variable {name} is unusable: {message}"),
            ),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn lookup(name: &str) -> Option<OsString> {
        match name {
            "SET" => Some(" value ".into()),
            "BLANK" => Some("  ".into()),
            "NUMBER" => Some("42".into()),
            "SECRET" => Some(" s3cret ".into()),
            "EMPTY_SECRET" => Some("".into()),
            #[cfg(unix)]
            "NOT_UTF8" => {
                use std::os::unix::ffi::OsStringExt;
                Some(OsString::from_vec(vec![0x66, 0xff, 0x6f]))
            }
            _ => None,
        }
    }

    fn message(error: Error) -> String {
        match error {
            Error::Config { message, .. } => message,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn optional_values_are_trimmed_and_blank_is_unset() {
        let env = Env::new("t", &lookup);
        assert_eq!(env.optional("SET").unwrap().as_deref(), Some("value"));
        assert_eq!(env.optional("BLANK").unwrap(), None);
        assert_eq!(env.optional("UNSET").unwrap(), None);
        assert_eq!(
            env.first_optional(&["UNSET", "BLANK", "SET"]).unwrap(),
            Some(("SET", "value".to_owned()))
        );
    }

    #[test]
    fn required_values_name_the_variable() {
        let env = Env::new("t", &lookup);
        assert!(message(env.required("UNSET").unwrap_err()).contains("UNSET is not set"));
        assert!(message(env.required("BLANK").unwrap_err()).contains("BLANK is set but empty"));
        assert!(
            message(env.secret("EMPTY_SECRET").map(|_| ()).unwrap_err()).contains("EMPTY_SECRET")
        );
    }

    #[test]
    fn secrets_are_kept_exactly() {
        let env = Env::new("t", &lookup);
        assert_eq!(env.secret("SECRET").unwrap().expose_secret(), " s3cret ");
    }

    #[test]
    fn parsed_values_report_what_is_wrong() {
        let env = Env::new("t", &lookup);
        assert_eq!(
            env.parsed::<i64>("NUMBER", "is not a number").unwrap(),
            Some(42)
        );
        let error = env.parsed::<i64>("SET", "is not a number").unwrap_err();
        assert!(message(error).contains("SET is not a number: `value`"));
    }

    #[test]
    fn optional_secrets_and_flags() {
        let env = Env::new("t", &lookup);
        let secret = env.optional_secret("SECRET").unwrap().unwrap();
        assert_eq!(secret.expose_secret(), " s3cret ");
        assert!(env.optional_secret("EMPTY_SECRET").unwrap().is_none());
        assert!(env.optional_secret("UNSET").unwrap().is_none());
        let flags = |name: &str| -> Option<OsString> {
            match name {
                "YES" => Some(" TRUE ".into()),
                "ONE" => Some("1".into()),
                "NO" => Some("false".into()),
                "ZERO" => Some("0".into()),
                "MAYBE" => Some("maybe".into()),
                _ => None,
            }
        };
        let env = Env::new("t", &flags);
        assert_eq!(env.flag("YES").unwrap(), Some(true));
        assert_eq!(env.flag("ONE").unwrap(), Some(true));
        assert_eq!(env.flag("NO").unwrap(), Some(false));
        assert_eq!(env.flag("ZERO").unwrap(), Some(false));
        assert_eq!(env.flag("UNSET").unwrap(), None);
        assert!(message(env.flag("MAYBE").unwrap_err()).contains("MAYBE is not true, false"));
    }

    #[test]
    fn windows_user_names_are_checked() {
        for good in [r"CORP\alice", "alice@corp.example", "alice"] {
            let lookup = move |_: &str| Some(OsString::from(good));
            assert_eq!(Env::new("t", &lookup).windows_user("U").unwrap(), good);
        }
        for bad in [
            r"CORP\",
            r"\alice",
            r"A\B\c",
            "@corp",
            "alice@",
            "al\u{7}ice",
        ] {
            let lookup = move |_: &str| Some(OsString::from(bad));
            let text = message(Env::new("t", &lookup).windows_user("U").unwrap_err());
            assert!(
                text.contains("U is not a Windows user name"),
                "{bad}: {text}"
            );
            assert!(!text.contains(bad), "{text}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_is_malformed() {
        let env = Env::new("t", &lookup);
        assert!(
            message(env.optional("NOT_UTF8").unwrap_err()).contains("NOT_UTF8 is not valid UTF-8")
        );
    }
}
