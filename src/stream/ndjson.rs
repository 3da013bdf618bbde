//! Newline-delimited JSON framing (Ollama's streaming format).

/// Splits a byte stream into lines; `\r\n` and `\n` both end a line, blank lines are skipped.
#[derive(Debug, Default)]
pub struct NdjsonFramer {
    buf: Vec<u8>,
}

impl NdjsonFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one network chunk; calls `out` once for every complete non-blank line.
    pub fn push(&mut self, chunk: &[u8], mut out: impl FnMut(&[u8])) {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            rest = &tail[1..];
            if self.buf.is_empty() {
                emit(head, &mut out);
            } else {
                self.buf.extend_from_slice(head);
                let line = std::mem::take(&mut self.buf);
                emit(&line, &mut out);
                self.buf = line;
                self.buf.clear();
            }
        }
        self.buf.extend_from_slice(rest);
    }

    /// Bytes held for a line whose newline has not come yet.
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }

    /// Ends the stream: returns a final line that had no terminating newline, if any.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let line = std::mem::take(&mut self.buf);
        let trimmed = trim(&line);
        (!trimmed.is_empty()).then(|| trimmed.to_vec())
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &line[start..end]
}

fn emit(line: &[u8], out: &mut impl FnMut(&[u8])) {
    let line = trim(line);
    if !line.is_empty() {
        out(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
        let mut f = NdjsonFramer::new();
        let mut got = Vec::new();
        for c in chunks {
            f.push(c, |l| got.push(String::from_utf8_lossy(l).into_owned()));
        }
        let rest = f.finish().map(|r| String::from_utf8_lossy(&r).into_owned());
        (got, rest)
    }

    #[test]
    fn splits_lines_and_skips_blanks() {
        let (got, rest) = frames(&[b"{\"a\":1}\n\n{\"b\":2}\r\n  \n"]);
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(rest, None);
    }

    #[test]
    fn every_split_point_gives_the_same_frames() {
        let input = b"{\"response\":\"h\xc3\xa9\"}\r\n{\"done\":true}\n{\"tail\":1}";
        let (whole, whole_rest) = frames(&[input]);
        assert_eq!(whole.len(), 2);
        assert_eq!(whole_rest.as_deref(), Some("{\"tail\":1}"));
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let got = frames(&[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(got, (whole.clone(), whole_rest.clone()), "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"a\nbb\nccc\n";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(frames(&chunks).0, vec!["a", "bb", "ccc"]);
    }
}
