//! Reading files named by the configuration: bounded, never blocking, regular files only.
//!
//! A path in a configuration file or on the command line can name anything: a FIFO (opening
//! it for reading blocks until a writer appears), a device (`/dev/zero` never ends), a socket,
//! a directory, or a regular file far larger than what it should hold. Every file the
//! exporters read by path goes through [`read`] (or [`open_regular`] for backup files that are
//! streamed), which
//!
//! 1. looks at the path with `stat` first, so that a device is never even opened (opening some
//!    devices has side effects: a tape rewinds, a terminal becomes the controlling one); for a
//!    file that [`expand`] found, the directory listing's type or the expansion's `stat`;
//! 2. opens it with `O_NONBLOCK | O_NOCTTY | O_CLOEXEC`, so that a FIFO swapped in after the
//!    `stat` cannot block the open;
//! 3. checks the *open descriptor* with `fstat` (what was opened is what is read) and refuses
//!    anything that is not a regular file, or that is larger than the limit the caller gives;
//! 4. reads at most the size `fstat` gave (at most the limit), or, for a size of 0 (files of
//!    /proc and /sys), to the end but at most the limit.
//!
//! Each refusal is a [`FileError`] with a stable [`FileError::reason`] for the metric's
//! `reason` label and a message for the log that names the file. The limits of each use are
//! the constants below; docs/config.md lists them under "Limits".
//!
//! [`expand`] turns a configured path, directory or glob into the regular files it names, with
//! one rule for every exporter (see its documentation).

use std::{
    fmt,
    fs::{File, Metadata},
    io::{self, Read},
    os::unix::fs::{FileTypeExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use crate::labels::path_label;

/// The most bytes read from a configuration file (`--config`, `--web.config.file`): 1 MiB.
pub const CONFIG_FILE_LIMIT: u64 = 1 << 20;
/// The most bytes read from one certificate file or CA bundle (PEM or DER): 4 MiB. Debian's
/// whole `ca-certificates.crt` is about 220 KB.
pub const CERTIFICATE_FILE_LIMIT: u64 = 4 << 20;
/// The most bytes read from one private key file: 1 MiB (an RSA-16384 key is about 13 KB).
pub const KEY_FILE_LIMIT: u64 = 1 << 20;
/// The most bytes of a secret file (a password file, a repository file, an environment file):
/// 1 MiB.
pub const SECRET_FILE_LIMIT: u64 = 1 << 20;
/// The most files one configured path, directory or glob expands to: 10,000. Past it the
/// expansion stops and reports `too_many_entries`.
pub const EXPAND_LIMIT: usize = 10_000;

/// What kind of file a path turned out to be, for the message of a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device such as `/dev/zero`.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A symbolic link (only seen without following it).
    Symlink,
    /// Anything else.
    Other,
}

impl FileKind {
    /// The kind of a file from its metadata.
    pub fn of(meta: &Metadata) -> FileKind {
        let t = meta.file_type();
        if t.is_file() {
            FileKind::Regular
        } else if t.is_dir() {
            FileKind::Directory
        } else if t.is_fifo() {
            FileKind::Fifo
        } else if t.is_socket() {
            FileKind::Socket
        } else if t.is_char_device() {
            FileKind::CharDevice
        } else if t.is_block_device() {
            FileKind::BlockDevice
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        }
    }

    fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Symlink => "a symbolic link",
            FileKind::Other => "not a regular file",
        }
    }
}

