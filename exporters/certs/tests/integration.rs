//! End-to-end tests of sysgauge-certs: the real binary against certificates made by the real
//! openssl and servers from Debian (nginx, PostgreSQL, Postfix, Dovecot), read by a real
//! node_exporter, scraped by a real Prometheus, checked by promtool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod endpoints;
mod files;
mod serve;
mod util;
