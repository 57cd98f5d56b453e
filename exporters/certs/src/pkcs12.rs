//! Certificates in a PKCS#12 file (`.p12`, `.pfx`), as `openssl pkcs12 -export` and most
//! servers' key stores write them.
//!
//! Only certificate bags are read; key bags are skipped without being decrypted. The password
//! is checked with the file's MAC first, so a wrong one is told apart from a corrupt file.
//! Encrypted parts are read when they use PBES2 with PBKDF2 and AES-CBC (OpenSSL 3's default)
//! or PKCS#12's own 3DES and RC2 encryption (OpenSSL 1.x's defaults, Windows and Java exports).

use std::num::NonZeroU32;

use aes::cipher::{BlockModeDecrypt, block_padding::Pkcs7};
use ring::{digest, hmac, pbkdf2};
use x509_parser::asn1_rs::Tag;

use crate::der::Reader;

/// The most iterations a key derivation may ask for. OpenSSL writes 2048; the bound keeps a
/// hostile file from holding a collection for minutes.
pub const MAX_ITERATIONS: u64 = 1_000_000;

/// How deep bags may nest (safeContentsBag inside safeContentsBag).
const MAX_DEPTH: usize = 4;

const DATA: &str = "1.2.840.113549.1.7.1";
const ENCRYPTED_DATA: &str = "1.2.840.113549.1.7.6";
const CERT_BAG: &str = "1.2.840.113549.1.12.10.1.3";
const SAFE_CONTENTS_BAG: &str = "1.2.840.113549.1.12.10.1.6";
const X509_CERTIFICATE: &str = "1.2.840.113549.1.9.22.1";
const PBES2: &str = "1.2.840.113549.1.5.13";
const PBKDF2: &str = "1.2.840.113549.1.5.12";

/// Why a PKCS#12 file gave no certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pkcs12Error {
    /// No password, or a wrong one.
    Password(String),
    /// The file is not a well-formed PKCS#12 file, or uses an algorithm not read here.
    Malformed(String),
}

/// Whether `data` starts like a PKCS#12 PFX: a SEQUENCE whose first element is INTEGER 3 (a
/// certificate starts with a SEQUENCE instead). A truncated file still looks like one, so that
/// it is reported as a broken PKCS#12 file.
pub fn looks_like(data: &[u8]) -> bool {
    crate::der::sequence_start(data).is_some_and(|inner| inner.starts_with(&[0x02, 0x01, 0x03]))
}

/// The DER encodings of the certificates in `data`, in stored order. `password` is the
/// configured one; without it the empty password is tried, as `openssl pkcs12` does.
pub fn certificates(data: &[u8], password: Option<&[u8]>) -> Result<Vec<Vec<u8>>, Pkcs12Error> {
    let bad = Pkcs12Error::Malformed;
    let mut outer = Reader::new(data);
    let mut pfx = outer.sequence("PFX").map_err(bad)?;
    let version = pfx.unsigned("PFX version").map_err(bad)?;
    if version != 3 {
        return Err(bad(format!("PFX version {version}, expected 3")));
    }
    let mut auth_safe = pfx.sequence("authSafe").map_err(bad)?;
    let kind = auth_safe.oid("authSafe contentType").map_err(bad)?;
    if kind != DATA {
        return Err(bad(format!(
            "authSafe of type {kind}: only password integrity (type data) is read"
        )));
    }
    let content = auth_safe.context(0, "authSafe content").map_err(bad)?;
    let safes = Reader::new(content)
        .octets("authSafe content")
        .map_err(bad)?;

    let password = match pfx.is_empty() {
        // Without a MAC nothing tells a wrong password from a corrupt file before decryption.
        true => password.unwrap_or_default().to_vec(),
        false => check_mac(&mut pfx, safes, password)?,
    };
    let mut certs = Vec::new();
    let mut list = Reader::new(safes)
        .sequence("AuthenticatedSafe")
        .map_err(bad)?;
    while !list.is_empty() {
        let mut info = list.sequence("AuthenticatedSafe entry").map_err(bad)?;
        let kind = info.oid("contentType").map_err(bad)?;
        let content = info.context(0, "content").map_err(bad)?;
        match kind.as_str() {
            DATA => {
                let contents = Reader::new(content).octets("data").map_err(bad)?;
                bags(contents, &mut certs, 0).map_err(bad)?;
            }
            ENCRYPTED_DATA => {
                let contents = decrypt(content, &password)?;
                bags(&contents, &mut certs, 0).map_err(bad)?;
            }
            // Public-key encrypted (envelopedData) parts hold keys for a recipient: skipped.
            _ => {}
        }
    }
    Ok(certs)
}