/// Why a file was not read.
#[derive(Debug)]
pub enum FileProblem {
    /// Nothing is at the path.
    NotFound,
    /// The path is a symbolic link whose target does not exist.
    BrokenSymlink,
    /// Permission denied.
    PermissionDenied,
    /// The path is not a regular file (a FIFO, a device, a socket, a directory).
    NotRegular(FileKind),
    /// The file is larger than the limit of its use.
    TooLarge {
        /// Its size, or the bytes read when it grew while being read.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A path, directory or glob names more files than [`EXPAND_LIMIT`].
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// Any other I/O error (including text that is not UTF-8 where text is required).
    Io(io::Error),
}

impl FileProblem {
    fn from_io(e: io::Error) -> FileProblem {
        match e.kind() {
            io::ErrorKind::NotFound => FileProblem::NotFound,
            io::ErrorKind::PermissionDenied => FileProblem::PermissionDenied,
            _ => FileProblem::Io(e),
        }
    }
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::NotFound => f.write_str("no such file"),
            FileProblem::BrokenSymlink => {
                f.write_str("a symbolic link whose target does not exist")
            }
            FileProblem::PermissionDenied => f.write_str("permission denied"),
            FileProblem::NotRegular(kind) => {
                write!(f, "{}, not a regular file: refused", kind.describe())
            }
            FileProblem::TooLarge { size, limit } => write!(
                f,
                "{size} bytes or more, over the limit of {limit} bytes for this file: refused"
            ),
            FileProblem::TooManyEntries { limit } => write!(
                f,
                "names more than {limit} files; only the first {limit} are read"
            ),
            FileProblem::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A file that could not be read, and why. Its message names the file.
#[derive(Debug)]
pub struct FileError {
    /// The file (or the pattern, for [`FileProblem::TooManyEntries`]).
    pub path: PathBuf,
    /// Why.
    pub problem: FileProblem,
}

impl FileError {
    fn new(path: &Path, problem: FileProblem) -> FileError {
        FileError {
            path: path.to_owned(),
            problem,
        }
    }

    /// The stable `reason` label value: `not_found`, `broken_symlink`, `permission_denied`,
    /// `not_regular_file`, `too_large`, `too_many_entries` or `read_failed`.
    pub fn reason(&self) -> &'static str {
        match &self.problem {
            FileProblem::NotFound => "not_found",
            FileProblem::BrokenSymlink => "broken_symlink",
            FileProblem::PermissionDenied => "permission_denied",
            FileProblem::NotRegular(_) => "not_regular_file",
            FileProblem::TooLarge { .. } => "too_large",
            FileProblem::TooManyEntries { .. } => "too_many_entries",
            FileProblem::Io(_) => "read_failed",
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", path_label(&self.path), self.problem)
    }
}

impl std::error::Error for FileError {}

impl From<FileError> for io::Error {
    /// For callers whose error type holds an `io::Error`; the kind is kept where there is one.
    fn from(e: FileError) -> io::Error {
        let kind = match &e.problem {
            FileProblem::NotFound | FileProblem::BrokenSymlink => io::ErrorKind::NotFound,
            FileProblem::PermissionDenied => io::ErrorKind::PermissionDenied,
            FileProblem::NotRegular(_) => io::ErrorKind::InvalidInput,
            FileProblem::TooLarge { .. } | FileProblem::TooManyEntries { .. } => {
                io::ErrorKind::FileTooLarge
            }
            FileProblem::Io(e) => e.kind(),
        };
        io::Error::new(kind, e)
    }
}

/// Classifies a failed `stat`: a dangling symbolic link is told apart from a missing file.
fn stat_failed(path: &Path, e: io::Error) -> FileError {
    if e.kind() == io::ErrorKind::NotFound
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    {
        return FileError::new(path, FileProblem::BrokenSymlink);
    }
    FileError::new(path, FileProblem::from_io(e))
}

/// Checks, without opening it, that `path` (symbolic links followed) is a regular file of at
/// most `limit` bytes when a limit is given. For files another program opens (a library for
/// `dlopen`, a password file restic reads): the check comes before handing the path on.
pub fn check_regular(path: &Path, limit: Option<u64>) -> Result<Metadata, FileError> {
    let meta = std::fs::metadata(path).map_err(|e| stat_failed(path, e))?;
    check_metadata(path, &meta, limit)?;
    Ok(meta)
}

fn check_metadata(path: &Path, meta: &Metadata, limit: Option<u64>) -> Result<(), FileError> {
    let kind = FileKind::of(meta);
    if kind != FileKind::Regular {
        return Err(FileError::new(path, FileProblem::NotRegular(kind)));
    }
    match limit {
        Some(limit) if meta.len() > limit => Err(FileError::new(
            path,
            FileProblem::TooLarge {
                size: meta.len(),
                limit,
            },
        )),
        _ => Ok(()),
    }
}

/// Opens a regular file for reading without ever blocking: checked by `stat` before it is
/// opened and by `fstat` after, opened with `O_NONBLOCK | O_NOCTTY | O_CLOEXEC`. For files
/// that are read as a stream (backup files of any size); the metadata is the open file's.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), FileError> {
    open_checked(path, None)
}

fn open_checked(path: &Path, limit: Option<u64>) -> Result<(File, Metadata), FileError> {
    check_regular(path, limit)?;
    open_stated(path, limit)
}

/// Opens `path`, whose `stat` said it is a regular file within `limit`, and checks again what
/// was opened.
fn open_stated(path: &Path, limit: Option<u64>) -> Result<(File, Metadata), FileError> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| stat_failed(path, e))?;
    // The path may have been replaced between the stat and the open: what counts is what was
    // opened. O_NONBLOCK has no effect on the reads of a regular file.
    let meta = file
        .metadata()
        .map_err(|e| FileError::new(path, FileProblem::Io(e)))?;
    check_metadata(path, &meta, limit)?;
    Ok((file, meta))
}

