//! [`Secrets`]: removing secrets from server text before it reaches an error, a log event or a program's output.
//!
//! Servers repeat what they were sent: ASP.NET model validation answers "The value '…' is not valid for
//! Password.", proxies echo query strings, debug pages dump request bodies. Every backend keeps the
//! secrets it holds or has issued in one [`Secrets`] set, and every piece of server text that ends up
//! in an [`Error`](crate::Error) passes through [`Secrets::scrub`] first (the login exchange does it in
//! one place). Each secret is found in every form it can come back in:
//!
//! - as it is;
//! - JSON-escaped (`\"`, `\\`, `\/`, `\uXXXX`, also surrogate pairs);
//! - URL-encoded, with `%20` or `+` for a space, either hex case, whole or in part;
//! - HTML-escaped (`&amp;`, `&#39;`, `&#x27;`, …);
//! - with its white space collapsed, as error lines show it;
//! - base64, standard and URL-safe alphabet, padded or not, at any byte alignment within a longer
//!   encoded value (e.g. `Basic base64(user:password)`).
//!
//! Each occurrence becomes [`MARKER`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};

/// What a removed secret is replaced with.
pub(crate) const MARKER: &str = "[redacted]";

/// How many tokens issued earlier are remembered, besides the fixed secrets.
const REMEMBERED_TOKENS: usize = 4;

/// The shortest base64 fragment searched for: shorter ones would match ordinary text by chance.
const MIN_BASE64_FRAGMENT: usize = 6;

/// The secrets one login holds (password, API key, client secret, multi-factor code) and the tokens it
/// has issued (the current one and a few before it), to remove from server text.
///
/// Cheap to clone; clones share the remembered tokens. `Debug` shows only how many secrets it holds.
#[derive(Clone, Default)]
pub struct Secrets {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    fixed: Vec<Pattern>,
    tokens: Vec<Pattern>,
}

/// One secret, with the forms searched for.
struct Pattern {
    /// The secret, and its white-space-collapsed form when that differs.
    texts: Vec<SecretString>,
    /// Base64 fragments (standard and URL-safe, every alignment), longest first.
    base64: Vec<SecretString>,
}

impl Pattern {
    fn new(secret: &str) -> Option<Self> {
        if secret.is_empty() {
            return None;
        }
        let mut texts = vec![SecretString::from(secret.to_owned())];
        let collapsed = one_line(secret);
        if collapsed != secret && !collapsed.is_empty() {
            texts.push(SecretString::from(collapsed));
        }
        let mut base64 = base64_fragments(secret.as_bytes());
        base64.sort_by_key(|f| std::cmp::Reverse(f.len()));
        base64.dedup();
        Some(Self {
            texts,
            base64: base64.into_iter().map(SecretString::from).collect(),
        })
    }
}

impl Secrets {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret the login holds (a password, API key, client secret, multi-factor code).
    pub fn add(&self, secret: &SecretString) {
        if let Some(pattern) = Pattern::new(secret.expose_secret()) {
            self.lock().fixed.push(pattern);
        }
    }

    /// Adds `secret` and returns the set, for construction.
    #[must_use]
    pub fn with(self, secret: &SecretString) -> Self {
        self.add(secret);
        self
    }

    /// Remembers a token the server issued (or the client sent); the oldest of the remembered tokens is
    /// forgotten once there are more than a few.
    pub fn remember_token(&self, token: &SecretString) {
        let Some(pattern) = Pattern::new(token.expose_secret()) else {
            return;
        };
        let mut inner = self.lock();
        let known = inner.tokens.iter().any(|p| {
            p.texts.first().map(ExposeSecret::expose_secret) == Some(token.expose_secret())
        });
        if known {
            return;
        }
        if inner.tokens.len() >= REMEMBERED_TOKENS {
            inner.tokens.remove(0);
        }
        inner.tokens.push(pattern);
    }

