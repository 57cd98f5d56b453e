//! The `files` collector: certificates in files, directories and globs.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
};

use async_trait::async_trait;
use rustls_pki_types::UnixTime;
use serde::Deserialize;
use sysgauge_common::{
    BoxError, Collector, MetricSet,
    collector::error_chain,
    fs::{CERTIFICATE_FILE_LIMIT, EXPAND_LIMIT, Found},
    path_label,
};

use crate::{
    error::Error,
    metrics::*,
    revocation::Revocation,
    verify::{CaBundle, NotVerified, key_matches},
    x509::{BadBlock, BadKind, read},
};

/// One `[[files]]` source: where to look, and what to check the certificates against.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// Files, directories (their files, not recursive) and globs (`*`, `?`, `[...]`, and `**`
    /// for any depth), expanded by the one rule of [`sysgauge_common::fs::expand`].
    pub paths: Vec<String>,
    /// A CA bundle (PEM or DER) that each file's chain must verify against, e.g. a private
    /// step-ca root. The first certificate of a file is the leaf, the others intermediates.
    pub ca_bundle: Option<PathBuf>,
    /// The private key that belongs to each file's first certificate. A relative path is taken
    /// from the certificate file's directory, so `key = "privkey.pem"` fits every certbot
    /// `live/*/fullchain.pem`.
    pub key: Option<PathBuf>,
    /// A file holding the password of this source's PKCS#12 files (`.p12`, `.pfx`); one
    /// trailing newline is not part of it. Without a password the empty one is tried.
    pub pkcs12_password_file: Option<PathBuf>,
    /// The name of a systemd credential (`LoadCredential=`) holding that password instead.
    pub pkcs12_password_credential: Option<String>,
}

impl FileSource {
    /// Checks the patterns, so that a bad glob is a configuration error at start-up.
    pub fn validate(&self) -> Result<(), Error> {
        if self.paths.is_empty() {
            return Err(Error::Pattern {
                pattern: String::new(),
                message: "a [[files]] source needs at least one path".into(),
            });
        }
        if let Some(name) = &self.pkcs12_password_credential {
            let bad = |message: String| Error::Setting {
                key: "pkcs12_password_credential",
                message,
            };
            if self.pkcs12_password_file.is_some() {
                return Err(bad(
                    "give pkcs12_password_file or pkcs12_password_credential, not both".into(),
                ));
            }
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(bad(format!("{name:?} must be a plain credential name")));
            }
            if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
                return Err(bad(
                    "CREDENTIALS_DIRECTORY is not set; use LoadCredential= in the systemd unit"
                        .into(),
                ));
            }
        }
        for pattern in &self.paths {
            sysgauge_common::fs::validate_pattern(pattern).map_err(|message| Error::Pattern {
                pattern: pattern.clone(),
                message,
            })?;
        }
        Ok(())
    }
}

/// Reads every configured certificate file on each collection.
#[derive(Debug)]
pub struct FilesCollector {
    sources: Vec<FileSource>,
}

impl FilesCollector {
    /// A collector for `sources`.
    pub fn new(sources: Vec<FileSource>) -> Self {
        Self { sources }
    }
}

#[async_trait]
impl Collector for FilesCollector {
    fn name(&self) -> &'static str {
        "files"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let sources = self.sources.clone();
        Ok(tokio::task::spawn_blocking(move || scan(&sources)).await?)
    }
}

