//! Which systemd unit a GPU process belongs to: its cgroup, and the unit that cgroup names.
//!
//! NVML gives PIDs. The unit is read from the process's cgroup, in one of two ways:
//!
//! 1. `/proc/PID/cgroup`, when the process is visible. Under the shipped units it mostly is
//!    not: `ProtectProc=invisible` hides every process of another user, and with
//!    `DynamicUser=yes` that is every other service.
//! 2. The cgroup file system itself: each cgroup's `cgroup.procs` lists its processes and is
//!    world-readable, and `ProtectProc=` (a `/proc` mount option) does not apply to it;
//!    `ProtectControlGroups=yes` makes it read-only, not unreadable. The tree of systemd's
//!    hierarchy (cgroup v2, or v1's `name=systemd`) is walked once per collection, only when a
//!    PID was not found in `/proc`, and the walk stops as soon as every wanted PID is found.
//!
//! What this reveals is which cgroup (unit) holds a PID the GPU driver already named; the unit
//! names are visible anyway (`systemctl list-units` works for any user), so nothing is read
//! that `/proc`'s hiding protects (command lines, environments, memory maps).
//!
//! A PID found in neither (it exited between NVML's answer and the lookup, or lives in another
//! PID namespace) is attributed to [`UNKNOWN`], so that the per-unit sums still add up to
//! what NVML reported.

use std::{
    collections::{BTreeSet, HashMap},
    io::Read,
    path::{Path, PathBuf},
};

/// The unit label of processes whose cgroup could not be found. Not a valid unit name (those
/// end in a type suffix), so it cannot collide with one.
pub const UNKNOWN: &str = "unknown";

/// At most this many cgroup directories are visited in one walk; a host has hundreds.
const MAX_CGROUPS: usize = 100_000;
/// Directories deeper than this below the hierarchy's root are not visited.
const MAX_DEPTH: usize = 64;
/// At most this much of one `/proc/PID/cgroup` or `cgroup.procs` file is read.
const MAX_FILE: u64 = 4 << 20;

/// Finds the cgroup of PIDs: `/proc` first, then one walk of the cgroup file system.
#[derive(Debug)]
pub struct Resolver {
    proc: PathBuf,
    /// Mount point of systemd's hierarchy and the cgroup path at that mount point.
    hierarchy: Option<(PathBuf, String)>,
    /// PID to cgroup path, from the walk (done at most once per resolver).
    walked: Option<HashMap<u32, String>>,
}

impl Resolver {
    /// A resolver for this host: `/proc`, and the hierarchy found in `/proc/self/mountinfo`.
    pub fn new() -> Self {
        let mountinfo = read_bounded(Path::new("/proc/self/mountinfo")).unwrap_or_default();
        Self::with_roots(Path::new("/proc"), systemd_hierarchy(&mountinfo))
    }

    /// A resolver over another `/proc` and hierarchy (mount point, cgroup path there).
    pub fn with_roots(proc: &Path, hierarchy: Option<(PathBuf, String)>) -> Self {
        Self {
            proc: proc.to_owned(),
            hierarchy,
            walked: None,
        }
    }

    /// The systemd unit of each PID (see [`unit_of`]); [`UNKNOWN`] when its cgroup is found
    /// nowhere.
    pub fn units(&mut self, pids: &BTreeSet<u32>) -> HashMap<u32, String> {
        let mut out = HashMap::with_capacity(pids.len());
        let mut missing = BTreeSet::new();
        for &pid in pids {
            match read_bounded(&self.proc.join(pid.to_string()).join("cgroup"))
                .and_then(|t| systemd_cgroup(&t))
            {
                Some(path) => {
                    out.insert(pid, unit_of(&path));
                }
                None => {
                    missing.insert(pid);
                }
            }
        }
        if !missing.is_empty() {
            let walked = self.walk(&missing);
            for pid in missing {
                let unit = walked
                    .get(&pid)
                    .map_or_else(|| UNKNOWN.to_owned(), |p| unit_of(p));
                out.insert(pid, unit);
            }
        }
        out
    }

