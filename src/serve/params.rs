//! Fields both APIs read the same way from a JSON object (a request body, Ollama's
//! `options`): strings and flags where absent, `null` and (for strings) `""` all mean
//! "not given", as Ollama's Go structs read them; numbers that must be finite, a seed (a
//! fresh one when absent, as both servers do), stop sequences as a string or a list,
//! `ignore_eos`.

use std::time::SystemTime;

use serde_json::{Map, Value};

/// A JSON object's sampling fields; `prefix` names them in errors (`options.`).
pub struct Fields<'a> {
    pub map: &'a Map<String, Value>,
    pub prefix: &'static str,
}

/// A JSON value's kind, for errors (never the value itself: it may be megabytes).
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Fields<'a> {
    /// A string that says something: absent, `null`, `""` and blanks are `None`; any
    /// other kind of value is an error naming the field.
    pub fn text(&self, k: &str) -> Result<Option<&'a str>, String> {
        match self.map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.trim().is_empty())),
            Some(v) => Err(format!("{}{k} must be a string, not {}", self.prefix, kind(v))),
        }
    }

    /// The first of `keys` that says something (Ollama's `model` and its older alias `name`).
    pub fn first_text(&self, keys: &[&str]) -> Result<Option<&'a str>, String> {
        for k in keys {
            if let Some(v) = self.text(k)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// A boolean, `default` when absent or `null`.
    pub fn flag(&self, k: &str, default: bool) -> Result<bool, String> {
        match self.map.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(format!("{}{k} must be true or false, not {}", self.prefix, kind(v))),
        }
    }

    /// A finite number, if present and not null.
    pub fn num(&self, k: &str) -> Result<Option<f64>, String> {
        match self.map.get(k).filter(|v| !v.is_null()) {
            None => Ok(None),
            Some(v) => v.as_f64().filter(|x| x.is_finite()).map(Some).ok_or(format!("{}{k} must be a number", self.prefix)),
        }
    }

    /// A number in `lo..=hi` (`lo` excluded when `open_lo`), else `default`.
    pub fn ranged(&self, k: &str, default: f64, lo: f64, hi: f64, open_lo: bool) -> Result<f64, String> {
        let v = self.num(k)?.unwrap_or(default);
        let above = if open_lo { v > lo } else { v >= lo };
        if above && v <= hi {
            Ok(v)
        } else {
            Err(format!("{}{k} {v} is out of range ({lo} {} {k} <= {hi})", self.prefix, if open_lo { "<" } else { "<=" }))
        }
    }

    /// The seed asked for, else one from the clock.
    pub fn seed(&self) -> Result<u64, String> {
        Ok(match self.num("seed")? {
            Some(s) if s >= 0.0 => s as u64,
            _ => SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
        })
    }

    /// `stop` as a string or a list of strings.
    pub fn stop(&self) -> Result<Vec<String>, String> {
        let bad = || format!("{}stop must be a string or a list of strings", self.prefix);
        match self.map.get("stop") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a.iter().map(|s| s.as_str().map(str::to_string).ok_or_else(bad)).collect(),
            Some(_) => Err(bad()),
        }
    }

    pub fn ignore_eos(&self) -> bool {
        self.map.get("ignore_eos").and_then(Value::as_bool).unwrap_or(false)
    }
}
