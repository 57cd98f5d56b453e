//! `restic check`: what it found, and the rolling `--read-data-subset`.
//!
//! restic ≥ 0.18 prints, with `--json`, a summary on stdout:
//! `{"message_type":"summary","num_errors":N,"broken_packs":[...],"suggest_repair_index":B,
//! "suggest_prune":B}`. Older releases (Debian's 0.14) ignore `--json` for `check` and print text
//! on stderr: one unindented line per error (`pack ID: ...`, `error for tree ID:`, `error: ...`,
//! details indented below it), backend retries (`... returned error, retrying after ...`), hints
//! such as "you can run `restic prune` to correct this", and `Fatal: repository contains errors`.
//!
//! With `check_read_data_parts = N` each run also reads one N-th of the data
//! (`--read-data-subset n/N`), n advancing 1, 2, ... N, 1 after each finished run, so that all
//! data is read once every N runs. n is kept in a file of the state directory, so a restart or a
//! `textfile` run from a timer goes on where the last run stopped.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What one `restic check` that ran to its end found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Errors found.
    pub errors: u64,
    /// restic suggests `restic repair index` (`rebuild-index` before 0.15).
    pub suggest_repair_index: bool,
    /// restic suggests `restic prune`.
    pub suggest_prune: bool,
}

#[derive(Deserialize)]
struct JsonSummary {
    message_type: String,
    num_errors: u64,
    #[serde(default)]
    suggest_repair_index: bool,
    #[serde(default)]
    suggest_prune: bool,
}

/// Reads what `restic check` printed. `None` when the output is not a check's result (restic
/// failed before checking: wrong password, missing repository); the caller then classifies the
/// failure as for any command.
pub fn parse(exit_ok: bool, stdout: &[u8], stderr: &str) -> Option<CheckReport> {
    let stdout_text = String::from_utf8_lossy(stdout);
    for line in stdout_text.lines() {
        if let Ok(s) = serde_json::from_str::<JsonSummary>(line.trim())
            && s.message_type == "summary"
        {
            return Some(CheckReport {
                errors: s.num_errors,
                suggest_repair_index: s.suggest_repair_index,
                suggest_prune: s.suggest_prune,
            });
        }
    }
    let all = format!("{stdout_text}\n{stderr}");
    let suggest_repair_index =
        all.contains("restic rebuild-index") || all.contains("restic repair index");
    let suggest_prune = all.contains("restic prune");
    if exit_ok {
        return Some(CheckReport {
            errors: 0,
            suggest_repair_index,
            suggest_prune,
        });
    }
    if !stderr.contains("repository contains errors") {
        return None;
    }
    let errors = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with([' ', '\t']))
        .filter(|l| {
            !(l.starts_with("Fatal:")
                || l.starts_with('{')
                || l.contains("retrying after")
                || l.contains("non-critical")
                || l.contains("additional files were found")
                || l.starts_with("using temporary cache")
                || l.starts_with("[")
                || l.starts_with("load indexes")
                || l.starts_with("check "))
        })
        .count() as u64;
    Some(CheckReport {
        errors: errors.max(1),
        suggest_repair_index,
        suggest_prune,
    })
}

/// The rolling read-data subset of one repository: which part the next check reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subset {
    /// The file that remembers the next part.
    pub file: PathBuf,
    /// How many parts the data is read in.
    pub parts: usize,
}

impl Subset {
    /// The subset file of repository `name` in `dir`: the name made safe for a file name, plus
    /// a hash of it so that two names that differ only in unsafe characters stay apart.
    pub fn new(dir: &Path, name: &str, parts: usize) -> Self {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        Self {
            file: dir.join(format!(
                "check-subset.{safe}.{:016x}",
                fnv1a(name.as_bytes())
            )),
            parts,
        }
    }

