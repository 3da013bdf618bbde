//! Formatting helpers shared by every output: numbers with precision that suits their
//! size, byte counts, escaping per syntax (Markdown, HTML, CSV), and [`Grid`], the one
//! table model every table is built as before a syntax writes it. A leaf module: it
//! imports nothing of the crate but the summary type.

mod grid;

pub use grid::{Align, Grid};

use crate::stats::Summary;

/// `1.23 GiB`-style byte counts.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Decimals that suit a number's size: 1234, 123.4, 12.34, 0.123.
fn precision(v: f64) -> usize {
    let a = v.abs();
    if a >= 999.5 {
        0
    } else if a >= 99.95 {
        1
    } else if a >= 0.9995 {
        2
    } else {
        3
    }
}

/// A number with precision that suits its size; beyond 10^12 in scientific notation (no
/// 300-digit cells from a damaged file).
pub fn num(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e12 {
        return format!("{v:.3e}");
    }
    format!("{v:.*}", precision(v))
}

/// A number, or `-` when there is none.
pub fn opt_num(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "-".into())
}

/// `median ± stddev` of a metric (the spread with the median's precision), or `-`.
pub fn median_spread(s: Option<&Summary>) -> String {
    match s {
        Some(s) if s.n > 1 && (s.median.abs() >= 1e12 || s.stddev.abs() >= 1e12) => format!("{} ± {}", num(s.median), num(s.stddev)),
        Some(s) if s.n > 1 => {
            let p = precision(s.median);
            format!("{:.*} ± {:.*}", p, s.median, p, s.stddev)
        }
        Some(s) => num(s.median),
        None => "-".into(),
    }
}

/// Escapes text for a Markdown table cell or list item: pipes, HTML and line breaks;
/// `@mentions`, e-mail addresses and bare URLs are kept from becoming notifications and
/// links.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, ch) in s.char_indices() {
        match ch {
            // what can make a link or an image (brackets), code, emphasis, a heading or a cell
            '\\' | '|' | '[' | ']' | '`' | '*' | '_' | '~' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() || is_layout_char(c) => out.push('\u{fffd}'),
            // a word joiner between `@` and a name keeps GitHub from mentioning (notifying)
            // someone or linking an e-mail address; the text reads the same
            '@' if s[i + 1..].starts_with(|c: char| c.is_ascii_alphanumeric()) => out.push_str("@\u{2060}"),
            // and after a URL's `:` or in `www.`, from making a bare URL a link
            ':' if s[i + 1..].starts_with("//") => out.push_str(":\u{2060}"),
            '.' if out.len() >= 3 && out.get(out.len() - 3..).is_some_and(|t| t.eq_ignore_ascii_case("www")) => out.push_str("\u{2060}."),
            c => out.push(c),
        }
    }
    out
}

/// Replaces control characters (ANSI escape sequences start with one) except newline
/// and tab by U+FFFD, so no text from a file or a server can drive the terminal.
pub fn strip_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_unsafe_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(s.chars().map(|c| if is_unsafe_control(c) { '\u{fffd}' } else { c }).collect())
}

fn is_unsafe_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Characters that reorder or break lines without being controls: the Unicode line and
/// paragraph separators and the bidirectional overrides and isolates ("Trojan Source").
fn is_layout_char(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` for one line of a terminal: line breaks shown as `\n` (a server's text cannot
/// start a line of its own that looks like ours), tabs as spaces, other controls,
/// separators and bidirectional overrides as U+FFFD.
pub fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || is_layout_char(c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push(' '),
            c if c.is_control() || is_layout_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether XML 1.0 allows `c` at all (SVG is XML: U+FFFF or a C0 control in a name
/// would make the whole file unreadable).
fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` with every character XML 1.0 forbids replaced by U+FFFD.
pub fn xml_chars(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().all(xml_allows) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(s.chars().map(|c| if xml_allows(c) { c } else { '\u{FFFD}' }).collect())
}

/// Escapes text for HTML content and attribute values (characters XML forbids become
/// U+FFFD, so the same text is valid in SVG).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            c if !xml_allows(c) => out.push('\u{FFFD}'),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180). Text that
/// a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first, and not a
/// number) is prefixed with `'`.
pub fn csv_field(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err();
    let s = if formula { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_is_neutralised() {
        let md = md_escape("![x](http://evil/t.png) [a](b) `c` <img> a|b");
        assert_eq!(md, "!\\[x\\](http:\u{2060}//evil/t.png) \\[a\\](b) \\`c\\` &lt;img&gt; a\\|b");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-12.5"), "-12.5");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(strip_controls("red \u{1b}[31mX\u{9b}2J ok\n"), "red \u{fffd}[31mX\u{fffd}2J ok\n");
        // what XML forbids (SVG is XML) becomes U+FFFD; the rest stays
        assert_eq!(xml_chars("a\u{FFFF}b\u{1}c\u{FFFE}\t\u{1F600}"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}\t\u{1F600}");
        assert_eq!(html_escape("n\u{FFFF}<"), "n\u{FFFD}&lt;");
    }

    #[test]
    fn mentions_and_bare_urls_stay_text_and_server_lines_stay_one_line() {
        // GitHub would notify @octocat, link the address and both URLs
        let md = md_escape("ping @octocat, mail a@b.example, see https://evil.example and WWW.evil.example");
        assert!(!md.contains("@o") && !md.contains("@b") && !md.contains("://") && !md.contains("WWW."), "{md}");
        assert_eq!(md.replace('\u{2060}', ""), "ping @octocat, mail a@b.example, see https://evil.example and WWW.evil.example");
        // a forged summary line, a terminal escape and a right-to-left override
        let forged = "oops\n  FAILED other-case: all good\r\u{1b}[2J\u{202E}txt";
        let line = one_line(forged);
        assert!(!line.contains(['\n', '\r', '\u{1b}', '\u{202E}']), "{line}");
        assert_eq!(line, "oops\\n  FAILED other-case: all good\\r\u{FFFD}[2J\u{FFFD}txt");
        assert!(matches!(one_line("plain text"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(12.345), "12.35");
        assert_eq!(num(0.01234), "0.012");
        assert_eq!(num(99.99999), "100.0");
        assert_eq!(num(999.7), "1000");
    }

    #[test]
    fn escapes() {
        assert_eq!(md_escape("a|b<c>\nd"), "a\\|b&lt;c&gt; d");
        assert_eq!(html_escape("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
