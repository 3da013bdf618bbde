//! Server-Sent Events framing (OpenAI-compatible streaming), per the WHATWG event-stream
//! rules: lines end in `\n`, `\r\n` or `\r`; `data:` lines of one event are joined with
//! `\n`; a blank line dispatches; lines starting with `:` are comments (keepalives).

/// One item out of the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event: its `event:` name if any, and its joined `data:` payload.
    Event { event: Option<String>, data: String },
    /// A comment line such as `: keepalive 3/10`, without the colon.
    Comment(String),
}

/// Incremental SSE parser; feed chunks with [`SseFramer::push`].
#[derive(Debug, Default)]
pub struct SseFramer {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    pending_cr: bool,
    data: Option<String>,
    event: Option<String>,
}

impl SseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one network chunk; calls `out` for every complete event or comment.
    pub fn push(&mut self, chunk: &[u8], mut out: impl FnMut(SseItem)) {
        let mut rest = chunk;
        if self.pending_cr && !rest.is_empty() {
            self.pending_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = rest.split_at(pos);
            let was_cr = tail[0] == b'\r';
            rest = &tail[1..];
            if was_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.pending_cr = true,
                    Some(_) => {}
                }
            }
            if self.line.is_empty() {
                self.process_line(head, &mut out);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, &mut out);
                self.line = line;
                self.line.clear();
            }
        }
        self.line.extend_from_slice(rest);
    }

    /// Bytes held for an event that has not been dispatched yet (its unfinished line and
    /// its `data:` so far).
    pub fn pending_len(&self) -> usize {
        self.line.len() + self.data.as_ref().map_or(0, String::len)
    }

    /// Ends the stream. An event whose closing blank line never came is returned, since
    /// some servers close the connection right after the last `data:` line.
    pub fn finish(&mut self) -> Option<SseItem> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut |_| {});
        }
        self.dispatch()
    }

    fn process_line(&mut self, line: &[u8], out: &mut impl FnMut(SseItem)) {
        if line.is_empty() {
            if let Some(item) = self.dispatch() {
                out(item);
            }
            return;
        }
        let line = String::from_utf8_lossy(line);
        if let Some(comment) = line.strip_prefix(':') {
            out(SseItem::Comment(comment.trim_start().to_string()));
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&line[..], ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry and unknown fields carry nothing we measure
        }
    }

    fn dispatch(&mut self) -> Option<SseItem> {
        let event = self.event.take();
        self.data.take().map(|data| SseItem::Event { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut f = SseFramer::new();
        let mut got = Vec::new();
        for c in chunks {
            f.push(c, |i| got.push(i));
        }
        got.extend(f.finish());
        got
    }

    fn ev(data: &str) -> SseItem {
        SseItem::Event { event: None, data: data.into() }
    }

    #[test]
    fn events_comments_and_done() {
        let got = parse(&[b": keepalive 1/3\n\ndata: {\"a\":1}\n\ndata:[DONE]\n\n"]);
        assert_eq!(got, vec![SseItem::Comment("keepalive 1/3".into()), ev("{\"a\":1}"), ev("[DONE]")]);
    }

    #[test]
    fn multi_line_data_and_event_names() {
        let got = parse(&[b"event: error\ndata: a\ndata: b\nid: 7\n\n"]);
        assert_eq!(got, vec![SseItem::Event { event: Some("error".into()), data: "a\nb".into() }]);
    }

    #[test]
    fn unterminated_last_event_is_kept() {
        assert_eq!(parse(&[b"data: {\"x\":2}"]), vec![ev("{\"x\":2}")]);
    }

    #[test]
    fn every_split_point_and_line_ending_gives_the_same_items() {
        for nl in ["\n", "\r\n", "\r"] {
            let text = format!(": ping{nl}{nl}data: {{\"t\":\"h\u{e9}\"}}{nl}{nl}data: one{nl}data: two{nl}{nl}data: [DONE]{nl}{nl}");
            let input = text.as_bytes();
            let whole = parse(&[input]);
            assert_eq!(whole.len(), 4, "{nl:?}: {whole:?}");
            for i in 0..=input.len() {
                for j in i..=input.len() {
                    let got = parse(&[&input[..i], &input[i..j], &input[j..]]);
                    assert_eq!(got, whole, "line ending {nl:?}, split at {i},{j}");
                }
            }
        }
    }
}
