// Link details of MLX on Linux, shared by the build scripts of the engine crate (its own
// test binaries) and of mlxbench (its binary and tests): link arguments only reach the
// binaries of the crate whose build script emits them. scripts/build_mlx.sh prepares
// the rest: find libmlx at run time without LD_LIBRARY_PATH, link Debian's OpenBLAS
// ahead of the wheel's reference BLAS (about 15x faster matmul here), and keep the
// `mach_approximate_time` stand-in that mlx-rs's random module needs.
fn link_mlx_on_linux() {
    println!("cargo:rerun-if-env-changed=MLXBENCH_MLX_LIB_DIR");
    if !std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
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
