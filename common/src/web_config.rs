//! The exporter-toolkit web configuration file (`--web.config.file`): TLS and basic auth.
//!
//! The same YAML file that node_exporter and the other Go exporters read works here:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/sysgauge/tls.crt
//!   key_file: /etc/sysgauge/tls.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: /etc/sysgauge/clients.pem
//!   min_version: TLS13
//! http_server_config:
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   prometheus: $2y$10$...   # bcrypt hash
//! ```
//!
//! TLS is done by rustls, which knows neither TLS 1.0/1.1 nor Go's cipher-suite names; keys that
//! would weaken TLS or that rustls cannot honour are rejected with an error that says so, rather
//! than silently ignored.

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use rustls::{
    RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier, danger::ClientCertVerifier},
    sign::CertifiedKey,
    version::{TLS12, TLS13},
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde::Deserialize;

use crate::{error::Error, sync::lock};

/// The parsed web configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// TLS settings; without them the server speaks plain HTTP.
    pub tls_server_config: Option<TlsServerConfig>,
    /// HTTP settings.
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name to bcrypt hash; when non-empty, every request needs basic auth.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// Server certificate chain (PEM file).
    pub cert_file: Option<PathBuf>,
    /// Server certificate chain, inline PEM.
    pub cert: Option<String>,
    /// Server private key (PEM file).
    pub key_file: Option<PathBuf>,
    /// Server private key, inline PEM.
    pub key: Option<String>,
    /// NoClientCert (default), VerifyClientCertIfGiven or RequireAndVerifyClientCert.
    pub client_auth_type: Option<String>,
    /// CA certificates that client certificates must chain to (PEM file).
    pub client_ca_file: Option<PathBuf>,
    /// The same, inline PEM.
    pub client_ca: Option<String>,
    /// TLS12 (default) or TLS13.
    pub min_version: Option<String>,
    /// TLS12 or TLS13 (default).
    pub max_version: Option<String>,
    /// Go cipher-suite names; not supported, rustls chooses among its safe suites.
    pub cipher_suites: Option<Vec<String>>,
    /// Deprecated in Go and without effect there; accepted and ignored.
    pub prefer_server_cipher_suites: Option<bool>,
    /// Go curve names; not supported.
    pub curve_preferences: Option<Vec<String>>,
    /// Allowed client SANs; not supported.
    pub client_allowed_sans: Option<Vec<String>>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Whether to offer HTTP/2 (default true).
    pub http2: Option<bool>,
    /// Headers added to every response.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl WebConfig {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = crate::fs::read_to_string(path, crate::fs::CONFIG_FILE_LIMIT).map_err(|e| {
            Error::ConfigRead {
                path: path.to_owned(),
                source: e.into(),
            }
        })?;
        let config: WebConfig =
            serde_yaml_ng::from_str(&text).map_err(|e| Error::ConfigInvalid {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let invalid = |message: String| Error::ConfigInvalid {
            path: path.to_owned(),
            message,
        };
        for (user, hash) in &config.basic_auth_users {
            hash.parse::<bcrypt::HashParts>().map_err(|e| {
                invalid(format!("basic_auth_users.{user}: not a bcrypt hash ({e})"))
            })?;
        }
        for (name, value) in &config.http_server_config.headers {
            http::HeaderName::try_from(name.as_str())
                .map_err(|_| invalid(format!("http_server_config.headers: bad name {name:?}")))?;
            http::HeaderValue::try_from(value.as_str())
                .map_err(|_| invalid(format!("http_server_config.headers.{name}: bad value")))?;
        }
        Ok(config)
    }

    /// Builds the rustls configuration, or `None` for plain HTTP.
    pub fn tls(&self, path: &Path) -> Result<Option<Arc<ServerConfig>>, Error> {
        let Some(tls) = &self.tls_server_config else {
            return Ok(None);
        };
        let err = |message: String| Error::Tls {
            path: path.to_owned(),
            message,
        };
        for (key, set) in [
            ("cipher_suites", tls.cipher_suites.is_some()),
            ("curve_preferences", tls.curve_preferences.is_some()),
            ("client_allowed_sans", tls.client_allowed_sans.is_some()),
        ] {
            if set {
                return Err(err(format!(
                    "tls_server_config.{key} is not supported (TLS is done by rustls with its own safe defaults); remove it"
                )));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let source = match (&tls.cert_file, &tls.cert, &tls.key_file, &tls.key) {
            (Some(cert), None, Some(key), None) => KeySource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (None, Some(cert), None, Some(key)) => KeySource::Inline {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => {
                return Err(err(
                    "tls_server_config needs cert_file and key_file, or cert and key (inline PEM)"
                        .into(),
                ));
            }
        };
        let resolver = CertReloader::new(source, Arc::clone(&provider)).map_err(&err)?;
        let versions =
            versions(tls.min_version.as_deref(), tls.max_version.as_deref()).map_err(&err)?;
        let verifier = client_verifier(tls).map_err(&err)?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| err(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = if self.http_server_config.http2.unwrap_or(true) {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(Some(Arc::new(config)))
    }
}

/// Where the server's certificate and key come from.
#[derive(Debug)]
enum KeySource {
    /// PEM files, re-read when they change.
    Files { cert: PathBuf, key: PathBuf },
    /// Inline PEM from the web configuration file.
    Inline { cert: String, key: String },
}

impl KeySource {
    fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
        let (certs, key) = match self {
            KeySource::Files { cert, key } => (
                read_pem::<CertificateDer<'static>>("cert", &Some(cert.clone()), &None)?,
                crate::fs::read(key, crate::fs::KEY_FILE_LIMIT)
                    .map_err(|e| format!("key_file {e}"))
                    .and_then(|pem| {
                        PrivateKeyDer::from_pem_slice(&pem)
                            .map_err(|e| format!("key_file {}: {e}", key.display()))
                    })?,
            ),
            KeySource::Inline { cert, key } => (
                read_pem::<CertificateDer<'static>>("cert", &None, &Some(cert.clone()))?,
                PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| format!("key: {e}"))?,
            ),
        };
        if certs.is_empty() {
            return Err("no certificate in cert_file / cert".into());
        }
        CertifiedKey::from_der(certs, key, provider)
            .map_err(|e| format!("certificate and key: {e}"))
    }

    /// The modification times of the files, to notice a renewal.
    fn stamp(&self) -> Option<(SystemTime, SystemTime)> {
        match self {
            KeySource::Files { cert, key } => {
                let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
                Some((mtime(cert)?, mtime(key)?))
            }
            KeySource::Inline { .. } => None,
        }
    }
}

/// How often, at most, the certificate files are checked for a change.
const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// Serves the certificate and key, re-reading the files when they change, so that a renewed
/// certificate (certbot, step-ca) is served without a restart. A renewal that cannot be read
/// (half-written, key and certificate not yet matching) keeps the previous pair and logs why.
#[derive(Debug)]
struct CertReloader {
    source: KeySource,
    provider: Arc<CryptoProvider>,
    check_every: Duration,
    current: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: Option<(SystemTime, SystemTime)>,
    checked: Instant,
}

impl CertReloader {
    fn new(source: KeySource, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let stamp = source.stamp();
        let key = Arc::new(source.load(&provider)?);
        Ok(Self {
            source,
            provider,
            check_every: RELOAD_CHECK,
            current: Mutex::new(Loaded {
                key,
                stamp,
                checked: Instant::now(),
            }),
        })
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl CertReloader {
    /// The pair to serve, re-read first if the files changed since the last check.
    fn current(&self) -> Arc<CertifiedKey> {
        let mut current = lock(&self.current);
        if current.checked.elapsed() >= self.check_every {
            current.checked = Instant::now();
            let stamp = self.source.stamp();
            if stamp.is_some() && stamp != current.stamp {
                match self.source.load(&self.provider) {
                    Ok(key) => {
                        tracing::info!("the TLS certificate changed on disk; serving the new one");
                        *current = Loaded {
                            key: Arc::new(key),
                            stamp,
                            checked: Instant::now(),
                        };
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the TLS certificate changed on disk but cannot be used; still serving the previous one");
                    }
                }
            }
        }
        Arc::clone(&current.key)
    }
}

fn read_pem<T: PemObject>(
    key: &str,
    file: &Option<PathBuf>,
    inline: &Option<String>,
) -> Result<Vec<T>, String> {
    match (file, inline) {
        (Some(p), None) => crate::fs::read(p, crate::fs::CERTIFICATE_FILE_LIMIT)
            .map_err(|e| format!("{key}_file {e}"))
            .and_then(|pem| {
                T::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{key}_file {}: {e}", p.display()))
            }),
        (None, Some(pem)) => T::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{key}: {e}")),
        (None, None) => Ok(Vec::new()),
        (Some(_), Some(_)) => Err(format!("give either {key}_file or {key}, not both")),
    }
}

fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let rank = |v: &str, key: &str| match v {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(format!(
            "{key}: {v} is not supported, TLS 1.2 is the oldest"
        )),
        other => Err(format!(
            "{key}: unknown TLS version {other:?} (TLS12 or TLS13)"
        )),
    };
    let lo = min.map_or(Ok(12), |v| rank(v, "min_version"))?;
    let hi = max.map_or(Ok(13), |v| rank(v, "max_version"))?;
    if lo > hi {
        return Err("min_version is above max_version".into());
    }
    Ok([(12, &TLS12), (13, &TLS13)]
        .into_iter()
        .filter(|(v, _)| (lo..=hi).contains(v))
        .map(|(_, p)| p)
        .collect())
}

fn client_verifier(tls: &TlsServerConfig) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let kind = tls.client_auth_type.as_deref().unwrap_or("NoClientCert");
    if kind == "NoClientCert" {
        return Ok(WebPkiClientVerifier::no_client_auth());
    }
    let optional = match kind {
        "VerifyClientCertIfGiven" => true,
        "RequireAndVerifyClientCert" => false,
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(format!(
                "client_auth_type {kind} accepts unverified client certificates and is not supported; use RequireAndVerifyClientCert"
            ));
        }
        other => return Err(format!("unknown client_auth_type {other:?}")),
    };
    let cas =
        read_pem::<CertificateDer<'static>>("client_ca", &tls.client_ca_file, &tls.client_ca)?;
    if cas.is_empty() {
        return Err(format!(
            "client_auth_type {kind} needs client_ca_file or client_ca"
        ));
    }
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add(ca).map_err(|e| format!("client CA: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    builder.build().map_err(|e| e.to_string())
}

/// Checks basic-auth credentials against bcrypt hashes.
///
/// bcrypt is deliberately slow (tens of milliseconds of CPU), and Prometheus sends the same
/// credentials on every scrape, so the answer for a pair of credentials is remembered: only a
/// SHA-256 digest of user, hash and password is kept, never the password. Failed pairs are
/// remembered too (up to [`FAILED_REMEMBERED`], the oldest forgotten first), so that a client
/// repeating a wrong password costs one bcrypt, not one per request. An unknown user is checked
/// against a fixed hash so that the first answer takes as long as for a known one.
#[derive(Debug, Default)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
    failed: Mutex<Remembered>,
}

/// How many failed pairs of credentials are remembered (32 bytes each).
pub const FAILED_REMEMBERED: usize = 4096;

/// A bounded set of digests that forgets the oldest first.
#[derive(Debug, Default)]
struct Remembered {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl Remembered {
    fn insert(&mut self, digest: [u8; 32]) {
        if self.set.insert(digest) {
            self.order.push_back(digest);
            while self.order.len() > FAILED_REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// A valid bcrypt hash that no password matches in practice; used for unknown users.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

impl BasicAuth {
    /// An authenticator for `users` (name to bcrypt hash); `None` when there are none.
    pub fn new(users: BTreeMap<String, String>) -> Option<Self> {
        (!users.is_empty()).then(|| Self {
            users,
            ..Self::default()
        })
    }

    fn hash_of(&self, user: &str) -> (&str, bool) {
        match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH, false),
        }
    }

    fn digest(user: &str, hash: &str, password: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [user, "\0", hash, "\0", password] {
            ctx.update(part.as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// The remembered answer for these credentials, if any; cheap (one SHA-256), never blocks.
    pub fn cached(&self, user: &str, password: &str) -> Option<bool> {
        let (hash, _) = self.hash_of(user);
        let digest = Self::digest(user, hash, password);
        if lock(&self.verified).contains(&digest) {
            return Some(true);
        }
        lock(&self.failed).set.contains(&digest).then_some(false)
    }

    /// Whether `user` and `password` are valid, remembering the answer. Blocking (bcrypt): call
    /// from a blocking thread.
    pub fn check(&self, user: &str, password: &str) -> bool {
        if let Some(known) = self.cached(user, password) {
            return known;
        }
        let (hash, known) = self.hash_of(user);
        let digest = Self::digest(user, hash, password);
        let ok = bcrypt::verify(password, hash).unwrap_or(false) && known;
        if ok {
            lock(&self.verified).insert(digest);
        } else {
            lock(&self.failed).insert(digest);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<WebConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(&p, text).unwrap();
        WebConfig::load(&p).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_key_is_an_error_with_line() {
        let err = load_str("tls_server_config:\n  cert_fil: x\n").unwrap_err();
        assert!(err.contains("cert_fil") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_bcrypt_hash_is_rejected() {
        let err = load_str("basic_auth_users:\n  alice: plaintext\n").unwrap_err();
        assert!(err.contains("basic_auth_users.alice"), "{err}");
    }

    #[test]
    fn versions_and_unsupported_keys() {
        assert_eq!(versions(Some("TLS13"), None).unwrap().len(), 1);
        assert_eq!(versions(None, None).unwrap().len(), 2);
        assert!(
            versions(Some("TLS10"), None)
                .unwrap_err()
                .contains("not supported")
        );
        assert!(versions(Some("TLS13"), Some("TLS12")).is_err());
        let c =
            load_str("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [X]\n")
                .unwrap();
        let err = c.tls(Path::new("web.yml")).unwrap_err().to_string();
        assert!(err.contains("cipher_suites"), "{err}");
    }

    #[test]
    fn renewed_certificate_files_are_served_and_broken_ones_are_not() {
        use sysgauge_testkit::openssl;
        if !sysgauge_testkit::available("openssl", "openssl") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (a, a_key) =
            openssl::certificate(d, "a", "a.test", "20200101000000Z", "20400101000000Z", None);
        let (b, b_key) =
            openssl::certificate(d, "b", "b.test", "20200101000000Z", "20400101000000Z", None);
        let (cert, key) = (d.join("served.pem"), d.join("served.key"));
        std::fs::copy(&a, &cert).unwrap();
        std::fs::copy(&a_key, &key).unwrap();
        let source = KeySource::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
        let mut reloader =
            CertReloader::new(source, Arc::new(rustls::crypto::ring::default_provider())).unwrap();
        reloader.check_every = Duration::ZERO;
        let served = |r: &CertReloader| r.current().cert[0].clone();
        let der = |p: &Path| {
            CertificateDer::pem_file_iter(p)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
        };
        assert_eq!(served(&reloader), der(&a));

        // A half-done renewal (new certificate, old key) keeps the old pair.
        let later = |p: &Path, secs| {
            let f = std::fs::File::options().write(true).open(p).unwrap();
            f.set_modified(SystemTime::now() + Duration::from_secs(secs))
                .unwrap();
        };
        std::fs::copy(&b, &cert).unwrap();
        later(&cert, 10);
        assert_eq!(served(&reloader), der(&a));
        // Once the key follows, the new pair is served.
        std::fs::copy(&b_key, &key).unwrap();
        later(&key, 20);
        assert_eq!(served(&reloader), der(&b));
    }

    #[test]
    fn basic_auth_checks_and_caches() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new([("prom".to_owned(), hash)].into()).unwrap();
        assert!(auth.check("prom", "s3cret"));
        assert!(auth.check("prom", "s3cret"), "cached answer differs");
        assert!(!auth.check("prom", "wrong"));
        assert!(!auth.check("nobody", "s3cret"));
        assert_eq!(auth.cached("prom", "s3cret"), Some(true));
        assert_eq!(
            auth.cached("prom", "wrong"),
            Some(false),
            "failure not remembered"
        );
        assert_eq!(auth.cached("nobody", "s3cret"), Some(false));
        assert_eq!(auth.cached("prom", "other"), None);
        assert!(BasicAuth::new(BTreeMap::new()).is_none());
    }

    #[test]
    fn remembered_failures_are_bounded() {
        let mut r = Remembered::default();
        for i in 0..(FAILED_REMEMBERED + 10) {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_le_bytes());
            r.insert(d);
        }
        assert_eq!(r.set.len(), FAILED_REMEMBERED);
        assert_eq!(r.order.len(), FAILED_REMEMBERED);
        assert!(!r.set.contains(&[0u8; 32]), "the oldest was kept");
    }
}
