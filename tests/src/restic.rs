//! Real restic repositories, made by Debian's restic in temporary directories, for the restic
//! exporter's tests and the mixin's end-to-end tests.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

/// The password of every [`Repo`].
pub const PASSWORD: &str = "correct horse battery staple";

/// Whether restic can be run (a loud SKIP when not, see [`crate::available`]).
pub fn available() -> bool {
    crate::available("restic", "restic")
}

/// Removes every inherited `RESTIC_*` variable from `cmd`, so that the test's own environment
/// cannot leak in.
pub fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RESTIC_") {
            cmd.env_remove(k);
        }
    }
}

/// A real restic repository in a temporary directory: `DIR/repo`, its password in
/// `DIR/password`, restic's cache in `DIR/cache`. Removed on drop.
#[derive(Debug)]
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// `restic init` of a new repository.
    pub fn init() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).unwrap();
        let repo = Repo { dir };
        repo.restic(&["init"], None);
        repo
    }

    /// The temporary directory holding the repository, its password file and cache.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The repository's path.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The file holding the password.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// Runs the real restic on this repository, optionally under time zone `tz` (UTC
    /// otherwise); panics with restic's stderr when it fails.
    pub fn restic(&self, args: &[&str], tz: Option<&str>) -> Output {
        let out = self.command(args, tz).output().unwrap();
        assert!(
            out.status.success(),
            "restic {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A directory of data to back up, `DIR/name` with one file.
    pub fn data(&self, name: &str) -> PathBuf {
        let d = self.dir.path().join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("file"), format!("contents of {name}\n")).unwrap();
        d
    }

    /// `restic backup` with a host, tags and a local time in `tz` (`--time`); returns the
    /// snapshot id.
    pub fn backup(
        &self,
        host: &str,
        tags: &[&str],
        paths: &[&Path],
        time: &str,
        tz: &str,
    ) -> String {
        let mut args = vec!["backup", "--json", "--host", host, "--time", time];
        for t in tags {
            args.extend(["--tag", t]);
        }
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let out = self.restic(&args, Some(tz));
        let summary = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("\"summary\""))
            .unwrap()
            .to_owned();
        let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
        v["snapshot_id"].as_str().unwrap().to_owned()
    }

    /// The full ids of the files in `repo/<dir>` (`snapshots`, `locks`, ...), sorted.
    pub fn files(&self, dir: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.path().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// `restic ARGS` against this repository, not yet run.
    fn command(&self, args: &[&str], tz: Option<&str>) -> Command {
        let mut cmd = Command::new("restic");
        clean_env(&mut cmd);
        cmd.args(args)
            .env("RESTIC_REPOSITORY", self.path())
            .env("RESTIC_PASSWORD_FILE", self.password_file())
            .env("RESTIC_CACHE_DIR", self.dir.path().join("cache"))
            .env("TZ", tz.unwrap_or("UTC"))
            .stdin(Stdio::null());
        cmd
    }

    /// The locks restic itself can read: listed by `restic list locks` and decrypted by
    /// `restic cat lock`. A lock file still being written is not one of them.
    pub fn readable_locks(&self) -> Vec<String> {
        let ok = |args: &[&str]| {
            let out = self.command(args, None).output().unwrap();
            out.status.success().then_some(out.stdout)
        };
        let listed = ok(&["list", "locks", "--no-lock"]).unwrap_or_default();
        String::from_utf8_lossy(&listed)
            .lines()
            .filter(|id| ok(&["cat", "lock", id, "--no-lock"]).is_some())
            .map(str::to_owned)
            .collect()
    }

    /// Turns snapshot `id` (a prefix) into a stale lock: a snapshot file is encrypted JSON with
    /// `time`, `hostname` and `username`, which is all a lock needs, and its name is the hash of
    /// its contents, so moved to `locks/` it is a valid lock from the snapshot's time.
    pub fn snapshot_to_lock(&self, id: &str) {
        let full = self
            .files("snapshots")
            .into_iter()
            .find(|f| f.starts_with(id))
            .unwrap();
        fs::rename(
            self.path().join("snapshots").join(&full),
            self.path().join("locks").join(&full),
        )
        .unwrap();
    }

    /// Truncates a pack of file contents (data blobs only) to 10 bytes: snapshots still list,
    /// and `restic check` fails with exactly one error for it (`pack ID: unexpected file
    /// size`). A tree pack would also fail the tree walk, with restic retrying its reads for
    /// some 40 seconds; a missing pack would make it retry for minutes.
    pub fn truncate_a_pack(&self) {
        let listed = self.restic(&["list", "index", "--no-lock"], None).stdout;
        let mut data_packs = Vec::new();
        for index in String::from_utf8_lossy(&listed).lines() {
            let out = self
                .restic(&["cat", "index", index, "--no-lock"], None)
                .stdout;
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            for pack in v["packs"].as_array().unwrap() {
                let blobs = pack["blobs"].as_array().unwrap();
                if blobs.iter().all(|b| b["type"] == "data") {
                    data_packs.push(pack["id"].as_str().unwrap().to_owned());
                }
            }
        }
        data_packs.sort();
        let id = &data_packs[0];
        fs::OpenOptions::new()
            .write(true)
            .open(self.path().join("data").join(&id[..2]).join(id))
            .unwrap()
            .set_len(10)
            .unwrap();
    }
}
