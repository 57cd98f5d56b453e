//! Running a child program under a deadline, with bounded output: the one runner every exporter
//! uses (restic, `zfs`).
//!
//! What a program does cannot take the exporter down with it:
//!
//! - **Own process group, killed whole.** The child starts in a new process group. At the
//!   deadline, when its output goes over the bound, when the future is dropped (the collector
//!   abandoned at its own deadline) and once the child itself has exited, the whole group gets
//!   `SIGKILL`: what the program started (a wrapper script's `sudo`, a shell pipeline, restic's
//!   `ssh` or password command) ends with it. A descendant that left the group on purpose
//!   (`setsid`) is out of reach, but cannot hold up the runner: nothing waits past the deadline.
//! - **Bounded output.** stdout is read up to a limit chosen per call ([`Command::stdout_limit`]);
//!   one byte more kills the group and is reported as [`Error::OutputTooLarge`]
//!   ("output over N bytes"). Of stderr only the last [`STDERR_TAIL`] bytes are kept, which is
//!   where programs put their final error. Both are read concurrently, so neither pipe can fill
//!   up and block the child.
//! - **No stdin, a controlled environment.** stdin is `/dev/null`; the environment is the
//!   caller's choice ([`Environment`]) plus the variables it sets.
//! - **Typed outcome.** An exit code or a signal comes back as [`Exit`];
//!   [`Output::success`] turns anything but exit code 0 into an [`Error`] whose
//!   [`Error::reason`] is a stable label value.
//!
//! The group is killed after the leader has been reaped; its id cannot be reused while any
//! member lives, and with none left the kill finds nothing (pids are not reused within
//! microseconds).
//!
//! The leader is reaped by tokio (at once after a kill, or by tokio's orphan reaper when the
//! future was dropped); the rest of the group are the leader's children and go to init.

use std::{
    ffi::{OsStr, OsString},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::{
    io::{AsyncRead, AsyncReadExt},
    time::Instant,
};

use crate::error::Error;

/// How much of stderr is kept: its last 16 KiB.
pub const STDERR_TAIL: usize = 16 * 1024;

/// The default bound on stdout: 1 MiB.
pub const DEFAULT_STDOUT_LIMIT: usize = 1024 * 1024;

/// The `PATH` a program gets under [`Environment::Minimal`] when the exporter has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Which of the exporter's own environment variables the child inherits.
#[derive(Clone, Copy, Debug)]
pub enum Environment {
    /// All of them, except those whose name starts with one of these prefixes (e.g. `RESTIC_`, so
    /// that a stray `RESTIC_PASSWORD` is never tried against the wrong repository).
    AllExcept(&'static [&'static str]),
    /// Only `PATH`, `HOME`, `TZ` and `LANG`, with `LC_ALL=C` so that messages are in English.
    Minimal,
}

/// The variables [`Environment::Minimal`] keeps.
const MINIMAL: &[&str] = &["PATH", "HOME", "TZ", "LANG"];

/// A program to run: what [`tokio::process::Command`] holds, plus the bounds.
#[derive(Clone, Debug)]
pub struct Command {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    inherit: Environment,
    stdout_limit: usize,
}

/// How a program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

/// What a program that ran to its end left behind.
#[derive(Debug)]
pub struct Output {
    /// How it ended.
    pub exit: Exit,
    /// stdout, at most the call's limit.
    pub stdout: Vec<u8>,
    /// The last [`STDERR_TAIL`] bytes of stderr.
    pub stderr: Vec<u8>,
    /// The program as [`Command::display`] shows it.
    program: String,
}

