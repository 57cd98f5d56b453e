//! Measurement probe for bench notes: per-unit call variants against a running systemd,
//! with systemd's and the bus daemon's CPU time around them (run inside the container).
//!
//! ```text
//! probe bus|private getall|get5|get6 CONCURRENCY [DAEMON_PID]
//! ```
#![allow(clippy::unwrap_used, missing_docs)]
use std::time::Instant;

use sysgauge_dbus::{Bus, Options, SystemdClient, interface};

fn cpu_ms(pid: &str) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(drop)
        .and_then(|s| if pid.is_empty() { Err(()) } else { Ok(s) })
    else {
        return 0.0;
    };
    let f: Vec<&str> = s.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) * 10.0
}

#[derive(Debug, Default, serde::Deserialize, sysgauge_dbus::zbus::zvariant::Type)]
#[zvariant(signature = "a{sv}")]
#[serde(default)]
#[allow(dead_code)]
struct Svc {
    #[serde(
        rename = "Result",
        with = "sysgauge_dbus::zbus::zvariant::as_value::optional"
    )]
    result: Option<String>,
    #[serde(
        rename = "NRestarts",
        with = "sysgauge_dbus::zbus::zvariant::as_value::optional"
    )]
    restarts: Option<u32>,
}

#[derive(Debug, Default, serde::Deserialize, sysgauge_dbus::zbus::zvariant::Type)]
#[zvariant(signature = "a{sv}")]
#[serde(default)]
#[allow(dead_code)]
struct UnitTimes {
    #[serde(
        rename = "ActiveEnterTimestamp",
        with = "sysgauge_dbus::zbus::zvariant::as_value::optional"
    )]
    active_enter: Option<u64>,
    #[serde(
        rename = "UnitFileState",
        with = "sysgauge_dbus::zbus::zvariant::as_value::optional"
    )]
    file_state: Option<String>,
}

async fn futures_list(client: &SystemdClient) -> usize {
    client.list_units(&[], &[]).await.unwrap().len()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (mode, variant, conc): (&str, &str, usize) = (&a[1], &a[2], a[3].parse().unwrap());
    let daemon = a.get(4).cloned().unwrap_or_default();
    let bus = if mode == "private" {
        Bus::Direct(sysgauge_dbus::PRIVATE_SOCKET.into())
    } else {
        Bus::System
    };
    let client = SystemdClient::new(
        bus,
        Options {
            max_concurrent_calls: conc,
            ..Options::default()
        },
    );
    let t0 = Instant::now();
    let units = client.list_units(&[], &["bench-*.service"]).await.unwrap();
    let t_list = t0.elapsed();
    let (s0, d0) = (cpu_ms("1"), cpu_ms(&daemon));
    let t1 = Instant::now();
    let n = match variant {
        "getall" => {
            let req = units
                .iter()
                .map(|u| (u.path.clone(), interface::SERVICE))
                .collect();
            client
                .get_all_as_many::<Svc, _, _>(req, |r| r.unwrap().result.is_some() as usize)
                .await
                .into_iter()
                .sum::<usize>()
        }
        "unitgetall" => {
            let req = units
                .iter()
                .map(|u| (u.path.clone(), interface::UNIT))
                .collect();
            client
                .get_all_as_many::<UnitTimes, _, _>(req, |r| {
                    r.unwrap().file_state.is_some() as usize
                })
                .await
                .into_iter()
                .sum::<usize>()
        }
        "unitget5" | "unitget3m" | "unitfile" | "unitget4" => {
            const U5: &[&str] = &[
                "ActiveEnterTimestamp",
                "ActiveExitTimestamp",
                "InactiveEnterTimestamp",
                "InactiveExitTimestamp",
                "UnitFileState",
            ];
            let names = match variant {
                "unitget5" => U5,
                "unitget4" => &U5[..4],
                "unitfile" => &U5[4..],
                _ => sysgauge_dbus::boot::UNIT_PROPERTIES,
            };
            let req = units
                .iter()
                .map(|u| (u.path.clone(), interface::UNIT, names))
                .collect();
            client
                .get_properties_many(req)
                .await
                .into_iter()
                .map(|r| r.unwrap().0.len())
                .sum()
        }
        "list" => {
            (0..10).map(|_| 0).sum::<usize>() + {
                let mut n = 0;
                for _ in 0..10 {
                    n += futures_list(&client).await;
                }
                n
            }
        }
        _ => {
            const G5: &[&str] = &[
                "Result",
                "ExecMainStatus",
                "NRestarts",
                "ExecMainStartTimestamp",
                "ExecMainExitTimestamp",
            ];
            const G6: &[&str] = &[
                "Result",
                "ExecMainStatus",
                "NRestarts",
                "ExecMainStartTimestamp",
                "ExecMainExitTimestamp",
                "ControlGroup",
            ];
            let names = if variant == "get5" { G5 } else { G6 };
            let req = units
                .iter()
                .map(|u| (u.path.clone(), interface::SERVICE, names))
                .collect();
            client
                .get_properties_many(req)
                .await
                .into_iter()
                .map(|r| r.unwrap().0.len())
                .sum()
        }
    };
    let dt = t1.elapsed();
    let (s1, d1) = (cpu_ms("1"), cpu_ms(&daemon));
    println!(
        "{mode:8} {variant:7} c={conc:3} units={} n={n:5} connect+list={:5.1}ms calls={:6.1}ms systemd_cpu={:4.0}ms daemon_cpu={:4.0}ms",
        units.len(),
        t_list.as_secs_f64() * 1e3,
        dt.as_secs_f64() * 1e3,
        s1 - s0,
        d1 - d0
    );
}
