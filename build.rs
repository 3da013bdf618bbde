//! Link details of the in-process MLX backend on Linux (scripts/build_mlx.sh prepares the
//! rest): find libmlx at run time without LD_LIBRARY_PATH, link Debian's OpenBLAS ahead of
//! the wheel's reference BLAS (about 15x faster matmul here), and keep the
//! `mach_approximate_time` stand-in that mlx-rs's random module needs.

fn main() {
    println!("cargo:rerun-if-env-changed=MLXBENCH_MLX_LIB_DIR");
    let mlx = std::env::var_os("CARGO_FEATURE_MLX").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(mlx && linux) {
        return;
    }
    if let Ok(dir) = std::env::var("MLXBENCH_MLX_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    } else {
        println!("cargo:warning=MLXBENCH_MLX_LIB_DIR is not set: run scripts/build_mlx.sh before building with the `mlx` feature");
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-l:libopenblas.so.0,--as-needed");
    println!("cargo:rustc-link-arg=-Wl,-u,mach_approximate_time");
}