    /// The part the next check reads, 1..=parts: what the file says, else 1 (no file yet, a
    /// file from a different `parts`, or one that does not parse: logged).
    pub fn next(&self) -> usize {
        let text = match sysgauge_common::fs::read_to_string(&self.file, 4096) {
            Ok(text) => text,
            Err(e) => {
                if !matches!(e.problem, sysgauge_common::fs::FileProblem::NotFound) {
                    tracing::warn!(file = %self.file.display(), error = %e, "cannot read the read-data-subset state; starting at part 1");
                }
                return 1;
            }
        };
        match text
            .trim()
            .split_once('/')
            .and_then(|(n, total)| Some((n.parse::<usize>().ok()?, total.parse::<usize>().ok()?)))
        {
            Some((n, total)) if total == self.parts && (1..=total).contains(&n) => n,
            Some(_) => 1,
            None => {
                tracing::warn!(file = %self.file.display(), "the read-data-subset state is not n/N; starting at part 1");
                1
            }
        }
    }

    /// Records that part `done` was read: the next check reads the part after it.
    pub fn advance(&self, done: usize) {
        let next = done % self.parts + 1;
        let (Some(dir), Some(name)) = (self.file.parent(), self.file.file_name()) else {
            return;
        };
        let contents = format!("{next}/{}\n", self.parts);
        if let Err(e) =
            sysgauge_common::textfile::write(dir, &name.to_string_lossy(), contents.as_bytes())
        {
            tracing::warn!(file = %self.file.display(), error = %sysgauge_common::collector::error_chain(&e), "cannot record the read-data-subset state; the same part is read next time");
        }
    }
}

/// FNV-1a, 64 bits: a stable, dependency-free hash for file names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_summary_of_newer_releases() {
        let fixture = include_bytes!("../tests/fixtures/check-0.18.json");
        assert_eq!(
            parse(false, fixture, ""),
            Some(CheckReport {
                errors: 3,
                suggest_repair_index: true,
                suggest_prune: false,
            })
        );
        let clean = br#"{"message_type":"summary","num_errors":0,"broken_packs":null,"suggest_repair_index":false,"suggest_prune":true}"#;
        assert_eq!(
            parse(true, clean, ""),
            Some(CheckReport {
                errors: 0,
                suggest_repair_index: false,
                suggest_prune: true,
            })
        );
    }

    #[test]
    fn text_of_restic_0_14() {
        // What Debian's restic 0.14.0 printed for a repository with a truncated pack.
        let stderr = "pack 2e9b7b46: unexpected file size: got 10, expected 693\n\
            Load(<data/2e9b7b461e>, 246, 329) returned error, retrying after 552.330144ms: EOF\n\
            error for tree efefa916:\n  ReadFull(<data/2e9b7b461e>): EOF\n\
            Fatal: repository contains errors\n";
        assert_eq!(
            parse(
                false,
                b"using temporary cache in /tmp/x\nload indexes\ncheck all packs\n",
                stderr
            ),
            Some(CheckReport {
                errors: 2,
                ..CheckReport::default()
            })
        );
        let hints = "1 additional files were found in the repo, which likely contain duplicate data.\n\
            This is non-critical, you can run `restic prune` to correct this.\n";
        assert_eq!(
            parse(true, b"", hints),
            Some(CheckReport {
                errors: 0,
                suggest_prune: true,
                ..CheckReport::default()
            })
        );
        assert_eq!(
            parse(false, b"", "Fatal: wrong password or no key found\n"),
            None
        );
    }

    #[test]
    fn subset_advances_and_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let s = Subset::new(dir.path(), "rest:https://h/r", 3);
        assert_ne!(s.file, Subset::new(dir.path(), "rest:https://h_r", 3).file);
        assert_eq!(s.next(), 1);
        s.advance(1);
        assert_eq!(s.next(), 2);
        s.advance(2);
        s.advance(3);
        assert_eq!(s.next(), 1);
        std::fs::write(&s.file, "2/5\n").unwrap();
        assert_eq!(s.next(), 1, "another parts count starts over");
        std::fs::write(&s.file, "garbage").unwrap();
        assert_eq!(s.next(), 1);
    }
}
