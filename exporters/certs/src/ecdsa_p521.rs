//! ECDSA over P-521, which ring (the backend of rustls and webpki here) does not implement.
//!
//! openssl accepts a P-521 chain, so a chain check that refused it would claim a failed
//! verification where there is none. Only P-521 goes through RustCrypto's `p521`; every other
//! algorithm keeps ring's verification. The same crate derives a P-521 private key's public key,
//! so that the key check compares it with the certificate's instead of calling it a bad key,
//! and verifies the handshake signature of a server whose certificate has a P-521 key
//! ([`TLS_SCHEMES`]), so that the probe of such an endpoint completes as `openssl s_client`
//! does.

use p521::{
    FieldBytes, PublicKey, SecretKey,
    ecdsa::{Signature, VerifyingKey, signature::hazmat::PrehashVerifier},
    elliptic_curve::{sec1::ToEncodedPoint, zeroize::Zeroizing},
    pkcs8::DecodePrivateKey,
};
use ring::{digest, rand::SecureRandom};
use rustls::{
    NamedGroup, SignatureScheme,
    crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup, WebPkiSupportedAlgorithms},
};
use rustls_pki_types::{
    AlgorithmIdentifier, InvalidSignature, PrivateKeyDer, SignatureVerificationAlgorithm, alg_id,
};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};

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

/// The TLS signature schemes a P-521 key can sign handshakes with, for a verifier that gives
/// every other scheme to ring. In TLS 1.3 `ecdsa_secp521r1_sha512` names the curve and the
/// hash; in TLS 1.2 an ECDSA scheme names only the hash, and the curve is the certificate's,
/// so the SHA-256 and SHA-384 schemes are mapped too, for a P-521 certificate only.
pub static TLS_SCHEMES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[&ECDSA_P521_SHA256, &ECDSA_P521_SHA384, &ECDSA_P521_SHA512],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP521_SHA512,
            &[&ECDSA_P521_SHA512],
        ),
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[&ECDSA_P521_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[&ECDSA_P521_SHA256],
        ),
    ],
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

/// Whether the certificate `cert` (DER) has a P-521 public key; false when it cannot be read.
pub fn has_p521_key(cert: &[u8]) -> bool {
    X509Certificate::from_der(cert)
        .is_ok_and(|(_, cert)| on_p521(&cert.tbs_certificate.subject_pki))
}

/// The certificate's P-521 public key, `None` when it has a key of another kind.
fn certificate_key(cert: &[u8]) -> Result<Option<PublicKey>, String> {
    let (_, cert) =
        X509Certificate::from_der(cert).map_err(|e| format!("cannot read the certificate: {e}"))?;
    let spki = &cert.tbs_certificate.subject_pki;
    if !on_p521(spki) {
        return Ok(None);
    }
    PublicKey::from_sec1_bytes(&spki.subject_public_key.data)
        .map(Some)
        .map_err(|_| "the certificate's P-521 public key is not a point of the curve".into())
}

/// Whether a public key is an EC key on secp521r1.
fn on_p521(spki: &SubjectPublicKeyInfo<'_>) -> bool {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .is_some_and(|oid| oid.as_bytes() == SECP521R1)
}

/// ECDHE on secp521r1 for the probe's key exchange, which ring lacks too. In TLS 1.2 a server
/// may only present an ECDSA certificate on a curve the client lists among its groups (RFC
/// 8422), so without it openssl refuses a P-521 server's handshake ("no shared cipher"). Listed
/// after ring's groups, it is used only by a server that accepts nothing else.
pub static SECP521R1_KX: Secp521r1 = Secp521r1;

/// See [`SECP521R1_KX`].
#[derive(Debug)]
pub struct Secp521r1;

/// An uncompressed SEC1 point on P-521: 0x04, then x and y of 66 bytes each.
const POINT_LEN: usize = 1 + 2 * 66;

impl SupportedKxGroup for Secp521r1 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        // 521 random bits; a value not below the group order (a chance of about 2^-260) or
        // zero is drawn again.
        let rng = ring::rand::SystemRandom::new();
        let secret = loop {
            let mut bytes = Zeroizing::new(FieldBytes::default());
            rng.fill(&mut bytes)
                .map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
            bytes[0] &= 0x01;
            if let Ok(secret) = SecretKey::from_bytes(&bytes) {
                break secret;
            }
        };
        let public = secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        Ok(Box::new(ActiveSecp521r1 { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::secp521r1
    }
}

/// One key exchange in progress: the ephemeral secret and its public point.
struct ActiveSecp521r1 {
    secret: SecretKey,
    public: Vec<u8>,
}

impl ActiveKeyExchange for ActiveSecp521r1 {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let invalid = || rustls::Error::PeerMisbehaved(rustls::PeerMisbehaved::InvalidKeyShare);
        // TLS sends only uncompressed points; from_sec1_bytes checks it is on the curve and
        // not the identity.
        if peer.len() != POINT_LEN || peer[0] != 0x04 {
            return Err(invalid());
        }
        let peer = PublicKey::from_sec1_bytes(peer).map_err(|_| invalid())?;
        // The shared secret is the x coordinate of secret × peer (RFC 8446 7.4.2).
        let shared = (peer.to_projective() * *self.secret.to_nonzero_scalar()).to_affine();
        let point = shared.to_encoded_point(false);
        let x = point.x().ok_or_else(invalid)?;
        Ok(SharedSecret::from(&x[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::secp521r1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_key_exchanges_agree_and_a_bad_share_is_refused() {
        let a = SECP521R1_KX.start().unwrap();
        let b = SECP521R1_KX.start().unwrap();
        assert_eq!(a.pub_key().len(), POINT_LEN);
        assert_ne!(a.pub_key(), b.pub_key());
        let (a_pub, b_pub) = (a.pub_key().to_vec(), b.pub_key().to_vec());
        let ab = a.complete(&b_pub).unwrap();
        let ba = b.complete(&a_pub).unwrap();
        assert_eq!(ab.secret_bytes(), ba.secret_bytes());
        assert_eq!(ab.secret_bytes().len(), 66);
        // Off the curve, compressed, cut short.
        let mut off = a_pub.clone();
        off[POINT_LEN - 1] ^= 1;
        let compressed = PublicKey::from_sec1_bytes(&a_pub)
            .unwrap()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec();
        for bad in [&off[..], &compressed[..], &a_pub[..POINT_LEN - 1]] {
            assert!(SECP521R1_KX.start().unwrap().complete(bad).is_err());
        }
    }
}