/// Checks the MAC and returns the password that matches it (the configured one, or the empty
/// one in either of its two encodings when none is configured).
fn check_mac(
    pfx: &mut Reader<'_>,
    safes: &[u8],
    password: Option<&[u8]>,
) -> Result<Vec<u8>, Pkcs12Error> {
    let bad = Pkcs12Error::Malformed;
    let mut mac_data = pfx.sequence("macData").map_err(bad)?;
    let mut digest_info = mac_data.sequence("mac").map_err(bad)?;
    let mut algorithm = digest_info.sequence("mac digestAlgorithm").map_err(bad)?;
    let oid = algorithm.oid("mac digestAlgorithm").map_err(bad)?;
    let expected = digest_info.octets("mac digest").map_err(bad)?;
    let salt = mac_data.octets("macSalt").map_err(bad)?;
    let iterations = match mac_data.is_empty() {
        true => 1,
        false => mac_data.unsigned("mac iterations").map_err(bad)?,
    };
    let iterations = iteration_count(iterations)?;
    let (hash, key_algorithm) = match oid.as_str() {
        "1.3.14.3.2.26" => (
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        ),
        "2.16.840.1.101.3.4.2.1" => (&digest::SHA256, hmac::HMAC_SHA256),
        "2.16.840.1.101.3.4.2.2" => (&digest::SHA384, hmac::HMAC_SHA384),
        "2.16.840.1.101.3.4.2.3" => (&digest::SHA512, hmac::HMAC_SHA512),
        other => {
            return Err(bad(format!(
                "MAC digest algorithm {other} is not supported"
            )));
        }
    };
    // OpenSSL tries an absent password both as an empty BMPString (two zero bytes) and as
    // no bytes at all; so does this.
    let candidates: Vec<(Vec<u8>, Vec<u8>)> = match password {
        Some(p) => vec![(p.to_vec(), bmp(p).map_err(Pkcs12Error::Password)?)],
        None => vec![(Vec::new(), vec![0, 0]), (Vec::new(), Vec::new())],
    };
    for (utf8, bmp) in candidates {
        let key = kdf(hash, &bmp, salt, 3, iterations, hash.output_len());
        let key = hmac::Key::new(key_algorithm, &key);
        if hmac::verify(&key, safes, expected).is_ok() {
            return Ok(utf8);
        }
    }
    Err(Pkcs12Error::Password(match password {
        Some(_) => "wrong password: the file's MAC does not verify with it".into(),
        None => "the file needs a password: set pkcs12_password_file or pkcs12_password_credential"
            .into(),
    }))
}

fn iteration_count(n: u64) -> Result<NonZeroU32, Pkcs12Error> {
    if n > MAX_ITERATIONS {
        return Err(Pkcs12Error::Malformed(format!(
            "{n} key derivation iterations, more than the {MAX_ITERATIONS} allowed"
        )));
    }
    NonZeroU32::new(n as u32)
        .ok_or_else(|| Pkcs12Error::Malformed("zero key derivation iterations".into()))
}