    /// How many secrets and tokens the set holds.
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner.fixed.len() + inner.tokens.len()
    }

    /// True when the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `text` with every form of every secret replaced by [`MARKER`].
    pub fn scrub(&self, text: &str) -> String {
        self.scrub_with(text, &[])
    }

    /// Like [`scrub`](Self::scrub), also removing `extra` secrets (e.g. a token read from the very answer
    /// being reported).
    pub fn scrub_with(&self, text: &str, extra: &[&str]) -> String {
        let inner = self.lock();
        let extra: Vec<Pattern> = extra.iter().filter_map(|s| Pattern::new(s)).collect();
        let patterns = || inner.fixed.iter().chain(&inner.tokens).chain(&extra);
        if patterns().next().is_none() {
            return text.to_owned();
        }
        // Base64 first: a fragment is plain text, and the longest ones go first.
        let mut out = text.to_owned();
        for pattern in patterns() {
            for fragment in &pattern.base64 {
                let fragment = fragment.expose_secret();
                if out.contains(fragment) {
                    out = out.replace(fragment, MARKER);
                }
            }
        }
        let secrets: Vec<Vec<char>> = patterns()
            .flat_map(|p| &p.texts)
            .map(|s| s.expose_secret().chars().collect())
            .collect();
        replace_encoded(&out, &secrets)
    }

    /// Like [`scrub`](Self::scrub) for text that was cut short: a tail that is the beginning of a secret
    /// (in any of the non-base64 forms) is removed too, so a cut never leaves part of a secret behind.
    pub(crate) fn scrub_cut(&self, text: &str) -> String {
        let scrubbed = self.scrub(text);
        let inner = self.lock();
        let chars: Vec<char> = scrubbed.chars().collect();
        let mut keep = chars.len();
        for pattern in inner.fixed.iter().chain(&inner.tokens) {
            for secret in &pattern.texts {
                let secret: Vec<char> = secret.expose_secret().chars().collect();
                for start in 0..chars.len() {
                    if start >= keep {
                        break;
                    }
                    if let Match::Partial = match_at(&chars, start, &secret) {
                        keep = start;
                        break;
                    }
                }
            }
        }
        chars[..keep].iter().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("count", &self.len())
            .finish_non_exhaustive()
    }
}

/// Runs of white space and control characters become one space; the ends are trimmed.
pub(crate) fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Base64 of `secret` at each byte alignment, keeping only the characters that depend on the secret
/// alone, in both alphabets. Fragments shorter than [`MIN_BASE64_FRAGMENT`] are left out.
fn base64_fragments(secret: &[u8]) -> Vec<String> {
    let mut fragments = Vec::new();
    for lead in 0..3usize {
        let mut bytes = vec![0u8; lead];
        bytes.extend_from_slice(secret);
        let encoded = STANDARD_NO_PAD.encode(&bytes);
        // Characters mixing the padding bytes in front: none, 2 or 3.
        let skip = [0, 2, 3][lead];
        // The last character mixes in the byte that follows unless the bytes fill whole groups.
        let trim = usize::from(bytes.len() % 3 != 0);
        let Some(fragment) = encoded.get(skip..encoded.len().saturating_sub(trim)) else {
            continue;
        };
        if fragment.len() < MIN_BASE64_FRAGMENT {
            continue;
        }
        fragments.push(fragment.to_owned());
        let url_safe = fragment.replace('+', "-").replace('/', "_");
        if url_safe != fragment {
            fragments.push(url_safe);
        }
        if lead == 0 {
            // The whole value as well, with and without padding, in both alphabets.
            let whole = base64::engine::general_purpose::STANDARD.encode(secret);
            fragments.push(URL_SAFE_NO_PAD.encode(secret));
            fragments.push(whole.replace('+', "-").replace('/', "_"));
            fragments.push(whole);
        }
    }
    fragments
}

/// How far a secret matches at one position of the text.
enum Match {
    /// The whole secret, ending before this character index.
    Whole(usize),
    /// The text ends part way into the secret.
    Partial,
    /// No match.
    None,
}

/// Replaces every encoded occurrence of each secret in `text` with [`MARKER`].
fn replace_encoded(text: &str, secrets: &[Vec<char>]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    'outer: while at < chars.len() {
        for secret in secrets {
            if let Match::Whole(end) = match_at(&chars, at, secret)
                && end > at
            {
                out.push_str(MARKER);
                at = end;
                continue 'outer;
            }
        }
        out.push(chars[at]);
        at += 1;
    }
    out
}

/// Matches `secret` at `start`, each of its characters as itself or escaped. Every way of reading the
/// text is followed at once (a `\\` may be a raw backslash or the start of an escape), so the match
/// is found whatever the mix of forms, in time linear in the secret's length.
fn match_at(text: &[char], start: usize, secret: &[char]) -> Match {
    let mut positions = vec![start];
    let mut steps = Vec::new();
    for &want in secret {
        let mut next: Vec<usize> = Vec::new();
        let mut truncated = false;
        for &at in &positions {
            if at >= text.len() {
                truncated = true;
                continue;
            }
            steps.clear();
            one_char(text, at, want, &mut steps);
            for step in &steps {
                match *step {
                    Step::Matched(end) if !next.contains(&end) => next.push(end),
                    Step::Matched(_) => {}
                    Step::Truncated => truncated = true,
                    Step::Failed => {}
                }
            }
        }
        if next.is_empty() {
            return if truncated {
                Match::Partial
            } else {
                Match::None
            };
        }
        positions = next;
    }
    positions
        .into_iter()
        .max()
        .map_or(Match::None, Match::Whole)
}