/// Reads every source. A file matched by several sources is reported once, by the first.
fn scan(sources: &[FileSource]) -> MetricSet {
    let now = UnixTime::now();
    let mut set = MetricSet::new();
    let mut seen = HashSet::new();
    let mut revocation = Revocation::default();
    for source in sources {
        let ca = source.ca_bundle.as_deref().map(|path| {
            CaBundle::load(path).inspect_err(|e| {
                tracing::warn!(error = %error_chain(e), "CA bundle unusable; chains of this source are reported as not verified");
                set.add(&FILE_ERRORS, [path_label(path), e.reason().into()], 1.0);
            })
        });
        let password = pkcs12_password(source).and_then(|(path, read)| {
            read.inspect_err(|e| report_problems(&mut set, &path, std::slice::from_ref(e)))
                .ok()
        });
        for pattern in &source.paths {
            let files = expand(&mut set, pattern);
            if files.is_empty() {
                tracing::warn!(source = %pattern, "the path pattern matched no file");
            }
            set.add(&SOURCE_FILES, [pattern.as_str()], files.len() as f64);
            let checks = Checks {
                ca: ca.as_ref(),
                key: source.key.as_deref(),
                password: password.as_deref(),
                now,
            };
            let files: Vec<Found> = files
                .into_iter()
                .filter(|f| seen.insert(f.path.clone()))
                .collect();
            report_files(&mut set, &files, &checks, &mut revocation);
        }
    }
    revocation.report(&mut set);
    set
}

/// The most threads that read and parse the files of one pattern.
const READERS: usize = 4;

/// The fewest files worth a thread of their own: starting one costs about as much as reading
/// a few files, and most patterns name a handful.
const FILES_PER_READER: usize = 256;

/// Reports `files` in their order. Tens of thousands of files (a CA's archive of issued
/// certificates) are read and parsed by several threads, each into a set of its own, merged in
/// order afterwards, so that the output is the same as one thread's; the number of threads
/// follows the CPUs the exporter may use (its unit's `CPUQuota=` included) and falls back to
/// this thread alone when no thread can be started (`TasksMax=`).
fn report_files(
    set: &mut MetricSet,
    files: &[Found],
    checks: &Checks<'_>,
    revocation: &mut Revocation,
) {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let readers = (files.len() / FILES_PER_READER).clamp(1, cpus.min(READERS));
    report_files_by(set, files, checks, revocation, readers);
}

/// [`report_files`] with `readers` threads.
fn report_files_by(
    set: &mut MetricSet,
    files: &[Found],
    checks: &Checks<'_>,
    revocation: &mut Revocation,
    readers: usize,
) {
    if readers <= 1 {
        for file in files {
            report_file(set, file, checks, revocation);
        }
        return;
    }
    let read_part = |part: &[Found]| {
        let mut set = MetricSet::new();
        let mut revocation = Revocation::default();
        for file in part {
            report_file(&mut set, file, checks, &mut revocation);
        }
        (set, revocation)
    };
    std::thread::scope(|scope| {
        let parts: Vec<_> = files
            .chunks(files.len().div_ceil(readers))
            .map(|part| {
                let thread = std::thread::Builder::new()
                    .name("certs-reader".into())
                    .spawn_scoped(scope, move || read_part(part));
                (part, thread)
            })
            .collect();
        for (part, thread) in parts {
            let (part_set, part_revocation) = match thread {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(e) => {
                    tracing::debug!(error = %e, "no reader thread; reading in this one");
                    read_part(part)
                }
            };
            set.extend(part_set);
            revocation.extend(part_revocation);
        }
    });
}

/// The regular files a pattern names (see [`sysgauge_common::fs::expand`] for the rule).
/// Every entry that is not a readable regular file (a dangling link, a FIFO, an unreadable
/// directory, a missing path) becomes a `sysgauge_cert_file_errors` series and a log line.
fn expand(set: &mut MetricSet, pattern: &str) -> Vec<Found> {
    let (files, errors) = match sysgauge_common::fs::expand(pattern, EXPAND_LIMIT) {
        Ok(expansion) => (expansion.files, expansion.errors),
        Err(e) => (Vec::new(), vec![e]),
    };
    for e in errors {
        report_problems(set, &e.path.clone(), &[Error::File(e)]);
    }
    files
}

