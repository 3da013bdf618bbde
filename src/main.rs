use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // a child this program started to check a model's chat template (engine template.rs)
    #[cfg(feature = "mlx")]
    if std::env::var_os(mlxbench_engine::template::CHILD_ENV).is_some() {
        mlxbench_engine::template::child_main();
    }
    // SAFETY: first thing in main, before any thread or MLX evaluation exists
    #[cfg(feature = "mlx")]
    unsafe {
        mlxbench_engine::device::tune_launches()
    };
    #[cfg(feature = "mlx")]
    if let Ok(me) = std::env::current_exe() {
        mlxbench_engine::template::set_checker(me);
    }
    let code = run();
    leave(code)
}

fn run() -> ExitCode {
    let cli = mlxbench::Cli::parse();
    match mlxbench::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            let msg = format!("{e:#}");
            let _ = writeln!(std::io::stderr(), "Error: {}", mlxbench::secrets::redact(&msg));
            ExitCode::from(mlxbench::exit::ERROR)
        }
    }
}

/// Ends the process once everything is done. With MLX linked, without running static
/// destructors: MLX work still in flight at exit races libmlx's teardown and corrupts the
/// heap ("corrupted double-linked list" in ~CommonAllocator, about one process in fifty
/// under load, after all output was written). Generation now waits for its own queued
/// work, but a run interrupted mid-generation or failed mid-step can still leave some.
/// By this point every result file is written and renamed, every launched server
/// stopped, and stdout/stderr are flushed below.
fn leave(code: ExitCode) -> ExitCode {
    #[cfg(feature = "mlx")]
    {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let n = (0..=255u8).find(|n| ExitCode::from(*n) == code).unwrap_or(1);
        // SAFETY: _exit ends the process at once; nothing of ours is left to run
        unsafe { libc::_exit(i32::from(n)) }
    }
    #[cfg(not(feature = "mlx"))]
    code
}
