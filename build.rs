//! With the `mlx` feature, link the binary and tests the way MLX needs (Linux, macOS)
//! (engine/link.rs, shared with the engine crate). Without it, nothing to do: a plain
//! `cargo build` needs no native set-up.

include!("engine/link.rs");

fn main() {
    if std::env::var_os("CARGO_FEATURE_MLX").is_some() {
        link_mlx();
    }
}
