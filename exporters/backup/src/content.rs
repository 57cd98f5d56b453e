//! Content checks that catch a truncated or half-written backup file.
//!
//! Trailer checks (`pg_dump`, `pg_dumpall`, `tar`) read only the file's last [`TAIL`] bytes, so
//! they cost the same for a 50 GB dump as for a small one. `gzip` must decompress the whole
//! stream (a gzip member's CRC and length are checked at its end), in fixed 64 KiB buffers; the
//! trailer checks then apply to the last bytes of the decompressed data.

use std::{
    fs::File,
    io::{self, Read, Seek, SeekFrom},
    path::Path,
};

use crate::config::Check;

/// How many bytes at the end of the (decompressed) data the trailer checks look at.
pub const TAIL: usize = 16 * 1024;

const DUMP_TRAILER: &str = "-- PostgreSQL database dump complete";
const CLUSTER_TRAILER: &str = "-- PostgreSQL database cluster dump complete";

/// The result of the checks of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Complete,
    /// A check failed; the text says which and why.
    Incomplete(String),
}

/// Runs `checks` on the file at `path`. `Err` only when the file cannot be read at all.
pub fn check_file(path: &Path, checks: &[Check]) -> io::Result<Verdict> {
    // Checked to be a regular file before and after a non-blocking open: a FIFO swapped in
    // since the path was expanded must not block the check thread forever.
    let (mut file, _) = sysgauge_common::fs::open_regular(path)?;
    let (tail, len) = if checks.contains(&Check::Gzip) {
        match gunzip_tail(&mut file)? {
            Ok(found) => found,
            Err(why) => return Ok(Verdict::Incomplete(why)),
        }
    } else {
        let len = file.metadata()?.len();
        let start = len.saturating_sub(TAIL as u64);
        file.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::with_capacity((len - start) as usize);
        file.take(TAIL as u64).read_to_end(&mut tail)?;
        (tail, len)
    };
    let verdict = check_tail(&tail, checks);
    if verdict == Verdict::Complete && checks.contains(&Check::Tar) && !tar_length_ok(len) {
        return Ok(Verdict::Incomplete(format!(
            "tar: the length {len} is not a multiple of 512: truncated"
        )));
    }
    Ok(verdict)
}

/// Decompresses every gzip member to the end and returns the last [`TAIL`] bytes and the
/// decompressed length, or `Ok(Err(why))` when the stream is not a complete gzip file.
fn gunzip_tail(file: &mut File) -> io::Result<Result<(Vec<u8>, u64), String>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Err("gzip: the file is empty".into()));
    }
    let mut decoder =
        flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(64 * 1024, &mut *file));
    let mut buf = vec![0u8; 64 * 1024];
    // A ring of the last TAIL bytes, kept as a Vec that is compacted when it doubles.
    let mut tail: Vec<u8> = Vec::with_capacity(2 * TAIL);
    let mut total = 0u64;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // A truncated stream is UnexpectedEof, a bad CRC or deflate data InvalidInput or
                // InvalidData; all mean an incomplete file, not an unreadable one.
                return Ok(Err(match e.kind() {
                    io::ErrorKind::UnexpectedEof => {
                        "gzip: the stream ends early (truncated)".into()
                    }
                    _ => format!("gzip: {e}"),
                }));
            }
        };
        total += n as u64;
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * TAIL {
            tail.drain(..tail.len() - TAIL);
        }
    }
    if tail.len() > TAIL {
        tail.drain(..tail.len() - TAIL);
    }
    Ok(Ok((tail, total)))
}

/// The trailer checks on the last bytes of the data.
pub fn check_tail(tail: &[u8], checks: &[Check]) -> Verdict {
    for check in checks {
        let failed = match check {
            Check::Gzip => None,
            Check::PgDump => pg_trailer(tail, DUMP_TRAILER).err(),
            Check::PgDumpall => pg_trailer(tail, CLUSTER_TRAILER).err(),
            Check::Tar => tar_end(tail).err(),
        };
        if let Some(why) = failed {
            return Verdict::Incomplete(why);
        }
    }
    Verdict::Complete
}