/// The PKCS#12 password of a source, if it has one: the file it is read from, and the
/// password without one trailing newline, or why it cannot be read.
fn pkcs12_password(source: &FileSource) -> Option<(PathBuf, Result<Vec<u8>, Error>)> {
    let path = match (
        &source.pkcs12_password_file,
        &source.pkcs12_password_credential,
    ) {
        (Some(file), _) => file.clone(),
        (None, Some(name)) => {
            // Checked at start-up to be set.
            let dir = std::env::var_os("CREDENTIALS_DIRECTORY").unwrap_or_default();
            PathBuf::from(dir).join(name)
        }
        (None, None) => return None,
    };
    let read = sysgauge_common::fs::read(&path, sysgauge_common::fs::SECRET_FILE_LIMIT)
        .map(|mut data| {
            if data.ends_with(b"\n") {
                data.pop();
                if data.ends_with(b"\r") {
                    data.pop();
                }
            }
            data
        })
        .map_err(|e| Error::Password {
            path: path.clone(),
            message: format!("cannot read the password file: {}", e.problem),
        });
    Some((path, read))
}

/// What a source checks each of its files against, and how it opens them.
struct Checks<'a> {
    ca: Option<&'a Result<CaBundle, Error>>,
    key: Option<&'a Path>,
    password: Option<&'a [u8]>,
    now: UnixTime,
}

/// Reports one file; every problem becomes a log line and a `sysgauge_cert_file_errors` count.
fn report_file(
    set: &mut MetricSet,
    file: &Found,
    checks: &Checks<'_>,
    revocation: &mut Revocation,
) {
    let path = file.path.as_path();
    let shown = path_label(path);
    let mut problems = Vec::new();
    match sysgauge_common::fs::read_found(file, CERTIFICATE_FILE_LIMIT) {
        Ok(data) => {
            let contents = read(&data, checks.password);
            for (index, crl) in contents.crls.into_iter().enumerate() {
                match crl {
                    Ok(crl) => revocation.crl(set, &shown, index, crl),
                    Err(bad) => problems.push(block_error(path, bad)),
                }
            }
            report_certificates(
                set,
                (path, &shown),
                contents.certificates,
                checks,
                revocation,
                &mut problems,
            );
        }
        Err(e) => problems.push(Error::File(e)),
    }
    report_problems(set, path, &problems);
}

/// The error of one part of a file that could not be read.
fn block_error(path: &Path, bad: BadBlock) -> Error {
    let path = path.to_owned();
    let BadBlock { at, kind, message } = bad;
    match kind {
        BadKind::Certificate => Error::BadBlock { path, at, message },
        BadKind::Trailing => Error::Trailing {
            path,
            message: format!("at {at}: {message}"),
        },
        BadKind::Pkcs7 => Error::Container {
            path,
            format: at,
            message,
            reason: "bad_pkcs7",
        },
        BadKind::Pkcs12 => Error::Container {
            path,
            format: at,
            message,
            reason: "bad_pkcs12",
        },
        BadKind::Password => Error::Password { path, message },
        BadKind::Crl => Error::Container {
            path,
            format: format!("CRL, {at}"),
            message,
            reason: "bad_crl",
        },
    }
}

/// Each problem of a file becomes a log line naming it; their count by reason a
/// `sysgauge_cert_file_errors` series.
fn report_problems(set: &mut MetricSet, path: &Path, problems: &[Error]) {
    let shown = path_label(path);
    let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    for e in problems {
        tracing::warn!(path = %shown, reason = e.reason(), error = %error_chain(e), "certificate file problem");
        *counts.entry(e.reason()).or_default() += 1;
    }
    for (reason, count) in counts {
        set.add(&FILE_ERRORS, [shown.as_str(), reason], f64::from(count));
    }
}

