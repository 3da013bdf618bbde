//! Unit tests of the Ollama API's options and final object.

use super::*;

#[test]
fn options_follow_ollamas_defaults_and_refuse_nonsense() {
    let (s, fill, stop) = sampling(None, None).unwrap();
    assert_eq!((s.temperature, s.top_p, fill, stop.len()), (0.8, Some(0.9), true, 0));
    let o = json!({"num_predict": 7, "temperature": 0, "top_p": 0.5, "seed": 3, "stop": ["\n", "END"], "ignore_eos": true});
    let (s, fill, stop) = sampling(Some(&o), None).unwrap();
    assert_eq!((s.max_tokens, s.temperature, s.top_p, s.seed, s.ignore_eos, fill), (7, 0.0, Some(0.5), 3, true, false));
    assert_eq!(stop, ["\n", "END"]);
    for bad in [json!({"temperature": -1}), json!({"top_p": 0}), json!({"num_predict": 1.5}), json!({"stop": 3}), json!([1])] {
        assert!(sampling(Some(&bad), None).is_err(), "{bad}");
    }
    // the server's --num-predict limits a request that sets none, never one that does
    let (s, fill, _) = sampling(Some(&json!({"num_predict": null})), Some(48)).unwrap();
    assert_eq!((s.max_tokens, fill), (48, false));
    let (s, fill, _) = sampling(Some(&json!({"num_predict": -1})), Some(48)).unwrap();
    assert_eq!((s.max_tokens, fill), (u32::MAX, true));
}

#[test]
fn fields_read_as_ollama_reads_them() {
    let body = |v: Value| v.as_object().unwrap().clone();
    // the CLI sends an empty `model` and the name in `name`
    let b = body(json!({"model": "", "name": "smollm2:q4_1"}));
    assert_eq!(fields(&b).first_text(&["model", "name"]).unwrap(), Some("smollm2:q4_1"));
    let b = body(json!({"model": null, "name": "x"}));
    assert_eq!(fields(&b).first_text(&["model", "name"]).unwrap(), Some("x"));
    let b = body(json!({"model": "m", "name": "x"}));
    assert_eq!(fields(&b).first_text(&["model", "name"]).unwrap(), Some("m"));
    let b = body(json!({"model": "  ", "name": ""}));
    assert_eq!(fields(&b).first_text(&["model", "name"]).unwrap(), None);
    assert!(
        fields(&body(json!({"model": 3}))).first_text(&["model", "name"]).unwrap_err().contains("model must be a string, not a number")
    );
    // null flags take their defaults; other kinds are refused
    let b = body(json!({"stream": null, "raw": false}));
    assert_eq!((fields(&b).flag("stream", true).unwrap(), fields(&b).flag("raw", true).unwrap()), (true, false));
    assert!(fields(&body(json!({"stream": "no"}))).flag("stream", true).is_err());
    // messages: null is none, a null content is empty text, a missing role is refused
    assert!(messages(&body(json!({"messages": null}))).unwrap().is_empty());
    let m = messages(&body(json!({"messages": [{"role": "user", "content": null}, {"role": "assistant"}]}))).unwrap();
    assert_eq!((m[0].content.as_str(), m[1].role.as_str()), ("", "assistant"));
    for bad in [
        json!({"messages": [{"content": "hi"}]}),
        json!({"messages": [{"role": "user", "content": 5}]}),
        json!({"messages": "hi"}),
        json!({"messages": [7]}),
    ] {
        assert!(messages(&body(bad.clone())).is_err(), "{bad}");
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
