//! One frame's JSON, as a stream carries it. A server that streams text token by token
//! may split a character outside the Basic Multilingual Plane (an emoji) into the two
//! halves of its UTF-16 escape, one per event: `"\ud83d"`, then `"\ude00"`. Each frame
//! is then not valid JSON on its own (a lone surrogate), but the stream is. Such halves
//! are parsed into private-use stand-ins (plane 15: U+F0000 + the half's offset), and
//! [`join_surrogates`] puts the character back together once both halves are in the text.

use serde_json::Value;

const HIGH: u32 = 0xF0000; // U+F0000..U+F03FF stand for D800..DBFF
const LOW: u32 = 0xF0400; // U+F0400..U+F07FF stand for DC00..DFFF

/// Parses a frame; lone surrogate escapes become stand-ins instead of an error.
pub fn parse(frame: &[u8]) -> Result<Value, serde_json::Error> {
    match serde_json::from_slice(frame) {
        Ok(v) => Ok(v),
        Err(e) => match mark_lone_surrogates(frame) {
            Some(fixed) => serde_json::from_slice(&fixed),
            None => Err(e),
        },
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b.get(..4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// The frame with each lone surrogate escape replaced by its stand-in, or `None` when
/// it has none (then the frame's error is another one).
fn mark_lone_surrogates(frame: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(frame.len());
    let mut changed = false;
    let mut i = 0;
    while i < frame.len() {
        if frame[i] != b'\\' {
            out.push(frame[i]);
            i += 1;
            continue;
        }
        let Some(&next) = frame.get(i + 1) else {
            out.push(frame[i]);
            break;
        };
        let unit = if next == b'u' { hex4(&frame[i + 2..]) } else { None };
        match unit {
            Some(hi @ 0xD800..=0xDBFF)
                if frame.get(i + 6..i + 8) == Some(b"\\u") && matches!(hex4(&frame[i + 8..]), Some(0xDC00..=0xDFFF)) =>
            {
                let _ = hi;
                out.extend_from_slice(&frame[i..i + 12]); // a whole pair: as it is
                i += 12;
            }
            Some(u @ 0xD800..=0xDFFF) => {
                let stand_in = if u < 0xDC00 { HIGH + (u - 0xD800) } else { LOW + (u - 0xDC00) };
                let mut buf = [0u8; 4];
                out.extend_from_slice(char::from_u32(stand_in)?.encode_utf8(&mut buf).as_bytes());
                changed = true;
                i += 6;
            }
            _ => {
                out.extend_from_slice(&frame[i..i + 2]); // any other escape, `\\` included
                i += 2;
            }
        }
    }
    changed.then_some(out)
}

/// Whether `text` holds a stand-in (so that ordinary text costs one scan of its piece).
pub fn has_stand_ins(text: &str) -> bool {
    text.chars().any(|c| (HIGH..LOW + 0x400).contains(&(c as u32)))
}

/// Joins each high stand-in followed by a low one into the character they encode.
pub fn join_surrogates(text: &mut String) {
    if !has_stand_ins(text) {
        return;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i] as u32;
        if (HIGH..HIGH + 0x400).contains(&c)
            && let Some(&next) = chars.get(i + 1)
            && (LOW..LOW + 0x400).contains(&(next as u32))
            && let Some(joined) = char::from_u32(0x10000 + ((c - HIGH) << 10) + (next as u32 - LOW))
        {
            out.push(joined);
            i += 2;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    *text = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emoji_split_over_two_frames_parses_and_joins() {
        let a = parse(br#"{"response":"smile \ud83d"}"#).unwrap();
        let b = parse(br#"{"response":"\ude00!"}"#).unwrap();
        let mut text = format!("{}{}", a["response"].as_str().unwrap(), b["response"].as_str().unwrap());
        join_surrogates(&mut text);
        assert_eq!(text, "smile 😀!");
        // whole pairs, escaped backslashes and other errors are left alone
        assert_eq!(parse(br#"{"t":"\ud83d\ude00 \\ud83d"}"#).unwrap()["t"], "😀 \\ud83d");
        assert!(parse(br#"{"t": nope}"#).is_err());
        assert!(parse(br#"{"t":"\ud83d"#).is_err(), "a truncated frame is still an error");
    }
}
