//! A peer-to-peer connection to systemd's private socket (`/run/systemd/private`), without
//! the bus daemon in between.
//!
//! systemd answers method calls on this socket for root only. zbus cannot be used for it:
//! systemd stamps its messages there with the sender `org.freedesktop.systemd1`, a well-known
//! name, where zbus insists on a unique name and panics while dispatching the reply. This
//! module speaks the small part of the D-Bus wire protocol such a client needs: `EXTERNAL`
//! authentication, method calls (built and serialised by zbus), method returns and errors
//! matched to their calls by reply serial, and systemd's unit change signals, noted for
//! [`crate::SystemdClient::unit_changes`]; anything else is skipped.

use std::{
    collections::HashMap,
    io,
    os::unix::fs::MetadataExt,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::oneshot;

use sysgauge_common::sync::lock;

use crate::watch::{Seen, UnitChanges};
use zbus::zvariant::{
    Endian,
    serialized::{Context, Data},
};

/// The private socket of the system manager.
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";

/// A message larger than this is a protocol error (the D-Bus limit is 128 MiB).
const MAX_MESSAGE: usize = 128 << 20;

/// The body of a method return, with its signature.
#[derive(Debug)]
pub(crate) struct Reply {
    signature: String,
    body: Vec<u8>,
}

impl Reply {
    /// Decodes the body as `T`, which must match the body's signature.
    pub(crate) fn deserialize<T>(&self) -> Result<T, zbus::Error>
    where
        T: serde::de::DeserializeOwned + zbus::zvariant::Type,
    {
        let data = Data::new(&self.body[..], Context::new_dbus(Endian::Little, 0));
        // A body of several values decodes as a struct of them, as zbus does.
        let wanted = T::SIGNATURE.to_string();
        let signature = if wanted.starts_with('(') && wanted != self.signature {
            format!("({})", self.signature)
        } else {
            self.signature.clone()
        };
        data.deserialize_for_signature::<_, T>(signature.as_str())
            .map(|(v, _)| v)
            .map_err(zbus::Error::Variant)
    }
}

/// Connects and authenticates with `EXTERNAL`, sending our uid in hex-encoded ASCII as the
/// specification describes (the owner of /proc/self is the effective uid, which the kernel
/// reports to the peer). Returns the socket, blocking with `timeout` on writes, right after
/// `BEGIN`.
fn handshake(
    path: &Path,
    timeout: Duration,
) -> Result<std::os::unix::net::UnixStream, zbus::Error> {
    use std::io::{BufRead, Write};
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    let uid = std::fs::metadata("/proc/self").map_err(io_error)?.uid();
    let hex: String = uid
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    (&stream)
        .write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())
        .map_err(io_error)?;
    // Byte by byte, so that nothing after the line is taken from the socket (the server
    // sends nothing more before BEGIN anyway).
    let mut line = Vec::new();
    let mut reader = std::io::BufReader::with_capacity(1, &stream);
    reader.read_until(b'\n', &mut line).map_err(io_error)?;
    let line = String::from_utf8_lossy(&line);
    if !line.starts_with("OK ") {
        return Err(zbus::Error::Handshake(format!(
            "{} refused EXTERNAL authentication as uid {uid}: {}",
            path.display(),
            line.trim()
        )));
    }
    // What sd-bus's own clients (systemctl) send; systemd was seen to drop the reply to the
    // first call when BEGIN came without it.
    (&stream)
        .write_all(b"NEGOTIATE_UNIX_FD\r\n")
        .map_err(io_error)?;
    let mut agree = Vec::new();
    reader.read_until(b'\n', &mut agree).map_err(io_error)?;
    (&stream).write_all(b"BEGIN\r\n").map_err(io_error)?;
    Ok(stream)
}

type Pending = HashMap<u32, oneshot::Sender<Result<Reply, zbus::Error>>>;

/// One open connection to a private socket; see the module documentation.
#[derive(Debug)]
pub(crate) struct Direct {
    /// Blocking, with a write timeout: a call is a few hundred bytes into a local socket
    /// whose buffer systemd makes megabytes large, so a write only waits when systemd hangs.
    writer: Mutex<std::os::unix::net::UnixStream>,
    /// Calls not written yet: calls made together go out in one write (see `call`).
    outbox: Mutex<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
    closed: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
}

impl Drop for Direct {
    fn drop(&mut self) {
        // Ends the reader thread: its blocking read returns end-of-file.
        let writer = lock(&self.writer);
        let _ = writer.shutdown(std::net::Shutdown::Both);
    }
}

