//! Running the restic binary: environment, deadline, process-group kill, exit codes.
//!
//! Every call is `restic <command> [args] --json --no-lock`, so the exporter never takes a lock
//! and never waits for one. The repository and the password never appear in argv (which any
//! user can read in /proc): the repository goes in `RESTIC_REPOSITORY`, the password in
//! `RESTIC_PASSWORD_FILE` or `RESTIC_PASSWORD_COMMAND`, and every other `RESTIC_*` variable
//! inherited by the exporter is removed, so a stray `RESTIC_PASSWORD` cannot be tried against
//! the wrong repository.
//!
//! restic runs through common's child-process runner, in its own process group: at the
//! deadline, when it prints more than [`STDOUT_LIMIT`], or once it has exited, the whole group is
//! killed, which also ends what restic started (an `ssh` for sftp, a password command, rclone).

use std::{ffi::OsString, path::Path, path::PathBuf};

use sysgauge_common::{
    Error as CommonError,
    process::{Command, Environment, Exit},
};
use tokio::time::Instant;

use crate::error::Error;

/// The most stdout one restic call may print: 32 MiB, room for some 40,000 snapshots in
/// `snapshots --json`. A restic that prints more is killed and reported as `output_too_large`.
pub const STDOUT_LIMIT: usize = 32 * 1024 * 1024;

/// The most stdout of `restic version`, which prints one line.
pub const VERSION_STDOUT_LIMIT: usize = 4096;

/// The inherited variables a restic process never sees.
const REMOVED: &[&str] = &["RESTIC_"];

/// How to call restic for one repository.
#[derive(Clone, Debug)]
pub struct Restic {
    /// The restic binary.
    pub binary: PathBuf,
    /// Environment variables for the child (repository, password source, backend secrets).
    pub env: Vec<(String, OsString)>,
    /// Extra global arguments, e.g. `--cache-dir DIR`.
    pub global_args: Vec<OsString>,
    /// Strings that must not appear in log messages (the repository location, which may carry
    /// credentials), each with its replacement.
    pub redactions: Vec<(String, String)>,
}

/// A finished restic call, whatever its exit.
#[derive(Debug)]
pub struct RawOutput {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// stdout.
    pub stdout: Vec<u8>,
    /// stderr (its last 16 KiB), secrets removed.
    pub stderr: String,
}

/// What a successful restic call printed.
#[derive(Debug)]
pub struct Output {
    /// stdout.
    pub stdout: Vec<u8>,
    /// restic's warnings: the lines it printed on stderr although it exited 0 (e.g. `could
    /// not load snapshot 9a84b21c: ... invalid data returned` for a corrupt snapshot file),
    /// secrets removed. Progress and status lines are not warnings.
    pub warnings: Vec<String>,
}

impl Restic {
    /// Runs `restic <command> <args> --json --no-lock` until `deadline`.
    ///
    /// `args` must never hold a secret: they are visible to every user of the machine.
    pub async fn run(
        &self,
        command: &'static str,
        args: &[&str],
        deadline: Instant,
        timeout_text: &str,
    ) -> Result<Output, Error> {
        let out = self.run_raw(command, args, deadline, timeout_text).await?;
        match out.code {
            Some(0) => Ok(Output {
                warnings: warnings(&out.stderr),
                stdout: out.stdout,
            }),
            code => Err(classify(command, code, &out.stderr)),
        }
    }

