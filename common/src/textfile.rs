//! Atomic textfile writing for node_exporter's textfile collector.
//!
//! node_exporter may read the directory at any moment, so the file must appear whole or not at
//! all: the metrics go to a temporary file in the same directory (same file system, so the
//! rename is atomic) whose name does not end in `.prom` (node_exporter skips it), which is
//! flushed to disk, made readable by node_exporter's user whatever our umask, and renamed over
//! the old file; then the directory itself is flushed so the rename survives a crash. Any
//! failure leaves the previous file as it was.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use crate::error::Error;

/// node_exporter runs as its own user and must be able to read the file.
const MODE: u32 = 0o644;

/// Writes `contents` to `dir/name` atomically.
pub fn write(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, Error> {
    write_with(dir, name, |w| w.write_all(contents))
}

/// Writes what `fill` writes to `dir/name` atomically, without holding it in memory.
pub fn write_with(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<PathBuf, Error> {
    let target = dir.join(name);
    let fail = |source| Error::Textfile {
        path: target.clone(),
        source,
    };
    remove_stale_temporaries(dir, name);
    let tmp = dir.join(temporary_name(name, std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .open(&tmp)?;
        // The mode given at creation is masked by the umask (0077 under a hardened unit).
        file.set_permissions(fs::Permissions::from_mode(MODE))?;
        fill(&mut file)?;
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&tmp);
        return Err(fail(source));
    }
    Ok(target)
}

/// `.NAME.PID.tmp`: hidden, and not ending in `.prom`.
fn temporary_name(name: &str, pid: u32) -> String {
    format!(".{name}.{pid}.tmp")
}

/// Removes temporary files that a killed run of the same textfile left behind.
///
/// A temporary file whose writer is still alive (two runs overlapping) is left alone.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Ok(pid) = rest.parse::<u32>() else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => {
                tracing::info!(path = %entry.path().display(), "removed a temporary file left by an earlier run")
            }
            Err(e) => {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a stale temporary file")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_mode_0644_whatever_the_umask_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        // A restrictive umask, as under UMask=0077.
        let old = set_umask(0o077);
        let path = write(dir.path(), "x.prom", b"a 1\n").unwrap();
        set_umask(old);
        assert_eq!(fs::read_to_string(&path).unwrap(), "a 1\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        write(dir.path(), "x.prom", b"a 2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a 2\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.prom"]);
    }

    #[test]
    fn stale_temporaries_of_dead_runs_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // PID 4194304 is above the kernel's maximum, so it cannot be alive; PID 1 always is.
        let dead = dir.path().join(temporary_name("x.prom", 4_194_304));
        let live = dir.path().join(temporary_name("x.prom", 1));
        let other = dir.path().join(temporary_name("y.prom", 4_194_304));
        for p in [&dead, &live, &other] {
            fs::write(p, "partial").unwrap();
        }
        write(dir.path(), "x.prom", b"a 1\n").unwrap();
        assert!(!dead.exists(), "a dead run's temporary file was left");
        assert!(live.exists(), "a live writer's temporary file was removed");
        assert!(
            other.exists(),
            "another textfile's temporary file was touched"
        );
    }

    #[test]
    fn failure_leaves_previous_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "x.prom", b"old 1\n").unwrap();
        // A directory where the temporary file should go makes the write fail.
        fs::create_dir(
            dir.path()
                .join(temporary_name("x.prom", std::process::id())),
        )
        .unwrap();
        let err = write(dir.path(), "x.prom", b"new 1\n").unwrap_err();
        assert!(err.to_string().contains("x.prom"));
        assert_eq!(
            fs::read_to_string(dir.path().join("x.prom")).unwrap(),
            "old 1\n"
        );
    }

    #[allow(unsafe_code)]
    fn set_umask(mask: u32) -> u32 {
        // SAFETY: umask(2) cannot fail and only swaps the process's file mode creation mask.
        unsafe { libc::umask(mask as libc::mode_t) as u32 }
    }
}
