//! usage: mlx-bindgen <mlx-c source dir> <compat header> <output bindings.rs>
//!
//! Binds every `mlx/c/*.h` header in sorted order with the settings mlx-sys 0.7.0 uses
//! (Rust target 1.73, `-I<mlx-c>`, malloc/realloc blocklisted), with the compat header
//! force-included so the half types exist on x86_64.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn headers(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("mlx/c"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    v.sort();
    Ok(v)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, compat, out] = args.as_slice() else {
        eprintln!("usage: mlx-bindgen <mlx-c dir> <compat header> <bindings.rs>");
        return ExitCode::from(2);
    };
    let root = Path::new(root);
    let hs = match headers(root) {
        Ok(h) if !h.is_empty() => h,
        Ok(_) => {
            eprintln!("no headers in {}/mlx/c", root.display());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("cannot list {}/mlx/c: {e}", root.display());
            return ExitCode::FAILURE;
        }
    };
    let target = match "1.73.0".parse() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bad rust target: {e}");
            return ExitCode::FAILURE;
        }
    };
    let builder = hs.iter().fold(
        bindgen::Builder::default()
            .rust_target(target)
            .clang_arg(format!("-I{}", root.display()))
            .clang_arg("-include")
            .clang_arg(compat)
            .blocklist_function("malloc")
            .blocklist_function("realloc"),
        |b, h| b.header(h.to_string_lossy()),
    );
    match builder.generate() {
        Ok(bindings) => match bindings.write_to_file(out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cannot write {out}: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("bindgen failed: {e}");
            ExitCode::FAILURE
        }
    }
}