/// A password as PKCS#12's KDF takes it: UTF-16BE with a terminating zero.
fn bmp(password: &[u8]) -> Result<Vec<u8>, String> {
    let text =
        std::str::from_utf8(password).map_err(|_| "the password is not valid UTF-8".to_owned())?;
    let mut out: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    out.extend([0, 0]);
    Ok(out)
}

/// The key derivation of RFC 7292 appendix B.2 (used here for the MAC key, `id` 3).
fn kdf(
    hash: &'static digest::Algorithm,
    password: &[u8],
    salt: &[u8],
    id: u8,
    iterations: NonZeroU32,
    len: usize,
) -> Vec<u8> {
    let v = hash.block_len();
    let stretch = |s: &[u8]| -> Vec<u8> {
        let n = s.len().div_ceil(v) * v;
        s.iter().copied().cycle().take(n).collect()
    };
    let mut i: Vec<u8> = stretch(salt);
    i.extend(stretch(password));
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let mut ctx = digest::Context::new(hash);
        ctx.update(&vec![id; v]);
        ctx.update(&i);
        let mut a = ctx.finish();
        for _ in 1..iterations.get() {
            a = digest::digest(hash, a.as_ref());
        }
        let a = a.as_ref();
        out.extend_from_slice(&a[..a.len().min(len - out.len())]);
        // I_j = (I_j + B + 1) mod 2^(8v), B being A repeated to v bytes.
        let b: Vec<u8> = a.iter().copied().cycle().take(v).collect();
        for chunk in i.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in chunk.iter_mut().zip(&b).rev() {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
    }
    out
}

/// Decrypts an EncryptedData (the contents of its `[0]`).
fn decrypt(content: &[u8], password: &[u8]) -> Result<Vec<u8>, Pkcs12Error> {
    let bad = Pkcs12Error::Malformed;
    let mut encrypted = Reader::new(content)
        .sequence("EncryptedData")
        .map_err(bad)?;
    encrypted
        .universal(Tag::Integer, "EncryptedData version")
        .map_err(bad)?;
    let mut info = encrypted.sequence("EncryptedContentInfo").map_err(bad)?;
    info.oid("EncryptedContentInfo contentType").map_err(bad)?;
    let mut algorithm = info.sequence("contentEncryptionAlgorithm").map_err(bad)?;
    let oid = algorithm.oid("contentEncryptionAlgorithm").map_err(bad)?;
    let ciphertext = info.context(0, "encryptedContent").map_err(bad)?;
    let mut buf = ciphertext.to_vec();
    let cipher = match oid.as_str() {
        PBES2 => {
            let (cipher, key, iv) = pbes2(&mut algorithm, password)?;
            cipher.decrypt(&key, &iv, &mut buf)?
        }
        legacy => {
            // PKCS#12's own PBE (OpenSSL 1.x's defaults, and `-legacy`): SHA-1 KDF, key and
            // IV from the password as a BMPString.
            let (cipher, key_len) = match legacy {
                "1.2.840.113549.1.12.1.3" => (Cipher::TripleDes3, 24),
                "1.2.840.113549.1.12.1.4" => (Cipher::TripleDes2, 16),
                "1.2.840.113549.1.12.1.5" => (Cipher::Rc2(128), 16),
                "1.2.840.113549.1.12.1.6" => (Cipher::Rc2(40), 5),
                other => {
                    return Err(bad(format!(
                        "encryption algorithm {other} is not supported (PBES2 with AES, 3DES and RC2 are)"
                    )));
                }
            };
            let mut params = algorithm.sequence("PBE parameters").map_err(bad)?;
            let salt = params.octets("PBE salt").map_err(bad)?;
            let iterations = iteration_count(params.unsigned("PBE iterations").map_err(bad)?)?;
            let bmp = bmp(password).map_err(Pkcs12Error::Password)?;
            let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
            let key = kdf(sha1, &bmp, salt, 1, iterations, key_len);
            let iv = kdf(sha1, &bmp, salt, 2, iterations, 8);
            cipher.decrypt(&key, &iv, &mut buf)?
        }
    };
    buf.truncate(cipher);
    Ok(buf)
}

