//! Chain verification against a CA bundle, and private-key matching.
//!
//! Both answer a question no peer exporter answers for files on disk: "does this certificate
//! chain to my private CA right now?" and "is this the key the server will pair with it?".

use std::{path::Path, sync::Arc};

use rustls::{crypto::CryptoProvider, sign::CertifiedKey};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, ServerName, TrustAnchor, UnixTime, pem::PemObject,
};
use webpki::{EndEntityCert, KeyUsage};

use crate::{error::Error, x509};

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
    /// `Err` says why not, in words for the log.
    pub fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), String> {
        let ee = EndEntityCert::try_from(leaf).map_err(|e| format!("{e:?}"))?;
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.anchors,
            intermediates,
            now,
            KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
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

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
