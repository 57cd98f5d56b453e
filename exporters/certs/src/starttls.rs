//! The STARTTLS dialogues of the protocols a home server runs besides mail and PostgreSQL:
//! XMPP (client and server-to-server), ManageSieve, LDAP, FTP and MySQL/MariaDB. Each speaks
//! only as far as the server's go-ahead for the TLS handshake, and each read is bounded (a line,
//! an XML element or a packet of at most a few KiB), so a hostile peer can cost at most the
//! probe's deadline.

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    net::TcpStream,
};

use crate::{
    error::Error,
    probe::{closed, line, send},
};

/// The longest XML element or server packet read during a dialogue.
const MAX_ELEMENT: usize = 16 * 1024;

/// XMPP (RFC 6120 §5): open a stream to `domain`, find `<starttls/>` among the stream features,
/// ask for it and wait for `<proceed/>`. `server` picks the server-to-server namespace.
pub async fn xmpp(
    conn: &mut BufReader<TcpStream>,
    domain: &str,
    server: bool,
) -> Result<(), Error> {
    let namespace = if server {
        "jabber:server"
    } else {
        "jabber:client"
    };
    let open = format!(
        "<?xml version='1.0'?><stream:stream to='{}' xmlns='{namespace}' \
         xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
        xml_escape(domain)
    );
    send(conn, open.as_bytes()).await?;
    let mut starttls = false;
    loop {
        let element = xml_element(conn).await?;
        if element.starts_with("<stream:error") || element.starts_with("</stream:stream") {
            return Err(Error::Protocol(format!(
                "XMPP: the server refused the stream: {element}"
            )));
        }
        if element.starts_with("<starttls") {
            starttls = true;
        }
        if element.starts_with("</stream:features") {
            break;
        }
    }
    if !starttls {
        return Err(Error::Protocol(
            "the XMPP server does not offer STARTTLS".into(),
        ));
    }
    send(conn, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await?;
    let answer = xml_element(conn).await?;
    if !answer.starts_with("<proceed") {
        return Err(Error::Protocol(format!("XMPP STARTTLS: {answer}")));
    }
    Ok(())
}

/// The next XML tag (`<...>`), text between tags skipped.
async fn xml_element(conn: &mut BufReader<TcpStream>) -> Result<String, Error> {
    let mut buf = Vec::new();
    loop {
        let n = (&mut *conn)
            .take((MAX_ELEMENT - buf.len()) as u64)
            .read_until(b'>', &mut buf)
            .await
            .map_err(closed)?;
        if n == 0 && !buf.ends_with(b">") {
            return Err(Error::Protocol(if buf.len() >= MAX_ELEMENT {
                format!("an XML element longer than {MAX_ELEMENT} bytes")
            } else {
                "the server closed the connection".into()
            }));
        }
        // Skip the XML declaration and any text before the tag.
        let text = String::from_utf8_lossy(&buf);
        if let Some(start) = text.rfind('<') {
            let tag = text[start..].to_owned();
            if tag.ends_with('>') && !tag.starts_with("<?") {
                return Ok(tag);
            }
            if tag.starts_with("<?") {
                buf.clear();
            }
        } else {
            buf.clear();
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

/// ManageSieve (RFC 5804): the greeting lists capabilities up to an `OK` line; `STARTTLS` must
/// be among them, and the command is answered `OK`.
pub async fn managesieve(conn: &mut BufReader<TcpStream>) -> Result<(), Error> {
    let mut starttls = false;
    loop {
        let l = line(conn).await?;
        if l.starts_with("OK") {
            break;
        }
        if l.starts_with("NO") || l.starts_with("BYE") {
            return Err(Error::Protocol(format!("ManageSieve greeting: {l:?}")));
        }
        starttls |= l.eq_ignore_ascii_case("\"STARTTLS\"");
    }
    if !starttls {
        return Err(Error::Protocol(
            "the ManageSieve server does not offer STARTTLS".into(),
        ));
    }
    send(conn, b"STARTTLS\r\n").await?;
    let l = line(conn).await?;
    if !l.starts_with("OK") {
        return Err(Error::Protocol(format!("ManageSieve STARTTLS: {l:?}")));
    }
    Ok(())
}

/// FTP (RFC 4217): `AUTH TLS`, answered `234`.
pub async fn ftp(conn: &mut BufReader<TcpStream>) -> Result<(), Error> {
    ftp_reply(conn, "220", "greeting").await?;
    send(conn, b"AUTH TLS\r\n").await?;
    ftp_reply(conn, "234", "AUTH TLS").await
}

/// An FTP reply: `220-` starts a multi-line one, which ends with a line `220 `; the lines in
/// between may say anything.
async fn ftp_reply(conn: &mut BufReader<TcpStream>, code: &str, after: &str) -> Result<(), Error> {
    let first = line(conn).await?;
    if !first.starts_with(code) {
        return Err(Error::Protocol(format!(
            "FTP {after}: expected {code}, got {first:?}"
        )));
    }
    if first.as_bytes().get(3) == Some(&b'-') {
        let end = format!("{code} ");
        while !line(conn).await?.starts_with(&end) {}
    }
    Ok(())
}

/// LDAP (RFC 4511 §4.14): the StartTLS extended request, answered with resultCode success.
pub async fn ldap(conn: &mut BufReader<TcpStream>) -> Result<(), Error> {
    // LDAPMessage { messageID 1, [APPLICATION 23] ExtendedRequest { [0] "1.3.6.1.4.1.1466.20037" } }
    const OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
    let mut request = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16];
    request.extend_from_slice(OID);
    send(conn, &request).await?;
    let response = ber_message(conn).await?;
    let bad = |m: String| Error::Protocol(format!("LDAP StartTLS: {m}"));
    let mut message = crate::der::Reader::new(&response);
    let mut message = message.sequence("LDAPMessage").map_err(bad)?;
    message.unsigned("messageID").map_err(bad)?;
    let (op, _) = message.element("protocolOp").map_err(bad)?;
    // ExtendedResponse is [APPLICATION 24]; its first element is the ENUMERATED resultCode.
    if op.class() != x509_parser::asn1_rs::Class::Application || op.tag().0 != 24 {
        return Err(bad(format!("not an ExtendedResponse (tag {})", op.tag().0)));
    }
    let mut body = crate::der::Reader::new(op.data);
    let code = body
        .universal(x509_parser::asn1_rs::Tag::Enumerated, "resultCode")
        .map_err(bad)?;
    let diagnostic = {
        let _ = body.octets("matchedDN");
        body.octets("diagnosticMessage").unwrap_or_default()
    };
    if code != [0] {
        return Err(bad(format!(
            "resultCode {:?}: {}",
            code,
            String::from_utf8_lossy(diagnostic)
        )));
    }
    Ok(())
}

/// One BER-encoded message with a definite length of at most [`MAX_ELEMENT`] bytes.
async fn ber_message(conn: &mut BufReader<TcpStream>) -> Result<Vec<u8>, Error> {
    let mut message = vec![0; 2];
    conn.read_exact(&mut message).await.map_err(closed)?;
    let len = match message[1] {
        n @ 0..=0x7f => usize::from(n),
        n @ 0x81..=0x83 => {
            let mut bytes = vec![0; usize::from(n - 0x80)];
            conn.read_exact(&mut bytes).await.map_err(closed)?;
            message.extend_from_slice(&bytes);
            bytes.iter().fold(0, |len, &b| len << 8 | usize::from(b))
        }
        _ => return Err(Error::Protocol("LDAP: unsupported length encoding".into())),
    };
    if len > MAX_ELEMENT {
        return Err(Error::Protocol(format!("LDAP: a message of {len} bytes")));
    }
    let start = message.len();
    message.resize(start + len, 0);
    conn.read_exact(&mut message[start..])
        .await
        .map_err(closed)?;
    Ok(message)
}

/// MySQL and MariaDB: the server's handshake packet must offer `CLIENT_SSL`; the client answers
/// with an SSLRequest packet (capabilities, maximum packet size, character set) and starts TLS.
pub async fn mysql(conn: &mut BufReader<TcpStream>) -> Result<(), Error> {
    const CLIENT_LONG_PASSWORD: u32 = 1;
    const CLIENT_PROTOCOL_41: u32 = 0x200;
    const CLIENT_SSL: u32 = 0x800;
    const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
    let mut header = [0u8; 4];
    conn.read_exact(&mut header).await.map_err(closed)?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len > MAX_ELEMENT {
        return Err(Error::Protocol(format!("MySQL: a greeting of {len} bytes")));
    }
    let mut greeting = vec![0; len];
    conn.read_exact(&mut greeting).await.map_err(closed)?;
    let bad = |m: &str| Error::Protocol(format!("MySQL greeting: {m}"));
    match greeting.first() {
        Some(10) => {}
        // An error packet: e.g. "Host is not allowed to connect".
        Some(0xff) => {
            let text = String::from_utf8_lossy(greeting.get(3..).unwrap_or_default()).into_owned();
            return Err(Error::Protocol(format!(
                "MySQL: the server refused: {text}"
            )));
        }
        _ => return Err(bad("not protocol version 10")),
    }
    // protocol version, server version (NUL-terminated), thread id (4), auth data (8), filler (1),
    // then the lower two bytes of the capability flags.
    let version_end = greeting[1..]
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| bad("no server version"))?;
    let flags_at = 1 + version_end + 1 + 4 + 8 + 1;
    let flags = greeting
        .get(flags_at..flags_at + 2)
        .ok_or_else(|| bad("cut short"))?;
    let capabilities = u32::from(u16::from_le_bytes([flags[0], flags[1]]));
    if capabilities & CLIENT_SSL == 0 {
        return Err(Error::Protocol(
            "the MySQL server does not offer SSL (no certificate configured)".into(),
        ));
    }
    let client = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION;
    let mut request = vec![32, 0, 0, header[3].wrapping_add(1)];
    request.extend_from_slice(&client.to_le_bytes());
    request.extend_from_slice(&(16u32 << 20).to_le_bytes());
    request.push(45); // utf8mb4_general_ci
    request.extend_from_slice(&[0; 23]);
    send(conn, &request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_escaped_in_the_stream_header() {
        assert_eq!(xml_escape("a'<&b"), "a&apos;&lt;&amp;b");
    }
}
