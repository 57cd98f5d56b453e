//! Reading certificates out of PEM bundles and DER files.
//!
//! A PEM file may hold many blocks (a CA bundle, a fullchain, a certificate with its key). Each
//! `CERTIFICATE` block is decoded on its own, so one corrupt block costs only that block; other
//! block types, private keys included, are skipped without being kept.

use base64::Engine;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

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
    /// What the certificate is made of: names, fingerprint, key and signature.
    pub details: Details,
    /// The DER encoding, for chain verification and key matching.
    pub der: CertificateDer<'static>,
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

/// A PEM block that could not be read as a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBlock {
    /// Position among the file's PEM blocks, from 0.
    pub block: usize,
    /// Line of the BEGIN marker, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads every certificate from `data`: PEM (any number of blocks) or a single DER certificate.
/// An empty result means the data holds no certificate.
pub fn read_certificates(data: &[u8]) -> Vec<Block> {
    if let Some(text) = pem_text(data) {
        return pem_certificates(text);
    }
    match parse_der(data.to_vec()) {
        Ok(cert) => vec![Ok(cert)],
        Err(_) => Vec::new(),
    }
}

/// The text of `data` when it looks like PEM.
fn pem_text(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data).ok()?;
    text.contains("-----BEGIN ").then_some(text)
}

fn pem_certificates(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
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
        if label != "CERTIFICATE" && label != "X509 CERTIFICATE" {
            continue;
        }
        let bad = |message: String| BadBlock {
            block: this,
            line: n + 1,
            message,
        };
        if !closed {
            out.push(Err(bad(format!("no {end} line"))));
            break;
        }
        let cert = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| bad(format!("bad base64: {e}")))
            .and_then(|der| parse_der(der).map_err(bad));
        out.push(cert);
    }
    out
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
    let fingerprint_sha256 = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let spki = cert.public_key();
    let key_oid = spki.algorithm.algorithm.to_id_string();
    Details {
        dns_names,
        ip_addresses,
        fingerprint_sha256,
        public_key_bits: key_bits(&key_oid, spki),
        public_key_algorithm: openssl_name(&key_oid),
        signature_algorithm: openssl_name(&cert.signature_algorithm.algorithm.to_id_string()),
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
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }
}

/// openssl's short names of the algorithms certificates use (`openssl x509 -text`), by OID.
/// x509-parser's registry spells some differently (`ed25519`), and the label should read as
/// what an admin sees in openssl's output.
fn openssl_name(oid: &str) -> String {
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
                .map(|o| o.to_id_string());
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

/// Upper-case hex without leading zero bytes, like `openssl x509 -serial`.
fn serial_hex(raw: &[u8]) -> String {
    let trimmed = match raw.iter().position(|&b| b != 0) {
        Some(i) => &raw[i..],
        None => &raw[raw.len().saturating_sub(1)..],
    };
    trimmed.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed P-256 certificate for CN=unit.test, serial 0x1234ABCD, valid from
    // 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z (made with openssl for this test).
    const CERT: &str = "-----BEGIN CERTIFICATE-----
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
        let certs = read_certificates(CERT.as_bytes());
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
        let pem = read_certificates(CERT.as_bytes()).remove(0).unwrap();
        let der = read_certificates(pem.der.as_ref());
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
        let certs = read_certificates(bundle.as_bytes());
        assert_eq!(certs.len(), 3, "the key block must be skipped");
        assert!(certs[0].is_ok() && certs[2].is_ok());
        let bad = certs[1].as_ref().unwrap_err();
        assert_eq!((bad.block, bad.line), (2, 13));
        assert!(bad.message.contains("base64"), "{}", bad.message);
    }

    #[test]
    fn truncated_pem_and_garbage() {
        let truncated = &CERT[..CERT.len() - 30];
        let certs = read_certificates(truncated.as_bytes());
        assert!(
            certs[0]
                .as_ref()
                .unwrap_err()
                .message
                .contains("END CERTIFICATE")
        );
        assert!(read_certificates(b"hello world\n").is_empty());
        assert!(read_certificates(b"").is_empty());
        let wrong_der = CERT.replace(
            "MIIBTDCB8qADAgECAgQSNKvNMAoG",
            "AAAATDCB8qADAgECAgQSNKvNMAoG",
        );
        assert!(
            read_certificates(wrong_der.as_bytes())[0]
                .as_ref()
                .unwrap_err()
                .message
                .contains("DER")
        );
    }

    #[test]
    fn serials() {
        assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8F01");
        assert_eq!(serial_hex(&[0x00]), "00");
    }
}
