/*!
Real servers from Debian's packages, run privately on loopback for end-to-end tests, plus
deliberately broken TCP peers.

Every server starts from a fresh temporary directory that holds its whole configuration, its
certificates, pid file, logs, sockets and state; nothing of the system's own configuration
(`/etc/nginx`, `/etc/postgresql`, `/etc/postfix/main.cf`, `/etc/dovecot`) is read, and nothing
listens anywhere but `127.0.0.1` on ports picked by [`free_port`] (never 25, 143, 443 or
5432). A server that cannot be started because its program is not installed makes
`start` return `None` after a loud `SKIP` from [`available`] (a panic under
`SYSGAUGE_REQUIRE_COMPONENTS=1`); one that is installed but fails to start panics with its log.
Dropping a server stops it: a graceful signal to the pid the guard started (the daemon's master
process, which stops its own children), then `SIGKILL` to that same pid if it did not exit.

- [`Nginx`]: one TLS listener with one server block per SNI name, each with its own
  certificate, and a default server with the first certificate.
- [`Postgres`]: `initdb` into the temporary directory and `postgres` on a loopback port,
  optionally with `ssl = on`, plus [`Postgres::psql`], [`Postgres::pg_dump`] and
  [`Postgres::pg_dumpall`]. PostgreSQL negotiates TLS in-protocol (`SSLRequest`, what
  `openssl s_client -starttls postgres` does). Direct TLS (a TLS ClientHello first, ALPN
  `postgresql`, `sslnegotiation=direct`) exists only from PostgreSQL 17; Debian bookworm ships
  15, so a probe's direct-TLS path cannot be tested against it: PostgreSQL 15 reads a
  ClientHello as a startup packet of invalid length, logs `invalid length of startup packet`
  and closes the connection without a byte.
- [`Postfix`]: a private Postfix (`master -c DIR -d`) whose smtpd offers STARTTLS.
- [`Dovecot`]: a private Dovecot (`dovecot -F -c FILE`) with IMAP STARTTLS and POP3 STLS, and
  ManageSieve STARTTLS when dovecot-managesieved is installed.
- [`Vsftpd`], [`Slapd`], [`Prosody`], [`Mariadb`]: FTP `AUTH TLS`, LDAP StartTLS, XMPP STARTTLS
  (client and server-to-server) and the MySQL SSLRequest, each a [`TlsServer`].
- [`Silent`], [`PlainText`], [`ClosesMidHandshake`]: broken peers written with `std::net`.

[`s_client`] runs the real `openssl s_client` against any of them and returns the certificates
presented, and [`x509`] prints fields of a certificate with `openssl x509`, so that tests can
compare a prober's findings with OpenSSL's.
```no_run
use sysgauge_testkit::{openssl, servers::{Nginx, Postgres, s_client, x509}, tempfile};

let dir = tempfile::tempdir().unwrap();
let (pem, key) = openssl::certificate(
    dir.path(), "a", "a.test", "20250101000000Z", "20350101000000Z", None,
);
let Some(nginx) = Nginx::start(&[("a.test", &pem, &key)]) else { return };
let seen = s_client(nginx.port(), Some("a.test"), None);
assert_eq!(x509(&seen.certificates[0], &["-subject"]), "subject=CN = a.test");

let Some(pg) = Postgres::start(Some((&pem, &key))) else { return };
pg.psql("create table t (x int)");
let dump = pg.pg_dump("postgres", &[], &dir.path().join("postgres.sql"));
```
*/

use std::{
    fs,
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    os::unix::{
        fs::{MetadataExt, PermissionsExt},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{Process, available, free_port, run, which};

/// Dovecot's ManageSieve login process (Debian package dovecot-managesieved).
const MANAGESIEVE_LOGIN: &str = "/usr/lib/dovecot/managesieve-login";

/// How long a server may take to start before the test fails with its log.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop may take before the guard sends `SIGKILL`.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a start is retried when a port picked by `free_port` was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

// ---------------------------------------------------------------------------------------------
// Shared plumbing

/// The effective uid of this process (the owner of `/proc/self`).
fn euid() -> u32 {
    fs::metadata("/proc/self").unwrap().uid()
}

/// A system user's uid and primary gid, from `getent passwd`.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let out = run(Command::new("getent").args(["passwd", name]));
    let line = String::from_utf8_lossy(&out.stdout);
    let mut fields = line.trim().split(':').skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// A group's gid, from `getent group`.
fn group_id(name: &str) -> Option<u32> {
    let out = run(Command::new("getent").args(["group", name]));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(':')
        .nth(2)?
        .parse()
        .ok()
}

/// The names of the user and group this process runs as.
fn current_user_and_group() -> (String, String) {
    let id = |flag| {
        let out = run(Command::new("id").arg(flag));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    (id("-un"), id("-gn"))
}

/// Prints a loud `SKIP` with `reason` and returns `None`; panics instead under
/// `SYSGAUGE_REQUIRE_COMPONENTS=1`, as [`available`] does.
fn skip<T>(reason: &str) -> Option<T> {
    let message = format!("SKIP: {reason}; this test needs the real component");
    if std::env::var_os("SYSGAUGE_REQUIRE_COMPONENTS").is_some_and(|v| v == "1") {
        panic!("{message}, and SYSGAUGE_REQUIRE_COMPONENTS=1");
    }
    eprintln!("\n*** {message} ***\n");
    None
}

/// A fresh temporary directory that the daemons' unprivileged users may traverse (mode 0755).
fn server_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("sysgauge-{prefix}-"))
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Copies a certificate or key into `to` with `mode`, owned by `owner` (uid, gid) when given.
fn install_file(from: &Path, to: &Path, mode: u32, owner: Option<(u32, u32)>) {
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).unwrap();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(to, Some(uid), Some(gid)).unwrap();
    }
}

