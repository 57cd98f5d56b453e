//! One probe of one endpoint: connect, speak the protocol up to STARTTLS, shake hands, and
//! keep every certificate the server presents.
//!
//! The TLS client accepts any certificate chain: its verifier records the chain instead of
//! judging it, so that an expired or untrusted certificate is still reported with its dates
//! (ssl_exporter drops exactly those). The chain is judged afterwards, on its own and against
//! the name, by [`crate::verify`]. Handshake signatures are still checked (by ring, and by
//! [`ecdsa_p521`] for a server whose key is P-521, which ring lacks), and the probe sends
//! nothing after the handshake, so accepting the chain exposes no data.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use rustls::{
    ClientConfig, DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature},
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

use crate::{
    ecdsa_p521,
    endpoint::{Endpoint, Protocol},
    error::Error,
    starttls,
};

/// What a successful handshake showed.
#[derive(Debug)]
pub struct Handshake {
    /// The certificates the server presented, leaf first.
    pub certificates: Vec<CertificateDer<'static>>,
    /// e.g. `TLSv1_3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// Seconds from the ClientHello to the end of the handshake.
    pub handshake_seconds: f64,
}

/// The longest line a server may send during the STARTTLS dialogue.
const MAX_LINE: u64 = 8192;

/// Probes `endpoint` once. The caller bounds the time.
pub async fn probe(endpoint: &Endpoint) -> Result<Handshake, Error> {
    let stream = connect(endpoint).await?;
    let stream = match endpoint.protocol {
        Protocol::Tls | Protocol::PostgresDirect => stream,
        _ => start_tls(endpoint, stream).await?,
    };
    handshake(endpoint, stream).await
}

async fn connect(endpoint: &Endpoint) -> Result<TcpStream, Error> {
    let addresses: Vec<_> = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| Error::Resolve(e.to_string()))?
        .collect();
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => Error::Connect(e),
        None => Error::Resolve("the name has no address".into()),
    })
}

/// Speaks the protocol up to the point where the server expects a ClientHello.
async fn start_tls(endpoint: &Endpoint, stream: TcpStream) -> Result<TcpStream, Error> {
    let mut conn = BufReader::new(stream);
    match endpoint.protocol {
        Protocol::Smtp => {
            expect_smtp(&mut conn, "220", "greeting").await?;
            send(&mut conn, b"EHLO sysgauge.invalid\r\n").await?;
            let capabilities = expect_smtp(&mut conn, "250", "EHLO").await?;
            if !capabilities.iter().any(|l| {
                l.get(4..)
                    .is_some_and(|c| c.eq_ignore_ascii_case("STARTTLS"))
            }) {
                return Err(Error::Protocol(
                    "the SMTP server does not offer STARTTLS".into(),
                ));
            }
            send(&mut conn, b"STARTTLS\r\n").await?;
            expect_smtp(&mut conn, "220", "STARTTLS").await?;
        }
        Protocol::Imap => {
            let greeting = line(&mut conn).await?;
            if !greeting.starts_with("* OK") {
                return Err(Error::Protocol(format!(
                    "unexpected IMAP greeting {greeting:?}"
                )));
            }
            send(&mut conn, b"a1 CAPABILITY\r\n").await?;
            let capabilities = imap_reply(&mut conn, "a1").await?;
            if !capabilities.iter().any(|l| {
                l.split_whitespace()
                    .any(|w| w.eq_ignore_ascii_case("STARTTLS"))
            }) {
                return Err(Error::Protocol(
                    "the IMAP server does not offer STARTTLS".into(),
                ));
            }
            send(&mut conn, b"a2 STARTTLS\r\n").await?;
            imap_reply(&mut conn, "a2").await?;
        }
        Protocol::Pop3 => {
            expect_pop3(&mut conn, "greeting").await?;
            send(&mut conn, b"CAPA\r\n").await?;
            expect_pop3(&mut conn, "CAPA").await?;
            let mut stls = false;
            loop {
                let l = line(&mut conn).await?;
                if l == "." {
                    break;
                }
                stls |= l.eq_ignore_ascii_case("STLS");
            }
            if !stls {
                return Err(Error::Protocol(
                    "the POP3 server does not offer STLS".into(),
                ));
            }
            send(&mut conn, b"STLS\r\n").await?;
            expect_pop3(&mut conn, "STLS").await?;
        }
        Protocol::Postgres => {
            // SSLRequest: length 8, code 80877103.
            send(&mut conn, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await?;
            let answer = conn.read_u8().await.map_err(closed)?;
            match answer {
                b'S' => {}
                b'N' => {
                    return Err(Error::Protocol(
                        "the PostgreSQL server does not accept SSL (ssl = off)".into(),
                    ));
                }
                other => {
                    return Err(Error::Protocol(format!(
                        "unexpected answer {other:#04x} to SSLRequest"
                    )));
                }
            }
        }
        Protocol::Xmpp | Protocol::XmppServer => {
            let server = endpoint.protocol == Protocol::XmppServer;
            starttls::xmpp(&mut conn, &endpoint.server_name_text, server).await?;
        }
        Protocol::ManageSieve => starttls::managesieve(&mut conn).await?,
        Protocol::Ldap => starttls::ldap(&mut conn).await?,
        Protocol::Ftp => starttls::ftp(&mut conn).await?,
        Protocol::Mysql => starttls::mysql(&mut conn).await?,
        Protocol::Tls | Protocol::PostgresDirect => {}
    }
    // Anything the server sent after its go-ahead would be lost (or be an injection attempt).
    if !conn.buffer().is_empty() {
        return Err(Error::Protocol(
            "the server sent data before the TLS handshake".into(),
        ));
    }
    Ok(conn.into_inner())
}

pub(crate) async fn send(conn: &mut BufReader<TcpStream>, data: &[u8]) -> Result<(), Error> {
    conn.get_mut().write_all(data).await.map_err(closed)
}

pub(crate) async fn line(conn: &mut BufReader<TcpStream>) -> Result<String, Error> {
    let mut buf = String::new();
    let n = (&mut *conn)
        .take(MAX_LINE)
        .read_line(&mut buf)
        .await
        .map_err(closed)?;
    if n == 0 {
        return Err(Error::Protocol("the server closed the connection".into()));
    }
    if !buf.ends_with('\n') {
        return Err(Error::Protocol(format!(
            "a line longer than {MAX_LINE} bytes"
        )));
    }
    Ok(buf.trim_end().to_owned())
}

/// Reads an SMTP reply (`250-...` continuation lines, then `250 ...`) and checks its code.
async fn expect_smtp(
    conn: &mut BufReader<TcpStream>,
    code: &str,
    after: &str,
) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    loop {
        let l = line(conn).await?;
        let last = l.as_bytes().get(3) != Some(&b'-');
        if !l.starts_with(code) {
            return Err(Error::Protocol(format!(
                "SMTP {after}: expected {code}, got {l:?}"
            )));
        }
        lines.push(l);
        if last {
            return Ok(lines);
        }
    }
}

