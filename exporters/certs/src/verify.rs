//! Chain verification against a CA bundle, and private-key matching.
//!
//! Both answer a question no peer exporter answers for files on disk: "does this certificate
//! chain to my private CA right now?" and "is this the key the server will pair with it?".

use std::{
    path::Path,
    sync::{Arc, LazyLock},
};

use rustls::{crypto::CryptoProvider, sign::CertifiedKey};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, ServerName, SignatureVerificationAlgorithm, TrustAnchor,
    UnixTime, pem::PemObject,
};
use webpki::{EndEntityCert, KeyUsage};

use crate::{der, ecdsa_p521, error::Error, x509};

/// Every signature algorithm webpki verifies with ring, and ECDSA P-521 (see [`ecdsa_p521`]).
static ALGORITHMS: LazyLock<Vec<&'static dyn SignatureVerificationAlgorithm>> =
    LazyLock::new(|| {
        let mut all = webpki::ALL_VERIFICATION_ALGS.to_vec();
        all.extend([
            &ecdsa_p521::ECDSA_P521_SHA256 as &dyn SignatureVerificationAlgorithm,
            &ecdsa_p521::ECDSA_P521_SHA384,
            &ecdsa_p521::ECDSA_P521_SHA512,
        ]);
        all
    });

/// Why a chain is not reported as verified.
#[derive(Debug, PartialEq, Eq)]
pub enum NotVerified {
    /// It does not verify: the reason, in words for the log.
    Failed(String),
    /// A signature or key algorithm of the chain is one sysgauge cannot check (neither ring
    /// nor [`ecdsa_p521`] implements it): no verdict, not a failed verification.
    Unsupported(String),
}

impl std::fmt::Display for NotVerified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotVerified::Failed(why) => f.write_str(why),
            NotVerified::Unsupported(why) => write!(f, "algorithm not supported: {why}"),
        }
    }
}

/// Trust anchors loaded from a CA bundle.
#[derive(Debug)]
pub struct CaBundle {
    path: std::path::PathBuf,
    anchors: Vec<TrustAnchor<'static>>,
}

impl CaBundle {
    /// Loads every certificate of a PEM or DER bundle as a trust anchor.
    pub fn load(path: &Path) -> Result<CaBundle, Error> {
        let err = |message: String| Error::CaBundle {
            path: path.to_owned(),
            message,
        };
        let data = sysgauge_common::fs::read(path, sysgauge_common::fs::CERTIFICATE_FILE_LIMIT)
            .map_err(|e| err(e.problem.to_string()))?;
        let mut anchors = Vec::new();
        for block in x509::read_certificates(&data, None) {
            let cert = block.map_err(|b| err(format!("{}: {}", b.at, b.message)))?;
            let anchor = webpki::anchor_from_trusted_cert(&cert.der)
                .map_err(|e| err(format!("{}: {e:?}", cert.subject_cn)))?
                .to_owned();
            anchors.push(anchor);
        }
        if anchors.is_empty() {
            return Err(err("no certificate in the bundle".into()));
        }
        Ok(CaBundle {
            path: path.to_owned(),
            anchors,
        })
    }

    /// The operating system's trusted roots (on Debian, /etc/ssl/certs).
    pub fn system() -> Result<CaBundle, Error> {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(error = %e, "skipping a system CA certificate");
        }
        let anchors: Vec<_> = found
            .certs
            .iter()
            .filter_map(|der| {
                webpki::anchor_from_trusted_cert(der)
                    .ok()
                    .map(|a| a.to_owned())
            })
            .collect();
        if anchors.is_empty() {
            return Err(Error::CaBundle {
                path: "system roots".into(),
                message: "none found".into(),
            });
        }
        Ok(CaBundle {
            path: "system".into(),
            anchors,
        })
    }

    /// The file the bundle was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Verifies `leaf` with `intermediates` against the bundle at `now`, for TLS server use.
    /// `Err` says why not: a failed verification, or an algorithm that cannot be checked.
    pub fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), NotVerified> {
        let ee =
            EndEntityCert::try_from(leaf).map_err(|e| NotVerified::Failed(format!("{e:?}")))?;
        ee.verify_for_usage(
            &ALGORITHMS,
            &self.anchors,
            intermediates,
            now,
            KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| {
            #[allow(deprecated)]
            let unsupported = matches!(
                e,
                webpki::Error::UnsupportedSignatureAlgorithm
                    | webpki::Error::UnsupportedSignatureAlgorithmContext(_)
                    | webpki::Error::UnsupportedSignatureAlgorithmForPublicKey
                    | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
            );
            if unsupported {
                NotVerified::Unsupported(format!("{e:?}"))
            } else {
                NotVerified::Failed(format!("{e:?}"))
            }
        })
    }
}

