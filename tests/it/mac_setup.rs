//! The macOS branches of the set-up scripts, run here on Linux with stub commands on
//! PATH (`uname`, `sw_vers`, `xcode-select`, `xcrun`, `cmake`, `brew`, `cargo`,
//! `python3`, `ollama`): what a fresh Mac lacks is named with the command that fixes it,
//! nothing is installed before the preflight passes, and the MLX route is decided as
//! docs/mac.md says. `--plan` stops before installing anything, so no test touches the
//! network or this machine. What only a Mac can confirm (the wheel's libmlx.dylib linked
//! and Metal running) is listed in docs/mac.md.

use crate::common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::root;

/// A folder that is the whole PATH: the few real tools the scripts use, and stubs.
struct Mac {
    bin: tempfile::TempDir,
}

impl Mac {
    /// An Apple Silicon Mac on `macos` with nothing installed: no command-line tools, no
    /// Rust, Apple's Python 3.9 only.
    fn fresh(macos: &str) -> Mac {
        let bin = tempfile::tempdir().unwrap();
        for tool in ["bash", "dirname", "basename", "head", "cat", "grep", "sed", "env", "rm"] {
            let real = ["/usr/bin", "/bin"].iter().map(|d| Path::new(d).join(tool)).find(|p| p.exists()).unwrap();
            symlink(real, bin.path().join(tool)).unwrap();
        }
        let mac = Mac { bin };
        mac.stub("uname", "case \"$1\" in -m) echo \"${STUB_ARCH:-arm64}\" ;; *) echo Darwin ;; esac");
        mac.stub("sw_vers", &format!("[ \"$1\" = -productVersion ] && echo {macos}"));
        mac.stub("xcode-select", "echo 'xcode-select: error: unable to get active developer directory' >&2; exit 2");
        mac.stub("python3", "exit 1 # Apple's 3.9: the version check fails");
        mac
    }

    /// A Mac with the command-line tools, Rust and a Python 3.10+.
    fn ready() -> Mac {
        let mac = Mac::fresh("15.1");
        mac.stub("xcode-select", "[ \"$1\" = -p ] && echo /Library/Developer/CommandLineTools");
        mac.stub("cargo", "exit 0");
        // the venv's (3.10 or newer on every machine the suite runs on)
        let python = common::python();
        let python = if python.is_absolute() { python } else { PathBuf::from("/usr/bin/python3") };
        std::fs::remove_file(mac.bin.path().join("python3")).unwrap();
        symlink(python, mac.bin.path().join("python3")).unwrap();
        mac
    }

    fn stub(&self, name: &str, body: &str) -> PathBuf {
        let p = self.bin.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Runs `bash script args` from the repository with only this PATH; exit code and
    /// everything it printed.
    fn run(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let out = Command::new("/bin/bash")
            .arg(root().join(script))
            .args(args)
            .env_clear()
            .env("PATH", self.bin.path())
            .env("HOME", self.bin.path())
            .envs(env.iter().copied())
            .current_dir(root())
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }
}

fn has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in:\n{text}");
    }
}

#[test]
fn a_fresh_mac_is_told_everything_it_lacks_and_nothing_is_installed() {
    let mac = Mac::fresh("13.6.1");
    let (code, out) = mac.run("scripts/build_mlx.sh", &[], &[]);
    assert_eq!(code, 1, "{out}");
    has(
        &out,
        &[
            "this Mac lacks what the set-up needs",
            "macOS 14 (Sonoma) or newer",
            "this is macOS 13.6.1",
            "xcode-select --install",
            "https://sh.rustup.rs",
            "Python 3.10 or newer",
            "brew install python@3.12",
        ],
    );
    // every missing piece at once, and the set-up stops before any route or install
    assert!(!out.contains("route:") && !out.contains("installing"), "{out}");
    assert!(!out.contains("Apple Silicon Mac (M1"), "an arm64 Mac is not told to be one: {out}");
    assert!(!out.contains("Metal toolchain"), "the wheel route needs no Metal compiler: {out}");
}

#[test]
fn an_intel_mac_is_told_mlx_needs_apple_silicon() {
    let mac = Mac::ready();
    let (code, out) = mac.run("scripts/build_mlx.sh", &["--plan"], &[("STUB_ARCH", "x86_64")]);
    assert_eq!(code, 1, "{out}");
    has(&out, &["an Apple Silicon Mac (M1 or newer): this one is x86_64"]);
}

