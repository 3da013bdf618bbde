//! Unit tests of the Ollama API's options and final object.

use super::*;

#[test]
fn options_follow_ollamas_defaults_and_refuse_nonsense() {
    let (s, fill, stop) = sampling(None).unwrap();
    assert_eq!((s.temperature, s.top_p, fill, stop.len()), (0.8, Some(0.9), true, 0));
    let o = json!({"num_predict": 7, "temperature": 0, "top_p": 0.5, "seed": 3, "stop": ["\n", "END"], "ignore_eos": true});
    let (s, fill, stop) = sampling(Some(&o)).unwrap();
    assert_eq!((s.max_tokens, s.temperature, s.top_p, s.seed, s.ignore_eos, fill), (7, 0.0, Some(0.5), 3, true, false));
    assert_eq!(stop, ["\n", "END"]);
    for bad in [json!({"temperature": -1}), json!({"top_p": 0}), json!({"num_predict": 1.5}), json!({"stop": 3}), json!([1])] {
        assert!(sampling(Some(&bad)).is_err(), "{bad}");
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