fn report_certificates(
    set: &mut MetricSet,
    (path, shown): (&Path, &str),
    blocks: Vec<crate::x509::Block>,
    checks: &Checks<'_>,
    revocation: &mut Revocation,
    problems: &mut Vec<Error>,
) {
    // A file of CRLs only has no certificate to miss.
    if blocks.is_empty() && problems.is_empty() && !revocation.has_crl_of(shown) {
        problems.push(Error::NoCertificate {
            path: path.to_owned(),
        });
    }
    let mut good = Vec::new();
    for (index, block) in blocks.into_iter().enumerate() {
        match block {
            Ok(cert) => {
                report_certificate(set, &FILE_CERT, (shown, index), &cert);
                revocation.certificate(shown, index, &cert);
                good.push(cert);
            }
            Err(bad) => problems.push(block_error(path, bad)),
        }
    }
    set.add(&FILE_CERTIFICATES, [shown], good.len() as f64);
    let Some(leaf) = good.first() else {
        return;
    };

    if let Some(ca) = checks.ca {
        let verified = match ca {
            Ok(bundle) => {
                let intermediates: Vec<_> = good[1..].iter().map(|c| c.der.clone()).collect();
                match bundle.verify(&leaf.der, &intermediates, checks.now) {
                    Ok(()) => Some(true),
                    Err(NotVerified::Failed(why)) => {
                        tracing::warn!(path = %shown, subject_cn = %leaf.subject_cn, reason = %why, "certificate chain does not verify against the CA bundle");
                        Some(false)
                    }
                    // No verdict rather than a false "does not verify".
                    Err(NotVerified::Unsupported(message)) => {
                        problems.push(Error::UnsupportedAlgorithm {
                            path: path.to_owned(),
                            message,
                        });
                        None
                    }
                }
            }
            Err(_) => Some(false),
        };
        let bundle = match ca {
            Ok(bundle) => bundle.path(),
            Err(Error::CaBundle { path, .. }) => path,
            Err(_) => Path::new(""),
        };
        if let Some(verified) = verified {
            set.add(
                &CHAIN_VERIFIED,
                [shown.to_owned(), path_label(bundle)],
                if verified { 1.0 } else { 0.0 },
            );
        }
    }

    if let Some(key) = checks.key {
        let key_path = match path.parent() {
            Some(dir) if key.is_relative() => dir.join(key),
            _ => key.to_owned(),
        };
        match key_matches(&leaf.der, &key_path) {
            Ok(matches) => {
                if !matches {
                    tracing::warn!(path = %shown, key = %path_label(&key_path), "the private key does not belong to the certificate");
                }
                set.add(
                    &KEY_MATCH,
                    [shown.to_owned(), path_label(&key_path)],
                    if matches { 1.0 } else { 0.0 },
                );
            }
            Err(e) => problems.push(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several reader threads write exactly what one does: the same families, samples and
    /// order, whatever part of the files each thread gets (good certificates, files that are
    /// not certificates, empty files and one that vanished).
    #[test]
    fn readers_in_parallel_report_what_one_reader_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut pattern = dir.path().display().to_string();
        pattern.push_str("/*");
        for i in 0..700 {
            let path = dir.path().join(format!("{i:04}.pem"));
            let contents = match i % 7 {
                3 => "not a certificate\n",
                5 => "",
                _ => crate::x509::tests::CERT,
            };
            std::fs::write(path, contents).unwrap();
        }
        let files = sysgauge_common::fs::expand(&pattern, EXPAND_LIMIT)
            .unwrap()
            .files;
        std::fs::remove_file(dir.path().join("0350.pem")).unwrap();
        let checks = Checks {
            ca: None,
            key: None,
            password: None,
            now: UnixTime::now(),
        };
        let report = |readers| {
            let mut set = MetricSet::new();
            let mut revocation = Revocation::default();
            report_files_by(&mut set, &files, &checks, &mut revocation, readers);
            set
        };
        let one = report(1);
        assert_eq!(
            one.families()
                .find(|f| f.name() == "sysgauge_cert_not_after_timestamp_seconds")
                .map(|f| f.len()),
            Some(499)
        );
        for readers in [2, 3, 4] {
            assert!(report(readers) == one, "{readers} readers");
        }
    }

    #[test]
    fn pkcs12_password_settings_are_checked_at_start() {
        let source = |file: Option<&str>, credential: &str| FileSource {
            paths: vec!["/etc/ssl/*.p12".into()],
            pkcs12_password_file: file.map(PathBuf::from),
            pkcs12_password_credential: Some(credential.into()),
            ..FileSource::default()
        };
        let both = source(Some("/etc/p12.pass"), "p12").validate().unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        for name in ["", "a/b", ".."] {
            let e = source(None, name).validate().unwrap_err().to_string();
            assert!(
                e.starts_with("pkcs12_password_credential:") && e.contains("plain credential name"),
                "{e}"
            );
        }
    }
}