impl Command {
    /// `program`, with no arguments, inheriting the environment ([`Environment::AllExcept`]
    /// nothing) and a stdout limit of [`DEFAULT_STDOUT_LIMIT`].
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            inherit: Environment::AllExcept(&[]),
            stdout_limit: DEFAULT_STDOUT_LIMIT,
        }
    }

    /// Adds arguments. They are visible to every user of the machine (`/proc/PID/cmdline`):
    /// never a secret.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets a variable in the child's environment.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Chooses which inherited variables the child sees.
    pub fn inherit(mut self, inherit: Environment) -> Self {
        self.inherit = inherit;
        self
    }

    /// Bounds stdout to `bytes`; a program that prints more is killed.
    pub fn stdout_limit(mut self, bytes: usize) -> Self {
        self.stdout_limit = bytes;
        self
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The program and its arguments on one line, for log messages.
    pub fn display(&self) -> String {
        let mut shown = self.program.display().to_string();
        for arg in &self.args {
            shown.push(' ');
            shown.push_str(&arg.to_string_lossy());
        }
        shown
    }

    fn tokio_command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        match self.inherit {
            Environment::AllExcept(prefixes) => {
                for (key, _) in std::env::vars_os() {
                    let name = key.to_string_lossy();
                    if prefixes.iter().any(|p| name.starts_with(p)) {
                        cmd.env_remove(&key);
                    }
                }
            }
            Environment::Minimal => {
                cmd.env_clear();
                for name in MINIMAL {
                    if let Some(value) = std::env::var_os(name) {
                        cmd.env(name, value);
                    }
                }
                if std::env::var_os("PATH").is_none() {
                    cmd.env("PATH", DEFAULT_PATH);
                }
                cmd.env("LC_ALL", "C");
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs the program until it ends or `deadline` passes, whichever is first.
    ///
    /// An exit code other than 0 and a signal are not errors here (the caller may want to read
    /// stderr): see [`Output::success`]. Errors are: the program cannot be started, it is still
    /// running at the deadline, it printed more than the limit, or its pipes failed. In the last
    /// three cases its process group has been killed and the leader reaped.
    pub async fn run(&self, deadline: Instant) -> Result<Output, Error> {
        let started = Instant::now();
        let program = self.display();
        let mut child = self.tokio_command().spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::ProgramMissing {
                    program: self.program.clone(),
                }
            } else {
                Error::ProgramUnusable {
                    program: self.program.clone(),
                    source,
                }
            }
        })?;
        // Declared after `child`, so dropped before it: when this future is abandoned, the
        // group is killed before tokio's kill_on_drop hands the leader to its reaper, i.e. while
        // the group id cannot have been reused.
        let group = Group::new(child.id());
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            // Both are piped above; this cannot happen, but is no reason to panic.
            return Err(Error::ProcessIo {
                program,
                source: std::io::Error::other("the child's pipes are missing"),
            });
        };
        let limit = self.stdout_limit;
        let work = async {
            tokio::join!(
                async {
                    let status = child.wait().await;
                    // Whatever the leader left running goes now, so that a forked child
                    // holding stdout open cannot keep us reading.
                    group.kill();
                    status
                },
                async {
                    let out = read_bounded(stdout, limit).await;
                    if !matches!(out, Ok(Some(_))) {
                        group.kill();
                    }
                    out
                },
                read_tail(stderr, STDERR_TAIL),
            )
        };
        let Ok((status, stdout, stderr)) = tokio::time::timeout_at(deadline, work).await else {
            group.kill();
            // SIGKILL cannot be ignored: the leader is gone at once, and reaped here.
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            return Err(Error::ProcessTimeout {
                program,
                timeout: crate::deadline::format(deadline.saturating_duration_since(started)),
            });
        };
        let io = |source| Error::ProcessIo {
            program: program.clone(),
            source,
        };
        let status = status.map_err(io)?;
        let Some(stdout) = stdout.map_err(io)? else {
            return Err(Error::OutputTooLarge {
                program,
                stream: "stdout",
                limit,
            });
        };
        let stderr = stderr.map_err(io)?;
        let exit = match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            // A status is either; -1 keeps this total.
            (None, None) => Exit::Code(-1),
        };
        Ok(Output {
            exit,
            stdout,
            stderr,
            program,
        })
    }
}

