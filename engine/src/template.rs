//! Chat templates (Jinja, from a model's files: untrusted code) rendered within budgets.
//! Every render has an instruction budget (a template that loops forever stops) and an
//! output cap. What no in-process budget can stop is memory: a template can double a
//! string thirty times in as many lines. So before a model's template is used, it is
//! checked once in a child process (the program registered with [`set_checker`]) that
//! renders a probe conversation under a memory and a time budget; a template that
//! exceeds either is refused, and chat requests then fail with the reason, while
//! completion prompts still run.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use serde_json::{Value, json};

/// The most template source read (real ones are a few KiB).
pub const SOURCE_MAX: usize = 1 << 20;
/// The most text one render may produce.
pub const OUTPUT_MAX: usize = 32 << 20;
/// Template instructions one render may run (real templates use thousands for a long
/// conversation; this is about a second of work).
pub const FUEL: u64 = 20_000_000;
/// What the checking child may use: memory (its peak resident size) and wall time.
pub const CHECK_MEMORY: u64 = 512 << 20;
pub const CHECK_TIME: Duration = Duration::from_secs(10);
/// Set in the checking child's environment: the program's `main` hands over to
/// [`child_main`] when it sees it.
pub const CHILD_ENV: &str = "MLXBENCH_TEMPLATE_CHECK";
/// The assistant answer in the probe conversation (the turn end is what follows it).
pub const ANSWER: &str = "MLXBENCH-ANSWER-PROBE";

static CHECKER: OnceLock<PathBuf> = OnceLock::new();

/// Registers the program that checks templates (it must call [`child_main`] when
/// [`CHILD_ENV`] is set). Without one, templates are rendered in-process with the
/// instruction and output budgets only.
pub fn set_checker(program: PathBuf) {
    let _ = CHECKER.set(program);
}

/// A chat template and the special tokens it may write.
#[derive(Clone, Debug)]
pub struct Template {
    pub source: String,
    pub bos: String,
    pub eos: String,
}

/// A writer that refuses more than [`OUTPUT_MAX`] bytes.
#[derive(Default)]
struct Capped {
    text: Vec<u8>,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > OUTPUT_MAX {
            self.over = true;
            return Err(std::io::Error::other("output cap"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Template {
    /// Renders `messages`; budget overruns are errors that say which budget.
    pub fn render<M: serde::Serialize>(&self, messages: &[M], add_generation_prompt: bool) -> Result<String> {
        if self.source.len() > SOURCE_MAX {
            return Err(Error::Template(format!("chat template: {} bytes of source (at most {SOURCE_MAX})", self.source.len())));
        }
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_fuel(Some(FUEL));
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
        });
        env.add_template("chat", &self.source).map_err(|e| Error::Template(format!("chat template: {e}")))?;
        let t = env.get_template("chat").map_err(|e| Error::Template(format!("chat template: {e}")))?;
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos.clone(),
            eos_token => self.eos.clone(),
        };
        let mut out = Capped::default();
        match t.render_captured_to(ctx, &mut out) {
            Ok(_) => Ok(String::from_utf8_lossy(&out.text).into_owned()),
            Err(_) if out.over => {
                Err(Error::Template(format!("chat template: wrote more than its budget of {} MiB of text", OUTPUT_MAX >> 20)))
            }
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => {
                Err(Error::Template(format!("chat template: ran past its budget of {FUEL} template steps (a loop without end?)")))
            }
            Err(e) => Err(Error::Template(format!("chat template: {e}"))),
        }
    }

    /// The probe conversation rendered (a user turn, then [`ANSWER`] as the assistant's),
    /// within every budget: `Ok(Some(text))`, `Ok(None)` when the template fails on it in
    /// an ordinary way (a role it refuses), `Err(reason)` when it exceeded a budget.
    pub fn check(&self) -> Result<Option<String>> {
        match CHECKER.get() {
            Some(program) => self.check_in_child(program),
            None => match self.probe() {
                Ok(text) => Ok(Some(text)),
                Err(e) if over_budget(&e.to_string()) => Err(Error::Template(format!("chat template refused: {e}"))),
                Err(_) => Ok(None),
            },
        }
    }

    fn probe(&self) -> Result<String> {
        let probe = [json!({"role": "user", "content": "Hi"}), json!({"role": "assistant", "content": ANSWER})];
        self.render(&probe, false)
    }

    fn check_in_child(&self, program: &PathBuf) -> Result<Option<String>> {
        let mut child = std::process::Command::new(program)
            .env(CHILD_ENV, "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| Error::Template(format!("chat template not checked: cannot start {}: {e}", program.display())))?;
        let input = json!({"source": self.source, "bos": self.bos, "eos": self.eos}).to_string();
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        // the answer is read on a thread, so that the deadline holds however it behaves
        let mut stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.take(OUTPUT_MAX as u64 + 4096).read_to_string(&mut text);
            }
            text
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() < CHECK_TIME => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::Template(format!(
                        "chat template refused: rendering a two-message conversation took more than {} s",
                        CHECK_TIME.as_secs()
                    )));
                }
            }
        };
        let text = reader.join().unwrap_or_default();
        if status.code() == Some(MEMORY_EXIT) {
            return Err(Error::Template(format!(
                "chat template refused: rendering a two-message conversation used more than {} MiB",
                CHECK_MEMORY >> 20
            )));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| Error::Template(format!("chat template not checked: the check ended with {status}")))?;
        match (v.get("text").and_then(Value::as_str), v.get("error").and_then(Value::as_str), v.get("budget").and_then(Value::as_bool)) {
            (Some(t), _, _) => Ok(Some(t.to_string())),
            (_, Some(e), Some(true)) => Err(Error::Template(format!("chat template refused: {e}"))),
            _ => Ok(None),
        }
    }
}