    /// Runs restic as [`Restic::run`] does, but hands back any exit with its output (for
    /// `check`, whose exit 1 carries a result); only failures to run it are errors.
    pub async fn run_raw(
        &self,
        command: &'static str,
        args: &[&str],
        deadline: Instant,
        timeout_text: &str,
    ) -> Result<RawOutput, Error> {
        let mut cmd = command_for(&self.binary)
            .args([command])
            .args(args)
            .args(["--json", "--no-lock"])
            .args(&self.global_args);
        for (key, value) in &self.env {
            cmd = cmd.env(key, value);
        }
        let out = cmd.run(deadline).await.map_err(|e| match e {
            CommonError::ProgramMissing { .. } => Error::ResticMissing {
                path: self.binary.clone(),
            },
            CommonError::ProgramUnusable { source, .. } => Error::ResticUnusable {
                path: self.binary.clone(),
                source,
            },
            CommonError::ProcessTimeout { .. } => Error::Timeout {
                command,
                timeout: timeout_text.to_owned(),
            },
            source => Error::Process { command, source },
        })?;
        let code = match out.exit {
            Exit::Code(code) => Some(code),
            Exit::Signal(_) => None,
        };
        Ok(RawOutput {
            code,
            stderr: self.redact(&out.stderr_text()),
            stdout: out.stdout,
        })
    }

    /// `text` with every configured secret replaced, and any `scheme://user:password@` cut.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (secret, replacement) in &self.redactions {
            if !secret.is_empty() {
                text = text.replace(secret.as_str(), replacement);
            }
        }
        strip_userinfo(&text, "***@")
    }
}

/// The warnings in the stderr of a restic that exited 0: each non-empty line, except the JSON
/// status lines (`{"message_type":"status",...}`) that `--json` may print there, and the
/// indented lines of a Go stack trace that follow a message.
pub fn warnings(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(['\t', ' ']))
        .filter(|l| {
            !(l.starts_with('{')
                && serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|v| v["message_type"] != "error"))
        })
        .map(sysgauge_common::process::one_line)
        .collect()
}

/// Maps restic's exit code and stderr to an error.
///
/// restic ≥ 0.17 has dedicated exit codes (10 repository missing, 11 lock failed, 12 wrong
/// password since 0.17.1) and with `--json` prints `{"message_type":"exit_error",...}` on stderr.
/// Older releases, such as Debian's 0.14, exit 1 for all of these, so the message decides.
pub fn classify(command: &'static str, code: Option<i32>, stderr: &str) -> Error {
    let mut code = code;
    let mut message = None;
    for line in stderr.lines() {
        let line = line.trim();
        if line.starts_with('{')
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && v["message_type"] == "exit_error"
        {
            if let Some(c) = v["code"].as_i64() {
                code = Some(c as i32);
            }
            message = v["message"].as_str().map(str::to_owned);
        }
    }
    let message = message.unwrap_or_else(|| sysgauge_common::process::one_line(stderr));
    let lower = message.to_lowercase();
    match code {
        Some(12) => return Error::WrongPassword { message },
        Some(10) => return Error::RepositoryMissing { message },
        Some(11) => return Error::Locked { message },
        Some(130) | None => return Error::Interrupted { command },
        _ => {}
    }
    if lower.contains("wrong password") {
        Error::WrongPassword { message }
    } else if UNREACHABLE.iter().any(|m| lower.contains(m)) {
        // restic 0.14 also asks "Is there a repository at the following location?" when the
        // server cannot be reached; say what really happened.
        Error::Unreachable { message }
    } else if lower.contains("is there a repository at the following location")
        || lower.contains("unable to open config file")
        || lower.contains("repository does not exist")
    {
        Error::RepositoryMissing { message }
    } else if lower.contains("unable to create lock") || lower.contains("already locked") {
        Error::Locked { message }
    } else if lower.contains("resolving password failed")
        || lower.contains("empty password")
        || lower.contains("password command")
        || lower.contains("password from stdin")
    {
        Error::PasswordUnavailable { message }
    } else {
        Error::Failed {
            command,
            code: code.unwrap_or(-1),
            message,
        }
    }
}

/// Messages of Go's network stack that mean the backend could not be reached.
const UNREACHABLE: &[&str] = &[
    "connection refused",
    "no such host",
    "network is unreachable",
    "no route to host",
    "i/o timeout",
    "connection reset by peer",
];

