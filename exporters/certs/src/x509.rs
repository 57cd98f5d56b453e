//! Reading certificates out of PEM bundles and DER files.
//!
//! A PEM file may hold many blocks (a CA bundle, a fullchain, a certificate with its key). Each
//! `CERTIFICATE` block is decoded on its own, so one corrupt block costs only that block; other
//! block types, private keys included, are skipped without being kept.

use base64::Engine;

use crate::{der, pkcs7, pkcs12};
use rustls_pki_types::CertificateDer;
use x509_parser::{
    asn1_rs::Oid,
    prelude::{FromDer, X509Certificate},
};

/// What sysgauge reports about one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The subject's common name, or the whole subject when it has none.
    pub subject_cn: String,
    /// The issuer's common name, or the whole issuer when it has none.
    pub issuer_cn: String,
    /// The serial number in upper-case hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// The issuer's DER-encoded name, to find the CRLs of the issuer.
    pub issuer: Vec<u8>,
    /// What the certificate is made of: names, fingerprint, key and signature.
    pub details: Details,
    /// The DER encoding, for chain verification and key matching.
    pub der: CertificateDer<'static>,
}

/// What sysgauge reports about one certificate revocation list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlInfo {
    /// The issuer's common name, or the whole issuer when it has none.
    pub issuer_cn: String,
    /// The issuer's DER-encoded name, to find the certificates it issued.
    pub issuer: Vec<u8>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds, when the CRL has one.
    pub next_update: Option<i64>,
    /// The serials of the revoked certificates, as [`CertInfo::serial`] spells them.
    pub revoked: Vec<String>,
}

/// Everything read from one file: its certificates and its CRLs, each or why it is not one.
#[derive(Debug, Default)]
pub struct Contents {
    /// Certificates, in order.
    pub certificates: Vec<Block>,
    /// Certificate revocation lists, in order.
    pub crls: Vec<Result<CrlInfo, BadBlock>>,
}

/// What a certificate is made of, as `openssl x509 -text -fingerprint -sha256` prints it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// The subject alternative names of type DNS, sorted, without duplicates.
    pub dns_names: Vec<String>,
    /// The subject alternative names of type IP address, sorted (IPv6 in its short form).
    pub ip_addresses: Vec<String>,
    /// SHA-256 of the DER encoding, upper-case hex pairs joined by `:`.
    pub fingerprint_sha256: String,
    /// The public key's algorithm in openssl's words (`rsaEncryption`, `id-ecPublicKey`,
    /// `ED25519`, ...), or its dotted OID when openssl has no name here for it.
    pub public_key_algorithm: String,
    /// The key's size in bits (RSA modulus, EC curve, 256 for Ed25519), when known.
    pub public_key_bits: Option<u32>,
    /// The signature algorithm in openssl's words (`sha256WithRSAEncryption`, ...).
    pub signature_algorithm: String,
    /// Whether basicConstraints says this is a CA certificate.
    pub is_ca: bool,
}

/// A certificate, or why a block is not one.
pub type Block = Result<CertInfo, BadBlock>;

/// A part of a file that could not be read as certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBlock {
    /// Where in the file: `PEM block 2 (line 13)`, `DER`, `PKCS#12`, ...
    pub at: String,
    /// What kind of problem it is.
    pub kind: BadKind,
    /// What is wrong.
    pub message: String,
}

/// The kinds of [`BadBlock`], each its own `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadKind {
    /// A certificate (or a PEM block meant to hold one) is corrupt.
    Certificate,
    /// Bytes follow a DER structure; what came before it is still read, as openssl does.
    Trailing,
    /// A PKCS#7 bundle is corrupt.
    Pkcs7,
    /// A PKCS#12 file is corrupt or uses an algorithm not read here.
    Pkcs12,
    /// A PKCS#12 file needs a password, or the one configured is wrong.
    Password,
    /// A CRL (PEM `X509 CRL` block) is corrupt.
    Crl,
}