/// The key and IV of PBES2 (PBKDF2 and AES-CBC), from its parameters.
fn pbes2(
    algorithm: &mut Reader<'_>,
    password: &[u8],
) -> Result<(Cipher, Vec<u8>, Vec<u8>), Pkcs12Error> {
    let bad = Pkcs12Error::Malformed;
    let mut params = algorithm.sequence("PBES2 parameters").map_err(bad)?;
    let mut kdf_alg = params.sequence("keyDerivationFunc").map_err(bad)?;
    let kdf_oid = kdf_alg.oid("keyDerivationFunc").map_err(bad)?;
    if kdf_oid != PBKDF2 {
        return Err(bad(format!(
            "key derivation {kdf_oid} is not supported (PBKDF2 is)"
        )));
    }
    let mut kdf_params = kdf_alg.sequence("PBKDF2 parameters").map_err(bad)?;
    let salt = kdf_params.octets("PBKDF2 salt").map_err(bad)?;
    let iterations = iteration_count(kdf_params.unsigned("PBKDF2 iterations").map_err(bad)?)?;
    let mut prf = pbkdf2::PBKDF2_HMAC_SHA1;
    while !kdf_params.is_empty() {
        let (any, raw) = kdf_params.element("PBKDF2 parameters").map_err(bad)?;
        // An explicit keyLength is implied by the cipher; the prf may follow it.
        if any.tag() == Tag::Sequence {
            let prf_oid = Reader::new(raw)
                .sequence("prf")
                .and_then(|mut r| r.oid("prf"))
                .map_err(bad)?;
            prf = match prf_oid.as_str() {
                "1.2.840.113549.2.7" => pbkdf2::PBKDF2_HMAC_SHA1,
                "1.2.840.113549.2.9" => pbkdf2::PBKDF2_HMAC_SHA256,
                "1.2.840.113549.2.10" => pbkdf2::PBKDF2_HMAC_SHA384,
                "1.2.840.113549.2.11" => pbkdf2::PBKDF2_HMAC_SHA512,
                other => {
                    return Err(bad(format!(
                        "PBKDF2 pseudo-random function {other} is not supported"
                    )));
                }
            };
        }
    }
    let mut scheme = params.sequence("encryptionScheme").map_err(bad)?;
    let cipher_oid = scheme.oid("encryptionScheme").map_err(bad)?;
    let iv = scheme.octets("IV").map_err(bad)?;
    let (cipher, key_len) = match cipher_oid.as_str() {
        "2.16.840.1.101.3.4.1.2" => (Cipher::Aes128, 16),
        "2.16.840.1.101.3.4.1.22" => (Cipher::Aes192, 24),
        "2.16.840.1.101.3.4.1.42" => (Cipher::Aes256, 32),
        "1.2.840.113549.3.7" => (Cipher::TripleDes3, 24),
        other => {
            return Err(bad(format!(
                "cipher {other} is not supported (AES-CBC and DES-EDE3-CBC are)"
            )));
        }
    };
    let mut key = vec![0; key_len];
    pbkdf2::derive(prf, iterations, salt, password, &mut key);
    Ok((cipher, key, iv.to_vec()))
}

/// The CBC ciphers PKCS#12 files use for their certificates.
#[derive(Clone, Copy, Debug)]
enum Cipher {
    Aes128,
    Aes192,
    Aes256,
    TripleDes3,
    TripleDes2,
    /// RC2 with this effective key length in bits.
    Rc2(usize),
}