fn io_error(e: io::Error) -> zbus::Error {
    zbus::Error::InputOutput(Arc::new(e))
}

fn protocol(message: impl Into<String>) -> zbus::Error {
    zbus::Error::Failure(message.into())
}

impl Direct {
    /// Connects to the socket at `path` and authenticates as this process's user. The
    /// handshake is a few bytes each way on a local socket and runs blocking, under
    /// `timeout` per read and write; the socket then goes to tokio.
    pub(crate) async fn connect(path: &Path, timeout: Duration) -> Result<Direct, zbus::Error> {
        let path = path.to_owned();
        let stream = tokio::task::spawn_blocking(move || handshake(&path, timeout))
            .await
            .map_err(|e| protocol(format!("the handshake task failed: {e}")))??;
        let read = stream.try_clone().map_err(io_error)?;
        let pending: Arc<Mutex<Pending>> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (p, c, s) = (Arc::clone(&pending), Arc::clone(&closed), Arc::clone(&seen));
        std::thread::Builder::new()
            .name("systemd-private".into())
            .spawn(move || read_loop(read, &p, &c, &s))
            .map_err(io_error)?;
        Ok(Direct {
            writer: Mutex::new(stream),
            outbox: Mutex::default(),
            pending,
            closed,
            seen,
        })
    }

    /// The unit changes systemd signalled since the last call. The reader notes a signal
    /// before it hands over any reply that came after it, so these include every change
    /// systemd made before answering a call that has returned.
    pub(crate) fn changes(&self) -> UnitChanges {
        lock(&self.seen).take()
    }

    /// Whether the peer closed the connection or it failed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends a method call and waits for its reply (no timeout here: the caller has one).
    pub(crate) async fn call<B>(
        &self,
        destination: &str,
        path: &str,
        interface: &str,
        method: &str,
        body: &B,
    ) -> Result<Reply, zbus::Error>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let message = zbus::Message::method_call(path, method)?
            .destination(destination)?
            .interface(interface)?
            .build(body)?;
        let serial = message.primary_header().serial_num().get();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(serial, tx);
        // Removes the entry if this call is abandoned (its timeout expired).
        let guard = Forget {
            pending: &self.pending,
            serial,
        };
        if self.is_closed() {
            return Err(io_error(io::ErrorKind::BrokenPipe.into()));
        }
        // Queue the call, let the other calls made in the same round queue theirs, then write
        // everything queued in one go; a caller that finds the queue empty was written by
        // another. Thousands of small calls then cost a few dozen writes, not thousands.
        lock(&self.outbox).extend_from_slice(message.data());
        tokio::task::yield_now().await;
        let batch = std::mem::take(&mut *lock(&self.outbox));
        if !batch.is_empty() {
            use std::io::Write;
            let mut writer = lock(&self.writer);
            if let Err(e) = writer.write_all(&batch) {
                self.closed.store(true, Ordering::Release);
                // The other calls in the batch learn it when the reader fails them all.
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return Err(io_error(e));
            }
        }
        let result = rx
            .await
            .unwrap_or_else(|_| Err(io_error(io::ErrorKind::ConnectionReset.into())));
        drop(guard);
        result
    }
}

struct Forget<'a> {
    pending: &'a Mutex<Pending>,
    serial: u32,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.serial);
    }
}

