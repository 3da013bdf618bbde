use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
            let _ = writeln!(std::io::stderr(), "Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ends the process once everything is done. With MLX linked, without running static
/// destructors: libmlx's (its allocator's buffer cache, freed while its worker threads are
/// still parked) corrupt the heap now and then and abort the process with "corrupted
/// double-linked list" after all output was written, about one process in fifty under
/// load here. By this point every result file is written and renamed, every launched
/// server stopped, and stdout/stderr are flushed below.
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