impl Cipher {
    /// Decrypts `buf` in place; returns the length of the plaintext. A padding error is the
    /// sign of a wrong password when the file has no MAC to say so first.
    fn decrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<usize, Pkcs12Error> {
        use aes::cipher::{InnerIvInit, KeyInit};

        fn run<C: aes::cipher::BlockCipherDecrypt>(
            cipher: C,
            iv: &[u8],
            buf: &mut [u8],
        ) -> Result<usize, Pkcs12Error> {
            let mode = cbc::Decryptor::inner_iv_slice_init(cipher, iv)
                .map_err(|_| Pkcs12Error::Malformed(format!("IV of {} bytes", iv.len())))?;
            mode.decrypt_padded::<Pkcs7>(buf)
                .map(<[u8]>::len)
                .map_err(|_| {
                    Pkcs12Error::Password(
                        "the certificates do not decrypt with the password".into(),
                    )
                })
        }
        let bad_key = |_| Pkcs12Error::Malformed(format!("key of {} bytes", key.len()));
        match self {
            Cipher::Aes128 => run(aes::Aes128::new_from_slice(key).map_err(bad_key)?, iv, buf),
            Cipher::Aes192 => run(aes::Aes192::new_from_slice(key).map_err(bad_key)?, iv, buf),
            Cipher::Aes256 => run(aes::Aes256::new_from_slice(key).map_err(bad_key)?, iv, buf),
            Cipher::TripleDes3 => run(
                des::TdesEde3::new_from_slice(key).map_err(bad_key)?,
                iv,
                buf,
            ),
            Cipher::TripleDes2 => run(
                des::TdesEde2::new_from_slice(key).map_err(bad_key)?,
                iv,
                buf,
            ),
            Cipher::Rc2(bits) => run(rc2::Rc2::new_with_eff_key_len(key, bits), iv, buf),
        }
    }
}

/// Collects the certificates of a SafeContents.
fn bags(contents: &[u8], certs: &mut Vec<Vec<u8>>, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("bags nested deeper than {MAX_DEPTH}"));
    }
    let mut list = Reader::new(contents).sequence("SafeContents")?;
    while !list.is_empty() {
        let mut bag = list.sequence("SafeBag")?;
        let kind = bag.oid("bagId")?;
        let value = bag.context(0, "bagValue")?;
        match kind.as_str() {
            CERT_BAG => {
                let mut cert_bag = Reader::new(value).sequence("CertBag")?;
                if cert_bag.oid("certId")? == X509_CERTIFICATE {
                    let inner = cert_bag.context(0, "certValue")?;
                    certs.push(Reader::new(inner).octets("certValue")?.to_vec());
                }
            }
            SAFE_CONTENTS_BAG => {
                let (_, raw) = Reader::new(value).element("safeContentsBag")?;
                bags(raw, certs, depth + 1)?;
            }
            // Keys, CRLs and secrets are not read.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7292's KDF for the MAC key, checked against a value OpenSSL derives
    /// (`PKCS12_key_gen_uni`, SHA-1, password "smeg", salt 0A58CF64530D823F, id 1, 1 iteration,
    /// from OpenSSL's own test vectors in test/pkcs12_format_test.c and PKCS#12 literature).
    #[test]
    fn kdf_known_answer() {
        let salt = [0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f];
        let key = kdf(
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            &bmp(b"smeg").unwrap(),
            &salt,
            1,
            NonZeroU32::new(1).unwrap(),
            24,
        );
        assert_eq!(
            key,
            [
                0x8a, 0xaa, 0xe6, 0x29, 0x7b, 0x6c, 0xb0, 0x46, 0x42, 0xab, 0x5b, 0x07, 0x78, 0x51,
                0x28, 0x4e, 0xb7, 0x12, 0x8f, 0x1a, 0x2a, 0x7f, 0xbc, 0xa3
            ]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for data in [
            &b""[..],
            b"\x30\x03\x02\x01\x03",
            b"\x30\x80",
            b"\x30\x02\x02\x01",
        ] {
            assert!(matches!(
                certificates(data, None),
                Err(Pkcs12Error::Malformed(_))
            ));
        }
    }
}
