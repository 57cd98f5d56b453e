//! Endpoints to probe: parsing `tls://host:port?server_name=NAME` and friends.
//!
//! The scheme picks the protocol spoken before the TLS handshake:
//!
//! | scheme | protocol | default port |
//! |---|---|---|
//! | `tls://` | TLS from the first byte (HTTPS, IMAPS, SMTPS, ...) | 443 |
//! | `smtp://` | SMTP `STARTTLS` | 25 |
//! | `imap://` | IMAP `STARTTLS` | 143 |
//! | `pop3://` | POP3 `STLS` | 110 |
//! | `postgres://` | PostgreSQL `SSLRequest`; `?sslnegotiation=direct` for PostgreSQL 17's direct TLS with ALPN `postgresql` | 5432 |
//! | `xmpp://` | XMPP client-to-server `<starttls/>`; the stream is opened to the server name | 5222 |
//! | `xmpp-server://` | XMPP server-to-server `<starttls/>` | 5269 |
//! | `sieve://` | ManageSieve `STARTTLS` | 4190 |
//! | `ldap://` | LDAP StartTLS extended operation | 389 |
//! | `ftp://` | FTP `AUTH TLS` | 21 |
//! | `mysql://`, `mariadb://` | MySQL/MariaDB SSLRequest | 3306 |
//!
//! `?server_name=NAME` sets the name sent as SNI and checked against the certificate, so one
//! address can be probed once per virtual host; without it the host of the URL is used.

use std::{path::PathBuf, time::Duration};

use rustls_pki_types::ServerName;
use serde::Deserialize;
use sysgauge_common::limits::Timeout;

use crate::error::Error;

/// How long one probe may take when the configuration does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[endpoints]]` table.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `scheme://host[:port][?server_name=NAME][&sslnegotiation=direct]`.
    pub url: String,
    /// CA bundle to verify the chain against instead of the system's roots.
    pub ca_bundle: Option<PathBuf>,
    /// Deadline of one probe, e.g. "5s" (default 5s, and never more than the collector's).
    pub timeout: Option<Timeout>,
}

/// What is spoken before the TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// TLS right away.
    Tls,
    /// SMTP STARTTLS.
    Smtp,
    /// IMAP STARTTLS.
    Imap,
    /// POP3 STLS.
    Pop3,
    /// PostgreSQL SSLRequest.
    Postgres,
    /// PostgreSQL 17 direct TLS, ALPN `postgresql`.
    PostgresDirect,
    /// XMPP client-to-server STARTTLS.
    Xmpp,
    /// XMPP server-to-server STARTTLS.
    XmppServer,
    /// ManageSieve STARTTLS.
    ManageSieve,
    /// LDAP StartTLS.
    Ldap,
    /// FTP AUTH TLS.
    Ftp,
    /// MySQL/MariaDB SSLRequest.
    Mysql,
}

/// A parsed endpoint, ready to probe.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The URL as configured; the `endpoint` label.
    pub url: String,
    /// The protocol.
    pub protocol: Protocol,
    /// Host name or IP address to connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The name sent as SNI and checked against the certificate.
    pub server_name: ServerName<'static>,
    /// The same, as text, for labels and logs.
    pub server_name_text: String,
    /// CA bundle instead of the system roots.
    pub ca_bundle: Option<PathBuf>,
    /// Deadline of one probe.
    pub timeout: Duration,
}