/// Reads messages until the connection fails, handing each reply to its caller; runs on its
/// own thread with a blocking socket. On the way out every waiting call gets an error and the
/// connection is marked closed.
fn read_loop(
    mut read: std::os::unix::net::UnixStream,
    pending: &Mutex<Pending>,
    closed: &AtomicBool,
    seen: &Mutex<Seen>,
) {
    use std::io::Read;
    // The handshake set a read timeout (shared with the writer's clone, which keeps its
    // write timeout); replies may be minutes apart in `serve`.
    let _ = read.set_read_timeout(None);
    // Bytes read and not yet taken as messages, and the chunk each read fills.
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    let error = loop {
        let mut taken = 0;
        let failed = loop {
            match take_message(&buf[taken..]) {
                Ok(Some((message, len))) => {
                    taken += len;
                    dispatch(message, pending, seen);
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        buf.drain(..taken);
        if let Some(e) = failed {
            break e;
        }
        match read.read(&mut chunk) {
            Ok(0) => break io_error(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break io_error(e),
        }
    };
    closed.store(true, Ordering::Release);
    tracing::debug!(error = %error, "the private systemd connection ended");
    for (_, tx) in lock(pending).drain() {
        let _ = tx.send(Err(protocol(format!("connection ended: {error}"))));
    }
}

/// Hands a reply to its caller, or notes a signal.
fn dispatch(message: Taken, pending: &Mutex<Pending>, seen: &Mutex<Seen>) {
    match message {
        Taken::Reply(serial, reply) => {
            if let Some(tx) = lock(pending).remove(&serial) {
                let _ = tx.send(reply);
            }
        }
        Taken::Signal { member, path, body } => {
            lock(seen).note(&member, &path, || {
                body.deserialize::<(String, zbus::zvariant::OwnedObjectPath)>()
                    .ok()
                    .map(|(_, p)| p)
            });
        }
        Taken::Other => {}
    }
}

/// A decoded message.
enum Taken {
    /// A method return or error: the serial it replies to, and the reply.
    Reply(u32, Result<Reply, zbus::Error>),
    /// A signal: its member, object path and body.
    Signal {
        member: String,
        path: String,
        body: Reply,
    },
    /// Anything else (a method call to us).
    Other,
}

/// The first complete message in `buf` and its length; `Ok(None)` when more bytes are needed.
fn take_message(buf: &[u8]) -> Result<Option<(Taken, usize)>, zbus::Error> {
    if buf.len() < 16 {
        return Ok(None);
    }
    if buf[0] != b'l' {
        return Err(protocol("big-endian D-Bus messages are not supported"));
    }
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let body_len = u32_at(buf, 4) as usize;
    let fields_len = u32_at(buf, 12) as usize;
    let header_end = (16 + fields_len).next_multiple_of(8);
    let total = header_end + body_len;
    if total > MAX_MESSAGE {
        return Err(protocol(format!("a message of {total} bytes")));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let kind = buf[1];
    let fields = parse_fields(&buf[..16 + fields_len])?;
    let body = Reply {
        signature: fields.signature,
        body: buf[header_end..total].to_vec(),
    };
    let taken = match (kind, fields.reply_serial) {
        // A method return, an error, a signal.
        (2, Some(serial)) => Taken::Reply(serial, Ok(body)),
        (3, Some(serial)) => {
            let text = body.deserialize::<String>().unwrap_or_default();
            Taken::Reply(serial, Err(method_error(&fields.error_name, text)))
        }
        (4, _) => Taken::Signal {
            member: fields.member,
            path: fields.path,
            body,
        },
        _ => Taken::Other,
    };
    Ok(Some((taken, total)))
}

/// An error reply as the zbus error callers already classify as "about this object".
fn method_error(name: &str, text: String) -> zbus::Error {
    use zbus::fdo::Error as Fdo;
    let text = format!("{name}: {text}");
    let fdo = match name {
        "org.freedesktop.DBus.Error.UnknownObject" => Fdo::UnknownObject(text),
        "org.freedesktop.DBus.Error.UnknownInterface" => Fdo::UnknownInterface(text),
        "org.freedesktop.DBus.Error.UnknownProperty" => Fdo::UnknownProperty(text),
        "org.freedesktop.DBus.Error.UnknownMethod" => Fdo::UnknownMethod(text),
        "org.freedesktop.DBus.Error.InvalidArgs" => Fdo::InvalidArgs(text),
        "org.freedesktop.DBus.Error.AccessDenied" => Fdo::AccessDenied(text),
        _ => Fdo::Failed(text),
    };
    zbus::Error::FDO(Box::new(fdo))
}

#[derive(Debug, Default)]
struct Fields {
    reply_serial: Option<u32>,
    signature: String,
    error_name: String,
    path: String,
    member: String,
}

/// The header fields this client needs, from the header up to the end of its field array.
fn parse_fields(header: &[u8]) -> Result<Fields, zbus::Error> {
    let bad = || protocol("malformed D-Bus message header");
    let u32_at = |i: usize| -> Result<u32, zbus::Error> {
        header
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(bad)
    };
    let mut fields = Fields::default();
    let mut i = 16;
    while i < header.len() {
        i = i.next_multiple_of(8);
        if i >= header.len() {
            break;
        }
        let code = header[i];
        let sig_len = *header.get(i + 1).ok_or_else(bad)? as usize;
        let sig = header.get(i + 2..i + 2 + sig_len).ok_or_else(bad)?;
        i += 3 + sig_len;
        match sig {
            b"u" => {
                i = i.next_multiple_of(4);
                let v = u32_at(i)?;
                i += 4;
                if code == 5 {
                    fields.reply_serial = Some(v);
                }
            }
            b"s" | b"o" => {
                i = i.next_multiple_of(4);
                let len = u32_at(i)? as usize;
                let s = header.get(i + 4..i + 4 + len).ok_or_else(bad)?;
                i += 4 + len + 1;
                let s = String::from_utf8_lossy(s).into_owned();
                match code {
                    1 => fields.path = s,
                    3 => fields.member = s,
                    4 => fields.error_name = s,
                    _ => {}
                }
            }
            b"g" => {
                let len = *header.get(i).ok_or_else(bad)? as usize;
                let s = header.get(i + 1..i + 1 + len).ok_or_else(bad)?;
                i += 1 + len + 1;
                if code == 8 {
                    fields.signature = String::from_utf8_lossy(s).into_owned();
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_reply(taken: Option<(Taken, usize)>) -> (u32, Result<Reply, zbus::Error>) {
        match taken {
            Some((Taken::Reply(serial, body), _)) => (serial, body),
            _ => panic!("not a reply"),
        }
    }

    /// Frames `signal` as systemd sends it and hands it over the way the reader does.
    fn note(seen: &Mutex<Seen>, signal: &zbus::Message) {
        let buf = signal.data();
        let (message, len) = take_message(buf).unwrap().unwrap();
        assert!(matches!(message, Taken::Signal { .. }), "not a signal");
        assert_eq!(len, buf.len());
        dispatch(message, &Mutex::default(), seen);
    }

    #[test]
    fn unit_signals_are_noted_and_others_skipped() {
        fn signal(
            path: &'static str,
            interface: &'static str,
            member: &'static str,
        ) -> zbus::message::Builder<'static> {
            // (systemd's sender there, org.freedesktop.systemd1, is one zbus refuses; the
            // reader does not look at it.)
            zbus::Message::signal(path, interface, member).unwrap()
        }
        let changed = signal(
            "/org/freedesktop/systemd1/unit/a_2eservice",
            "org.freedesktop.DBus.Properties",
            "PropertiesChanged",
        )
        .build(&(
            "org.freedesktop.systemd1.Service",
            HashMap::<String, zbus::zvariant::Value<'_>>::new(),
            Vec::<String>::new(),
        ))
        .unwrap();
        let removed = signal(
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "UnitRemoved",
        )
        .build(&(
            "b.service",
            zbus::zvariant::ObjectPath::try_from("/org/freedesktop/systemd1/unit/b_2eservice")
                .unwrap(),
        ))
        .unwrap();
        let job = signal(
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "JobNew",
        )
        .build(&(
            7u32,
            zbus::zvariant::ObjectPath::try_from("/org/freedesktop/systemd1/job/7").unwrap(),
            "c.service",
        ))
        .unwrap();
        let reloading = signal(
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "Reloading",
        )
        .build(&(true,))
        .unwrap();

        let seen = Mutex::new(Seen::default());
        for message in [&changed, &removed, &job] {
            note(&seen, message);
        }
        let UnitChanges::Units(units) = lock(&seen).take() else {
            panic!("not a set of units");
        };
        let mut units: Vec<&str> = units.iter().map(|p| p.as_str()).collect();
        units.sort_unstable();
        assert_eq!(
            units,
            [
                "/org/freedesktop/systemd1/unit/a_2eservice",
                "/org/freedesktop/systemd1/unit/b_2eservice"
            ]
        );
        assert_eq!(
            lock(&seen).take(),
            UnitChanges::Units(Default::default()),
            "taken"
        );
        note(&seen, &reloading);
        assert_eq!(lock(&seen).take(), UnitChanges::All);
    }

    #[test]
    fn a_reply_built_by_zbus_is_framed_and_decoded() {
        let call = zbus::Message::method_call("/x", "Get")
            .unwrap()
            .build(&())
            .unwrap();
        let reply = zbus::Message::method_return(&call.header())
            .unwrap()
            .sender(":1.5")
            .unwrap()
            .build(&(zbus::zvariant::Value::from(7u32),))
            .unwrap();
        let mut buf = reply.data().to_vec();
        let whole = buf.len();
        buf.extend_from_slice(&reply.data()[..10]);
        let taken = take_message(&buf).unwrap();
        assert_eq!(
            taken.as_ref().map(|(_, len)| *len),
            Some(whole),
            "only the first message was taken"
        );
        let (serial, body) = as_reply(taken);
        assert_eq!(serial, call.primary_header().serial_num().get());
        let value: zbus::zvariant::OwnedValue = body.unwrap().deserialize().unwrap();
        assert_eq!(u32::try_from(value).unwrap(), 7);
        assert!(take_message(&buf[whole..]).unwrap().is_none(), "incomplete");
    }

    #[test]
    fn an_error_reply_is_a_method_error() {
        let call = zbus::Message::method_call("/x", "Get")
            .unwrap()
            .build(&())
            .unwrap();
        let reply =
            zbus::Message::error(&call.header(), "org.freedesktop.DBus.Error.UnknownObject")
                .unwrap()
                .build(&("no such unit",))
                .unwrap();
        let (_, body) = as_reply(take_message(reply.data()).unwrap());
        let err = body.unwrap_err();
        assert!(matches!(err, zbus::Error::FDO(_)), "{err:?}");
        assert!(err.to_string().contains("no such unit"), "{err}");
    }

    /// Property-based tests of the reader of the private socket: whatever bytes systemd (or
    /// something in its place) sends, the reader never panics, never reads past what it was
    /// given, and reassembles valid messages however the stream is cut.
    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A method return carrying `value`, as systemd would frame it, to a call of its own
        /// (zbus gives every call a fresh serial).
        fn reply(value: u32) -> Vec<u8> {
            let call = zbus::Message::method_call("/x", "Get")
                .unwrap()
                .interface("org.freedesktop.DBus.Properties")
                .unwrap()
                .build(&())
                .unwrap();
            zbus::Message::method_return(&call.header())
                .unwrap()
                .build(&(zbus::zvariant::Value::from(value),))
                .unwrap()
                .data()
                .to_vec()
        }

        fn serial_of(message: &[u8]) -> u32 {
            match take_message(message).unwrap() {
                Some((Taken::Reply(serial, _), _)) => serial,
                _ => panic!("not a reply"),
            }
        }

        /// Takes every message `buf` holds, as the reader does, dispatching signals' bodies.
        fn take_all(buf: &[u8]) -> usize {
            let mut taken = 0;
            while let Ok(Some((message, len))) = take_message(&buf[taken..]) {
                assert!(len > 0 && taken + len <= buf.len(), "read past the buffer");
                taken += len;
                dispatch(message, &Mutex::default(), &Mutex::default());
            }
            taken
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let mut buf = bytes;
                if let Some(b) = buf.first_mut() {
                    *b = b'l';
                }
                take_all(&buf);
            }

            #[test]
            fn mutated_messages_never_panic(
                edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                cut in any::<prop::sample::Index>(),
            ) {
                let mut buf = reply(7);
                buf.extend(reply(8));
                for (at, byte) in edits {
                    let i = at.index(buf.len());
                    buf[i] = byte;
                }
                let end = cut.index(buf.len() + 1);
                take_all(&buf[..end]);
            }

            #[test]
            fn valid_messages_are_reassembled_however_the_stream_is_cut(
                values in proptest::collection::vec(any::<u32>(), 1..6),
                chunk in 1usize..64,
            ) {
                use std::io::Write;
                let messages: Vec<Vec<u8>> =
                    values.iter().map(|v| reply(*v)).collect();
                let pending: Arc<Mutex<Pending>> = Arc::default();
                let mut receivers = Vec::new();
                for m in &messages {
                    let (tx, rx) = oneshot::channel();
                    lock(&pending).insert(serial_of(m), tx);
                    receivers.push(rx);
                }
                let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
                let reader = {
                    let pending = Arc::clone(&pending);
                    std::thread::spawn(move || {
                        read_loop(theirs, &pending, &AtomicBool::new(false), &Mutex::default())
                    })
                };
                let stream: Vec<u8> = messages.concat();
                let mut writer = &ours;
                for piece in stream.chunks(chunk) {
                    writer.write_all(piece).unwrap();
                }
                drop(ours);
                reader.join().unwrap();
                for (rx, value) in receivers.into_iter().zip(&values) {
                    let reply = rx.blocking_recv().unwrap().unwrap();
                    let got: zbus::zvariant::OwnedValue = reply.deserialize().unwrap();
                    prop_assert_eq!(u32::try_from(got).unwrap(), *value);
                }
            }
        }
    }
}