/// Replaces the user information of every `scheme://userinfo@host` in `text` with
/// `replacement` (`""` removes it, along with the `@`).
pub fn strip_userinfo(text: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(replacement);
                rest = &tail[at + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// The first line of `restic version`: `restic 0.14.0 compiled with go1.19.8 on linux/amd64`.
pub fn parse_version(stdout: &str) -> Option<String> {
    let mut words = stdout.split_whitespace();
    (words.next()? == "restic").then(|| words.next().map(str::to_owned))?
}

/// A restic process: no stdin, its own process group (killed whole at the deadline, when its
/// output goes over [`STDOUT_LIMIT`] and when dropped), and none of the `RESTIC_*` variables
/// this process inherited.
fn command_for(binary: &Path) -> Command {
    Command::new(binary)
        .inherit(Environment::AllExcept(REMOVED))
        .stdout_limit(STDOUT_LIMIT)
}

/// Runs `restic version` (no repository, no secrets) until `deadline`.
pub async fn version(binary: &Path, deadline: Instant) -> Option<String> {
    let out = command_for(binary)
        .args(["version"])
        .stdout_limit(VERSION_STDOUT_LIMIT)
        .run(deadline)
        .await
        .and_then(|out| out.success());
    match out {
        Ok(out) => parse_version(&String::from_utf8_lossy(&out.stdout)),
        Err(e) => {
            // Each repository reports a broken restic with its own reason; this is detail.
            tracing::debug!(reason = e.reason(), error = %e, "restic version failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_0_14_messages_map_to_reasons() {
        // Exactly what Debian's restic 0.14.0 prints, each with exit code 1.
        let cases = [
            ("Fatal: wrong password or no key found\n", "wrong_password"),
            (
                "Fatal: unable to open config file: stat /srv/nope/config: no such file or directory\nIs there a repository at the following location?\n/srv/nope\n",
                "repository_missing",
            ),
            (
                "Resolving password failed: Fatal: /run/keys/x does not exist\n",
                "password_unavailable",
            ),
            (
                "reading repository password from stdin\nFatal: an empty password is not a password\n",
                "password_unavailable",
            ),
            (
                "unable to create lock in backend: repository is already locked exclusively by PID 11 on h by root (UID 0, GID 0)\n",
                "locked",
            ),
            (
                "Fatal: unable to open config file: client.Head: Head \"http://u:***@127.0.0.1:1/repo/config\": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\nrest:http://u:***@127.0.0.1:1/repo/\n",
                "unreachable",
            ),
            ("Fatal: something else\n", "error"),
        ];
        for (stderr, reason) in cases {
            assert_eq!(
                classify("snapshots", Some(1), stderr).reason(),
                reason,
                "{stderr}"
            );
        }
    }

    #[test]
    fn dedicated_exit_codes_of_newer_releases() {
        assert_eq!(
            classify("snapshots", Some(10), "").reason(),
            "repository_missing"
        );
        assert_eq!(classify("snapshots", Some(11), "").reason(), "locked");
        assert_eq!(
            classify("snapshots", Some(12), "").reason(),
            "wrong_password"
        );
        assert_eq!(classify("snapshots", Some(130), "").reason(), "interrupted");
        assert_eq!(classify("snapshots", None, "").reason(), "interrupted");
        assert_eq!(classify("snapshots", Some(2), "panic").reason(), "error");
    }

    #[test]
    fn json_exit_error_on_stderr_wins() {
        // restic >= 0.17 with --json prints this on stderr (doc/075_scripting.rst).
        let stderr = "{\"message_type\":\"exit_error\",\"code\":12,\"message\":\"Fatal: wrong password or no key found\"}\n";
        let e = classify("snapshots", Some(1), stderr);
        assert_eq!(e.reason(), "wrong_password");
        assert!(
            e.to_string()
                .ends_with("Fatal: wrong password or no key found"),
            "{e}"
        );
    }

    #[test]
    fn credentials_in_urls_are_cut() {
        assert_eq!(
            strip_userinfo("rest:https://u:s3cret@h:8000/r and s3:http://k@x/b", ""),
            "rest:https://h:8000/r and s3:http://x/b"
        );
        assert_eq!(
            strip_userinfo("sftp:user@host:/srv", ""),
            "sftp:user@host:/srv"
        );
        assert_eq!(strip_userinfo("/srv/restic", ""), "/srv/restic");
        let r = Restic {
            binary: "restic".into(),
            env: vec![],
            global_args: vec![],
            redactions: vec![("rest:https://u:pw@h/r".into(), "<repo>".into())],
        };
        assert_eq!(r.redact("at rest:https://u:pw@h/r?"), "at <repo>?");
        assert_eq!(r.redact("at https://a:b@c/"), "at https://***@c/");
    }

    #[test]
    fn warnings_are_stderr_lines_without_status_or_traces() {
        let stderr = "could not load snapshot 9a84b21c: load <snapshot/9a84b21c06>: invalid data returned\n\
            {\"message_type\":\"status\",\"percent_done\":0.5}\n\
            \n\
            github.com/restic/restic/internal/repository.(*Repository).LoadUnpacked\n\
            \tgithub.com/restic/restic/internal/repository/repository.go:203\n\
            {\"message_type\":\"error\",\"error\":{\"message\":\"x\"}}\n";
        assert_eq!(
            warnings(stderr),
            [
                "could not load snapshot 9a84b21c: load <snapshot/9a84b21c06>: invalid data returned",
                "github.com/restic/restic/internal/repository.(*Repository).LoadUnpacked",
                "{\"message_type\":\"error\",\"error\":{\"message\":\"x\"}}",
            ]
        );
        assert!(warnings("").is_empty());
    }

    #[test]
    fn version_line() {
        assert_eq!(
            parse_version("restic 0.14.0 compiled with go1.19.8 on linux/amd64\n").as_deref(),
            Some("0.14.0")
        );
        assert_eq!(parse_version("nonsense"), None);
    }
}

/// Properties of the readers of restic's stderr and version line, on generated input (bounded
/// case counts; failing seeds kept in `proptest-regressions/restic.txt`).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Every `reason` value `classify` may give.
    const REASONS: &[&str] = &[
        "wrong_password",
        "repository_missing",
        "unreachable",
        "locked",
        "password_unavailable",
        "interrupted",
        "error",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any stderr and exit code gives a documented reason and a bounded message.
        #[test]
        fn classify_is_total(code in prop::option::of(any::<i32>()), stderr in "(?s).{0,300}") {
            let e = classify("snapshots", code, &stderr);
            prop_assert!(REASONS.contains(&e.reason()), "{}", e.reason());
            prop_assert!(e.to_string().len() < 700);
        }

        /// The `exit_error` JSON line wins over the exit code, wherever it is in stderr.
        #[test]
        fn exit_error_json_is_found(
            noise in "[^{\n]{0,40}",
            code in prop::sample::select(vec![10i64, 11, 12]),
            message in "[a-z ]{0,30}",
        ) {
            let json = serde_json::json!({"message_type": "exit_error", "code": code, "message": message});
            let stderr = format!("{noise}\n{json}\n{noise}");
            let expected = match code { 10 => "repository_missing", 11 => "locked", _ => "wrong_password" };
            prop_assert_eq!(classify("snapshots", Some(1), &stderr).reason(), expected);
        }

        /// No `user:password@` survives in a URL's authority.
        #[test]
        fn userinfo_is_cut(
            scheme in "(rest:https?|s3:http|sftp)",
            user in "[a-z0-9:%]{1,12}",
            host in "[a-z0-9.]{1,12}",
            rest in "(/[a-z0-9]{0,8}){0,2}",
        ) {
            let text = format!("at {scheme}://{user}@{host}{rest} failed");
            let cut = strip_userinfo(&text, "");
            prop_assert_eq!(cut, format!("at {scheme}://{host}{rest} failed"));
        }

        /// The version reader never panics and finds the version after `restic`.
        #[test]
        fn version_line(version in "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}", junk in "(?s).{0,80}") {
            prop_assert_eq!(
                parse_version(&format!("restic {version} compiled with go1.22 on linux/amd64\n")),
                Some(version)
            );
            let _ = parse_version(&junk);
        }
    }
}