impl Endpoint {
    /// Parses and checks a configured endpoint.
    pub fn parse(config: &EndpointConfig) -> Result<Endpoint, Error> {
        let url = config.url.as_str();
        let bad = |message: String| Error::Endpoint {
            url: url.to_owned(),
            message,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://host[:port]".into()))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let mut protocol = match scheme {
            "tls" => Protocol::Tls,
            "smtp" => Protocol::Smtp,
            "imap" => Protocol::Imap,
            "pop3" => Protocol::Pop3,
            "postgres" | "postgresql" => Protocol::Postgres,
            "xmpp" => Protocol::Xmpp,
            "xmpp-server" => Protocol::XmppServer,
            "sieve" => Protocol::ManageSieve,
            "ldap" => Protocol::Ldap,
            "ftp" => Protocol::Ftp,
            "mysql" | "mariadb" => Protocol::Mysql,
            other => {
                return Err(bad(format!(
                    "unknown scheme {other:?} (tls, smtp, imap, pop3, postgres, xmpp, xmpp-server, sieve, ldap, ftp or mysql)"
                )));
            }
        };
        let (host, port) = split_host_port(authority).map_err(&bad)?;
        let port = match port {
            Some(p) => p,
            None => match protocol {
                Protocol::Tls => 443,
                Protocol::Smtp => 25,
                Protocol::Imap => 143,
                Protocol::Pop3 => 110,
                Protocol::Postgres | Protocol::PostgresDirect => 5432,
                Protocol::Xmpp => 5222,
                Protocol::XmppServer => 5269,
                Protocol::ManageSieve => 4190,
                Protocol::Ldap => 389,
                Protocol::Ftp => 21,
                Protocol::Mysql => 3306,
            },
        };
        let mut server_name_text = host.clone();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("server_name", name)) if !name.is_empty() => {
                    server_name_text = name.to_owned()
                }
                Some(("sslnegotiation", "direct")) if protocol == Protocol::Postgres => {
                    protocol = Protocol::PostgresDirect;
                }
                Some(("sslnegotiation", "postgres")) if protocol == Protocol::Postgres => {}
                _ => {
                    return Err(bad(format!(
                        "unknown query parameter {pair:?} (server_name=NAME, or sslnegotiation=direct for postgres://)"
                    )));
                }
            }
        }
        let server_name = ServerName::try_from(server_name_text.clone())
            .map_err(|_| bad(format!("{server_name_text:?} is not a valid server name")))?;
        Ok(Endpoint {
            url: url.to_owned(),
            protocol,
            host,
            port,
            server_name,
            server_name_text,
            ca_bundle: config.ca_bundle.clone(),
            // In range by its type (limits::Timeout), so never zero.
            timeout: config.timeout.map_or(DEFAULT_TIMEOUT, Timeout::get),
        })
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs a closing ]")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| format!("bad port {p:?}")))
        .transpose()?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Endpoint, String> {
        Endpoint::parse(&EndpointConfig {
            url: url.into(),
            ..Default::default()
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn schemes_ports_and_server_names() {
        let e = parse("tls://127.0.0.1:8443?server_name=cloud.example").unwrap();
        assert_eq!(
            (e.protocol, e.host.as_str(), e.port),
            (Protocol::Tls, "127.0.0.1", 8443)
        );
        assert_eq!(e.server_name_text, "cloud.example");
        let e = parse("smtp://mail.example").unwrap();
        assert_eq!(
            (e.protocol, e.port, e.server_name_text.as_str()),
            (Protocol::Smtp, 25, "mail.example")
        );
        assert_eq!(parse("imap://h").unwrap().port, 143);
        assert_eq!(parse("pop3://h").unwrap().port, 110);
        let e = parse("postgres://[::1]:5433?sslnegotiation=direct").unwrap();
        assert_eq!(
            (e.protocol, e.host.as_str(), e.port),
            (Protocol::PostgresDirect, "::1", 5433)
        );
        assert!(matches!(e.server_name, ServerName::IpAddress(_)));
        assert_eq!(parse("postgres://db").unwrap().protocol, Protocol::Postgres);
        for (url, protocol, port) in [
            ("xmpp://h", Protocol::Xmpp, 5222),
            ("xmpp-server://h", Protocol::XmppServer, 5269),
            ("sieve://h", Protocol::ManageSieve, 4190),
            ("ldap://h", Protocol::Ldap, 389),
            ("ftp://h", Protocol::Ftp, 21),
            ("mysql://h", Protocol::Mysql, 3306),
            ("mariadb://h:3307", Protocol::Mysql, 3307),
        ] {
            let e = parse(url).unwrap();
            assert_eq!((e.protocol, e.port), (protocol, port), "{url}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        assert!(
            parse("https://x")
                .unwrap_err()
                .contains("unknown scheme \"https\"")
        );
        assert!(parse("tls://x:99999").unwrap_err().contains("bad port"));
        assert!(
            parse("tls://x?sni=y")
                .unwrap_err()
                .contains("unknown query parameter \"sni=y\"")
        );
        assert!(
            parse("tls://x?sslnegotiation=direct")
                .unwrap_err()
                .contains("unknown query parameter")
        );
        assert!(parse("x:443").unwrap_err().contains("scheme://"));
        assert!(parse("tls://:443").unwrap_err().contains("no host"));
        assert!(
            parse("tls://x?server_name=bad name")
                .unwrap_err()
                .contains("not a valid server name")
        );
    }
}