impl Output {
    /// stderr as text (invalid UTF-8 replaced), trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }

    /// Itself when the program exited with code 0, else [`Error::ProcessExit`] or
    /// [`Error::ProcessSignal`] with the end of stderr.
    pub fn success(self) -> Result<Output, Error> {
        match self.exit {
            Exit::Code(0) => Ok(self),
            Exit::Code(code) => Err(Error::ProcessExit {
                stderr: one_line(&self.stderr_text()),
                program: self.program,
                code,
            }),
            Exit::Signal(signal) => Err(Error::ProcessSignal {
                stderr: one_line(&self.stderr_text()),
                program: self.program,
                signal,
                name: signal_name(signal),
            }),
        }
    }
}

/// The usual name of a signal number, e.g. `SIGKILL`; `signal N` for others.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// stderr on one line, for a log message: non-empty lines joined with " | ", at most 500 bytes.
pub fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if joined.len() <= 500 {
        return joined;
    }
    let mut end = 500;
    while !joined.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &joined[..end])
}

/// The child's process group, killed once: explicitly or when dropped.
struct Group {
    pgid: Option<Pid>,
    killed: AtomicBool,
}

impl Group {
    fn new(leader: Option<u32>) -> Self {
        Self {
            pgid: leader
                .and_then(|p| i32::try_from(p).ok())
                .and_then(Pid::from_raw),
            killed: AtomicBool::new(false),
        }
    }

