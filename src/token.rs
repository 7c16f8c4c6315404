//! The one check every token passes before it becomes a [`Credential`](crate::Credential): a token is a
//! non-empty string without white space or control characters. JSON `null`, numbers, booleans, arrays,
//! objects without a usable token and empty or blank strings are refused, so no request ever leaves
//! with an empty or made-up credential (`Authorization: Bearer ` with nothing after it, `"auth":"null"`).

use serde_json::Value;

/// Why `text` is not a usable token, or `Ok` when it is one.
pub(crate) fn check(text: &str) -> Result<(), &'static str> {
    if text.is_empty() {
        return Err("the token is empty");
    }
    if text.chars().all(|c| c.is_whitespace() || c.is_control()) {
        return Err("the token is blank");
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the token contains white space or control characters");
    }
    Ok(())
}

/// What a login answer's token field holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Field<'v> {
    /// A usable token.
    Usable(&'v str),
    /// No token: the field is missing or `null` (the answer may be a refusal with a message).
    Missing(&'static str),
    /// Something that is not a usable token, with why.
    Unusable(&'static str),
}

/// Reads a token field. A string must pass [`check`]; an object is searched (one level) for the first
/// of `inner_keys`, case-insensitively (`"result": {"accessToken": "…"}`); anything else is unusable.
pub(crate) fn field<'v>(value: Option<&'v Value>, inner_keys: &[&str]) -> Field<'v> {
    match value {
        None => Field::Missing("the answer has no token"),
        Some(Value::Null) => Field::Missing("the token is null"),
        Some(Value::String(text)) => match check(text) {
            Ok(()) => Field::Usable(text),
            Err(cause) => Field::Unusable(cause),
        },
        Some(Value::Bool(_)) => Field::Unusable("the token is a boolean, not a string"),
        Some(Value::Number(_)) => Field::Unusable("the token is a number, not a string"),
        Some(Value::Array(_)) => Field::Unusable("the token is a list, not a string"),
        Some(object @ Value::Object(_)) => {
            let inner = inner_keys
                .iter()
                .find_map(|key| crate::exchange::get_ci(object, key));
            match inner {
                Some(Value::String(text)) => match check(text) {
                    Ok(()) => Field::Usable(text),
                    Err(cause) => Field::Unusable(cause),
                },
                Some(_) | None => Field::Unusable("the token is an object without a usable token"),
            }
        }
    }
}

/// The first of `keys` present in `object` (case-insensitively), read as a token field.
pub(crate) fn first_field<'v>(object: &'v Value, keys: &[&str]) -> Field<'v> {
    let value = keys
        .iter()
        .find_map(|key| crate::exchange::get_ci(object, key));
    field(value, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_non_empty_strings_without_white_space_are_tokens() {
        assert_eq!(check("eyJ.a-b_c+/="), Ok(()));
        for bad in ["", " ", "\t\r\n", "a b", "tok\u{0}", "tok\u{7f}", "\u{a0}x"] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_json_shape_is_classified() {
        let keys = ["accessToken", "token"];
        assert_eq!(field(Some(&json!("t")), &keys), Field::Usable("t"));
        assert_eq!(
            field(Some(&json!({"AccessToken": "t"})), &keys),
            Field::Usable("t")
        );
        assert!(matches!(field(None, &keys), Field::Missing(_)));
        assert!(matches!(
            field(Some(&json!(null)), &keys),
            Field::Missing(_)
        ));
        for unusable in [
            json!(""),
            json!("  "),
            json!(0),
            json!(1.5),
            json!(true),
            json!([]),
            json!(["t"]),
            json!({}),
            json!({"accessToken": ""}),
            json!({"accessToken": null}),
            json!({"accessToken": 7}),
            json!({"other": "t"}),
        ] {
            assert!(
                matches!(field(Some(&unusable), &keys), Field::Unusable(_)),
                "{unusable}"
            );
        }
    }

    #[test]
    fn first_present_key_decides() {
        let body = json!({"token": "", "accessToken": "t"});
        assert!(matches!(
            first_field(&body, &["token", "accessToken"]),
            Field::Unusable(_)
        ));
        assert_eq!(first_field(&body, &["accessToken"]), Field::Usable("t"));
    }
}