    /// Walks the hierarchy once (later calls reuse it) for `wanted`, stopping when all are found.
    fn walk(&mut self, wanted: &BTreeSet<u32>) -> &HashMap<u32, String> {
        if self.walked.is_none() {
            let mut found = HashMap::new();
            if let Some((mount, base)) = &self.hierarchy {
                let mut stack = vec![(mount.clone(), base.clone(), 0usize)];
                let mut visited = 0;
                while let Some((dir, cgroup, depth)) = stack.pop() {
                    visited += 1;
                    if visited > MAX_CGROUPS {
                        tracing::warn!(
                            limit = MAX_CGROUPS,
                            "cgroup walk stopped at its limit; some GPU processes stay unattributed"
                        );
                        break;
                    }
                    if let Some(procs) = read_bounded(&dir.join("cgroup.procs")) {
                        for pid in procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
                            if wanted.contains(&pid) {
                                found.entry(pid).or_insert_with(|| cgroup.clone());
                            }
                        }
                    }
                    if found.len() == wanted.len() {
                        break;
                    }
                    if depth >= MAX_DEPTH {
                        continue;
                    }
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        if entry.file_type().is_ok_and(|t| t.is_dir()) {
                            let name = entry.file_name().to_string_lossy().into_owned();
                            let child = if cgroup.ends_with('/') {
                                format!("{cgroup}{name}")
                            } else {
                                format!("{cgroup}/{name}")
                            };
                            stack.push((entry.path(), child, depth + 1));
                        }
                    }
                }
            }
            self.walked = Some(found);
        }
        self.walked.get_or_insert_with(HashMap::new)
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Self::new()
    }
}

fn read_bounded(path: &Path) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_FILE)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The cgroup path of systemd's hierarchy in a `/proc/PID/cgroup` text: the `name=systemd` line
/// of cgroup v1 (legacy and hybrid setups) when there is one, else the unified (`0::`) line. On
/// a v1 host the `0::` line is present too but always `/`, so v1's line must win.
pub fn systemd_cgroup(text: &str) -> Option<String> {
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "name=systemd") {
            return Some(path.to_owned());
        }
        if id == "0" && controllers.is_empty() {
            unified = Some(path.to_owned());
        }
    }
    unified
}

