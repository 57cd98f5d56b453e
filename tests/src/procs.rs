//! What the fault tests need to know about processes: which exist (from `/proc`, to show that
//! nothing a test started outlived it) and how much memory one used at its peak.

use std::{
    path::Path,
    process::{Command, Output},
};

use crate::run;

/// One process, as `/proc/PID/stat` and `/proc/PID/cmdline` describe it.
#[derive(Clone, Debug)]
pub struct Proc {
    /// Its id.
    pub pid: u32,
    /// Its parent's id.
    pub ppid: u32,
    /// Its process group.
    pub pgrp: u32,
    /// Its state: `R`, `S`, `Z` (a zombie: exited, not yet reaped), ...
    pub state: char,
    /// Its arguments (empty for a zombie).
    pub argv: Vec<String>,
}

/// Every process this test can see (those that vanish while being read are left out).
pub fn processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(process)
        .collect()
}

/// The process `pid`, if it exists.
pub fn process(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let argv = std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(Proc {
        pid,
        ppid,
        pgrp,
        state,
        argv,
    })
}

/// The live processes (zombies left out: an orphaned zombie waits for init) that are in one of
/// `groups`, or whose program or first argument lies under `dir` (a fake script run by
/// `/bin/sh`).
pub fn leftovers(groups: &[u32], dir: &Path) -> Vec<Proc> {
    processes()
        .into_iter()
        .filter(|p| p.state != 'Z')
        .filter(|p| {
            groups.contains(&p.pgrp) || p.argv.iter().take(2).any(|a| Path::new(a).starts_with(dir))
        })
        .collect()
}

/// The children of `pid`, zombies included: a process that keeps unreaped children leaks them.
pub fn children(pid: u32) -> Vec<Proc> {
    processes().into_iter().filter(|p| p.ppid == pid).collect()
}

/// The peak resident set size of a running process (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Runs `program args` under GNU time (`/usr/bin/time -v`, Debian's `time`): its output, with
/// time's report taken off stderr, and its peak resident set size in KiB. `None` (after a loud
/// SKIP) when GNU time is not installed.
pub fn run_measured(program: &Path, args: &[&str]) -> Option<(Output, u64)> {
    if !crate::available("/usr/bin/time", "time") {
        return None;
    }
    let mut out = run(Command::new("/usr/bin/time")
        .arg("-v")
        .arg(program)
        .args(args));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // time's report starts with "\tCommand being timed:" after the program's own stderr.
    let (own, report) = stderr
        .rsplit_once("\tCommand being timed:")
        .unwrap_or_else(|| panic!("no report from /usr/bin/time -v: {stderr}"));
    let peak = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {report}"));
    // time exits with the program's code, or 128+N when a signal ended it.
    out.stderr = own.as_bytes().to_vec();
    Some((out, peak))
}
