//! JSON helpers shared by the backends (reading servers' answers) and the emulators (reading clients'
//! requests).

/// Looks a key up in a JSON object ignoring ASCII case (servers differ: `result` / `Result`).
pub(crate) fn get_ci<'v>(
    object: &'v serde_json::Value,
    key: &str,
) -> Option<&'v serde_json::Value> {
    let object = object.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}
