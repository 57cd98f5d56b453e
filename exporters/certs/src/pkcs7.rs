//! Certificates in a PKCS#7 / CMS SignedData (`.p7b`, `.p7c`, `-----BEGIN PKCS7-----`), the
//! "certificates only" bundle that Windows, Java tooling and `openssl crl2pkcs7 -nocrl` write.
//!
//! Only the `certificates` field is read; signatures, CRLs and signer infos are skipped.

use x509_parser::asn1_rs::Tag;

use crate::der::Reader;

/// id-signedData.
const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";

/// The DER encoding of the OID id-signedData, with its tag and length.
const SIGNED_DATA_DER: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
];

/// Whether `data` starts like a PKCS#7 ContentInfo of type SignedData (even when cut short,
/// so that a truncated bundle is reported as one).
pub fn looks_like(data: &[u8]) -> bool {
    crate::der::sequence_start(data).is_some_and(|inner| inner.starts_with(&SIGNED_DATA_DER))
}

/// The DER encodings of the certificates of a SignedData ContentInfo, in stored order, and the
/// number of bytes the ContentInfo took (the rest of `data` is trailing).
pub fn certificates(data: &[u8]) -> Result<(Vec<&[u8]>, usize), String> {
    let mut outer = Reader::new(data);
    let mut info = outer.sequence("ContentInfo")?;
    let used = data.len() - outer.rest().len();
    let kind = info.oid("contentType")?;
    if kind != SIGNED_DATA {
        return Err(format!(
            "content type {kind}, not signedData ({SIGNED_DATA})"
        ));
    }
    let mut content = Reader::new(info.context(0, "content")?);
    let mut signed = content.sequence("SignedData")?;
    signed.universal(Tag::Integer, "SignedData version")?;
    signed.universal(Tag::Set, "digestAlgorithms")?;
    signed.sequence("encapContentInfo")?;
    let mut certs = Vec::new();
    if let Some(set) = signed.optional_context(0)? {
        let mut set = Reader::new(set);
        while !set.is_empty() {
            let (any, raw) = set.element("certificate")?;
            // Only X.509 certificates (a SEQUENCE); attribute certificates and other
            // choices are tagged [1]..[3] and skipped.
            if any.tag() == Tag::Sequence {
                certs.push(raw);
            }
        }
    }
    Ok((certs, used))
}