/// Mount point and cgroup root of systemd's hierarchy, from a `/proc/self/mountinfo` text: v1's
/// `name=systemd` mount when there is one (as [`systemd_cgroup`] prefers), else the `cgroup2`
/// mount.
pub fn systemd_hierarchy(mountinfo: &str) -> Option<(PathBuf, String)> {
    let mut unified = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let rest: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(mount), Some(fstype), Some(options)) =
            (fields.get(3), fields.get(4), rest.first(), rest.get(2))
        else {
            continue;
        };
        let entry = (PathBuf::from(unescape(mount)), unescape(root));
        if *fstype == "cgroup" && options.split(',').any(|o| o == "name=systemd") {
            return Some(entry);
        }
        if *fstype == "cgroup2" && unified.is_none() {
            unified = Some(entry);
        }
    }
    unified
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && let Ok(digits) = std::str::from_utf8(&bytes[i + 1..i + 4])
            && let Ok(v) = u8::from_str_radix(digits, 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The systemd unit a cgroup path belongs to:
///
/// - the first component that is not a slice: `/system.slice/ollama.service` is
///   `ollama.service`, `/user.slice/user-1000.slice/session-3.scope` is `session-3.scope`, and a
///   service's own sub-cgroups (`/system.slice/docker.service/x`) belong to the service;
/// - under a user manager (`user@UID.service`), the user's unit is kept with the path to it:
///   `/user.slice/user-1000.slice/user@1000.service/app.slice/jupyter.service` is
///   `user@1000.service/app.slice/jupyter.service`;
/// - a cgroup with no unit is its innermost slice (`system.slice`), or `-.slice` for the root.
pub fn unit_of(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut last_slice = "-.slice";
    for (i, part) in parts.iter().enumerate() {
        if part.ends_with(".slice") {
            last_slice = part;
            continue;
        }
        if part.starts_with("user@") && part.ends_with(".service") {
            // The user manager's own tree: slices, then the user's unit.
            let mut label = vec![*part];
            for inner in &parts[i + 1..] {
                label.push(inner);
                if !inner.ends_with(".slice") {
                    break;
                }
            }
            return label.join("/");
        }
        return (*part).to_owned();
    }
    last_slice.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_name_their_units() {
        for (path, unit) in [
            ("/system.slice/ollama.service", "ollama.service"),
            ("/system.slice/docker.service/abc", "docker.service"),
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/jupyter.service",
                "user@1000.service/app.slice/jupyter.service",
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service/init.scope",
                "user@1000.service/init.scope",
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service",
                "user@1000.service",
            ),
            (
                "/user.slice/user-1000.slice/session-3.scope",
                "session-3.scope",
            ),
            (
                "/machine.slice/machine-qemu.scope/vcpu0",
                "machine-qemu.scope",
            ),
            ("/system.slice", "system.slice"),
            ("/", "-.slice"),
            ("", "-.slice"),
        ] {
            assert_eq!(unit_of(path), unit, "{path}");
        }
    }

    #[test]
    fn v1_name_systemd_wins_over_the_empty_unified_line() {
        let v1 = "9:name=systemd:/system.slice/ollama.service\n4:memory:/x\n0::/\n";
        assert_eq!(
            systemd_cgroup(v1).as_deref(),
            Some("/system.slice/ollama.service")
        );
        let v2 = "0::/user.slice/user-1000.slice/session-3.scope\n";
        assert_eq!(
            systemd_cgroup(v2).as_deref(),
            Some("/user.slice/user-1000.slice/session-3.scope")
        );
        assert_eq!(systemd_cgroup("garbage\n"), None);
    }

    #[test]
    fn mountinfo_gives_the_systemd_hierarchy() {
        let v1 = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
                  35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                  40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n";
        assert_eq!(
            systemd_hierarchy(v1),
            Some((PathBuf::from("/sys/fs/cgroup/systemd"), "/".to_owned()))
        );
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            systemd_hierarchy(v2),
            Some((PathBuf::from("/sys/fs/cgroup"), "/".to_owned()))
        );
        assert_eq!(systemd_hierarchy("nothing here\n"), None);
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }

    /// A fake /proc where one PID is visible and a fake hierarchy where the others are: the
    /// walk finds what /proc hides, and a PID in neither is unknown.
    #[test]
    fn hidden_pids_are_found_in_cgroup_procs() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path().join("proc");
        std::fs::create_dir_all(proc.join("10")).unwrap();
        std::fs::write(proc.join("10/cgroup"), "0::/system.slice/visible.service\n").unwrap();
        let cg = dir.path().join("cg");
        let a = cg.join("system.slice/ollama.service");
        let b = cg.join("user.slice/user-1000.slice/user@1000.service/app.slice/jupyter.service");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(cg.join("cgroup.procs"), "1\n").unwrap();
        std::fs::write(a.join("cgroup.procs"), "20\n21\n").unwrap();
        std::fs::write(b.join("cgroup.procs"), "30\n").unwrap();
        let mut r = Resolver::with_roots(&proc, Some((cg, "/".to_owned())));
        let units = r.units(&BTreeSet::from([10, 20, 21, 30, 99]));
        assert_eq!(units[&10], "visible.service");
        assert_eq!(units[&20], "ollama.service");
        assert_eq!(units[&21], "ollama.service");
        assert_eq!(units[&30], "user@1000.service/app.slice/jupyter.service");
        assert_eq!(units[&99], UNKNOWN);
    }

    #[test]
    fn the_real_host_resolves_this_process() {
        let mut r = Resolver::new();
        let me = std::process::id();
        let units = r.units(&BTreeSet::from([me]));
        assert!(!units[&me].is_empty());
    }
}
