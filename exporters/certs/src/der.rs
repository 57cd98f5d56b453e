//! A small reader of DER (and definite-length BER) structures, for the containers that hold
//! certificates: PKCS#7 SignedData and PKCS#12 files.
//!
//! It only walks tag-length-value elements with asn1-rs (which x509-parser already brings) and
//! says which element was missing or of the wrong kind, so that a broken container becomes an
//! error that names the part, never a panic. Lengths are checked against the input, so no
//! element can claim more memory than the file holds.

use std::borrow::Cow;

use x509_parser::asn1_rs::{Any, Class, FromBer, Oid, Tag};

/// Reads the elements of one constructed value (or of a whole file) in order.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    /// Whether every element has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// What is left unread.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The next element, whatever it is; `what` names it in the error.
    pub fn any(&mut self, what: &str) -> Result<Any<'a>, String> {
        if self.rest.is_empty() {
            return Err(format!("{what} is missing"));
        }
        let (rest, any) = Any::from_ber(self.rest).map_err(|e| format!("{what}: {e}"))?;
        self.rest = rest;
        Ok(any)
    }

    /// The next element and its whole encoding (header and contents).
    pub fn element(&mut self, what: &str) -> Result<(Any<'a>, &'a [u8]), String> {
        let before = self.rest;
        let any = self.any(what)?;
        Ok((any, &before[..before.len() - self.rest.len()]))
    }

    /// The contents of the next element, which must be of universal type `tag`.
    pub fn universal(&mut self, tag: Tag, what: &str) -> Result<&'a [u8], String> {
        let any = self.any(what)?;
        if any.class() != Class::Universal || any.tag() != tag {
            return Err(format!("{what}: expected {tag}, found {}", describe(&any)));
        }
        Ok(any.data)
    }

    /// A reader of the next element's contents, which must be a SEQUENCE.
    pub fn sequence(&mut self, what: &str) -> Result<Reader<'a>, String> {
        self.universal(Tag::Sequence, what).map(Reader::new)
    }

    /// The next element's contents, which must be an OCTET STRING.
    pub fn octets(&mut self, what: &str) -> Result<&'a [u8], String> {
        self.universal(Tag::OctetString, what)
    }

    /// The next element, an OBJECT IDENTIFIER, in dotted form.
    pub fn oid(&mut self, what: &str) -> Result<String, String> {
        let data = self.universal(Tag::Oid, what)?;
        Ok(Oid::new(Cow::Borrowed(data)).to_id_string())
    }

    /// The next element, a non-negative INTEGER that fits in a u64.
    pub fn unsigned(&mut self, what: &str) -> Result<u64, String> {
        let data = self.universal(Tag::Integer, what)?;
        let negative = data.first().is_some_and(|b| b & 0x80 != 0);
        let digits = match data.iter().position(|&b| b != 0) {
            Some(i) => &data[i..],
            None => &[][..],
        };
        if negative || digits.len() > 8 {
            return Err(format!("{what}: integer out of range"));
        }
        Ok(digits.iter().fold(0, |n, &b| n << 8 | u64::from(b)))
    }

    /// The contents of the next element when it is context-specific `[n]`, which it consumes;
    /// `None` (and nothing consumed) otherwise.
    pub fn optional_context(&mut self, n: u32) -> Result<Option<&'a [u8]>, String> {
        let mut peek = *self;
        match peek.any("") {
            Ok(any) if any.class() == Class::ContextSpecific && any.tag() == Tag(n) => {
                *self = peek;
                Ok(Some(any.data))
            }
            Ok(_) => Ok(None),
            Err(_) if self.rest.is_empty() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The contents of the next element, which must be context-specific `[n]`.
    pub fn context(&mut self, n: u32, what: &str) -> Result<&'a [u8], String> {
        self.optional_context(n)?
            .ok_or_else(|| format!("{what}: expected [{n}]"))
    }
}

/// An element's class and tag, for errors.
fn describe(any: &Any<'_>) -> String {
    match any.class() {
        Class::Universal => any.tag().to_string(),
        class => format!("{class:?} [{}]", any.tag().0),
    }
}

/// The contents of `data` after the header of an outer SEQUENCE, even when the SEQUENCE is cut
/// short: enough to recognise a container by its first bytes and then say it is truncated.
pub fn sequence_start(data: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = data.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if tag != 0x30 {
        return None;
    }
    match len {
        0..=0x80 => Some(rest),
        0x81..=0x84 => rest.get(usize::from(len - 0x80)..),
        _ => None,
    }
}

/// The length of the first element of `data` (header and contents), if it is one.
pub fn element_len(data: &[u8]) -> Option<usize> {
    let (rest, _) = Any::from_ber(data).ok()?;
    Some(data.len() - rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_and_names_what_is_missing() {
        // SEQUENCE { INTEGER 3, OID 1.2.840.113549.1.7.1, [0] { OCTET STRING "hi" } }
        let data = [
            0x30, 0x14, 0x02, 0x01, 0x03, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
            0x07, 0x01, 0xa0, 0x04, 0x04, 0x02, b'h', b'i',
        ];
        let mut outer = Reader::new(&data);
        let mut seq = outer.sequence("PFX").unwrap();
        assert!(outer.is_empty());
        assert_eq!(seq.unsigned("version").unwrap(), 3);
        assert_eq!(seq.oid("type").unwrap(), "1.2.840.113549.1.7.1");
        assert_eq!(seq.optional_context(1).unwrap(), None);
        let inner = seq.context(0, "content").unwrap();
        assert_eq!(Reader::new(inner).octets("data").unwrap(), b"hi");
        assert_eq!(seq.any("mac").unwrap_err(), "mac is missing");
        assert!(
            Reader::new(&data[2..])
                .sequence("x")
                .unwrap_err()
                .contains("x: expected Sequence, found Integer")
        );
        assert!(Reader::new(&data[..10]).sequence("cut").is_err());
        assert_eq!(element_len(&data), Some(data.len()));
        assert_eq!(element_len(&[0x30, 0x05]), None);
        assert_eq!(sequence_start(&data[..5]), Some(&data[2..5]));
        assert_eq!(
            sequence_start(&[0x30, 0x82, 0x01, 0x00, 0x02]),
            Some(&[0x02][..])
        );
        assert_eq!(sequence_start(&[0x31, 0x00]), None);
        assert_eq!(sequence_start(&[0x30, 0x82, 0x01]), None);
    }
}