/// Reads every certificate from `data`: PEM (any number of `CERTIFICATE`, `TRUSTED
/// CERTIFICATE` and `PKCS7` blocks), or DER: one certificate, a PKCS#7 bundle or a PKCS#12 file
/// (opened with `password`, or the empty password when there is none). An empty result means
/// the data holds no certificate.
pub fn read_certificates(data: &[u8], password: Option<&[u8]>) -> Vec<Block> {
    read(data, password).certificates
}

/// Reads certificates as [`read_certificates`] does, and CRLs too: PEM `X509 CRL` blocks, or a
/// DER CRL.
pub fn read(data: &[u8], password: Option<&[u8]>) -> Contents {
    if let Some(text) = pem_text(data) {
        return pem_blocks(text);
    }
    let certificates = read_der(data, password);
    if let [Err(bad)] = certificates.as_slice()
        && bad.at == "DER"
        && let Ok(crl) = parse_crl(data)
    {
        return Contents {
            certificates: Vec::new(),
            crls: vec![Ok(crl)],
        };
    }
    Contents {
        certificates,
        crls: Vec::new(),
    }
}

fn read_der(data: &[u8], password: Option<&[u8]>) -> Vec<Block> {
    if pkcs12::looks_like(data) {
        return match pkcs12::certificates(data, password) {
            Ok(certs) => certs
                .into_iter()
                .enumerate()
                .map(|(i, der)| {
                    parse_der(der).map_err(|message| BadBlock {
                        at: format!("PKCS#12 certificate {i}"),
                        kind: BadKind::Certificate,
                        message,
                    })
                })
                .collect(),
            Err(e) => {
                let (kind, message) = match e {
                    pkcs12::Pkcs12Error::Password(m) => (BadKind::Password, m),
                    pkcs12::Pkcs12Error::Malformed(m) => (BadKind::Pkcs12, m),
                };
                vec![Err(BadBlock {
                    at: "PKCS#12".into(),
                    kind,
                    message,
                })]
            }
        };
    }
    if pkcs7::looks_like(data) {
        let mut out = pkcs7_certificates(data, "PKCS#7");
        if let Some(len) = der::element_len(data).filter(|&n| n < data.len()) {
            out.push(Err(trailing("PKCS#7", len, data.len())));
        }
        return out;
    }
    // A certificate is a SEQUENCE that starts with a SEQUENCE (tbsCertificate); anything else
    // is not DER meant to be one.
    let looks_like_certificate = der::Reader::new(data)
        .sequence("")
        .and_then(|mut c| c.sequence(""))
        .is_ok();
    match der::element_len(data).filter(|_| looks_like_certificate) {
        Some(len) => {
            let mut out = vec![parse_der(data[..len].to_vec()).map_err(|message| BadBlock {
                at: "DER".into(),
                kind: BadKind::Certificate,
                message,
            })];
            if len < data.len() && out[0].is_ok() {
                out.push(Err(trailing("DER certificate", len, data.len())));
            }
            out
        }
        None => Vec::new(),
    }
}

fn trailing(what: &str, len: usize, total: usize) -> BadBlock {
    BadBlock {
        at: format!("byte {len}"),
        kind: BadKind::Trailing,
        message: format!(
            "{} bytes follow the {len}-byte {what} (ignored, as openssl does)",
            total - len
        ),
    }
}

/// The certificates of a PKCS#7 SignedData; `at` says where it is in the file.
fn pkcs7_certificates(der: &[u8], at: &str) -> Vec<Block> {
    match pkcs7::certificates(der) {
        Ok((certs, _)) => certs
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                parse_der(c.to_vec()).map_err(|message| BadBlock {
                    at: format!("{at} certificate {i}"),
                    kind: BadKind::Certificate,
                    message,
                })
            })
            .collect(),
        Err(message) => vec![Err(BadBlock {
            at: at.to_owned(),
            kind: BadKind::Pkcs7,
            message,
        })],
    }
}

/// The text of `data` when it looks like PEM.
fn pem_text(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data).ok()?;
    text.contains("-----BEGIN ").then_some(text)
}

