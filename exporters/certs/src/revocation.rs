//! Whether a watched certificate is listed in a watched CRL of its issuer.
//!
//! CRL files and certificate files may come in any order and from any source, so a scan notes
//! every CRL and, for every certificate, only what the match needs (its place, serial and a
//! hash of its issuer's name), and matches them once every file has been read. A CRL belongs to
//! a certificate's issuer when their DER-encoded issuer names are equal; the CRL's signature is
//! not checked (openssl's `verify -crl_check` does that).

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
};

use sysgauge_common::MetricSet;

use crate::{
    metrics::{CRL_NEXT_UPDATE, CRL_REVOKED, CRL_THIS_UPDATE, REVOKED},
    x509::{CertInfo, CrlInfo},
};

/// CRLs and certificates of one scan.
#[derive(Debug, Default)]
pub struct Revocation {
    crls: Vec<(String, usize, CrlInfo)>,
    certificates: Vec<(String, usize, String, u64)>,
}

fn issuer_hash(issuer: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    issuer.hash(&mut h);
    h.finish()
}

impl Revocation {
    /// Reports a CRL (`index` among the file's CRLs) and keeps it for the match.
    pub fn crl(&mut self, set: &mut MetricSet, path: &str, index: usize, crl: CrlInfo) {
        let labels = || [path.to_owned(), index.to_string(), crl.issuer_cn.clone()];
        set.add(&CRL_THIS_UPDATE, labels(), crl.this_update as f64);
        if let Some(next) = crl.next_update {
            set.add(&CRL_NEXT_UPDATE, labels(), next as f64);
        }
        set.add(&CRL_REVOKED, labels(), crl.revoked.len() as f64);
        self.crls.push((path.to_owned(), index, crl));
    }

    /// Adds what `other`, the revocation data of the files read after this one's, holds.
    pub fn extend(&mut self, other: Revocation) {
        self.crls.extend(other.crls);
        self.certificates.extend(other.certificates);
    }

    /// Whether a CRL of the file `path` has been reported.
    pub fn has_crl_of(&self, path: &str) -> bool {
        self.crls.last().is_some_and(|(p, _, _)| p == path)
    }

    /// Keeps what the match needs of a certificate (`index` among the file's certificates).
    pub fn certificate(&mut self, path: &str, index: usize, cert: &CertInfo) {
        self.certificates.push((
            path.to_owned(),
            index,
            cert.serial.clone(),
            issuer_hash(&cert.issuer),
        ));
    }

    /// One `sysgauge_cert_revoked` series per certificate and CRL of its issuer.
    pub fn report(self, set: &mut MetricSet) {
        if self.crls.is_empty() {
            return;
        }
        let mut by_issuer: HashMap<u64, Vec<&(String, usize, CrlInfo)>> = HashMap::new();
        for crl in &self.crls {
            by_issuer
                .entry(issuer_hash(&crl.2.issuer))
                .or_default()
                .push(crl);
        }
        for (path, index, serial, issuer) in &self.certificates {
            for (crl_path, _, crl) in by_issuer.get(issuer).into_iter().flatten() {
                let listed = crl.revoked.iter().any(|s| s == serial);
                if listed {
                    tracing::warn!(path = %path, serial = %serial, crl = %crl_path, "the certificate is revoked");
                }
                set.add(
                    &REVOKED,
                    [
                        path.clone(),
                        index.to_string(),
                        serial.clone(),
                        crl_path.clone(),
                    ],
                    if listed { 1.0 } else { 0.0 },
                );
            }
        }
    }
}