/// Reads the regular file at `path`, at most `limit` bytes; see the module documentation.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    read_opened(path, open_checked(path, Some(limit))?, limit)
}

/// [`read`] for a file that [`expand`] found: the expansion's `stat`, or its directory listing,
/// stands for the `stat` before the open (what was opened is still checked), which saves a
/// system call per file when an exporter reads tens of thousands of them.
pub fn read_found(found: &Found, limit: u64) -> Result<Vec<u8>, FileError> {
    if let Some(meta) = &found.stat {
        check_metadata(&found.path, meta, Some(limit))?;
    }
    let opened = open_stated(&found.path, Some(limit))?;
    read_opened(&found.path, opened, limit)
}

fn read_opened(
    path: &Path,
    (mut file, meta): (File, Metadata),
    limit: u64,
) -> Result<Vec<u8>, FileError> {
    let io_error = |e| FileError::new(path, FileProblem::Io(e));
    if meta.len() > 0 {
        // Read up to the size `fstat` gave (checked against the limit), without the read that
        // would only find the end: one system call fewer per file, 50,000 in a large
        // certificate collection. Bytes appended since are left for the next collection.
        let mut data = vec![0; meta.len().min(limit) as usize];
        let mut filled = 0;
        while filled < data.len() {
            match file.read(&mut data[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(e)),
            }
        }
        data.truncate(filled);
        return Ok(data);
    }
    // A size of 0 may be a file whose size the kernel does not know in advance (/proc, /sys):
    // read to its end. One byte more than the limit tells one that is larger from one that
    // fits.
    let mut data = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(io_error)?;
    if data.len() as u64 > limit {
        return Err(FileError::new(
            path,
            FileProblem::TooLarge {
                size: data.len() as u64,
                limit,
            },
        ));
    }
    Ok(data)
}

/// [`read`] for text: the file must be UTF-8.
pub fn read_to_string(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read(path, limit)?).map_err(|_| {
        FileError::new(
            path,
            FileProblem::Io(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")),
        )
    })
}

/// One regular file found by [`expand`].
#[derive(Debug)]
pub struct Found {
    /// The path as matched.
    pub path: PathBuf,
    /// Its metadata (symbolic links followed) when the expansion needed it; `None` when the
    /// directory listing said it is a regular file, which spares a `stat` per file.
    stat: Option<Metadata>,
}

impl Found {
    /// The file's metadata, symbolic links followed: the expansion's, or a `stat` now.
    pub fn metadata(&self) -> Result<Metadata, FileError> {
        match &self.stat {
            Some(meta) => Ok(meta.clone()),
            None => check_regular(&self.path, None),
        }
    }
}

/// What a configured path, directory or glob names: its regular files, sorted by path, and
/// every entry that could not be taken, with the reason.
#[derive(Debug, Default)]
pub struct Expansion {
    /// The regular files.
    pub files: Vec<Found>,
    /// Entries that are not readable regular files (and `too_many_entries` past the limit).
    pub errors: Vec<FileError>,
}