fn pem_blocks(text: &str) -> Contents {
    let mut out = Vec::new();
    let mut crls = Vec::new();
    let mut block = 0;
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim() == end {
                closed = true;
                break;
            }
            body.push_str(l.trim());
        }
        let this = block;
        block += 1;
        let kind = match label {
            "CERTIFICATE" | "X509 CERTIFICATE" => PemKind::Certificate,
            // OpenSSL's trusted format: the certificate followed by its trust settings.
            "TRUSTED CERTIFICATE" => PemKind::Trusted,
            "PKCS7" | "PKCS #7 SIGNED DATA" | "CMS" => PemKind::Pkcs7,
            "X509 CRL" => PemKind::Crl,
            _ => continue,
        };
        let at = format!("PEM block {this} (line {})", n + 1);
        // A corrupt CRL block is a CRL that cannot be read (`bad_crl`), counted among the
        // file's CRLs, not among its certificates.
        let is_crl = matches!(kind, PemKind::Crl);
        let bad = |message: String| BadBlock {
            at: at.clone(),
            kind: if is_crl {
                BadKind::Crl
            } else {
                BadKind::Certificate
            },
            message,
        };
        let mut push_bad = |message: String| {
            if is_crl {
                crls.push(Err(bad(message)));
            } else {
                out.push(Err(bad(message)));
            }
        };
        if !closed {
            push_bad(format!("no {end} line"));
            break;
        }
        let der = match base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
            Ok(der) => der,
            Err(e) => {
                push_bad(format!("bad base64: {e}"));
                continue;
            }
        };
        match kind {
            PemKind::Certificate => out.push(parse_der(der).map_err(bad)),
            PemKind::Trusted => {
                let cert = match der::element_len(&der) {
                    Some(len) => {
                        let aux = &der[len..];
                        if !aux.is_empty() && der::element_len(aux) != Some(aux.len()) {
                            Err("the trust settings after the certificate are corrupt".into())
                        } else {
                            parse_der(der[..len].to_vec())
                        }
                    }
                    None => Err("bad DER: not a certificate".into()),
                };
                out.push(cert.map_err(bad));
            }
            PemKind::Pkcs7 => out.extend(pkcs7_certificates(&der, &at)),
            PemKind::Crl => crls.push(parse_crl(&der).map_err(bad)),
        }
    }
    Contents {
        certificates: out,
        crls,
    }
}

/// Parses one DER-encoded CRL.
fn parse_crl(der: &[u8]) -> Result<CrlInfo, String> {
    use x509_parser::revocation_list::CertificateRevocationList;

    let (rest, crl) =
        CertificateRevocationList::from_der(der).map_err(|e| format!("bad CRL: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the CRL", rest.len()));
    }
    Ok(CrlInfo {
        issuer_cn: common_name(crl.issuer()),
        issuer: crl.issuer().as_raw().to_vec(),
        this_update: crl.last_update().timestamp(),
        next_update: crl.next_update().map(|t| t.timestamp()),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| serial_hex(r.raw_serial()))
            .collect(),
    })
}

/// The PEM blocks that hold certificates or CRLs.
enum PemKind {
    Certificate,
    Trusted,
    Pkcs7,
    Crl,
}

/// Parses one DER certificate, e.g. as a TLS server presented it.
pub fn parse_certificate(der: &CertificateDer<'_>) -> Result<CertInfo, String> {
    parse_der(der.to_vec())
}

fn parse_der(der: Vec<u8>) -> Result<CertInfo, String> {
    let (rest, cert) = X509Certificate::from_der(&der).map_err(|e| format!("bad DER: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the certificate", rest.len()));
    }
    let info = CertInfo {
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        subject_cn: common_name(cert.subject()),
        issuer_cn: common_name(cert.issuer()),
        serial: serial_hex(cert.raw_serial()),
        issuer: cert.issuer().as_raw().to_vec(),
        details: details(&cert, &der),
        der: CertificateDer::from(Vec::new()),
    };
    Ok(CertInfo {
        der: CertificateDer::from(der),
        ..info
    })
}

