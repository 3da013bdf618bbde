//! See link.rs: MLX's link details for this crate's own test binaries.

include!("link.rs");

fn main() {
    link_mlx();
}