/// Makes `path` (and missing parents) with `mode`, owned by `owner` when given.
fn make_dir(path: &Path, mode: u32, owner: Option<(u32, u32)>) {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// Why a start attempt failed: the daemon exited, and what it logged.
struct Exited(String);

impl Exited {
    /// Whether it died because a port picked a moment ago was taken in between.
    fn port_clash(&self) -> bool {
        self.0.contains("already in use")
    }
}

/// A daemon started by a server guard: its master process, the files it logs to, and the
/// signal that stops it gracefully. Dropping it sends that signal to the pid it started, waits
/// up to [`STOP_TIMEOUT`], and then the `Process` guard sends `SIGKILL` to the same pid.
#[derive(Debug)]
struct Daemon {
    process: Process,
    stop_signal: &'static str,
    logs: Vec<PathBuf>,
}

impl Daemon {
    /// Spawns `cmd` with stdout and stderr in `logs[0]` (the other `logs` are files it writes
    /// itself) and polls `ready(pid)` every 50 ms while it runs. `Err` with its logs when it exits;
    /// a panic with its logs when it is not ready within [`START_TIMEOUT`].
    fn spawn(
        name: &str,
        cmd: &mut Command,
        logs: Vec<PathBuf>,
        stop_signal: &'static str,
        mut ready: impl FnMut(u32) -> bool,
    ) -> Result<Daemon, Exited> {
        let mut daemon = Daemon {
            process: Process::spawn(name, cmd, &logs[0]),
            stop_signal,
            logs,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ready(daemon.pid()) {
                return Ok(daemon);
            }
            if daemon.process.exited() {
                return Err(Exited(daemon.log()));
            }
            assert!(
                Instant::now() < deadline,
                "{name} was not ready after {START_TIMEOUT:?}; its log:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// All its logs so far, one after the other.
    fn log(&self) -> String {
        self.logs
            .iter()
            .map(|p| fs::read_to_string(p).unwrap_or_default())
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.process.exited() {
            return;
        }
        let _ = Command::new("kill")
            .arg(format!("-{}", self.stop_signal))
            .arg(self.process.pid().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && !self.process.exited() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `attempt` with fresh ports until it does not fail for a port clash; panics with the
/// daemon's log on any other failure.
fn with_free_ports<T>(what: &str, mut attempt: impl FnMut() -> Result<T, Exited>) -> T {
    for _ in 1..PORT_ATTEMPTS {
        match attempt() {
            Ok(v) => return v,
            Err(e) if e.port_clash() => eprintln!("{what}: port taken meanwhile, retrying"),
            Err(Exited(log)) => panic!("{what} exited at start-up; its log:\n{log}"),
        }
    }
    match attempt() {
        Ok(v) => v,
        Err(Exited(log)) => panic!("{what} exited at start-up; its log:\n{log}"),
    }
}

/// The pid in a pid file.
fn pid_file(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// Whether a server on `port` greets with a line starting with `prefix` (SMTP `220`, IMAP
/// `* OK`, POP3 `+OK`).
fn greets(port: u16, prefix: &str) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 256];
    let mut got = Vec::new();
    while got.len() < prefix.len() {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(prefix.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// openssl s_client

/// What `openssl s_client` saw.
#[derive(Debug, Clone)]
pub struct SClient {
    /// Whether `openssl s_client` exited with status 0 (a completed handshake).
    pub success: bool,
    /// The certificates the server presented, leaf first, as PEM blocks.
    pub certificates: Vec<String>,
    /// The negotiated protocol (`TLSv1.3`), when there was a handshake.
    pub protocol: Option<String>,
    /// The negotiated cipher suite (`TLS_AES_256_GCM_SHA384`), when there was a handshake.
    pub cipher: Option<String>,
    /// stdout and stderr, for assertion messages.
    pub output: String,
}

/// Runs `openssl s_client -showcerts` against 127.0.0.1:`port`, sending `server_name` as SNI
/// (none when `None`) after the `starttls` preamble (`smtp`, `imap`, `pop3`, `postgres`, ...)
/// when given; stdin is empty, so it disconnects right after the handshake. 20 s at most.
pub fn s_client(port: u16, server_name: Option<&str>, starttls: Option<&str>) -> SClient {
    let mut cmd = Command::new("timeout");
    cmd.args(["20", "openssl", "s_client", "-showcerts", "-connect"])
        .arg(format!("127.0.0.1:{port}"));
    match server_name {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    if let Some(proto) = starttls {
        cmd.args(["-starttls", proto]);
    }
    let out = run(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let certificates = pem_certificates(&stdout);
    // `New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384` (`(NONE)` when there was no handshake).
    let (protocol, cipher) = stdout
        .lines()
        .find_map(|l| {
            let (protocol, cipher) = l.strip_prefix("New, ")?.split_once(", Cipher is ")?;
            (cipher != "(NONE)").then(|| (Some(protocol.to_owned()), Some(cipher.to_owned())))
        })
        .unwrap_or_default();
    SClient {
        success: out.status.success(),
        certificates,
        protocol,
        cipher,
        output: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// The `CERTIFICATE` PEM blocks in `text`, in order, each ending with a newline.
pub fn pem_certificates(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certificates = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        certificates.push(format!("{}\n", &rest[start..end]));
        rest = &rest[end..];
    }
    certificates
}

/// `openssl x509 -noout FLAG` of a PEM certificate (text, not a path), e.g. `-subject` gives
/// `subject=CN = a.test`, `-fingerprint -sha256` gives `sha256 Fingerprint=AB:...`.
pub fn x509(pem: &str, flags: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args(["x509", "-noout"])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl x509 {flags:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

// ---------------------------------------------------------------------------------------------
// nginx

/// A private nginx with one TLS listener on 127.0.0.1 and one server block per SNI name.
///
/// It offers TLS 1.2 and 1.3 (nginx 1.22's default lacks 1.3). Each server block answers every
/// request with `200` and the body `NAME\n`; the default server (no SNI, or an unknown name)
/// has the first certificate and answers `default\n`.
#[derive(Debug)]
pub struct Nginx {
    daemon: Daemon,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx serving `vhosts`, each `(server_name, certificate PEM path, key PEM path)`;
    /// the files are copied into its directory. A certificate file may hold a chain (leaf
    /// first), which is then presented whole. `None` when nginx is not installed.
    pub fn start(vhosts: &[(&str, &Path, &Path)]) -> Option<Nginx> {
        assert!(!vhosts.is_empty(), "Nginx::start needs at least one vhost");
        if !available("nginx", "nginx") {
            return None;
        }
        let dir = server_dir("nginx");
        let d = dir.path();
        for sub in ["certs", "logs", "temp"] {
            make_dir(&d.join(sub), 0o755, None);
        }
        for (i, (_, cert, key)) in vhosts.iter().enumerate() {
            install_file(cert, &d.join(format!("certs/{i}.pem")), 0o644, None);
            install_file(key, &d.join(format!("certs/{i}.key")), 0o600, None);
        }
        // Under root the master drops its workers to `user`; root's own group keeps them able
        // to use the temporary directory. Otherwise the directive would only be a warning.
        let user = if euid() == 0 { "user root root;\n" } else { "" };
        let (daemon, port) = with_free_ports("nginx", || {
            let port = free_port();
            let server = |name: &str, i: usize, default: bool| {
                format!(
                    "  server {{\n    listen 127.0.0.1:{port} ssl{default};\n    server_name {name};\n    ssl_certificate {d}/certs/{i}.pem;\n    ssl_certificate_key {d}/certs/{i}.key;\n    default_type text/plain;\n    return 200 \"{body}\\n\";\n  }}\n",
                    d = d.display(),
                    default = if default { " default_server" } else { "" },
                    body = if default { "default" } else { name },
                )
            };
            let mut servers = server("_", 0, true);
            for (i, (name, _, _)) in vhosts.iter().enumerate() {
                servers.push_str(&server(name, i, false));
            }
            let conf = format!(
                "{user}daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log info;\nevents {{\n  worker_connections 64;\n}}\nhttp {{\n  ssl_protocols TLSv1.2 TLSv1.3;\n  access_log {d}/logs/access.log;\n  client_body_temp_path {d}/temp/body;\n  proxy_temp_path {d}/temp/proxy;\n  fastcgi_temp_path {d}/temp/fastcgi;\n  uwsgi_temp_path {d}/temp/uwsgi;\n  scgi_temp_path {d}/temp/scgi;\n{servers}}}\n",
                d = d.display(),
            );
            fs::write(d.join("nginx.conf"), conf).unwrap();
            let daemon = Daemon::spawn(
                "nginx",
                Command::new(which("nginx").unwrap())
                    .arg("-p")
                    .arg(d)
                    .arg("-c")
                    .arg(d.join("nginx.conf"))
                    .arg("-e")
                    .arg(d.join("logs/error.log"))
                    .current_dir(d),
                vec![d.join("logs/nginx.out"), d.join("logs/error.log")],
                // Graceful shutdown: the master waits for its workers.
                "QUIT",
                // The pid file is written after the listener is bound: a port that answers
                // before that may be someone else's.
                |pid| pid_file(&d.join("nginx.pid")) == Some(pid) && accepts(port),
            )?;
            Ok((daemon, port))
        });
        Some(Nginx { daemon, port, dir })
    }

    /// The TLS port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The master process's pid.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The directory holding its configuration, certificates and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its output and error log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// A private PostgreSQL cluster on 127.0.0.1, with `trust` authentication for the superuser
/// `postgres` and, optionally, `ssl = on`.
///
/// PostgreSQL refuses to run as root, so under root `initdb` and the server run as the
/// `postgres` system user (the directory is theirs); otherwise as the current user. Clients
/// ([`psql`](Self::psql), [`pg_dump`](Self::pg_dump)) run as the current user over TCP.
/// PostgreSQL 15 (Debian bookworm) has no direct TLS: see the module docs.
#[derive(Debug)]
pub struct Postgres {
    daemon: Daemon,
    port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// The superuser the cluster is made with.
    pub const USER: &'static str = "postgres";

    /// The directory of the newest installed PostgreSQL's programs: the highest
    /// `/usr/lib/postgresql/N/bin` with `postgres` and `initdb` (Debian), else the directory of
    /// `postgres` on PATH (NixOS).
    pub fn bin_dir() -> Option<PathBuf> {
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                (bin.join("postgres").is_file() && bin.join("initdb").is_file())
                    .then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin)| bin)
            .or_else(|| Some(which("postgres")?.parent()?.to_owned()))
    }

    /// Makes a cluster and starts it; with `tls = Some((certificate, key))` (PEM paths; the
    /// certificate file may hold a chain, leaf first) it has `ssl = on` with copies of them,
    /// `server.crt` and `server.key` in the data directory. `None` when PostgreSQL is not
    /// installed.
    pub fn start(tls: Option<(&Path, &Path)>) -> Option<Postgres> {
        let Some(bin) = Self::bin_dir() else {
            available("postgres", "postgresql");
            return None;
        };
        let owner = if euid() == 0 {
            Some(
                user_ids("postgres")
                    .expect("PostgreSQL is installed but there is no postgres user"),
            )
        } else {
            None
        };
        let as_owner = |cmd: &mut Command| {
            if let Some((uid, gid)) = owner {
                cmd.uid(uid).gid(gid);
            }
        };
        let dir = server_dir("postgres");
        let d = dir.path();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(d, Some(uid), Some(gid)).unwrap();
        }
        make_dir(&d.join("socket"), 0o700, owner);
        let data = d.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                Self::USER,
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
            ])
            .args(["-E", "UTF8", "--locale=C"])
            .current_dir(d);
        as_owner(&mut initdb);
        let out = run(&mut initdb);
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut ssl = String::from("ssl = off\n");
        if let Some((cert, key)) = tls {
            install_file(cert, &data.join("server.crt"), 0o600, owner);
            install_file(key, &data.join("server.key"), 0o600, owner);
            ssl = "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n".into();
        }
        let conf = data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).unwrap();
        text.push_str("\n# sysgauge testkit\ninclude = 'sysgauge.conf'\n");
        fs::write(&conf, text).unwrap();
        let (daemon, port) = with_free_ports("postgres", || {
            let port = free_port();
            fs::write(
                data.join("sysgauge.conf"),
                format!(
                    "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{socket}'\n{ssl}fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nlogging_collector = off\nmax_connections = 20\nshared_buffers = 16MB\n",
                    socket = d.join("socket").display(),
                ),
            )
            .unwrap();
            let mut cmd = Command::new(bin.join("postgres"));
            cmd.arg("-D").arg(&data).current_dir(d);
            as_owner(&mut cmd);
            let pg_isready = bin.join("pg_isready");
            let port_arg = port.to_string();
            // postmaster.pid: line 1 the pid, line 8 the status, `ready` once it is bound and
            // has finished starting up.
            let ready = |pid: u32| {
                let status = fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
                let lines: Vec<_> = status.lines().map(str::trim).collect();
                let args = ["-q", "-h", "127.0.0.1", "-p", &port_arg, "-U", Self::USER];
                lines.first() == Some(&pid.to_string().as_str())
                    && lines.get(7) == Some(&"ready")
                    && run(Command::new(&pg_isready).args(args)).status.success()
            };
            // Fast shutdown (SIGINT): disconnects clients, then stops the children.
            let logs = vec![d.join("postgres.log")];
            let daemon = Daemon::spawn("postgres", &mut cmd, logs, "INT", ready)?;
            Ok((daemon, port))
        });
        Some(Postgres {
            daemon,
            port,
            bin,
            dir,
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's pid.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The path of one of this PostgreSQL's programs (`psql`, `pg_dump`, ...), of the server's
    /// own version.
    pub fn bin(&self, program: &str) -> PathBuf {
        self.bin.join(program)
    }

    /// The directory of its Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A libpq URL for `database`: `postgresql://postgres@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql://{}@127.0.0.1:{}/{database}",
            Self::USER,
            self.port
        )
    }

    /// A libpq keyword/value connection string for `database`.
    pub fn conninfo(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} dbname={database}",
            self.port,
            Self::USER
        )
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Runs `sql` in the database `postgres` with psql and returns its unaligned, tuples-only
    /// output (`psql -XAtq`), trimmed; panics with psql's complaint when it fails.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// [`psql`](Self::psql) in `database`.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        let out = run(self
            .client("psql")
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.conninfo(database))
            .arg("-c")
            .arg(sql));
        assert!(
            out.status.success(),
            "psql failed on {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs `pg_dump` of `database` into `out` (`-f`), with `args` before the database name (for
    /// example `["-Fc"]` for the custom format, `["--no-owner"]`); returns `out`. Panics with
    /// pg_dump's complaint when it fails.
    pub fn pg_dump(&self, database: &str, args: &[&str], out: &Path) -> PathBuf {
        self.dump(
            self.client("pg_dump")
                .arg("-f")
                .arg(out)
                .args(args)
                .arg("-d")
                .arg(self.conninfo(database)),
        );
        out.to_owned()
    }

    /// Runs `pg_dumpall` into `out` (`-f`) with `args`; returns `out`.
    pub fn pg_dumpall(&self, args: &[&str], out: &Path) -> PathBuf {
        self.dump(
            self.client("pg_dumpall")
                .arg("-f")
                .arg(out)
                .args(args)
                .arg("-d")
                .arg(self.conninfo("postgres")),
        );
        out.to_owned()
    }

    fn dump(&self, cmd: &mut Command) {
        let out = run(cmd);
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A client program of this version, with the environment's `PG*` settings cleared.
    fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin(program));
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("PG")) {
                cmd.env_remove(key);
            }
        }
        cmd.env("PGCONNECT_TIMEOUT", "10");
        cmd
    }
}

// ---------------------------------------------------------------------------------------------
// Postfix

/// A private Postfix whose smtpd listens on 127.0.0.1 and offers STARTTLS with the given
/// certificate. It runs `master -c DIR/conf -d` directly (no `postfix start`, no system
/// service), with its own queue and data directories, and logs to `DIR/maillog`. Postfix's
/// master runs only as root: as another user `start` skips (loudly, as for a missing program).
#[derive(Debug)]
pub struct Postfix {
    daemon: Daemon,
    port: u16,
    dir: tempfile::TempDir,
}

impl Postfix {
    /// The name smtpd greets with (`220 sysgauge.test ESMTP`).
    pub const HOSTNAME: &'static str = "sysgauge.test";

    /// Starts Postfix with `cert` and `key` (PEM paths, copied into its directory; the
    /// certificate file may hold a chain, leaf first). `None` when Postfix is not installed.
    pub fn start(cert: &Path, key: &Path) -> Option<Postfix> {
        if !available("postconf", "postfix") {
            return None;
        }
        let default = |name: &str| {
            let out = run(Command::new("postconf").args(["-d", "-h", name]));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let daemon_dir = PathBuf::from(default("daemon_directory"));
        let mail_owner = default("mail_owner");
        let setgid_group = default("setgid_group");
        if euid() != 0 {
            return skip("postfix's master runs only as root");
        }
        let owner = user_ids(&mail_owner)
            .unwrap_or_else(|| panic!("Postfix is installed but there is no user {mail_owner}"));
        let postdrop = group_id(&setgid_group).map(|g| (owner.0, g));
        let owner = Some(owner);
        let dir = server_dir("postfix");
        let d = dir.path();
        make_dir(&d.join("conf"), 0o755, None);
        make_dir(&d.join("certs"), 0o755, None);
        install_file(cert, &d.join("certs/cert.pem"), 0o644, None);
        install_file(key, &d.join("certs/key.pem"), 0o600, None);
        // What `postfix check` would make, made directly (it takes seconds).
        let queue = d.join("queue");
        make_dir(&queue, 0o755, None);
        make_dir(&queue.join("pid"), 0o755, None);
        for sub in [
            "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
            "private", "saved", "trace",
        ] {
            make_dir(&queue.join(sub), 0o700, owner);
        }
        make_dir(&queue.join("maildrop"), 0o730, postdrop.or(owner));
        make_dir(&queue.join("public"), 0o710, postdrop.or(owner));
        make_dir(&d.join("data"), 0o700, owner);
        let (daemon, port) = with_free_ports("postfix", || {
            let port = free_port();
            let main = format!(
                "compatibility_level = 3.6\nqueue_directory = {d}/queue\ndata_directory = {d}/data\ndaemon_directory = {daemon}\nmaillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\ninet_protocols = ipv4\ninet_interfaces = 127.0.0.1\nmyhostname = {host}\nsmtpd_banner = $myhostname ESMTP $mail_name\nmydestination =\nlocal_recipient_maps =\nalias_maps =\nalias_database =\nsmtputf8_enable = no\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = {d}/certs/cert.pem\nsmtpd_tls_key_file = {d}/certs/key.pem\nsmtpd_tls_loglevel = 1\n",
                d = d.display(),
                daemon = daemon_dir.display(),
                host = Self::HOSTNAME,
            );
            fs::write(d.join("conf/main.cf"), main).unwrap();
            fs::write(
                d.join("conf/master.cf"),
                format!(
                    "# service type private unpriv chroot wakeup maxproc command\n127.0.0.1:{port} inet n - n - - smtpd\npostlog unix-dgram n - n - 1 postlogd\ntlsmgr unix - - n 1000? 1 tlsmgr\nanvil unix - - n - 1 anvil\nproxymap unix - - n - - proxymap\ncleanup unix n - n - 0 cleanup\nrewrite unix - - n - - trivial-rewrite\n"
                ),
            )
            .unwrap();
            let daemon = Daemon::spawn(
                "postfix master",
                Command::new(daemon_dir.join("master"))
                    .arg("-c")
                    .arg(d.join("conf"))
                    .arg("-d")
                    .env("MAIL_CONFIG", d.join("conf"))
                    // master signals its own process group when it stops.
                    .process_group(0)
                    .current_dir(d),
                vec![d.join("master.out"), d.join("maillog")],
                "TERM",
                |_| greets(port, &format!("220 {} ESMTP", Self::HOSTNAME)),
            )?;
            Ok((daemon, port))
        });
        Some(Postfix { daemon, port, dir })
    }

    /// smtpd's port on 127.0.0.1 (SMTP with STARTTLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The master process's pid.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The directory holding its configuration, queue and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its output and mail log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

// ---------------------------------------------------------------------------------------------
// Dovecot

/// A private Dovecot (`dovecot -F -c DIR/dovecot.conf`) with an IMAP listener (STARTTLS) and a
/// POP3 listener (STLS) on 127.0.0.1, `ssl = yes` with the given certificate, and one static
/// test user (any name, password [`Dovecot::PASSWORD`]). Under root its login processes run as
/// Debian's `dovenull` and `dovecot` users; otherwise everything runs as the current user.
#[derive(Debug)]
pub struct Dovecot {
    daemon: Daemon,
    imap_port: u16,
    pop3_port: u16,
    managesieve_port: Option<u16>,
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// The password of every user of the static passdb.
    pub const PASSWORD: &'static str = "sysgauge-test";

    /// Starts Dovecot with `cert` and `key` (PEM paths, copied into its directory; the
    /// certificate file may hold a chain, leaf first). `None` when Dovecot is not installed.
    pub fn start(cert: &Path, key: &Path) -> Option<Dovecot> {
        if !available("dovecot", "dovecot-imapd dovecot-pop3d") {
            return None;
        }
        let dir = server_dir("dovecot");
        let d = dir.path();
        make_dir(&d.join("certs"), 0o755, None);
        install_file(cert, &d.join("certs/cert.pem"), 0o644, None);
        install_file(key, &d.join("certs/key.pem"), 0o600, None);
        // Under root Debian's own unprivileged users; otherwise everything runs as this user.
        let (login_user, internal_user, internal_group) = if euid() == 0 {
            ("dovenull".into(), "dovecot".into(), "dovecot".into())
        } else {
            let (user, group) = current_user_and_group();
            (user.clone(), user, group)
        };
        // ManageSieve (Pigeonhole) when its package is installed.
        let sieve = Path::new(MANAGESIEVE_LOGIN).is_file();
        let (daemon, imap_port, pop3_port, managesieve_port) = with_free_ports("dovecot", || {
            let (imap_port, pop3_port, sieve_port) = (free_port(), free_port(), free_port());
            let (sieve_protocol, sieve_service) = if sieve {
                (
                    " sieve",
                    format!(
                        "service managesieve-login {{\n  chroot =\n  inet_listener sieve {{\n    address = 127.0.0.1\n    port = {sieve_port}\n  }}\n}}\n"
                    ),
                )
            } else {
                ("", String::new())
            };
            let conf = format!(
                r#"base_dir = {d}/run
state_dir = {d}/state
instance_name = sysgauge-{imap_port}
protocols = imap pop3{sieve_protocol}
listen = 127.0.0.1
log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{d}/certs/cert.pem
ssl_key = <{d}/certs/key.pem
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={internal_user} gid={internal_group} home={d}/mail/%u
}}
# No chroots: they need root, and the tests run as root or not.
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
{sieve_service}"#,
                d = d.display(),
                password = Self::PASSWORD,
            );
            fs::write(d.join("dovecot.conf"), conf).unwrap();
            let daemon = Daemon::spawn(
                "dovecot",
                Command::new(which("dovecot").unwrap())
                    .arg("-F")
                    .arg("-c")
                    .arg(d.join("dovecot.conf"))
                    .current_dir(d),
                vec![d.join("dovecot.out"), d.join("dovecot.log")],
                "TERM",
                |_| {
                    greets(imap_port, "* OK")
                        && greets(pop3_port, "+OK")
                        && (!sieve || greets(sieve_port, "\"IMPLEMENTATION\""))
                },
            )?;
            Ok((daemon, imap_port, pop3_port, sieve.then_some(sieve_port)))
        });
        Some(Dovecot {
            daemon,
            imap_port,
            pop3_port,
            managesieve_port,
            dir,
        })
    }

    /// The ManageSieve port (STARTTLS) on 127.0.0.1; `None` after a loud `SKIP` (a panic under
    /// `SYSGAUGE_REQUIRE_COMPONENTS=1`) when dovecot-managesieved is not installed.
    pub fn managesieve_port(&self) -> Option<u16> {
        match self.managesieve_port {
            Some(port) => Some(port),
            None => skip(
                "dovecot's managesieve-login is not installed (Debian package dovecot-managesieved)",
            ),
        }
    }

    /// The IMAP port (STARTTLS) on 127.0.0.1.
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// The POP3 port (STLS) on 127.0.0.1.
    pub fn pop3_port(&self) -> u16 {
        self.pop3_port
    }

    /// The master process's pid.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The directory holding its configuration, state and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its output and log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

// ---------------------------------------------------------------------------------------------
// vsftpd, slapd, Prosody, MariaDB: one TLS-capable listener each

/// A server with one port that speaks STARTTLS (or its protocol's equivalent) with the
/// certificate it was given: [`Vsftpd`] (FTP `AUTH TLS`), [`Slapd`] (LDAP StartTLS),
/// [`Prosody`] (XMPP, with a second, server-to-server port) and [`Mariadb`] (SSLRequest).
#[derive(Debug)]
pub struct TlsServer {
    daemon: Daemon,
    ports: Vec<u16>,
    dir: tempfile::TempDir,
}

impl TlsServer {
    /// Its port on 127.0.0.1 (for Prosody, client-to-server).
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// Prosody's server-to-server port (the same as [`TlsServer::port`] for the others).
    pub fn server_port(&self) -> u16 {
        *self.ports.last().unwrap()
    }

    /// Its directory: configuration, certificates, state, logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its output and log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Copies the certificate and key into a fresh directory (readable by the daemon's user
    /// `owner`, when it drops privileges) and starts `daemon(dir, ports)` with fresh ports.
    fn start(
        name: &str,
        cert: &Path,
        key: &Path,
        ports: usize,
        owner: Option<(u32, u32)>,
        mut daemon: impl FnMut(&Path, &[u16]) -> Result<Daemon, Exited>,
    ) -> TlsServer {
        let dir = server_dir(name);
        let d = dir.path();
        make_dir(&d.join("certs"), 0o755, None);
        install_file(cert, &d.join("certs/cert.pem"), 0o644, None);
        install_file(key, &d.join("certs/key.pem"), 0o600, owner);
        let (daemon, ports) = with_free_ports(name, || {
            let ports: Vec<u16> = (0..ports).map(|_| free_port()).collect();
            Ok((daemon(d, &ports)?, ports))
        });
        TlsServer { daemon, ports, dir }
    }
}

/// vsftpd (`vsftpd CONFIG`, in the foreground) with `ssl_enable`. Local logins are "enabled"
/// only because vsftpd refuses to start with no kind of login; the tests never log in.
pub struct Vsftpd;

impl Vsftpd {
    /// Starts vsftpd with `cert` and `key` (PEM paths). `None` when it is not installed.
    pub fn start(cert: &Path, key: &Path) -> Option<TlsServer> {
        if !available("vsftpd", "vsftpd") {
            return None;
        }
        Some(TlsServer::start(
            "vsftpd",
            cert,
            key,
            1,
            None,
            |d, ports| {
                // vsftpd insists on an empty, unwritable directory to chroot its unprivileged
                // process into, and runs as the launching user when that is not root.
                make_dir(&d.join("empty"), 0o555, None);
                let conf = format!(
                    "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
                 anonymous_enable=NO\nlocal_enable=YES\nssl_enable=YES\n\
                 rsa_cert_file={d}/certs/cert.pem\nrsa_private_key_file={d}/certs/key.pem\n\
                 secure_chroot_dir={d}/empty\nseccomp_sandbox=NO\nvsftpd_log_file={d}/vsftpd.log\n{user}",
                    port = ports[0],
                    d = d.display(),
                    user = if euid() == 0 {
                        ""
                    } else {
                        "run_as_launching_user=YES\n"
                    },
                );
                fs::write(d.join("vsftpd.conf"), conf).unwrap();
                let port = ports[0];
                Daemon::spawn(
                    "vsftpd",
                    Command::new(which("vsftpd").unwrap()).arg(d.join("vsftpd.conf")),
                    vec![d.join("vsftpd.out"), d.join("vsftpd.log")],
                    "TERM",
                    |_| greets(port, "220"),
                )
            },
        ))
    }
}

/// OpenLDAP's slapd (`slapd -d 0 -f CONFIG`, in the foreground) with TLS and no database:
/// StartTLS needs none.
pub struct Slapd;

impl Slapd {
    /// Starts slapd with `cert` and `key` (PEM paths). `None` when it is not installed.
    pub fn start(cert: &Path, key: &Path) -> Option<TlsServer> {
        if !available("slapd", "slapd") {
            return None;
        }
        Some(TlsServer::start("slapd", cert, key, 1, None, |d, ports| {
            let conf = format!(
                "pidfile {d}/slapd.pid\nTLSCertificateFile {d}/certs/cert.pem\nTLSCertificateKeyFile {d}/certs/key.pem\n",
                d = d.display()
            );
            fs::write(d.join("slapd.conf"), conf).unwrap();
            let port = ports[0];
            Daemon::spawn(
                "slapd",
                Command::new(which("slapd").unwrap())
                    .args(["-d", "0", "-h", &format!("ldap://127.0.0.1:{port}/"), "-f"])
                    .arg(d.join("slapd.conf")),
                vec![d.join("slapd.out")],
                "TERM",
                |_| accepts(port),
            )
        }))
    }
}

/// Prosody (`prosody --config FILE`, in the foreground) with one virtual host `host` whose
/// certificate is the one given, on a client-to-server and a server-to-server port.
pub struct Prosody;

impl Prosody {
    /// Starts Prosody serving `host` with `cert` and `key`. `None` when it is not installed.
    pub fn start(host: &str, cert: &Path, key: &Path) -> Option<TlsServer> {
        if !available("prosody", "prosody") {
            return None;
        }
        let owner = if euid() == 0 {
            user_ids("prosody")
        } else {
            None
        };
        Some(TlsServer::start(
            "prosody",
            cert,
            key,
            2,
            owner,
            |d, ports| {
                make_dir(&d.join("data"), 0o755, owner);
                let conf = format!(
                    r#"daemonize = false
pidfile = "{d}/data/prosody.pid"
data_path = "{d}/data"
plugin_paths = {{}}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{d}/data/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
c2s_direct_tls_ports = {{}}
s2s_direct_tls_ports = {{}}
http_ports = {{}}
https_ports = {{}}
modules_enabled = {{ "tls", "saslauth", "disco" }}
modules_disabled = {{ "posix" }}
VirtualHost "{host}"
  ssl = {{ certificate = "{d}/certs/cert.pem", key = "{d}/certs/key.pem" }}
"#,
                    d = d.display(),
                    c2s = ports[0],
                    s2s = ports[1],
                );
                fs::write(d.join("prosody.cfg.lua"), conf).unwrap();
                let (c2s, s2s) = (ports[0], ports[1]);
                let mut cmd = Command::new(which("prosody").unwrap());
                cmd.arg("--config").arg(d.join("prosody.cfg.lua"));
                // Prosody refuses to run as root; under root it runs as Debian's prosody user, and
                // writes only under data/.
                if let Some((uid, gid)) = owner {
                    cmd.uid(uid).gid(gid);
                }
                Daemon::spawn(
                    "prosody",
                    &mut cmd,
                    vec![d.join("prosody.out"), d.join("data/prosody.log")],
                    "TERM",
                    |_| accepts(c2s) && accepts(s2s),
                )
            },
        ))
    }
}

/// MariaDB (`mariadbd --no-defaults`) with TLS, on an empty data directory with the grant
/// tables skipped: the SSL handshake comes before any authentication, so no system tables are
/// needed, and none are made (which saves `mariadb-install-db`'s seconds).
pub struct Mariadb;

impl Mariadb {
    /// Starts MariaDB with `cert` and `key` (PEM paths). `None` when it is not installed.
    pub fn start(cert: &Path, key: &Path) -> Option<TlsServer> {
        if !available("mariadbd", "mariadb-server") {
            return None;
        }
        let owner = if euid() == 0 { user_ids("mysql") } else { None };
        Some(TlsServer::start(
            "mariadb",
            cert,
            key,
            1,
            owner,
            |d, ports| {
                make_dir(&d.join("data"), 0o700, owner);
                let port = ports[0];
                let mut cmd = Command::new(which("mariadbd").unwrap());
                cmd.arg("--no-defaults")
                    .arg(format!("--datadir={}", d.join("data").display()))
                    .arg(format!("--socket={}", d.join("data/mysqld.sock").display()))
                    .arg(format!(
                        "--pid-file={}",
                        d.join("data/mysqld.pid").display()
                    ))
                    .arg(format!("--port={port}"))
                    .arg("--bind-address=127.0.0.1")
                    .arg(format!("--ssl-cert={}", d.join("certs/cert.pem").display()))
                    .arg(format!("--ssl-key={}", d.join("certs/key.pem").display()))
                    .args([
                        "--skip-grant-tables",
                        "--skip-log-bin",
                        "--innodb-buffer-pool-size=8M",
                        "--innodb-log-file-size=4M",
                        "--innodb-data-file-path=ibdata1:4M:autoextend",
                    ]);
                if owner.is_some() {
                    cmd.arg("--user=mysql");
                }
                Daemon::spawn(
                    "mariadbd",
                    &mut cmd,
                    vec![d.join("mariadbd.out")],
                    "TERM",
                    |_| accepts(port),
                )
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Broken peers

/// A loopback listener whose accept loop hands each connection to `handle` on a thread of its
/// own; stopped (and joined) on drop.
#[derive(Debug)]
struct Peer {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    fn start(name: &str, handle: impl Fn(TcpStream) + Send + Sync + 'static) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(handle);
        let thread = {
            let (accepted, stopping) = (accepted.clone(), stopping.clone());
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        accepted.fetch_add(1, Ordering::SeqCst);
                        let handle = handle.clone();
                        std::thread::spawn(move || handle(stream));
                    }
                })
                .unwrap()
        };
        Peer {
            port,
            accepted,
            stopping,
            thread: Some(thread),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stopping` and closes the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections and never says or closes anything: every connection is held open until
/// the guard is dropped. A client must give up on its own deadline.
#[derive(Debug)]
pub struct Silent {
    held: Arc<Mutex<Vec<TcpStream>>>,
    peer: Peer,
}

impl Silent {
    /// Listens on a free loopback port.
    pub fn start() -> Silent {
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        let peer = Peer::start("silent-peer", move |s| keep.lock().unwrap().push(s));
        Silent { held, peer }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.peer.port
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.peer.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.held.lock().unwrap().clear();
    }
}

/// A plain-text server where TLS is expected: whatever a client sends first, it answers with
/// [`PlainText::RESPONSE`] (an HTTP/1.0 400 in plain text) and closes.
#[derive(Debug)]
pub struct PlainText {
    peer: Peer,
}

impl PlainText {
    /// The complete answer to any first bytes.
    pub const RESPONSE: &'static str = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 24\r\nConnection: close\r\n\r\nThis is not a TLS port.\n";

    /// Listens on a free loopback port.
    pub fn start() -> PlainText {
        let peer = Peer::start("plain-text-peer", |mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                let _ = s.write_all(Self::RESPONSE.as_bytes());
                let _ = s.shutdown(Shutdown::Write);
                // Drains what the client still sends, so that closing does not reset the
                // connection before the client has read the answer.
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
        PlainText { peer }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.peer.port
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.peer.accepted.load(Ordering::SeqCst)
    }
}

/// A server that reads a TLS ClientHello and closes the connection without answering.
#[derive(Debug)]
pub struct ClosesMidHandshake {
    client_hellos: Arc<AtomicUsize>,
    peer: Peer,
}

impl ClosesMidHandshake {
    /// Listens on a free loopback port.
    pub fn start() -> ClosesMidHandshake {
        let client_hellos = Arc::new(AtomicUsize::new(0));
        let count = client_hellos.clone();
        let peer = Peer::start("closes-mid-handshake-peer", move |mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            // A TLS record: type 22 (handshake), version, length; its first handshake message
            // must be type 1 (ClientHello).
            let mut header = [0u8; 5];
            if s.read_exact(&mut header).is_err() || header[0] != 22 {
                return;
            }
            let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
            if s.read_exact(&mut body).is_ok() && body.first() == Some(&1) {
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        ClosesMidHandshake {
            client_hellos,
            peer,
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.peer.port
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.peer.accepted.load(Ordering::SeqCst)
    }

    /// How many complete ClientHello records it read (and then closed on).
    pub fn client_hellos(&self) -> usize {
        self.client_hellos.load(Ordering::SeqCst)
    }
}