fn details(cert: &X509Certificate<'_>, der: &[u8]) -> Details {
    use x509_parser::extensions::GeneralName;

    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => dns_names.push((*n).to_owned()),
                GeneralName::IPAddress(bytes) => ip_addresses.push(ip_text(bytes)),
                _ => {}
            }
        }
    }
    dns_names.sort();
    dns_names.dedup();
    ip_addresses.sort();
    ip_addresses.dedup();
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let fingerprint_sha256 = hex(digest.as_ref(), Some(':'));
    let spki = cert.public_key();
    let key_oid = oid_text(&spki.algorithm.algorithm);
    Details {
        dns_names,
        ip_addresses,
        fingerprint_sha256,
        public_key_bits: key_bits(&key_oid, spki),
        public_key_algorithm: openssl_name(&key_oid),
        signature_algorithm: openssl_name(&oid_text(&cert.signature_algorithm.algorithm)),
        is_ca: cert.is_ca(),
    }
}

/// An IP address SAN as text: 4 bytes IPv4, 16 bytes IPv6; anything else as hex.
fn ip_text(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        std::net::Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        std::net::Ipv6Addr::from(v6).to_string()
    } else {
        hex(bytes, None)
    }
}

/// Upper-case hex of `bytes`, two digits a byte, `separator` between bytes (openssl's
/// fingerprint form). Written by hand: `format!` per byte was a tenth of the CPU time of a
/// 50,000-certificate collection.
fn hex(bytes: &[u8], separator: Option<char>) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if let (Some(sep), true) = (separator, i > 0) {
            out.push(sep);
        }
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The OIDs certificates use most, with their dotted text: formatting an OID costs more than
/// the rest of reading a certificate's algorithms, and these few are compared, not formatted.
const KNOWN_OIDS: &[(Oid<'static>, &str)] = {
    use x509_parser::oid_registry::*;
    &[
        (OID_PKCS1_RSAENCRYPTION, "1.2.840.113549.1.1.1"),
        (OID_PKCS1_SHA256WITHRSA, "1.2.840.113549.1.1.11"),
        (OID_PKCS1_SHA384WITHRSA, "1.2.840.113549.1.1.12"),
        (OID_PKCS1_SHA512WITHRSA, "1.2.840.113549.1.1.13"),
        (OID_PKCS1_RSASSAPSS, "1.2.840.113549.1.1.10"),
        (OID_PKCS1_SHA1WITHRSA, "1.2.840.113549.1.1.5"),
        (OID_KEY_TYPE_EC_PUBLIC_KEY, "1.2.840.10045.2.1"),
        (OID_SIG_ECDSA_WITH_SHA256, "1.2.840.10045.4.3.2"),
        (OID_SIG_ECDSA_WITH_SHA384, "1.2.840.10045.4.3.3"),
        (OID_SIG_ECDSA_WITH_SHA512, "1.2.840.10045.4.3.4"),
        (OID_EC_P256, "1.2.840.10045.3.1.7"),
        (OID_NIST_EC_P384, "1.3.132.0.34"),
        (OID_NIST_EC_P521, "1.3.132.0.35"),
        (OID_SIG_ED25519, "1.3.101.112"),
        (OID_SIG_ED448, "1.3.101.113"),
    ]
};

/// The dotted text of `oid` (`1.2.840.10045.2.1`).
fn oid_text(oid: &Oid<'_>) -> std::borrow::Cow<'static, str> {
    match KNOWN_OIDS.iter().find(|(known, _)| known == oid) {
        Some((_, text)) => std::borrow::Cow::Borrowed(text),
        None => std::borrow::Cow::Owned(oid.to_id_string()),
    }
}

/// openssl's short names of the algorithms certificates use (`openssl x509 -text`), by OID.
/// x509-parser's registry spells some differently (`ed25519`), and the label should read as
/// what an admin sees in openssl's output.
pub(crate) fn openssl_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.1" => "rsaEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.10045.2.1" => "id-ecPublicKey",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10040.4.1" => "dsaEncryption",
        "1.2.840.10040.4.3" => "dsaWithSHA1",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        other => other,
    };
    name.to_owned()
}