/// Whether a configured path is a glob: it holds `*`, `?` or `[`.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Checks a glob at start-up, so that a bad pattern is a configuration error; `Err` says what
/// is wrong.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("the path is empty".into());
    }
    if is_glob(pattern) {
        glob::Pattern::new(pattern).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The one rule by which every exporter turns a configured path into files:
///
/// - A **glob** (`*`, `?`, `[...]`; `**` as a whole component matches any depth) names its
///   matches. A name starting with a dot is matched only by a pattern with a literal dot there.
/// - A **directory** names its entries, not recursively, dot files included.
/// - **Anything else** names itself.
///
/// Each candidate is looked at with `stat` (symbolic links followed). Regular files are kept.
/// Directories met under a glob or in a directory are skipped silently (they are structure).
/// Everything else is an error with a reason, never silently dropped: a dangling symbolic
/// link (`broken_symlink`), a FIFO, socket or device (`not_regular_file`), an entry or
/// subdirectory that cannot be read (`permission_denied`, `read_failed`), a path that does not
/// exist (`not_found`; an entry that vanished between the listing and the `stat`, a rotation
/// in progress, is skipped). At most `limit` files are kept ([`EXPAND_LIMIT`] in the
/// exporters); past it one `too_many_entries` error names the pattern.
///
/// `Err` only when the pattern itself cannot be used: an invalid glob, or a path whose `stat`
/// fails for another reason than not existing (e.g. `/etc/passwd/x`), or a directory that
/// cannot be listed.
pub fn expand(pattern: &str, limit: usize) -> Result<Expansion, FileError> {
    let mut out = Expansion::default();
    let root = Path::new(pattern);
    let candidates: Box<dyn Iterator<Item = Result<Candidate, FileError>>> = if is_glob(pattern) {
        let mut walk = GlobWalk::default();
        walk.run(pattern)?;
        Box::new(walk.found.into_iter())
    } else {
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {
                let entries = std::fs::read_dir(root).map_err(|e| stat_failed(root, e))?;
                let mut paths = Vec::new();
                for entry in entries {
                    match entry {
                        Ok(entry) => paths.push(Ok(Candidate::listed(entry.path(), &entry))),
                        Err(e) => paths.push(Err(FileError::new(root, FileProblem::from_io(e)))),
                    }
                }
                Box::new(paths.into_iter())
            }
            Ok(meta) => Box::new(std::iter::once(Ok(Candidate {
                path: root.to_owned(),
                stat: Stat::Known(Ok(meta)),
            }))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.errors.push(stat_failed(root, e));
                return Ok(out);
            }
            Err(e) => return Err(stat_failed(root, e)),
        }
    };
    let literal = !is_glob(pattern);
    for candidate in candidates {
        let (path, stat) = match candidate {
            Ok(Candidate { path, stat }) => (path, stat),
            Err(e) => {
                out.errors.push(e);
                continue;
            }
        };
        let stat = match stat {
            // A regular file, on the listing's word or by its `stat`.
            Stat::Regular => None,
            Stat::Known(Ok(meta)) if meta.is_file() => Some(meta),
            Stat::Known(other) => {
                classify(&mut out.errors, &path, other, literal && path == root);
                continue;
            }
        };
        if out.files.len() == limit {
            out.errors
                .push(FileError::new(root, FileProblem::TooManyEntries { limit }));
            break;
        }
        out.files.push(Found { path, stat });
    }
    out.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Records why an expanded path that is not a regular file is left out: a directory is left
/// out silently (unless it is the pattern itself), another kind is `not_regular_file`, a path
/// that vanished since its listing is skipped (a rotation in progress), any other failed
/// `stat` an error.
fn classify(errors: &mut Vec<FileError>, path: &Path, stat: io::Result<Metadata>, is_root: bool) {
    match stat {
        Ok(meta) if meta.is_dir() && !is_root => {}
        Ok(meta) => errors.push(FileError::new(
            path,
            FileProblem::NotRegular(FileKind::of(&meta)),
        )),
        Err(e) => match stat_failed(path, e) {
            // Listed, then gone: a rotation in progress, not an error.
            FileError {
                problem: FileProblem::NotFound,
                ..
            } => {}
            other => errors.push(other),
        },
    }
}

/// A path an expansion found, and what is known of it.
struct Candidate {
    path: PathBuf,
    stat: Stat,
}

/// What an expansion knows of a path: the directory listing's word, or its `stat`.
enum Stat {
    /// The directory listing said it is a regular file (not a symbolic link): nothing more is
    /// needed until it is opened, and the open file is checked again.
    Regular,
    /// Its `stat`, symbolic links followed.
    Known(io::Result<Metadata>),
}

impl Candidate {
    /// An entry of a directory listing. A regular file is taken on the listing's word (most
    /// file systems give each entry's type); another entry that is not a symbolic link is
    /// stat'ed relative to the open directory, which spares the kernel walking the whole path
    /// again; a link is followed by its path.
    fn listed(path: PathBuf, entry: &std::fs::DirEntry) -> Candidate {
        let stat = match entry.file_type() {
            Ok(kind) if kind.is_file() => Stat::Regular,
            Ok(kind) if !kind.is_symlink() => Stat::Known(entry.metadata()),
            _ => Stat::Known(std::fs::metadata(&path)),
        };
        Candidate { path, stat }
    }
}

/// The most directory entries one glob may look at, and the deepest `**` descends: a glob over
/// `/` or a symbolic link loop ends with `too_many_entries` instead of running on.
const WALK_ENTRIES: usize = 100_000;
const WALK_DEPTH: usize = 40;

/// Matches a glob component by component. Not the `glob` crate's walker: it panics on a file
/// name that is not UTF-8 (glob 0.3.4, `fill_todo`), which would abort the exporter. Names are
/// matched in their lossy UTF-8 form (an invalid byte matches `?` or `*`), paths kept as bytes.
#[derive(Default)]
struct GlobWalk {
    found: Vec<Result<Candidate, FileError>>,
    examined: usize,
    stopped: bool,
}

impl GlobWalk {
    fn run(&mut self, pattern: &str) -> Result<(), FileError> {
        let invalid = |message: String| {
            FileError::new(
                Path::new(pattern),
                FileProblem::Io(io::Error::new(io::ErrorKind::InvalidInput, message)),
            )
        };
        let mut parts = Vec::new();
        for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if part == "**" {
                parts.push(Part::AnyDepth);
            } else if part.contains("**") {
                return Err(invalid("`**` must be a whole path component".into()));
            } else if is_glob(part) {
                let p = glob::Pattern::new(part).map_err(|e| invalid(e.to_string()))?;
                parts.push(Part::Match(p));
            } else {
                parts.push(Part::Literal(part.to_owned()));
            }
        }
        let base = if pattern.starts_with('/') {
            PathBuf::from("/")
        } else {
            PathBuf::new()
        };
        self.walk(&base, &parts, 0, pattern);
        Ok(())
    }

    fn walk(&mut self, base: &Path, rest: &[Part], depth: usize, pattern: &str) {
        if self.stopped {
            return;
        }
        let Some((part, after)) = rest.split_first() else {
            self.found.push(Ok(Candidate {
                path: base.to_owned(),
                stat: Stat::Known(std::fs::metadata(base)),
            }));
            return;
        };
        match part {
            Part::Literal(name) => {
                let next = base.join(name);
                if after.is_empty() || next.is_dir() {
                    self.walk(&next, after, depth, pattern);
                }
            }
            Part::Match(p) => {
                for (name, entry) in self.list(base, pattern) {
                    if !p.matches_with(&name, MATCH) {
                        continue;
                    }
                    let found = Candidate::listed(base.join(entry.file_name()), &entry);
                    if after.is_empty() {
                        self.found.push(Ok(found));
                    } else if is_dir(&found) {
                        self.walk(&found.path, after, depth, pattern);
                    }
                }
            }
            Part::AnyDepth => {
                self.walk(base, after, depth, pattern);
                if depth >= WALK_DEPTH {
                    return;
                }
                for (name, entry) in self.list(base, pattern) {
                    if name.starts_with('.') {
                        continue;
                    }
                    let found = Candidate::listed(base.join(entry.file_name()), &entry);
                    if is_dir(&found) {
                        self.walk(&found.path, rest, depth + 1, pattern);
                    }
                }
            }
        }
    }

    /// The entries of `dir`, sorted by name; a directory that cannot be listed is an error.
    fn list(&mut self, dir: &Path, pattern: &str) -> Vec<(String, std::fs::DirEntry)> {
        let shown = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let entries = match std::fs::read_dir(shown) {
            Ok(entries) => entries,
            Err(e) => {
                self.found
                    .push(Err(FileError::new(shown, FileProblem::from_io(e))));
                return Vec::new();
            }
        };
        let mut out: Vec<(String, std::fs::DirEntry)> = Vec::new();
        for entry in entries {
            self.examined += 1;
            if self.examined > WALK_ENTRIES {
                self.stopped = true;
                self.found.push(Err(FileError::new(
                    Path::new(pattern),
                    FileProblem::TooManyEntries {
                        limit: WALK_ENTRIES,
                    },
                )));
                break;
            }
            match entry {
                Ok(entry) => {
                    out.push((entry.file_name().to_string_lossy().into_owned(), entry));
                }
                Err(e) => self
                    .found
                    .push(Err(FileError::new(shown, FileProblem::from_io(e)))),
            }
        }
        // By name (the entries share `dir`), as bytes: the order of whole paths.
        out.sort_by_cached_key(|(_, entry)| entry.file_name());
        out
    }
}

