//! `serve`: Prometheus, OpenMetrics, TLS and basic auth, concurrency, SIGTERM.

use std::{process::Command, sync::Arc, time::Duration};

use sysgauge_testkit::{Prometheus, available, http_get, openssl, promtool_check_metrics, run};

use crate::util::*;

#[test]
fn serve_is_scraped_by_a_real_prometheus() {
    let Some(f) = Fixture::new() else { return };
    let pem = f.path("leaf.pem");
    let serve = Serve::start(&["--path", pem.to_str().unwrap()], &[], "http", &[]);
    let Some(prometheus) = Prometheus::start(&format!(
        "- job_name: certs\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n",
        serve.port
    )) else {
        return;
    };
    let result = prometheus.wait_for_series(
        "sysgauge_cert_not_after_timestamp_seconds{subject_cn=\"leaf.test\"}",
        Duration::from_secs(30),
    );
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].1, openssl::not_after(&pem) as f64);
    assert_eq!(result[0].0["issuer_cn"], "Test Root CA");
    let up = prometheus.query("up{job=\"certs\"}");
    assert_eq!(up[0].1, 1.0);
}

#[test]
fn serve_negotiates_openmetrics_and_both_formats_pass_promtool() {
    let Some(f) = Fixture::new() else { return };
    let serve = Serve::start(
        &["--path", f.path("valid.pem").to_str().unwrap()],
        &[],
        "http",
        &[],
    );
    let url = serve.url("http", "/metrics");
    let (status, classic) = http_get(&url, &[]);
    assert_eq!(status, 200);
    assert!(!classic.contains("# EOF"));
    let accept =
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let headers =
        run(Command::new("curl").args(["-sS", "-D", "-", "-o", "/dev/null", "-H", accept, &url]));
    assert!(
        stdout(&headers)
            .to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{}",
        stdout(&headers)
    );
    let (_, om) = http_get(&url, &["-H", accept]);
    assert!(om.ends_with("# EOF\n"), "{om}");
    if available("promtool", "prometheus") {
        promtool_check_metrics(&classic).unwrap();
        promtool_check_metrics(&om).unwrap();
    }
    let (status, landing) = http_get(&serve.url("http", "/"), &[]);
    assert_eq!(status, 200);
    assert!(landing.contains("href=\"/metrics\""));
    assert_eq!(http_get(&serve.url("http", "/nope"), &[]).0, 404);
    assert_eq!(http_get(&url, &["-X", "POST"]).0, 405);
}

#[test]
fn tls_and_basic_auth_from_a_web_config_file() {
    let Some(f) = Fixture::new() else { return };
    if !available("curl", "curl") {
        return;
    }
    // The server certificate is the CA-signed leaf for "localhost".
    let d = f.dir.path();
    openssl::certificate(
        d,
        "server",
        "localhost",
        "20200101000000Z",
        "20400101000000Z",
        Some((&f.path("ca.pem"), &f.path("ca.key"))),
    );
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = f.path("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {d}/server.pem\n  key_file: {d}/server.key\n  min_version: TLS12\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  prometheus: {hash}\n",
            d = d.display()
        ),
    )
    .unwrap();
    let ca = f.path("ca.pem");
    let cacert = ca.to_str().unwrap();
    let serve = Serve::start(
        &["--path", f.path("valid.pem").to_str().unwrap()],
        &["--web.config.file", web.to_str().unwrap()],
        "https",
        &["--cacert", cacert],
    );
    let url = serve.url("https", "/metrics");
    let (status, body) = http_get(&url, &["--cacert", cacert, "-u", "prometheus:s3cret"]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sysgauge_cert_not_after_timestamp_seconds{"));
    assert_eq!(
        http_get(&url, &["--cacert", cacert, "-u", "prometheus:wrong"]).0,
        401
    );
    assert_eq!(
        http_get(&url, &["--cacert", cacert, "-u", "someone:s3cret"]).0,
        401
    );
    assert_eq!(http_get(&url, &["--cacert", cacert]).0, 401);
    let headers = run(Command::new("curl").args([
        "-sS",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-u",
        "prometheus:s3cret",
        "--cacert",
        cacert,
        &url,
    ]));
    assert!(
        stdout(&headers)
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff")
    );
    // Plain HTTP on the TLS port gets no metrics.
    let (status, _) = http_get(&serve.url("http", "/metrics"), &["-u", "prometheus:s3cret"]);
    assert_ne!(status, 200);
}

#[test]
fn two_hundred_concurrent_scrapes_all_succeed() {
    let Some(f) = Fixture::new() else { return };
    let pattern = format!("{}/*.pem", f.dir.path().display());
    let serve = Serve::start(&["--path", &pattern], &[], "http", &[]);
    let port = serve.port;
    let barrier = Arc::new(std::sync::Barrier::new(200));
    let scrapes: Vec<_> = (0..200)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                raw_get(port, "/metrics")
            })
        })
        .collect();
    let mut ok = 0;
    for s in scrapes {
        let (status, body) = s.join().unwrap();
        assert_eq!(status, 200, "{}", &body[..body.len().min(300)]);
        assert!(
            body.contains("sysgauge_cert_build_info{"),
            "incomplete body"
        );
        ok += 1;
    }
    assert_eq!(ok, 200);
}

#[test]
fn sigterm_stops_serve_cleanly() {
    let mut serve = Serve::start(&["--path", "/etc/hostname"], &[], "http", &[]);
    let status = serve
        .process
        .terminate(Duration::from_secs(10))
        .expect("serve did not exit on SIGTERM");
    assert_eq!(status.code(), Some(0));
}
