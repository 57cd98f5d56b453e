//! ECDSA over P-521, which ring (the backend of rustls and webpki here) does not implement.
//!
//! openssl accepts a P-521 chain, so a chain check that refused it would claim a failed
//! verification where there is none. Only P-521 goes through RustCrypto's `p521`; every other
//! algorithm keeps ring's verification. The same crate derives a P-521 private key's public key,
//! so that the key check compares it with the certificate's instead of calling it a bad key.

use p521::{
    PublicKey, SecretKey,
    ecdsa::{Signature, VerifyingKey, signature::hazmat::PrehashVerifier},
    pkcs8::DecodePrivateKey,
};
use ring::digest;
use rustls_pki_types::{
    AlgorithmIdentifier, InvalidSignature, PrivateKeyDer, SignatureVerificationAlgorithm, alg_id,
};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The OID of the curve secp521r1 (1.3.132.0.35), as DER content bytes.
const SECP521R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// ECDSA with a P-521 key and one hash, verified by `p521`.
#[derive(Debug)]
pub struct EcdsaP521 {
    hash: &'static digest::Algorithm,
    signature_alg: AlgorithmIdentifier,
}

/// `ecdsa-with-SHA256` by a P-521 key (what `openssl req` and `openssl x509 -req` use by default).
pub static ECDSA_P521_SHA256: EcdsaP521 = EcdsaP521 {
    hash: &digest::SHA256,
    signature_alg: alg_id::ECDSA_SHA256,
};
/// `ecdsa-with-SHA384` by a P-521 key.
pub static ECDSA_P521_SHA384: EcdsaP521 = EcdsaP521 {
    hash: &digest::SHA384,
    signature_alg: alg_id::ECDSA_SHA384,
};
/// `ecdsa-with-SHA512` by a P-521 key.
pub static ECDSA_P521_SHA512: EcdsaP521 = EcdsaP521 {
    hash: &digest::SHA512,
    signature_alg: alg_id::ECDSA_SHA512,
};

impl SignatureVerificationAlgorithm for EcdsaP521 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature = Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        let hash = digest::digest(self.hash, message);
        // ECDSA takes a digest shorter than the group order as the integer it encodes. The
        // `ecdsa` crate refuses digests under half of P-521's 66-byte field (SHA-256's 32
        // bytes), so the digest is given left-padded with zeros: the same integer.
        let mut prehash = [0u8; 66];
        let hash = hash.as_ref();
        prehash[66 - hash.len()..].copy_from_slice(hash);
        key.verify_prehash(&prehash, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg
    }
}

/// Whether `key` is a P-521 key (PKCS#8 or SEC1), and if so whether it belongs to `cert`;
/// `None` for any other key, which ring compares.
pub fn key_matches(cert: &[u8], key: &PrivateKeyDer<'_>) -> Option<Result<bool, String>> {
    let secret = match key {
        PrivateKeyDer::Pkcs8(der) => SecretKey::from_pkcs8_der(der.secret_pkcs8_der()).ok()?,
        PrivateKeyDer::Sec1(der) => SecretKey::from_sec1_der(der.secret_sec1_der()).ok()?,
        _ => return None,
    };
    Some(certificate_key(cert).map(|public| public == Some(secret.public_key())))
}

/// The certificate's P-521 public key, `None` when it has a key of another kind.
fn certificate_key(cert: &[u8]) -> Result<Option<PublicKey>, String> {
    let (_, cert) =
        X509Certificate::from_der(cert).map_err(|e| format!("cannot read the certificate: {e}"))?;
    let spki = &cert.tbs_certificate.subject_pki;
    let on_p521 = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .is_some_and(|oid| oid.as_bytes() == SECP521R1);
    if !on_p521 {
        return Ok(None);
    }
    PublicKey::from_sec1_bytes(&spki.subject_public_key.data)
        .map(Some)
        .map_err(|_| "the certificate's P-521 public key is not a point of the curve".into())
}