/// Whether a render error is a budget overrun (rather than the template's own error).
fn over_budget(e: &str) -> bool {
    e.starts_with("chat template: ") && e.contains("budget of") || e.contains("bytes of source (at most")
}

/// The checking child's exit code when it went past [`CHECK_MEMORY`].
const MEMORY_EXIT: i32 = 86;

/// The peak resident size of this process, bytes.
fn peak_rss() -> u64 {
    // SAFETY: getrusage fills the struct it is given
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    let max = u64::try_from(ru.ru_maxrss).unwrap_or(0);
    // kilobytes on Linux, bytes on macOS
    if cfg!(target_os = "macos") { max } else { max * 1024 }
}

/// The checking child: reads a template from stdin, renders the probe conversation
/// while a watchdog thread ends the process past [`CHECK_MEMORY`], and writes
/// `{"text"}` or `{"error", "budget"}` as JSON to stdout.
pub fn child_main() -> ! {
    let base = peak_rss();
    std::thread::spawn(move || {
        loop {
            if peak_rss().saturating_sub(base) > CHECK_MEMORY {
                std::process::exit(MEMORY_EXIT);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut input = String::new();
    let _ = std::io::stdin().take(SOURCE_MAX as u64 * 2 + 4096).read_to_string(&mut input);
    let v: Value = serde_json::from_str(&input).unwrap_or(Value::Null);
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let t = Template { source: field("source"), bos: field("bos"), eos: field("eos") };
    let answer = match t.probe() {
        Ok(text) => json!({ "text": text }),
        Err(e) => json!({ "budget": over_budget(&e.to_string()), "error": e.to_string() }),
    };
    let _ = writeln!(std::io::stdout(), "{answer}");
    std::process::exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(source: &str) -> Template {
        Template { source: source.into(), bos: "<s>".into(), eos: "</s>".into() }
    }

    #[test]
    fn loops_and_floods_stop_at_their_budget_and_real_templates_render() {
        let msgs = [json!({"role": "user", "content": "Hi"})];
        let ok = t("{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}");
        assert_eq!(ok.render(&msgs, false).unwrap(), "<s><|user|>Hi");
        let endless = t("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
        let e = endless.render(&msgs, false).unwrap_err().to_string();
        assert!(e.contains("budget of 20000000 template steps"), "{e}");
        // 40 MiB of output: past the cap
        let flood = t("{% for i in range(100000) %}{{ 'x' * 420 }}{% endfor %}");
        let e = flood.render(&msgs, false).unwrap_err().to_string();
        assert!(e.contains("budget of 32 MiB of text"), "{e}");
        let e = t(&"x".repeat(SOURCE_MAX + 1)).render(&msgs, false).unwrap_err().to_string();
        assert!(e.contains("bytes of source"), "{e}");
    }
}