/// A plain dump ends with `--`, the trailer line, `--` and a blank line. pg_dump since 17.6,
/// 16.10, 15.14 (August 2025) writes `\unrestrict KEY` after them; nothing else may follow.
fn pg_trailer(tail: &[u8], trailer: &str) -> Result<(), String> {
    let text = String::from_utf8_lossy(tail);
    let Some(at) = text.rfind(trailer) else {
        return Err(format!(
            "no {trailer:?} line at the end: the dump is truncated or failed"
        ));
    };
    let after = &text[at + trailer.len()..];
    let extra = after
        .lines()
        .map(str::trim)
        .find(|l| !(l.is_empty() || *l == "--" || l.starts_with("\\unrestrict ")));
    match extra {
        None => Ok(()),
        Some(line) => Err(format!(
            "{trailer:?} is followed by more data ({line:?}): not the end of the dump"
        )),
    }
}

/// A tar archive ends with two zeroed 512-byte blocks, then zero padding to the record size;
/// its length is a multiple of 512. A file truncated inside a member fails one of these (unless
/// the member's own data happen to end in 1024 zero bytes at a block boundary).
fn tar_end(tail: &[u8]) -> Result<(), String> {
    if tail.len() < 1024 {
        return Err("tar: shorter than the end-of-archive marker".into());
    }
    if tail[tail.len() - 1024..].iter().any(|b| *b != 0) {
        return Err("tar: no end-of-archive marker (two zero blocks) at the end: truncated".into());
    }
    Ok(())
}

/// The tar length rule, which needs the whole length rather than the tail.
fn tar_length_ok(len: u64) -> bool {
    len.is_multiple_of(512)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn pg_trailers() {
        let dump = "SET x;\n\n--\n-- PostgreSQL database dump complete\n--\n\n";
        assert_eq!(
            check_tail(dump.as_bytes(), &[Check::PgDump]),
            Verdict::Complete
        );
        let restricted = format!("{dump}\\unrestrict AbC123\n\n");
        assert_eq!(
            check_tail(restricted.as_bytes(), &[Check::PgDump]),
            Verdict::Complete
        );
        let cut = &dump[..20];
        assert!(matches!(
            check_tail(cut.as_bytes(), &[Check::PgDump]),
            Verdict::Incomplete(w) if w.contains("truncated")
        ));
        // A pg_dumpall cut right after one database: the database trailer is there, the
        // cluster trailer is not.
        assert!(matches!(
            check_tail(dump.as_bytes(), &[Check::PgDumpall]),
            Verdict::Incomplete(_)
        ));
        let more = format!("{dump}CREATE TABLE t ();\n");
        assert!(matches!(
            check_tail(more.as_bytes(), &[Check::PgDump]),
            Verdict::Incomplete(w) if w.contains("CREATE TABLE")
        ));
    }

    #[test]
    fn gzip_complete_truncated_and_concatenated() {
        let dir = tempfile::tempdir().unwrap();
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let body = "x".repeat(100_000) + "\n--\n-- PostgreSQL database dump complete\n--\n\n";
        let whole = gz(body.as_bytes());
        let p = dir.path().join("a.sql.gz");
        std::fs::write(&p, &whole).unwrap();
        assert_eq!(
            check_file(&p, &[Check::Gzip, Check::PgDump]).unwrap(),
            Verdict::Complete
        );
        std::fs::write(&p, &whole[..whole.len() - 4]).unwrap();
        assert_eq!(
            check_file(&p, &[Check::Gzip]).unwrap(),
            Verdict::Incomplete("gzip: the stream ends early (truncated)".into())
        );
        // Two members (pigz, or `cat a.gz b.gz`): the second holds the trailer.
        let mut two = gz(b"first\n");
        two.extend(gz(body.as_bytes()));
        std::fs::write(&p, &two).unwrap();
        assert_eq!(
            check_file(&p, &[Check::Gzip, Check::PgDump]).unwrap(),
            Verdict::Complete
        );
        // Complete gzip, but the dump inside was cut.
        std::fs::write(&p, gz(&body.as_bytes()[..50_000])).unwrap();
        assert!(matches!(
            check_file(&p, &[Check::Gzip, Check::PgDump]).unwrap(),
            Verdict::Incomplete(w) if w.contains("dump complete")
        ));
        std::fs::write(&p, b"").unwrap();
        assert_eq!(
            check_file(&p, &[Check::Gzip]).unwrap(),
            Verdict::Incomplete("gzip: the file is empty".into())
        );
    }

    #[test]
    fn tar_marker() {
        let mut t = vec![1u8; 512];
        t.extend([0u8; 1024]);
        assert_eq!(check_tail(&t, &[Check::Tar]), Verdict::Complete);
        assert!(matches!(
            check_tail(&t[..1000], &[Check::Tar]),
            Verdict::Incomplete(_)
        ));
        assert!(tar_length_ok(10240));
        assert!(!tar_length_ok(10000));
    }
}
