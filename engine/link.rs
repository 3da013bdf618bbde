// Link details of MLX, shared by the build scripts of the engine crate (its own test
// binaries) and of mlxbench (its binary and tests): link arguments only reach the
// binaries of the crate whose build script emits them. scripts/build_mlx.sh prepares
// the rest (docs/mac.md for macOS).
//   Linux: find libmlx at run time without LD_LIBRARY_PATH, link Debian's OpenBLAS ahead
//          of the wheel's reference BLAS (about 15x faster matmul here), and keep the
//          `mach_approximate_time` stand-in that mlx-rs's random module needs.
//   macOS: an rpath to the mlx-metal wheel's lib/ (libmlx.dylib's install name is
//          @rpath/libmlx.dylib; MLX finds mlx.metallib beside it). With
//          MLXBENCH_MLX_ROUTE=source, mlx-sys links MLX statically and nothing is needed.
fn link_mlx() {
    println!("cargo:rerun-if-env-changed=MLXBENCH_MLX_LIB_DIR");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let dir = std::env::var("MLXBENCH_MLX_LIB_DIR").ok();
    match os.as_str() {
        "linux" => {
            if let Some(dir) = dir {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            } else {
                println!("cargo:warning=MLXBENCH_MLX_LIB_DIR is not set: run scripts/build_mlx.sh before building with the `mlx` feature");
            }
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-l:libopenblas.so.0,--as-needed");
            println!("cargo:rustc-link-arg=-Wl,-u,mach_approximate_time");
        }
        "macos" => {
            if let Some(dir) = dir {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            }
        }
        _ => {}
    }
}
