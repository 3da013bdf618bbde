//! Secrets never leave the process. Every secret the harness learns (an API key read from
//! the environment, a password in a URL) is registered here; every string that reaches
//! the terminal, a result file or a report passes through [`redact`] on its way out, so
//! a server that echoes a key back (in an error body, a stream event, a log line) cannot
//! get it into our output.

use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What a redacted secret reads as.
pub const MASK: &str = "[REDACTED]";

/// Remembers a secret for the life of the process. Values shorter than 4 characters are
/// not secrets worth masking (and would mask ordinary text).
pub fn register(secret: &str) {
    if secret.chars().count() < 4 {
        return;
    }
    let mut s = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !s.iter().any(|x| x == secret) {
        s.push(secret.to_string());
        // longest first, so a secret containing another is masked whole
        s.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// Masks every registered secret in `text` (and its percent-encoded form).
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if secrets.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    for s in secrets.iter() {
        for form in [Cow::Borrowed(s.as_str()), Cow::Owned(percent_encode(s))] {
            if out.contains(form.as_ref()) {
                out = Cow::Owned(out.replace(form.as_ref(), MASK));
            }
        }
    }
    out
}

/// Registers the password of a URL's `user:password@` part, if it has one.
pub fn register_url_password(url: &str) {
    if let Some(p) = url_password(url) {
        register(&p);
    }
}

fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| password.to_string())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_masked_in_any_text() {
        register("sk-unit-test-4f8a9");
        let echoed = r#"{"error":"bad key Bearer sk-unit-test-4f8a9"}"#;
        assert_eq!(redact(echoed), r#"{"error":"bad key Bearer [REDACTED]"}"#);
        assert_eq!(redact("nothing here"), "nothing here");
        register("ab");
        assert_eq!(redact("ab ab"), "ab ab", "too short to be a secret");
    }

    #[test]
    fn url_passwords_are_found() {
        assert_eq!(url_password("http://me:p%40ss@host:1/v1").as_deref(), Some("p%40ss"));
        assert_eq!(url_password("https://host/v1?a=b@c"), None);
        assert_eq!(url_password("http://user@host/"), None);
        register_url_password("http://u:hunter2-unit@h/v1");
        assert_eq!(redact("connect http://u:hunter2-unit@h/v1 failed"), "connect http://u:[REDACTED]@h/v1 failed");
    }
}
