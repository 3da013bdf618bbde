//! Secrets never leave the process. Every secret the harness learns (an API key read from
//! the environment, a password in a URL) is registered here; every string that reaches
//! the terminal, a result file or a report passes through [`redact`] on its way out, so
//! a server that echoes a key back (in an error body, a stream event, a log line) cannot
//! get it into our output. Every form the process itself puts a secret in is masked: the
//! raw value, percent-encoded and percent-decoded, and a URL's `user:password` as the
//! base64 of a Basic `Authorization` header. Texts are cut only through [`cut`], which
//! masks first; and a secret's head at the end of a text or line, or its tail at the
//! start of one (a key cut short, or split across two log lines), is masked as well.

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

/// Masks every registered secret in `text`: each registered form, then the heads and
/// tails of secrets where a text was cut or a line broken.
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
    for s in secrets.iter() {
        if let Some(masked) = mask_pieces(&out, s) {
            out = Cow::Owned(masked);
        }
    }
    out
}

/// Shortest head or tail of a secret that is masked on its own where a text was cut
/// (and never less than half the secret): shorter pieces are ordinary text too often.
const MIN_PIECE: usize = 6;

/// `text` with the pieces of a secret masked: split over a line break (the end of one
/// line and the start of the next make the whole secret), or cut (its head ending the
/// text or coming before an ellipsis, its tail starting the text); `None` when none is.
fn mask_pieces(text: &str, secret: &str) -> Option<String> {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let mut changed = false;
    for i in 0..lines.len().saturating_sub(1) {
        for k in 1..secret.len() {
            let (Some(head), Some(tail)) = (secret.get(..k), secret.get(k..)) else { continue };
            let end = lines[i].trim_end_matches('\r').len();
            if lines[i][..end].ends_with(head) && lines[i + 1].starts_with(tail) {
                lines[i].replace_range(end - head.len()..end, MASK);
                lines[i + 1].replace_range(..tail.len(), MASK);
                changed = true;
                break;
            }
        }
    }
    let min = MIN_PIECE.max(secret.len().div_ceil(2));
    if secret.len() > min {
        let last = lines.len() - 1;
        let body = lines[last].trim_end_matches(['…', '.', '"']).len();
        if let Some(n) = (min..secret.len()).rev().find(|&n| secret.get(..n).is_some_and(|h| lines[last][..body].ends_with(h))) {
            lines[last].replace_range(body - n..body, MASK);
            changed = true;
        }
        let lead = lines[0].len() - lines[0].trim_start_matches(['…', '.', '"']).len();
        if let Some(n) =
            (min..secret.len()).rev().find(|&n| secret.get(secret.len() - n..).is_some_and(|t| lines[0][lead..].starts_with(t)))
        {
            lines[0].replace_range(lead..lead + n, MASK);
            changed = true;
        }
    }
    changed.then(|| lines.join("\n"))
}

/// The first `max` characters of `text`, secrets masked before cutting (so no cut can
/// leave a secret's head where the masking cannot recognise it).
pub fn cut(text: &str, max: usize) -> String {
    redact(text).chars().take(max).collect()
}

/// Registers the password of a URL's `user:password@` part, if it has one, in every form
/// it leaves the process in: as written, percent-decoded (what the server receives), and
/// the base64 of `user:password` that HTTP Basic authentication sends.
pub fn register_url_password(url: &str) {
    let Some((user, password)) = url_userinfo(url) else { return };
    register(&password);
    let (user_plain, password_plain) = (percent_decode(&user), percent_decode(&password));
    register(&password_plain);
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user_plain}:{password_plain}"));
    register(&basic);
    register(basic.trim_end_matches('='));
}

#[cfg(test)]
fn url_password(url: &str) -> Option<String> {
    url_userinfo(url).map(|(_, p)| p)
}

/// The user and the (non-empty) password of a URL's userinfo.
fn url_userinfo(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| (user.to_string(), password.to_string()))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|&c| hex(c)), b.get(i + 2).and_then(|&c| hex(c)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

    #[test]
    fn every_form_the_process_sends_is_masked() {
        register_url_password("http://bench:p%40ss-w0rd-Q7@h:1/v1");
        // the server received the decoded password, and the Basic header's base64
        assert_eq!(redact("user bench password p@ss-w0rd-Q7"), "user bench password [REDACTED]");
        let basic = "YmVuY2g6cEBzcy13MHJkLVE3"; // base64("bench:p@ss-w0rd-Q7")
        assert!(!redact(&format!("echo: Authorization: Basic {basic}")).contains(basic));
        assert!(!redact(&format!("{{\"auth\":\"{basic}\"}}")).contains("YmVuY2g6cEBz"));
    }

    #[test]
    fn heads_and_tails_of_cut_or_split_secrets_are_masked() {
        let key = "sk-cut-3f9c2a7b1d5e8f40";
        register(key);
        // cut after the process masked it: nothing of the key is left
        let long = format!("{}{key}{}", "x".repeat(290), "y".repeat(50));
        let c = cut(&long, 300);
        assert!(!c.contains("sk-cut-3f") && c.len() <= 300, "{c}");
        // cut elsewhere (a server that truncates its own echo), or split over two lines
        assert_eq!(redact("error: bad key sk-cut-3f9c2a7b…"), "error: bad key [REDACTED]…");
        assert_eq!(redact("…3f9c2a7b1d5e8f40\", \"more\""), "…[REDACTED]\", \"more\"");
        assert_eq!(redact("bad key sk-cut-3f9c2a\n7b1d5e8f40 (rejected)"), "bad key [REDACTED]\n[REDACTED] (rejected)");
        // short lookalikes in ordinary text stay
        assert_eq!(redact("sk-cut is a prefix"), "sk-cut is a prefix");
    }
}