#[test]
fn a_ready_mac_takes_the_wheel_route_and_gets_cmake_from_pypi_when_it_has_none() {
    let mac = Mac::ready();
    let (code, out) = mac.run("scripts/build_mlx.sh", &["--plan"], &[]);
    assert_eq!(code, 0, "{out}");
    has(
        &out,
        &[
            "macOS 15.1 on Apple Silicon, command-line tools at /Library/Developer/CommandLineTools: ready for the wheel route",
            "route: wheel (mlx-metal==0.32.2 from PyPI: libmlx.dylib, its headers and the precompiled mlx.metallib; no Metal compiler needed)",
            "cmake: none on PATH; PyPI's cmake goes into",
        ],
    );
    let cmake = mac.stub("cmake", "echo cmake version 3.31.0");
    let (code, out) = mac.run("scripts/build_mlx.sh", &["--plan"], &[]);
    assert_eq!(code, 0, "{out}");
    has(&out, &[&format!("cmake: {}", cmake.display())]);
    assert!(!out.contains("PyPI's cmake"), "{out}");
}

#[test]
fn the_source_route_asks_for_xcode_its_metal_toolchain_and_cmake() {
    let mac = Mac::ready();
    let (code, out) = mac.run("scripts/build_mlx.sh", &["--plan"], &[("MLXBENCH_MLX_ROUTE", "source")]);
    assert_eq!(code, 1, "{out}");
    has(
        &out,
        &[
            "the full Xcode app selected for builds",
            "sudo xcode-select -s /Applications/Xcode.app",
            "xcodebuild -downloadComponent MetalToolchain",
            "brew install cmake",
        ],
    );
    // with Xcode selected, its Metal compiler answering and CMake present, the route is taken
    mac.stub("xcode-select", "[ \"$1\" = -p ] && echo /Applications/Xcode.app/Contents/Developer");
    mac.stub("xcrun", "case \"$*\" in *metal*--version*) echo 'Apple metal version 32023.830 (metalfe-32023.830.2)' ;; *) exit 1 ;; esac");
    mac.stub("cmake", "echo cmake version 4.1.0");
    let (code, out) = mac.run("scripts/build_mlx.sh", &["--plan"], &[("MLXBENCH_MLX_ROUTE", "source")]);
    assert_eq!(code, 0, "{out}");
    has(&out, &["ready for the source route", "route: source (mlx-sys builds MLX 0.32.2 with CMake"]);
    let (code, out) = mac.run("scripts/build_mlx.sh", &["--plan"], &[("MLXBENCH_MLX_ROUTE", "homebrew")]);
    assert_eq!(code, 1, "{out}");
    has(&out, &["MLXBENCH_MLX_ROUTE is \"homebrew\"; use wheel (the default) or source"]);
}

#[test]
fn setup_plan_on_a_mac_finds_or_explains_ollama_and_llama_cpp() {
    let mac = Mac::ready();
    let (code, out) = mac.run("scripts/setup.sh", &["--plan"], &[]);
    assert_eq!(code, 0, "{out}");
    has(
        &out,
        &[
            "ollama: not found; the demo's ollama target fails until you run  brew install ollama",
            "llama.cpp: PyPI's xllamacpp==",
            "macOS arm64",
            "route: wheel (mlx-metal==0.32.2",
        ],
    );
    // never this machine's Linux Ollama of ../shared, even where it exists
    assert!(!out.contains("shared/tools/ollama"), "{out}");
    let ollama = mac.stub("ollama", "echo 'ollama version is 0.24.0'");
    let (_, out) = mac.run("scripts/setup.sh", &["--plan"], &[]);
    has(&out, &[&format!("ollama: {}", ollama.display())]);
}

#[test]
fn on_a_mac_debian_packages_and_missing_homebrew_are_named_not_installed() {
    let mac = Mac::ready();
    let run = |snippet: &str| {
        let o =
            Command::new("/bin/bash").args(["-c", snippet]).env_clear().env("PATH", mac.bin.path()).current_dir(root()).output().unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, out) = run("source scripts/lib.sh; apt_install chromium shellcheck");
    assert_eq!(code, 1, "{out}");
    has(&out, &["brew install chromium shellcheck"]);
    let (code, out) = run("source scripts/lib.sh; brew_install shellcheck node");
    assert_eq!(code, 1, "{out}");
    has(&out, &["install Homebrew (https://brew.sh), then run  brew install shellcheck node"]);
    mac.stub("brew", "echo \"brew $*\" >> \"$(dirname \"$0\")/brew.log\"");
    let (code, out) = run("source scripts/lib.sh; brew_install --cask google-chrome");
    assert_eq!(code, 0, "{out}");
    let log = std::fs::read_to_string(mac.bin.path().join("brew.log")).unwrap();
    assert_eq!(log.trim(), "brew install --quiet --cask google-chrome");
}

#[cfg(target_os = "linux")]
#[test]
fn on_linux_the_plan_is_the_cpu_wheel_route() {
    let out = Command::new("bash").arg(root().join("scripts/build_mlx.sh")).arg("--plan").current_dir(root()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("route: wheel (mlx-cpu==0.32.2 from PyPI)") && !text.contains("macOS"), "{text}");
}
