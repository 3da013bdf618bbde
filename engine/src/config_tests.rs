//! Unit tests of config.json parsing.

use super::*;

const BASE: &str = r#"{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
    "num_key_value_heads":2,"intermediate_size":128,"vocab_size":300,"rms_norm_eps":1e-5,"rope_theta":10000.0"#;

#[test]
fn parses_and_derives() {
    let c = ModelConfig::parse(&format!("{BASE}}}")).unwrap();
    assert_eq!((c.head_dim(), c.n_kv_heads(), c.tied()), (16, 2, true));
    assert_eq!(c.rope().unwrap(), Rope::Standard { base: 10000.0, scale: 1.0 });
    assert_eq!(c.quantization_for("x"), None);
}

#[test]
fn unknown_architecture_and_rope_are_named() {
    let e = ModelConfig::parse(&format!("{BASE}}}").replace("\"llama\"", "\"mamba\"")).unwrap_err().to_string();
    assert!(e.contains("unsupported architecture \"mamba\""), "{e}");
    let e = ModelConfig::parse(&format!("{BASE},\"rope_scaling\":{{\"type\":\"yarn\",\"factor\":4}}}}")).unwrap_err().to_string();
    assert!(e.contains("yarn"), "{e}");
}

#[test]
fn sliding_window_layers_run_for_llama_and_are_refused_elsewhere() {
    let layers = "\"sliding_window\":8,\"layer_types\":[\"sliding_attention\",\"full_attention\"]";
    let c = ModelConfig::parse(&format!("{BASE},{layers}}}")).unwrap();
    assert_eq!((c.window_of(0), c.window_of(1)), (Some(8), None));
    let qwen = format!("{BASE},{layers}}}").replace("\"llama\"", "\"qwen2\"");
    assert!(ModelConfig::parse(&qwen).unwrap_err().to_string().contains("sliding-window attention layers"));
    // `sliding_window` alone is full attention, as mlx-lm reads it
    let plain = ModelConfig::parse(&format!("{BASE},\"sliding_window\":4096}}")).unwrap();
    assert_eq!(plain.window_of(0), None);
}

#[test]
fn phi3_longrope_and_partial_rotary() {
    let phi = BASE.replace("\"llama\"", "\"phi3\"");
    let c = ModelConfig::parse(&format!(
        "{phi},\"head_dim\":99,\"partial_rotary_factor\":0.75,\"max_position_embeddings\":4096,\"original_max_position_embeddings\":64,\"rope_scaling\":{{\"type\":\"longrope\",\"long_factor\":[2,2,2,2,2,2],\"short_factor\":[1,1,1,1,1,1]}}}}"
    ))
    .unwrap();
    // Phi-3's head size is hidden / heads whatever head_dim says; 12 of 16 rotated
    assert_eq!((c.head_dim(), c.rope_dims()), (16, 12));
    match c.rope().unwrap() {
        Rope::Su { freqs, scale } => {
            assert_eq!(freqs.len(), 6);
            assert!((freqs[1] - 2.0 * 10000f32.powf(2.0 / 12.0)).abs() < 1e-3, "{freqs:?}");
            assert!((scale - (1.0 + 64f32.ln() / 64f32.ln()).sqrt()).abs() < 1e-6, "{scale}");
        }
        r => panic!("{r:?}"),
    }
    let short = format!("{phi},\"rope_scaling\":{{\"type\":\"longrope\",\"long_factor\":[2,2]}}}}");
    assert!(ModelConfig::parse(&short).unwrap_err().to_string().contains("long_factor needs 8 numbers"));
    let odd = format!("{phi},\"partial_rotary_factor\":0.1}}");
    assert!(ModelConfig::parse(&odd).unwrap_err().to_string().contains("partial_rotary_factor"));
}

#[test]
fn llama3_rope_and_quantization_overrides() {
    let c = ModelConfig::parse(&format!(
        "{BASE},\"rope_scaling\":{{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}},\"quantization\":{{\"group_size\":64,\"bits\":4,\"lm_head\":{{\"group_size\":32,\"bits\":8}}}}}}"
    ))
    .unwrap();
    match c.rope().unwrap() {
        Rope::Llama3 { freqs } => {
            assert_eq!(freqs.len(), 8);
            assert!((freqs[0] - 1.0).abs() < 1e-6);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(c.quantization_for("model.layers.0.mlp.up_proj"), Some((64, 4)));
    assert_eq!(c.quantization_for("lm_head"), Some((32, 8)));
}