enum Step {
    Matched(usize),
    Truncated,
    Failed,
}

/// The ways `text[at..]` can start with `want`: raw, `+` for a space, JSON-escaped, URL-encoded or
/// HTML-escaped.
fn one_char(text: &[char], at: usize, want: char, out: &mut Vec<Step>) {
    let c = text[at];
    if c == want || (want == ' ' && c == '+') {
        out.push(Step::Matched(at + 1));
    }
    out.push(match c {
        '%' => percent(text, at, want),
        '\\' => json_escape(text, at, want),
        '&' => html_escape(text, at, want),
        _ => Step::Failed,
    });
}

/// `%XX` sequences spelling the UTF-8 bytes of `want`.
fn percent(text: &[char], at: usize, want: char) -> Step {
    let mut buffer = [0u8; 4];
    let bytes = want.encode_utf8(&mut buffer).as_bytes();
    let mut pos = at;
    for &byte in bytes {
        match text.get(pos) {
            None => return Step::Truncated,
            Some('%') => {}
            Some(_) => return Step::Failed,
        }
        let digits: Option<Vec<u32>> = (1..=2)
            .map(|k| text.get(pos + k).and_then(|d| d.to_digit(16)))
            .collect();
        match digits {
            Some(d) if d[0] * 16 + d[1] == u32::from(byte) => pos += 3,
            Some(_) => return Step::Failed,
            None if pos + 3 > text.len() => return Step::Truncated,
            None => return Step::Failed,
        }
    }
    Step::Matched(pos)
}