    fn kill(&self) {
        if let Some(pgid) = self.pgid
            && !self.killed.swap(true, Ordering::SeqCst)
        {
            // ESRCH (the group is already gone) is fine.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `reader` to its end; `None` when it holds more than `limit` bytes (reading stops at
/// the first byte over). Capacity grows by doubling but never past `limit`.
async fn read_bounded<R: AsyncRead + Unpin>(
    mut reader: R,
    limit: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Some(buf));
        }
        let len = buf.len() + n;
        if len > limit {
            return Ok(None);
        }
        if len > buf.capacity() {
            let target = buf.capacity().saturating_mul(2).clamp(len, limit);
            buf.reserve_exact(target - buf.len());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads `reader` to its end, keeping its last `tail` bytes.
async fn read_tail<R: AsyncRead + Unpin>(mut reader: R, tail: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = vec![0; 16 * 1024];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 2 * tail {
            buf.drain(..buf.len() - tail);
        }
    }
    if buf.len() > tail {
        buf.drain(..buf.len() - tail);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        Command::new("/bin/sh").args(["-c", script])
    }

    fn soon(secs: u64) -> Instant {
        Instant::now() + Duration::from_secs(secs)
    }

    fn gone(pid: u32) -> bool {
        // A zombie has been killed but not reaped; it holds no resources but its entry.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    }

    async fn wait_gone(pid: u32) {
        let until = soon(5);
        while !gone(pid) {
            assert!(Instant::now() < until, "process {pid} still runs");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn output_exit_code_and_stderr() {
        let out = sh("echo out; echo err >&2; exit 3")
            .run(soon(10))
            .await
            .unwrap();
        assert_eq!(out.exit, Exit::Code(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr_text(), "err");
        let e = out.success().unwrap_err();
        assert_eq!(e.reason(), "exit_code");
        assert_eq!(
            e.to_string(),
            "/bin/sh -c echo out; echo err >&2; exit 3 exited with code 3: err"
        );
        assert!(sh("true").run(soon(10)).await.unwrap().success().is_ok());
    }

    #[tokio::test]
    async fn a_signal_is_its_own_reason() {
        let out = sh("kill -SEGV $$").run(soon(10)).await.unwrap();
        assert_eq!(out.exit, Exit::Signal(11));
        let e = out.success().unwrap_err();
        assert_eq!(e.reason(), "signal");
        assert!(e.to_string().contains("killed by SIGSEGV"), "{e}");
    }

    #[tokio::test]
    async fn missing_and_unusable_programs() {
        let e = Command::new("/nonexistent/prog")
            .run(soon(10))
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "not_found");
        let e = Command::new("/etc/passwd").run(soon(10)).await.unwrap_err();
        assert_eq!(e.reason(), "unusable");
    }

    #[tokio::test]
    async fn endless_output_is_cut_at_the_limit_and_the_group_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        let script = format!("echo $$ > {}; yes", pid.display());
        let started = Instant::now();
        let e = sh(&script)
            .stdout_limit(100_000)
            .run(soon(30))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(e.reason(), "output_too_large");
        assert!(
            e.to_string().contains("output over 100000 bytes on stdout"),
            "{e}"
        );
        let pid: u32 = std::fs::read_to_string(pid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_gone(pid).await;
    }

    #[tokio::test]
    async fn exactly_the_limit_is_fine() {
        let out = sh("printf 12345")
            .stdout_limit(5)
            .run(soon(10))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"12345");
        let e = sh("printf 123456")
            .stdout_limit(5)
            .run(soon(10))
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "output_too_large");
    }

    #[tokio::test]
    async fn only_the_tail_of_stderr_is_kept() {
        let script = "i=0; while [ $i -lt 3000 ]; do echo 'noise noise noise noise noise'; i=$((i+1)); done >&2; echo LAST >&2";
        let out = sh(script).run(soon(30)).await.unwrap();
        assert_eq!(out.stderr.len(), STDERR_TAIL);
        assert!(out.stderr_text().ends_with("LAST"));
    }

    #[tokio::test]
    async fn a_forked_child_holding_stdout_is_killed_when_the_leader_exits() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        // The background sleep keeps stdout open after the shell exits.
        let script = format!("sleep 300 & echo $! > {}; echo done", pid.display());
        let started = Instant::now();
        let out = sh(&script).run(soon(30)).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(out.stdout, b"done\n");
        let pid: u32 = std::fs::read_to_string(pid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_gone(pid).await;
    }

    #[tokio::test]
    async fn the_whole_group_is_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pid.display());
        let started = Instant::now();
        let e = sh(&script)
            .run(Instant::now() + Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.reason(), "timeout");
        assert!(e.to_string().contains("did not finish within 500ms"), "{e}");
        let pid: u32 = std::fs::read_to_string(pid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_gone(pid).await;
    }

    #[tokio::test]
    async fn the_whole_group_is_killed_when_the_future_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pid.display());
        let cmd = sh(&script);
        let run = cmd.run(soon(300));
        let _ = tokio::time::timeout(Duration::from_millis(500), run).await;
        let pid: u32 = std::fs::read_to_string(pid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_gone(pid).await;
    }

    #[tokio::test]
    async fn stdin_is_empty_and_the_environment_controlled() {
        let out = sh("cat; echo \"[$X][$LC_ALL]\"")
            .inherit(Environment::Minimal)
            .env("X", "x")
            .run(soon(10))
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "[x][C]\n");
        // Some variable of this process that Minimal does not keep.
        let (name, value) = std::env::vars()
            .find(|(k, v)| {
                !v.is_empty()
                    && !MINIMAL.contains(&k.as_str())
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && k.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            })
            .expect("no environment variable to test with");
        let name: &'static str = Box::leak(name.into_boxed_str());
        let show = format!("printf %s \"${{{name}:-}}\"");
        let seen = |inherit| {
            let cmd = sh(&show).inherit(inherit);
            async move { cmd.run(soon(10)).await.unwrap().stdout }
        };
        assert_eq!(seen(Environment::AllExcept(&[])).await, value.as_bytes());
        assert_eq!(seen(Environment::Minimal).await, b"");
        let prefixes: &'static [&'static str] = Box::leak(Box::new([name]));
        assert_eq!(seen(Environment::AllExcept(prefixes)).await, b"");
    }
}
