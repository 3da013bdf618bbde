//! Unit tests of the Ollama API's options and final object.

use super::*;

fn parsed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    fields::parse(v.as_object().unwrap().clone())
}

/// `options` read and checked as `sampling` does: the body `{"options": o}`.
fn options(o: Value, default_predict: Option<u32>) -> Result<(Sampling, bool, Vec<String>), String> {
    let g: request::Generate = parsed(json!({ "options": o }))?;
    sampling(g.options.0.as_ref(), default_predict)
}

#[test]
fn options_follow_ollamas_defaults_and_refuse_nonsense() {
    let (s, fill, stop) = sampling(None, None).unwrap();
    assert_eq!((s.temperature, s.top_p, fill, stop.len()), (0.8, Some(0.9), true, 0));
    let o =
        json!({"num_predict": 7, "temperature": 0, "top_p": 0.5, "seed": 3, "stop": ["\n", "END"], "ignore_eos": true, "num_ctx": 4096});
    let (s, fill, stop) = options(o, None).unwrap();
    assert_eq!((s.max_tokens, s.temperature, s.top_p, s.seed, s.ignore_eos, fill), (7, 0.0, Some(0.5), 3, true, false));
    assert_eq!(stop, ["\n", "END"]);
    for (bad, said) in [
        (json!({"temperature": -1}), "options.temperature -1 is out of range"),
        (json!({"top_p": 0}), "options.top_p 0 is out of range"),
        (json!({"num_predict": 1.5}), "options.num_predict 1.5 must be a whole number"),
        (json!({"stop": 3}), "options.stop must be a string or a list of strings"),
        (json!({"temperature": "hot"}), "options.temperature must be a number, not a string"),
        (json!({"ignore_eos": 1}), "options.ignore_eos must be true or false, not a number"),
        (json!([1]), "options must be an object, not an array"),
    ] {
        let e = options(bad.clone(), None).unwrap_err();
        assert!(e.starts_with(said), "{bad}: {e}");
    }
    // the server's --num-predict limits a request that sets none, never one that does
    let (s, fill, _) = options(json!({"num_predict": null}), Some(48)).unwrap();
    assert_eq!((s.max_tokens, fill), (48, false));
    let (s, fill, _) = options(json!({"num_predict": -1}), Some(48)).unwrap();
    assert_eq!((s.max_tokens, fill), (u32::MAX, true));
}

#[test]
fn fields_read_as_ollama_reads_them() {
    let name = |v: Value| {
        let r: request::ModelRequest = parsed(v).unwrap();
        r.model.said().or(r.name.said()).map(str::to_string)
    };
    // the CLI sends an empty `model` and the name in `name`
    assert_eq!(name(json!({"model": "", "name": "smollm2:q4_1"})).as_deref(), Some("smollm2:q4_1"));
    assert_eq!(name(json!({"model": null, "name": "x"})).as_deref(), Some("x"));
    assert_eq!(name(json!({"model": "m", "name": "x"})).as_deref(), Some("m"));
    assert_eq!(name(json!({"model": "  ", "name": ""})), None);
    assert_eq!(parsed::<request::ModelRequest>(json!({"model": 3})).unwrap_err(), "model must be a string, not a number");
    // null flags take their defaults; other kinds are refused
    let g: request::Generate = parsed(json!({"stream": null, "raw": false})).unwrap();
    assert_eq!((g.stream.or(true), g.raw.or(true)), (true, false));
    assert_eq!(parsed::<request::Generate>(json!({"stream": "no"})).unwrap_err(), "stream must be true or false, not a string");
    // refused fields are named; empty ones are not set
    assert_eq!(parsed::<request::Generate>(json!({"format": "json", "images": []})).unwrap().refused(), Some("format"));
    assert_eq!(parsed::<request::Generate>(json!({"format": "", "images": null})).unwrap().refused(), None);
    // messages: null is none, a null content is empty text, a missing role is refused
    let chat = |v: Value| parsed::<request::Chat>(v).and_then(|c| messages(&c));
    assert!(chat(json!({"messages": null})).unwrap().is_empty());
    let m = chat(json!({"messages": [{"role": "user", "content": null}, {"role": "assistant"}]})).unwrap();
    assert_eq!((m[0].content.as_str(), m[1].role.as_str()), ("", "assistant"));
    for (bad, said) in [
        (json!({"messages": [{"content": "hi"}]}), "messages[0] needs a role"),
        (json!({"messages": [{"role": "user", "content": 5}]}), "messages[0].content must be a string, not a number"),
        (json!({"messages": "hi"}), "messages must be an array, not a string"),
        (json!({"messages": [7]}), "messages[0] must be an object, not a number"),
        (json!({"messages": [null]}), "messages[0] must be an object, not null"),
    ] {
        assert_eq!(chat(bad.clone()).unwrap_err(), said, "{bad}");
    }
}

#[test]
fn the_final_object_has_ollamas_fields_in_nanoseconds() {
    let s = Stats {
        done_reason: "length",
        total_ns: 9,
        load_ns: 1,
        prompt_eval_count: 4,
        prompt_eval_ns: 2,
        eval_count: 5,
        eval_ns: 3,
        ..Default::default()
    };
    let v = last(&Api::Chat, "m:latest", "", &s);
    assert_eq!(v["message"]["role"], "assistant");
    assert_eq!((v["done"].as_bool(), v["eval_count"].as_u64(), v["eval_duration"].as_u64()), (Some(true), Some(5), Some(3)));
    let unload = last(&Api::Generate, "m:latest", "", &Stats { done_reason: "unload", ..Default::default() });
    assert!(unload.get("eval_count").is_none() && unload["done_reason"] == "unload", "{unload}");
}
