//! Stop sequences over streamed text: text is passed on as it comes, except a tail that
//! could still grow into a stop sequence, which waits for the next piece. When a stop
//! sequence appears, the text before it is the last passed on.

/// Finds stop sequences in text that arrives in pieces.
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
    hit: bool,
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> Self {
        StopMatcher { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), held: String::new(), hit: false }
    }

    /// Takes the next piece: `(text to pass on now, whether a stop sequence was found)`.
    /// After a hit everything is swallowed.
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        if self.hit {
            return (String::new(), true);
        }
        self.held.push_str(piece);
        if self.stops.is_empty() {
            return (std::mem::take(&mut self.held), false);
        }
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            self.hit = true;
            let out = self.held[..at].to_string();
            self.held.clear();
            return (out, true);
        }
        // keep the longest tail that is a proper prefix of some stop sequence
        let keep = self
            .stops
            .iter()
            .flat_map(|s| (1..s.len()).filter(|n| s.is_char_boundary(*n)).map(move |n| &s[..n]))
            .filter(|p| self.held.ends_with(p))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_string();
        self.held.drain(..cut);
        (out, false)
    }

    /// The text still held when the generation ended without a stop sequence.
    pub fn finish(&mut self) -> String {
        if self.hit { String::new() } else { std::mem::take(&mut self.held) }
    }
}

#[cfg(test)]
mod tests {
    use super::StopMatcher;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool, String) {
        let mut m = StopMatcher::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut out = Vec::new();
        let mut hit = false;
        for p in pieces {
            let (o, h) = m.push(p);
            out.push(o);
            hit |= h;
        }
        (out, hit, m.finish())
    }

    #[test]
    fn passes_text_through_and_stops_across_pieces() {
        assert_eq!(run(&[], &["a", "b"]), (vec!["a".into(), "b".into()], false, String::new()));
        // "EN" could start "END": held until "D" decides
        let (out, hit, rest) = run(&["END"], &["hello E", "N", "D and more", "ignored"]);
        assert_eq!((out.concat(), hit, rest), ("hello ".to_string(), true, String::new()));
        // a prefix that does not complete is released
        let (out, hit, rest) = run(&["END"], &["hello E", "Nx", "y E"]);
        assert_eq!((out.concat() + &rest, hit), ("hello ENxy E".to_string(), false));
        // the earliest of several sequences wins
        let (out, hit, _) = run(&["cd", "b"], &["abcd"]);
        assert_eq!((out.concat(), hit), ("a".to_string(), true));
        let (out, _, _) = run(&["é!"], &["café", "!"]);
        assert_eq!(out.concat(), "caf");
    }
}