/// Whether a listed entry is a directory (symbolic links followed).
fn is_dir(found: &Candidate) -> bool {
    matches!(&found.stat, Stat::Known(Ok(meta)) if meta.is_dir())
}

/// One component of a glob.
enum Part {
    Literal(String),
    Match(glob::Pattern),
    AnyDepth,
}

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// The directory where an exporter keeps what must outlive one run: `configured` (the
/// `state_directory` key) when given, else the first entry of `$STATE_DIRECTORY`, which
/// systemd's `StateDirectory=` sets (a colon-separated list when a unit has several); `None`
/// when neither is set, and the exporter keeps nothing across runs.
pub fn state_directory(configured: Option<PathBuf>) -> Option<PathBuf> {
    configured.or_else(|| {
        std::env::var("STATE_DIRECTORY").ok().and_then(|v| {
            v.split(':')
                .next()
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        })
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn reads_a_regular_file_within_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read(&p, 5).unwrap(), b"hello");
        assert_eq!(read_to_string(&p, 100).unwrap(), "hello");
        let e = read(&p, 4).unwrap_err();
        assert_eq!(e.reason(), "too_large");
        assert!(e.to_string().contains(&*p.to_string_lossy()), "{e}");
        // A file of /proc has a size of 0 and contents all the same, still bounded.
        let status = Path::new("/proc/self/status");
        let text = read_to_string(status, 1 << 20).unwrap();
        assert!(text.contains("Name:"), "{text}");
        assert_eq!(read(status, 8).unwrap_err().reason(), "too_large");
        // Found by an expansion (no stat of its own), read the same way.
        let found = expand(&dir.path().join("*").display().to_string(), 10).unwrap();
        assert_eq!(read_found(&found.files[0], 5).unwrap(), b"hello");
        assert_eq!(
            read_found(&found.files[0], 4).unwrap_err().reason(),
            "too_large"
        );
    }

    #[test]
    fn refuses_fifo_device_directory_and_socket_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let sock = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        for (path, kind) in [
            (fifo.as_path(), FileKind::Fifo),
            (Path::new("/dev/zero"), FileKind::CharDevice),
            (dir.path(), FileKind::Directory),
            (sock.as_path(), FileKind::Socket),
        ] {
            let e = read(path, 1 << 20).unwrap_err();
            assert!(
                matches!(e.problem, FileProblem::NotRegular(k) if k == kind),
                "{path:?}: {e:?}"
            );
            assert_eq!(e.reason(), "not_regular_file");
            assert!(open_regular(path).is_err());
            assert!(check_regular(path, None).is_err());
        }
    }

    #[test]
    fn missing_file_and_dangling_link_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert_eq!(read(&missing, 10).unwrap_err().reason(), "not_found");
        let link = dir.path().join("link");
        symlink(&missing, &link).unwrap();
        assert_eq!(read(&link, 10).unwrap_err().reason(), "broken_symlink");
    }

    #[test]
    fn not_utf8_text_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert_eq!(read_to_string(&p, 10).unwrap_err().reason(), "read_failed");
    }

    fn names(e: &Expansion) -> Vec<String> {
        e.files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn expand_globs_directories_and_files_with_one_rule() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        for f in [
            "a.pem",
            "b.pem",
            ".hidden.pem",
            "sub/c.pem",
            "sub/deeper/d.pem",
        ] {
            std::fs::write(d.join(f), "x").unwrap();
        }
        symlink(d.join("gone.pem"), d.join("dangling.pem")).unwrap();
        symlink(d.join("a.pem"), d.join("alias.pem")).unwrap();
        mkfifo(&d.join("pipe.pem"));

        let e = expand(&format!("{}/*.pem", d.display()), EXPAND_LIMIT).unwrap();
        assert_eq!(names(&e), ["a.pem", "alias.pem", "b.pem"]);
        let mut reasons: Vec<_> = e
            .errors
            .iter()
            .map(|e| {
                (
                    e.path.file_name().unwrap().to_string_lossy().into_owned(),
                    e.reason(),
                )
            })
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                ("dangling.pem".to_owned(), "broken_symlink"),
                ("pipe.pem".to_owned(), "not_regular_file")
            ]
        );

        let e = expand(&format!("{}/**/*.pem", d.display()), EXPAND_LIMIT).unwrap();
        assert_eq!(names(&e), ["a.pem", "alias.pem", "b.pem", "c.pem", "d.pem"]);

        // A directory: its entries, dot files included, not recursive; subdirectories skipped.
        let e = expand(&d.display().to_string(), EXPAND_LIMIT).unwrap();
        assert_eq!(names(&e), [".hidden.pem", "a.pem", "alias.pem", "b.pem"]);
        assert_eq!(e.errors.len(), 2);

        // A file names itself; a missing one is not_found; a FIFO is refused.
        let e = expand(&d.join("a.pem").display().to_string(), EXPAND_LIMIT).unwrap();
        assert_eq!(names(&e), ["a.pem"]);
        let e = expand(&d.join("nope").display().to_string(), EXPAND_LIMIT).unwrap();
        assert!(e.files.is_empty());
        assert_eq!(e.errors[0].reason(), "not_found");
        let e = expand(&d.join("pipe.pem").display().to_string(), EXPAND_LIMIT).unwrap();
        assert_eq!(e.errors[0].reason(), "not_regular_file");

        // A path that cannot be looked at at all.
        assert!(expand("/etc/passwd/x", EXPAND_LIMIT).is_err());
        assert!(expand("[", EXPAND_LIMIT).is_err());
    }

    #[test]
    fn names_that_are_not_utf8_are_matched_and_kept_apart() {
        use std::{ffi::OsStr, os::unix::ffi::OsStrExt};
        let dir = tempfile::tempdir().unwrap();
        for b in [0xffu8, 0xfe] {
            let bytes = [b'a', b, b'.', b'p', b'e', b'm'];
            let name = OsStr::from_bytes(&bytes);
            std::fs::write(dir.path().join(name), "x").unwrap();
            std::fs::create_dir_all(dir.path().join(OsStr::from_bytes(&[b'd', b])).join("x"))
                .unwrap();
            std::fs::write(
                dir.path()
                    .join(OsStr::from_bytes(&[b'd', b]))
                    .join("x/c.pem"),
                "x",
            )
            .unwrap();
        }
        let e = expand(&format!("{}/a?.pem", dir.path().display()), EXPAND_LIMIT).unwrap();
        assert_eq!(e.files.len(), 2);
        assert_ne!(e.files[0].path, e.files[1].path);
        let e = expand(&format!("{}/**/*.pem", dir.path().display()), EXPAND_LIMIT).unwrap();
        assert_eq!(e.files.len(), 4, "{e:?}");
        let e = expand(
            &format!("{}/d*/x/*.pem", dir.path().display()),
            EXPAND_LIMIT,
        )
        .unwrap();
        assert_eq!(e.files.len(), 2, "{e:?}");
    }

    #[test]
    fn expand_stops_at_its_limit_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}.pem")), "x").unwrap();
        }
        let e = expand(&format!("{}/*.pem", dir.path().display()), 3).unwrap();
        assert_eq!(names(&e), ["0.pem", "1.pem", "2.pem"]);
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].reason(), "too_many_entries");
    }
}