/// A JSON escape for `want`: `\"`, `\\`, `\/`, `\b\f\n\r\t`, `\uXXXX` or a surrogate pair.
fn json_escape(text: &[char], at: usize, want: char) -> Step {
    let Some(&kind) = text.get(at + 1) else {
        return Step::Truncated;
    };
    let simple = match kind {
        '"' => Some('"'),
        '\\' => Some('\\'),
        '/' => Some('/'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        _ => None,
    };
    if let Some(simple) = simple {
        return if simple == want {
            Step::Matched(at + 2)
        } else {
            Step::Failed
        };
    }
    if kind != 'u' {
        return Step::Failed;
    }
    let mut units = [0u16; 2];
    let units = want.encode_utf16(&mut units);
    let mut pos = at;
    for unit in units.iter() {
        if text.get(pos) != Some(&'\\') {
            return if pos >= text.len() {
                Step::Truncated
            } else {
                Step::Failed
            };
        }
        if text.get(pos + 1).is_some_and(|&u| u != 'u') {
            return Step::Failed;
        }
        if pos + 6 > text.len() {
            return Step::Truncated;
        }
        let value = text[pos + 2..pos + 6]
            .iter()
            .try_fold(0u32, |acc, d| d.to_digit(16).map(|d| acc * 16 + d));
        if value != Some(u32::from(*unit)) {
            return Step::Failed;
        }
        pos += 6;
    }
    Step::Matched(pos)
}

/// An HTML character reference for `want`: named (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`),
/// decimal or hexadecimal.
fn html_escape(text: &[char], at: usize, want: char) -> Step {
    let Some(semi) = text[at..].iter().take(12).position(|&c| c == ';') else {
        return if text.len() - at < 12 {
            Step::Truncated
        } else {
            Step::Failed
        };
    };
    let entity: String = text[at + 1..at + semi].iter().collect();
    let decoded = match entity.as_str() {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        number => number
            .strip_prefix('#')
            .and_then(|n| match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => n.parse().ok(),
            })
            .and_then(char::from_u32),
    };
    if decoded == Some(want) {
        Step::Matched(at + semi + 1)
    } else {
        Step::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    const PASSWORD: &str = "p@ss w/rd+\"é\\x";

    fn set(secret: &str) -> Secrets {
        Secrets::new().with(&SecretString::from(secret.to_owned()))
    }

    fn assert_scrubbed(secrets: &Secrets, text: &str, secret: &str) {
        let out = secrets.scrub(text);
        assert!(out.contains(MARKER), "{text} -> {out}");
        assert!(!out.contains(secret), "{text} -> {out}");
    }

    #[test]
    fn every_kind_of_secret_in_every_form() {
        let kinds = [
            ("password", PASSWORD),
            ("api key", "ak_9f8e7d6c5b4a"),
            ("client secret", "s3cr3t/with+slash=="),
            ("mfa code", "402913"),
            ("token", "eyJhbGciOiJSUzUxMiJ9.eyJzdWIiOiIxIn0.c2ln"),
        ];
        for (kind, secret) in kinds {
            let secrets = set(secret);
            let json = serde_json::to_string(secret).unwrap();
            let json = &json[1..json.len() - 1];
            let ascii_json: String = secret
                .encode_utf16()
                .map(|u| format!("\\u{u:04x}"))
                .collect();
            let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            let percent20 = form.replace('+', "%20");
            let lower: String = secret
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02x}")
                    }
                })
                .collect();
            let html: String = secret.chars().map(|c| format!("&#{};", c as u32)).collect();
            let forms = [
                secret.to_owned(),
                json.to_owned(),
                ascii_json,
                form,
                percent20,
                lower,
                html,
                STANDARD.encode(secret),
                URL_SAFE.encode(secret),
                URL_SAFE_NO_PAD.encode(secret),
                STANDARD.encode(format!("user:{secret}")),
                STANDARD.encode(format!("ab{secret}cd")),
                URL_SAFE_NO_PAD.encode(format!("x{secret}")),
            ];
            for form in forms {
                let text = format!("The value '{form}' is not valid for {kind}.");
                let out = secrets.scrub(&text);
                assert!(out.contains(MARKER), "{kind}: {text} -> {out}");
                assert!(!out.contains(&form), "{kind}: {text} -> {out}");
                assert!(out.ends_with(&format!("is not valid for {kind}.")), "{out}");
            }
        }
    }

    #[test]
    fn collapsed_white_space_still_matches() {
        let secrets = set("two  words\tand\nlines");
        assert_scrubbed(&secrets, "echo: two words and lines!", "two words");
    }

    #[test]
    fn tokens_are_remembered_and_the_oldest_forgotten() {
        let secrets = Secrets::new();
        for n in 0..=REMEMBERED_TOKENS {
            secrets.remember_token(&SecretString::from(format!("token-number-{n}")));
        }
        assert_eq!(secrets.len(), REMEMBERED_TOKENS);
        assert_eq!(secrets.scrub("token-number-0"), "token-number-0");
        assert_eq!(
            secrets.scrub(&format!("x token-number-{REMEMBERED_TOKENS} y")),
            format!("x {MARKER} y")
        );
        secrets.remember_token(&SecretString::from(format!(
            "token-number-{REMEMBERED_TOKENS}"
        )));
        assert_eq!(secrets.len(), REMEMBERED_TOKENS);
    }

    #[test]
    fn extra_secrets_are_removed_too() {
        let out = Secrets::new().scrub_with("issued abcdef123 twice", &["abcdef123"]);
        assert_eq!(out, format!("issued {MARKER} twice"));
    }

    #[test]
    fn a_cut_does_not_leave_part_of_a_secret() {
        let secrets = set("hunter2-long");
        assert_eq!(secrets.scrub_cut("the value 'hunter2-lo"), "the value '");
        assert_eq!(secrets.scrub_cut("the value 'hun%74"), "the value '");
        assert_eq!(secrets.scrub_cut("nothing secret"), "nothing secret");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let secrets = set("hunter2");
        let text = "Invalid credentials, failed to login. &amp; 100% \\u0041 hunter";
        assert_eq!(secrets.scrub(text), text);
        assert_eq!(Secrets::new().scrub("hunter2"), "hunter2");
    }

    #[test]
    fn debug_shows_no_secret() {
        let text = format!("{:?}", set("hunter2"));
        assert!(!text.contains("hunter2") && text.contains("count"));
    }

    #[test]
    fn hostile_escapes_do_not_panic() {
        let secrets = set("é€😀x");
        for text in [
            "%",
            "%e",
            "%C3",
            "\\",
            "\\u",
            "\\ud83d",
            "\\ud83d\\u",
            "&",
            "&#",
            "&#x;",
            "&#99999999;",
        ] {
            let _ = secrets.scrub(text);
            let _ = secrets.scrub_cut(text);
        }
        assert_scrubbed(&secrets, "\\u00e9\\u20ac\\ud83d\\ude00x", "x");
    }
}