/// Reads IMAP lines up to the tagged reply of `tag`, which must be OK.
async fn imap_reply(conn: &mut BufReader<TcpStream>, tag: &str) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    loop {
        let l = line(conn).await?;
        if let Some(status) = l.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            if status.starts_with("OK") {
                return Ok(lines);
            }
            return Err(Error::Protocol(format!("IMAP {tag}: {l:?}")));
        }
        lines.push(l);
    }
}

async fn expect_pop3(conn: &mut BufReader<TcpStream>, after: &str) -> Result<(), Error> {
    let l = line(conn).await?;
    if l.starts_with("+OK") {
        Ok(())
    } else {
        Err(Error::Protocol(format!("POP3 {after}: {l:?}")))
    }
}

pub(crate) fn closed(e: std::io::Error) -> Error {
    Error::Protocol(format!("connection lost: {e}"))
}

async fn handshake(endpoint: &Endpoint, stream: TcpStream) -> Result<Handshake, Error> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups.push(&ecdsa_p521::SECP521R1_KX);
    let provider = Arc::new(provider);
    let recorder = Arc::new(Recorder {
        chain: Mutex::default(),
        provider: Arc::clone(&provider),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Handshake(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    if endpoint.protocol == Protocol::PostgresDirect {
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    let started = Instant::now();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(endpoint.server_name.clone(), stream)
        .await
        .map_err(|e| Error::Handshake(e.to_string()))?;
    let handshake_seconds = started.elapsed().as_secs_f64();
    let (_, conn) = tls.get_ref();
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let certificates = std::mem::take(&mut *sysgauge_common::sync::lock(&recorder.chain));
    Ok(Handshake {
        certificates,
        version,
        cipher,
        handshake_seconds,
    })
}

/// A verifier that records the server's chain and accepts it; see the module docs.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *sysgauge_common::sync::lock(&self.chain) = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // A TLS 1.2 ECDSA scheme names only the hash: a P-521 certificate may sign with any.
        let algorithms = if ecdsa_p521::has_p521_key(cert) {
            &ecdsa_p521::TLS_SCHEMES
        } else {
            &self.provider.signature_verification_algorithms
        };
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // In TLS 1.3 the scheme names the curve; webpki still checks the key is P-521.
        let algorithms = if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
            &ecdsa_p521::TLS_SCHEMES
        } else {
            &self.provider.signature_verification_algorithms
        };
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    /// ring's schemes, then `ecdsa_secp521r1_sha512`. Last, because in TLS 1.2 that scheme
    /// only means "ECDSA with SHA-512", which ring cannot verify for a P-256 or P-384 key: a
    /// server that picks the first scheme it can use picks one of ring's for those keys.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self
            .provider
            .signature_verification_algorithms
            .supported_schemes();
        schemes.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        schemes
    }
}