/// The key's size in bits: the RSA modulus without leading zeros, the named curve's size, or
/// the fixed size of an Edwards key.
fn key_bits(oid: &str, spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Option<u32> {
    use x509_parser::public_key::RSAPublicKey;

    let key = &spki.subject_public_key.data;
    match oid {
        // rsaEncryption and RSASSA-PSS keys are both an RSAPublicKey.
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let (_, rsa) = RSAPublicKey::from_der(key).ok()?;
            let modulus = rsa.modulus;
            let first = modulus.iter().position(|&b| b != 0)?;
            let bytes = u32::try_from(modulus.len() - first).ok()?;
            Some(bytes * 8 - modulus[first].leading_zeros())
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| oid_text(&o));
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") | Some("1.3.132.0.10") => Some(256),
                Some("1.3.132.0.34") => Some(384),
                Some("1.3.132.0.35") => Some(521),
                // An uncompressed point is 04 || x || y.
                _ => u32::try_from(key.len().checked_sub(1)? / 2 * 8).ok(),
            }
        }
        "1.3.101.112" => Some(256),
        "1.3.101.113" => Some(456),
        _ => None,
    }
}

fn common_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| name.to_string())
}

/// Upper-case hex without leading zero bytes, like `openssl x509 -serial`. The serial is a
/// two's complement INTEGER: a negative one (which RFC 5280 forbids, but CAs have issued) is
/// printed as `-` and its magnitude, as openssl does.
fn serial_hex(raw: &[u8]) -> String {
    let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
    let magnitude: Vec<u8> = if negative {
        // Two's complement: invert every byte and add one.
        let mut m: Vec<u8> = raw.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (sum, carry) = b.overflowing_add(1);
            *b = sum;
            if !carry {
                break;
            }
        }
        m
    } else {
        raw.to_vec()
    };
    let trimmed = match magnitude.iter().position(|&b| b != 0) {
        Some(i) => &magnitude[i..],
        None => &magnitude[magnitude.len().saturating_sub(1)..],
    };
    let digits = hex(trimmed, None);
    if negative {
        format!("-{digits}")
    } else {
        digits
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // A self-signed P-256 certificate for CN=unit.test, serial 0x1234ABCD, valid from
    // 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z (made with openssl for this test).
    pub(crate) const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBTDCB8qADAgECAgQSNKvNMAoGCCqGSM49BAMCMBQxEjAQBgNVBAMMCXVuaXQu
dGVzdDAeFw0yMDAxMDEwMDAwMDBaFw0yMTAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CXVuaXQudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABK5taB+2AS8Sn2t7
JOrClBiPktl36ggum4qn+cdzno7s2pNO0orLWocC3cQFKcfiIm5yotRdF4ZGlgNA
6LZQpxyjMjAwMA8GA1UdEwEB/wQFMAMBAf8wHQYDVR0OBBYEFKKmp+sfNIrkUzjp
QJmzv4HVDk4BMAoGCCqGSM49BAMCA0kAMEYCIQC4bYnVakL7/hTGcVBKYnnDiHyj
5bQpxBiZa6DdatYgjgIhAKMkOE8GPfVYkmnIgSI5drrDWoxGQw7eOfv+9I9utcx/
-----END CERTIFICATE-----
";

    #[test]
    fn pem_certificate_fields() {
        let certs = read_certificates(CERT.as_bytes(), None);
        assert_eq!(certs.len(), 1);
        let c = certs[0].as_ref().unwrap();
        assert_eq!(c.subject_cn, "unit.test");
        assert_eq!(c.issuer_cn, "unit.test");
        assert_eq!(c.serial, "1234ABCD");
        assert_eq!(c.not_before, 1_577_836_800);
        assert_eq!(c.not_after, 1_609_459_200);
        let d = &c.details;
        assert_eq!(d.public_key_algorithm, "id-ecPublicKey");
        assert_eq!(d.public_key_bits, Some(256));
        assert_eq!(d.signature_algorithm, "ecdsa-with-SHA256");
        assert!(d.is_ca);
        assert!(d.dns_names.is_empty() && d.ip_addresses.is_empty());
        assert_eq!(d.fingerprint_sha256.len(), 32 * 3 - 1);
    }

    #[test]
    fn ip_addresses_as_text() {
        assert_eq!(ip_text(&[127, 0, 0, 1]), "127.0.0.1");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(ip_text(&v6), "::1");
        assert_eq!(ip_text(&[1, 2]), "0102");
    }

    #[test]
    fn der_is_read_too() {
        let pem = read_certificates(CERT.as_bytes(), None).remove(0).unwrap();
        let der = read_certificates(pem.der.as_ref(), None);
        assert_eq!(der, vec![Ok(pem)]);
    }

    #[test]
    fn bundle_with_corrupt_block_and_key_keeps_the_good_ones() {
        let corrupt = CERT.replace(
            "MIIBTDCB8qADAgECAgQSNKvNMAoG",
            "MIIBTDCB8qADAgECAgQSNKvNMAo!",
        );
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let bundle = format!("{CERT}{key}{corrupt}{CERT}");
        let certs = read_certificates(bundle.as_bytes(), None);
        assert_eq!(certs.len(), 3, "the key block must be skipped");
        assert!(certs[0].is_ok() && certs[2].is_ok());
        let bad = certs[1].as_ref().unwrap_err();
        assert_eq!(bad.at, "PEM block 2 (line 13)");
        assert!(bad.message.contains("base64"), "{}", bad.message);
    }

    #[test]
    fn truncated_pem_and_garbage() {
        let truncated = &CERT[..CERT.len() - 30];
        let certs = read_certificates(truncated.as_bytes(), None);
        assert!(
            certs[0]
                .as_ref()
                .unwrap_err()
                .message
                .contains("END CERTIFICATE")
        );
        assert!(read_certificates(b"hello world\n", None).is_empty());
        assert!(read_certificates(b"", None).is_empty());
        let wrong_der = CERT.replace(
            "MIIBTDCB8qADAgECAgQSNKvNMAoG",
            "AAAATDCB8qADAgECAgQSNKvNMAoG",
        );
        assert!(
            read_certificates(wrong_der.as_bytes(), None)[0]
                .as_ref()
                .unwrap_err()
                .message
                .contains("DER")
        );
    }

    /// Inputs that once broke, or sit on an edge of, the PEM scanner; kept as regression cases
    /// beside the property tests below.
    #[test]
    fn regression_seeds() {
        for input in [
            &b"-----BEGIN -----\n-----END -----\n"[..],
            b"-----BEGIN CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE-----\r\n\r\n-----END CERTIFICATE-----\r\n",
            b"-----BEGIN CERTIFICATE----------END CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
            b"\xff-----BEGIN CERTIFICATE-----\n",
            b"\x30\x82\xff\xff",
            b"\x30\x80\x00\x00",
            b"\x30",
            b"",
        ] {
            for block in read_certificates(input, None) {
                assert!(block.is_err(), "{input:?} gave a certificate");
            }
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn block(label: &str, body: &str) -> String {
            format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// Any bytes: no panic, and every error names a block that exists.
            #[test]
            fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let blocks = read_certificates(&data, None);
                for bad in blocks.iter().filter_map(|b| b.as_ref().err()) {
                    prop_assert!(!bad.at.is_empty() && !bad.message.is_empty());
                }
            }

            /// Text made of PEM-looking lines in any order: no panic, at most one result per
            /// BEGIN line.
            #[test]
            fn pem_like_lines_never_panic(lines in proptest::collection::vec(prop_oneof![
                Just("-----BEGIN CERTIFICATE-----".to_owned()),
                Just("-----END CERTIFICATE-----".to_owned()),
                Just("-----BEGIN PRIVATE KEY-----".to_owned()),
                Just("-----END PRIVATE KEY-----".to_owned()),
                Just("MIIBTDCB8qADAgECAgQSNKvNMAoG".to_owned()),
                "[A-Za-z0-9+/=]{0,80}",
                ".{0,40}",
            ], 0..40)) {
                let text = lines.join("\n");
                let begins = lines.iter().filter(|l| l.starts_with("-----BEGIN ")).count();
                prop_assert!(read_certificates(text.as_bytes(), None).len() <= begins);
            }

            /// Garbage blocks of other types between certificates change nothing: the good
            /// certificates are found, in order, whatever surrounds them.
            #[test]
            fn other_blocks_and_noise_do_not_disturb_certificates(
                noise in proptest::collection::vec(prop_oneof![
                    "[ -~]{0,60}".prop_map(|t| format!("{t}\n")),
                    "[A-Za-z0-9+/]{0,64}".prop_map(|b| block("PRIVATE KEY", &b)),
                    "[A-Za-z0-9+/]{0,64}".prop_map(|b| block("X509 CRL", &b)),
                ], 0..6),
                certs in 1usize..4,
            ) {
                let mut text = String::new();
                for i in 0..certs {
                    if let Some(n) = noise.get(i) {
                        // Free text must not hold a marker of its own (an unclosed BEGIN
                        // rightly swallows what follows).
                        if n.starts_with("-----BEGIN ") || !n.contains("-----") {
                            text.push_str(n);
                        }
                    }
                    text.push_str(CERT);
                }
                let blocks = read_certificates(text.as_bytes(), None);
                let good: Vec<_> = blocks.iter().filter_map(|b| b.as_ref().ok()).collect();
                prop_assert_eq!(good.len(), certs);
                prop_assert!(good.iter().all(|c| c.serial == "1234ABCD"));
            }

            /// Cutting a valid PEM file anywhere never yields a wrong certificate: either the
            /// whole certificate or an error.
            #[test]
            fn truncation_gives_the_certificate_or_an_error(cut in 0usize..CERT.len()) {
                for c in read_certificates(&CERT.as_bytes()[..cut], None).into_iter().flatten() {
                    prop_assert_eq!(c.serial, "1234ABCD");
                }
            }

            /// Flipping one byte of the DER encoding: no panic, and any certificate still read
            /// is read from the whole input.
            #[test]
            fn mutated_der_never_panics(at in 0usize..336, byte in any::<u8>()) {
                let der = read_certificates(CERT.as_bytes(), None).remove(0).unwrap().der.to_vec();
                let mut mutated = der.clone();
                let at = at % mutated.len();
                mutated[at] = byte;
                // A certificate read from a prefix comes with a trailing-bytes problem.
                let blocks = read_certificates(&mutated, None);
                let trailing = blocks.iter().any(|b| b.as_ref().is_err_and(|e| e.kind == BadKind::Trailing));
                for c in blocks.iter().flatten() {
                    prop_assert!(c.der.len() == mutated.len() || trailing);
                }
            }
        }
    }

    #[test]
    fn known_oids_have_their_own_text() {
        for (oid, text) in KNOWN_OIDS {
            assert_eq!(oid.to_id_string(), *text);
            assert_eq!(oid_text(oid), *text);
        }
        let other = Oid::from(&[1, 2, 3, 4]).unwrap();
        assert_eq!(oid_text(&other), "1.2.3.4");
    }

    #[test]
    fn hex_is_upper_case_two_digits_a_byte() {
        assert_eq!(hex(&[0x0a, 0xff, 0x00], Some(':')), "0A:FF:00");
        assert_eq!(hex(&[0x0a, 0xff], None), "0AFF");
        assert_eq!(hex(&[], Some(':')), "");
    }

    #[test]
    fn serials() {
        assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8F01");
        assert_eq!(serial_hex(&[0x00]), "00");
        // -0x1234AB, and -0x80 (whose magnitude needs the carry).
        assert_eq!(serial_hex(&[0xed, 0xcb, 0x55]), "-1234AB");
        assert_eq!(serial_hex(&[0x80]), "-80");
        assert_eq!(serial_hex(&[0xff, 0x00]), "-0100");
    }
}
