//! Models built in memory for unit tests: no files, no Python.

use std::collections::HashMap;

use mlx_rs::Array;

use crate::config::ModelConfig;
use crate::model::Model;

/// A one-layer random Llama (hidden 32, vocab 64, context 8192), built in memory.
pub fn tiny_model() -> Model {
    let config = ModelConfig::parse(
        r#"{"model_type":"llama","hidden_size":32,"num_hidden_layers":1,"num_attention_heads":4,
            "num_key_value_heads":2,"intermediate_size":64,"vocab_size":64,
            "max_position_embeddings":8192,"tie_word_embeddings":true}"#,
    )
    .unwrap();
    let key = mlx_rs::random::key(1).unwrap();
    let rand = |shape: &[i32]| mlx_rs::random::normal::<f32>(shape, None, Some(0.1), &key).unwrap();
    let mut w = HashMap::new();
    w.insert("model.embed_tokens.weight".to_string(), rand(&[64, 32]));
    w.insert("model.norm.weight".to_string(), Array::ones::<f32>(&[32]).unwrap());
    let p = "model.layers.0";
    for (name, shape) in [
        ("self_attn.q_proj", [32, 32]),
        ("self_attn.k_proj", [16, 32]),
        ("self_attn.v_proj", [16, 32]),
        ("self_attn.o_proj", [32, 32]),
        ("mlp.gate_proj", [64, 32]),
        ("mlp.up_proj", [64, 32]),
        ("mlp.down_proj", [32, 64]),
    ] {
        w.insert(format!("{p}.{name}.weight"), rand(&shape));
    }
    for norm in ["input_layernorm", "post_attention_layernorm"] {
        w.insert(format!("{p}.{norm}.weight"), Array::ones::<f32>(&[32]).unwrap());
    }
    Model::from_weights(config, w).unwrap()
}
