//! The field types request structs are made of, read as Ollama's Go structs read them:
//! absent and `null` alike (and, for text that must say something, `""` and blanks);
//! a value of the wrong kind is refused with the field's path and the kind it had, never
//! the value itself (it may be megabytes). [`parse`] reads a request body into a struct.

use std::fmt;
use std::marker::PhantomData;
use std::time::SystemTime;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer, de::value::SeqAccessDeserializer};
use serde_json::{Map, Value};

/// A JSON value's kind, for errors.
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

/// Reads a request body (a JSON object) into `T`; an error names the field by its path
/// (`options.temperature`, `messages[2].content`).
pub fn parse<T: DeserializeOwned>(body: Map<String, Value>) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(body)).map_err(|e| {
        let path = e.path().to_string();
        let why = e.into_inner().to_string();
        if path == "." { why } else { format!("{path} {why}") }
    })
}

fn wrong<E: de::Error>(want: &str, v: &Value) -> E {
    E::custom(format!("must be {want}, not {}", kind(v)))
}

/// Text: `None` when absent or `null`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Text(pub Option<String>);

impl Text {
    /// The text when it says something (not empty, not blanks).
    pub fn said(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.trim().is_empty())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Text(None)),
            Value::String(s) => Ok(Text(Some(s))),
            v => Err(wrong("a string", &v)),
        }
    }
}

/// A boolean: `None` when absent or `null`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Flag(pub Option<bool>);

impl Flag {
    pub fn or(self, default: bool) -> bool {
        self.0.unwrap_or(default)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Flag(None)),
            Value::Bool(b) => Ok(Flag(Some(b))),
            v => Err(wrong("true or false", &v)),
        }
    }
}

/// A finite number: `None` when absent or `null`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Num(pub Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Num(None)),
            Value::Number(n) => {
                n.as_f64().filter(|x| x.is_finite()).map(|x| Num(Some(x))).ok_or_else(|| de::Error::custom("must be a finite number"))
            }
            v => Err(wrong("a number", &v)),
        }
    }
}

impl Num {
    /// The number in `lo..=hi` (`lo` excluded when `open_lo`), else `default` when absent.
    pub fn ranged(self, name: &str, default: f64, lo: f64, hi: f64, open_lo: bool) -> Result<f64, String> {
        let v = self.0.unwrap_or(default);
        let above = if open_lo { v > lo } else { v >= lo };
        if above && v <= hi {
            Ok(v)
        } else {
            Err(format!("{name} {v} is out of range ({lo} {} {name} <= {hi})", if open_lo { "<" } else { "<=" }))
        }
    }

    /// The seed asked for, else one from the clock (as both servers do).
    pub fn seed(self) -> u64 {
        match self.0 {
            Some(s) if s >= 0.0 => s as u64,
            _ => SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
        }
    }
}

/// Stop sequences: a string or a list of strings; none when absent or `null`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stop(pub Vec<String>);

impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = || de::Error::custom("must be a string or a list of strings");
        match Value::deserialize(d)? {
            Value::Null => Ok(Stop(Vec::new())),
            Value::String(s) => Ok(Stop(vec![s])),
            Value::Array(a) => {
                a.into_iter().map(|s| if let Value::String(s) = s { Ok(s) } else { Err(bad()) }).collect::<Result<_, _>>().map(Stop)
            }
            _ => Err(bad()),
        }
    }
}

/// Any value, kept as it came (`keep_alive`, content parts, fields refused when set);
/// `null` reads as absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Loose(pub Option<Value>);

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Loose(Some(Value::deserialize(d)?).filter(|v| !v.is_null())))
    }
}

impl Loose {
    /// Set to something: not absent, `null`, `""`, `[]` (Ollama's test for a refused field).
    pub fn is_set(&self) -> bool {
        match &self.0 {
            None => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        }
    }
}

/// An object read as `T` (its fields' paths kept for errors); `None` when absent or `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

/// A list of `T`; empty when absent or `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

/// Refuses every kind but the one `want` names, without echoing the value.
macro_rules! refuse_scalars {
    ($want:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom(format!("must be {}, not a boolean", $want)))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!("must be {}, not a number", $want)))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom(format!("must be {}, not a number", $want)))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!("must be {}, not a number", $want)))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(format!("must be {}, not a string", $want)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
}

struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    refuse_scalars!("an object");
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom("must be an object, not an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData))
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = List<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    refuse_scalars!("an array");
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom("must be an array, not an object"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(List)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Inner {
        t: Num,
    }

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Outer {
        a: Text,
        b: Flag,
        o: Obj<Inner>,
        l: List<Obj<Inner>>,
        s: Stop,
    }

    fn read(v: Value) -> Result<Outer, String> {
        parse(v.as_object().unwrap().clone())
    }

    #[test]
    fn absent_and_null_alike_and_wrong_kinds_named_by_path() {
        let o = read(json!({"a": null, "b": null, "o": null, "l": null, "s": null})).unwrap();
        assert_eq!((o.a.0, o.b.0, o.o.0.is_none(), o.l.0.len(), o.s.0.len()), (None, None, true, 0, 0));
        let o = read(json!({"a": "  ", "o": {"t": 2}, "l": [{"t": 1}, null], "s": "x", "other": [1]})).unwrap();
        assert_eq!((o.a.said(), o.o.0.unwrap().t.0, o.l.0.len(), o.s.0), (None, Some(2.0), 2, vec!["x".to_string()]));
        for (body, said) in [
            (json!({"a": 3}), "a must be a string, not a number"),
            (json!({"b": "yes"}), "b must be true or false, not a string"),
            (json!({"o": {"t": "hot"}}), "o.t must be a number, not a string"),
            (json!({"o": "x".repeat(100_000)}), "o must be an object, not a string"),
            (json!({"l": [{"t": 1}, {"t": []}]}), "l[1].t must be a number, not an array"),
            (json!({"l": {"t": 1}}), "l must be an array, not an object"),
            (json!({"s": [1]}), "s must be a string or a list of strings"),
        ] {
            assert_eq!(read(body).unwrap_err(), said);
        }
    }
}
