//! Label values that keep distinct inputs distinct.
//!
//! A Unix path is a string of bytes, a Prometheus label value a string of Unicode characters.
//! The usual conversion (`Path::display`, `to_string_lossy`) turns every invalid UTF-8 byte
//! into U+FFFD, so `/backup/a\xff` and `/backup/a\xfe` become the same label value: the two
//! files collide, and node_exporter drops one series of the textfile as a duplicate.
//!
//! [`path_label`] maps byte strings to label values one to one, and leaves every UTF-8 path
//! without a backslash as it is (nearly every real path):
//!
//! - each byte that is not part of valid UTF-8 becomes `\xNN`, two lower-case hex digits;
//! - a literal backslash becomes `\\`;
//! - everything else is kept.
//!
//! Doubling the backslash is what makes it injective: in the result, every backslash starts
//! an escape (`\\` or `\xNN`), so the original bytes can be read back unambiguously; without
//! it, a file really named `a\xff` (five ASCII characters) would collide with `a` followed by
//! the byte 0xFF. The escapes are those of C, Python and Rust byte strings, so a reader
//! recognises them. docs/metrics.md states the rule.

use std::{os::unix::ffi::OsStrExt, path::Path};

/// The label value of a path; see the module documentation for the rule.
pub fn path_label(path: &Path) -> String {
    bytes_label(path.as_os_str().as_bytes())
}

/// The label value of a byte string, by the rule of [`path_label`].
pub fn bytes_label(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The inverse of [`bytes_label`]; that it exists and round-trips is the proof that the
    /// mapping is injective.
    fn decode(label: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut chars = label.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            match chars.next()? {
                '\\' => out.push(b'\\'),
                'x' => {
                    let hex: String = [chars.next()?, chars.next()?].iter().collect();
                    out.push(u8::from_str_radix(&hex, 16).ok()?);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    #[test]
    fn utf8_paths_are_unchanged() {
        for p in [
            "/etc/ssl/certs/ca.pem",
            "/srv/backup/ünïcødé 2026.sql.gz",
            "",
        ] {
            assert_eq!(path_label(Path::new(p)), p);
        }
    }

    #[test]
    fn invalid_bytes_and_backslashes_are_escaped() {
        use std::ffi::OsStr;
        let a = Path::new(OsStr::from_bytes(b"/b/a\xff"));
        let b = Path::new(OsStr::from_bytes(b"/b/a\xfe"));
        let literal = Path::new("/b/a\\xff");
        assert_eq!(path_label(a), "/b/a\\xff");
        assert_eq!(path_label(b), "/b/a\\xfe");
        assert_eq!(path_label(literal), "/b/a\\\\xff");
        assert_ne!(path_label(a), path_label(literal));
        // A truncated multi-byte sequence: each byte on its own.
        assert_eq!(bytes_label(b"\xe2\x82x"), "\\xe2\\x82x");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn round_trips_so_distinct_inputs_stay_distinct(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode(&bytes_label(&bytes)), Some(bytes));
        }

        #[test]
        fn two_inputs_collide_only_when_equal(
            a in proptest::collection::vec(prop_oneof![Just(b'\\'), Just(b'x'), Just(b'f'), Just(0xffu8), Just(0xc3u8), Just(0xa9u8)], 0..8),
            b in proptest::collection::vec(prop_oneof![Just(b'\\'), Just(b'x'), Just(b'f'), Just(0xffu8), Just(0xc3u8), Just(0xa9u8)], 0..8),
        ) {
            prop_assert_eq!(bytes_label(&a) == bytes_label(&b), a == b);
        }

        #[test]
        fn valid_text_without_backslash_is_kept(s in "[^\\\\]{0,40}") {
            prop_assert_eq!(bytes_label(s.as_bytes()), s);
        }
    }
}