/// Whether `leaf` is valid for `name` (DNS name or IP address); `Err` says why not.
pub fn name_matches(leaf: &CertificateDer<'_>, name: &ServerName<'_>) -> Result<(), String> {
    EndEntityCert::try_from(leaf)
        .map_err(|e| format!("{e:?}"))?
        .verify_is_valid_for_subject_name(name)
        .map_err(|e| format!("{e:?}"))
}

/// Whether the private key in `key_path` (PEM: PKCS#8, PKCS#1 or SEC1) belongs to `cert`.
pub fn key_matches(cert: &CertificateDer<'static>, key_path: &Path) -> Result<bool, Error> {
    let err = |message: String| Error::Key {
        path: key_path.to_owned(),
        message,
    };
    // Read through the bounded reader: a FIFO or /dev/zero as `key` is refused at once instead
    // of blocking the collection of every source.
    let pem = sysgauge_common::fs::read(key_path, sysgauge_common::fs::KEY_FILE_LIMIT)
        .map_err(|e| err(e.problem.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| err(e.to_string()))?;
    if let Some(algorithm) = uncheckable_algorithm(&key) {
        return Err(Error::UnsupportedKey {
            path: key_path.to_owned(),
            message: format!("sysgauge cannot check {algorithm} keys"),
        });
    }
    if let Some(matches) = ecdsa_p521::key_matches(cert, &key) {
        return matches.map_err(err);
    }
    let provider = provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| err(e.to_string()))?;
    match CertifiedKey::new(vec![cert.clone()], signing_key).keys_match() {
        Ok(()) => Ok(true),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Ok(false),
        Err(e) => Err(err(format!("cannot compare with the certificate: {e}"))),
    }
}

/// The algorithm of `key` when it is one neither ring nor [`ecdsa_p521`] can load (Ed448,
/// RSA-PSS, DSA, an EC key on a curve other than P-256, P-384 or P-521), in openssl's words;
/// `None` for a key that can be compared, or one too broken to say, which then fails as a bad
/// key when it is loaded.
fn uncheckable_algorithm(key: &PrivateKeyDer<'_>) -> Option<String> {
    // rsaEncryption, id-ecPublicKey and Ed25519.
    const RSA: &str = "1.2.840.113549.1.1.1";
    const EC: &str = "1.2.840.10045.2.1";
    const ED25519: &str = "1.3.101.112";
    // prime256v1, secp384r1, secp521r1.
    const CURVES: [&str; 3] = ["1.2.840.10045.3.1.7", "1.3.132.0.34", "1.3.132.0.35"];
    let (algorithm, curve) = match key {
        // PrivateKeyInfo: version, AlgorithmIdentifier { algorithm, parameters }, key, ...
        PrivateKeyDer::Pkcs8(pkcs8) => {
            let mut info = der::Reader::new(pkcs8.secret_pkcs8_der())
                .sequence("PrivateKeyInfo")
                .ok()?;
            info.any("version").ok()?;
            let mut id = info.sequence("privateKeyAlgorithm").ok()?;
            let algorithm = id.oid("algorithm").ok()?;
            // An EC key's parameters are its named curve; other keys have none or NULL.
            let curve = if algorithm == EC {
                id.oid("namedCurve").ok()
            } else {
                None
            };
            (algorithm, curve)
        }
        // ECPrivateKey: version, privateKey, [0] parameters (the named curve), [1] publicKey.
        PrivateKeyDer::Sec1(sec1) => {
            let mut ec = der::Reader::new(sec1.secret_sec1_der())
                .sequence("ECPrivateKey")
                .ok()?;
            ec.any("version").ok()?;
            ec.octets("privateKey").ok()?;
            let curve = ec
                .optional_context(0)
                .ok()?
                .and_then(|p| der::Reader::new(p).oid("namedCurve").ok());
            (EC.to_owned(), curve)
        }
        _ => return None,
    };
    match (algorithm.as_str(), curve.as_deref()) {
        (RSA | ED25519, _) => None,
        // A SEC1 key without parameters names no curve: left to the loaders to judge.
        (EC, None) => None,
        (EC, Some(curve)) if CURVES.contains(&curve) => None,
        (EC, Some(curve)) => Some(format!("id-ecPublicKey (curve {curve})")),
        (other, _) => Some(x509::openssl_name(other)),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
