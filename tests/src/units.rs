//! The plain systemd units, rendered from `nix/units.json`: the one definition of sysgauge's
//! hardening that the NixOS module (`nix/module.nix`) reads too.
//!
//! [`Units::render`] gives every file under `units/`; the test `tests/tests/units.rs` compares
//! them with the committed ones, and with what the NixOS module renders, and scores them with
//! `systemd-analyze security`. The merge rules are documented in the data file's `_doc`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};

/// How an exporter runs under systemd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// A oneshot service writing node_exporter's textfile, started by a timer.
    Textfile,
    /// A long-running HTTP exporter listening itself.
    Serve,
    /// A long-running HTTP exporter on the sockets of a `.socket` unit.
    Socket,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 3] = [Mode::Textfile, Mode::Serve, Mode::Socket];

    /// The directory of `units/` that holds this mode's files.
    pub fn dir(self) -> &'static str {
        match self {
            Mode::Textfile => "textfile",
            Mode::Serve => "serve",
            Mode::Socket => "socket",
        }
    }

    /// Whether the service is long-running (the `serve` subcommand).
    pub fn serves(self) -> bool {
        self != Mode::Textfile
    }
}

/// The workspace root (where `Cargo.lock` is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The first line of every generated file.
pub const HEADER: &str = "# Generated from nix/units.json by tests/tests/units.rs; do not edit. Regenerate with\n# SYSGAUGE_UPDATE_UNITS=1 cargo test -p sysgauge-testkit --test units\n";

/// `nix/units.json`, parsed.
#[derive(Clone, Debug)]
pub struct Units {
    data: Value,
}

/// Directives of one section: key to values (one line each), sorted by key.
pub type Directives = BTreeMap<String, Vec<String>>;

impl Units {
    /// Reads `nix/units.json` of this workspace.
    pub fn load() -> Units {
        let path = workspace_root().join("nix/units.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Units {
            data: serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display())),
        }
    }

    fn str(&self, pointer: &str) -> String {
        self.data
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("nix/units.json has no string at {pointer}"))
            .to_owned()
    }

    fn exporter(&self, name: &str) -> &Map<String, Value> {
        self.data["exporters"][name]
            .as_object()
            .unwrap_or_else(|| panic!("no exporter {name} in nix/units.json"))
    }

    /// The exporters' names, sorted.
    pub fn exporters(&self) -> Vec<String> {
        self.data["exporters"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    /// The exporter's default port.
    pub fn port(&self, name: &str) -> u16 {
        let port = self.exporter(name)["port"].as_u64().unwrap();
        u16::try_from(port).unwrap()
    }

    /// The exporter's static user, if it needs one (the system bus).
    pub fn user(&self, name: &str) -> Option<String> {
        self.exporter(name)["user"].as_str().map(str::to_owned)
    }

    /// Whether the exporter's plain units have outbound network.
    pub fn network(&self, name: &str) -> bool {
        self.exporter(name)["network"].as_bool().unwrap()
    }

    /// The textfile directory of the plain units.
    pub fn textfile_directory(&self) -> String {
        self.str("/defaults/textfileDirectory")
    }

    /// The unit's base name, `sysgauge-<name>`.
    pub fn unit_name(name: &str) -> String {
        format!("sysgauge-{name}")
    }

    /// The `[Service]` hardening of `name` in `mode`: the data's layers merged (no ExecStart).
    pub fn hardening(&self, name: &str, mode: Mode, network: bool) -> Map<String, Value> {
        let h = &self.data["hardening"];
        let mut layers = vec![&h["base"]];
        match mode {
            Mode::Textfile => layers.push(&h["textfile"]),
            Mode::Serve => layers.push(&h["serve"]),
            Mode::Socket => layers.extend([&h["serve"], &h["socket"]]),
        }
        if network {
            layers.push(&h["network"]);
        }
        layers.push(&self.exporter(name)["service"]);
        let mut merged = Map::new();
        for layer in layers {
            for (k, v) in layer.as_object().unwrap() {
                if k.starts_with('_') {
                    continue;
                }
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        merged
    }

    /// Every `[Service]` directive of the plain unit of `name` in `mode`.
    pub fn service(&self, name: &str, mode: Mode) -> Directives {
        self.service_with(name, mode, self.network(name))
    }

    /// [`Units::service`], with outbound network or without (as with `dropins/network.conf`).
    pub fn service_with(&self, name: &str, mode: Mode, network: bool) -> Directives {
        let mut map = self.hardening(name, mode, network);
        let e = self.exporter(name);
        let bin = format!(
            "{}/{}",
            self.str("/defaults/bindir"),
            Units::unit_name(name)
        );
        let config = format!("{}/{name}.toml", self.str("/defaults/configDir"));
        let command = match mode {
            Mode::Textfile => format!("textfile --directory {}", self.textfile_directory()),
            Mode::Serve => format!("serve --web.listen-address :{}", self.port(name)),
            Mode::Socket => "serve --web.systemd-socket".to_owned(),
        };
        map.insert(
            "ExecStart".into(),
            format!("{bin} --config {config} {command}").into(),
        );
        if let Some(user) = self.user(name) {
            map.insert("DynamicUser".into(), false.into());
            map.insert("User".into(), user.clone().into());
            map.insert("Group".into(), user.into());
        }
        match mode {
            Mode::Textfile => {
                // The primary group, not a supplementary one: the textfile directory is
                // writable by this static group (also with DynamicUser=yes, which uses a static
                // group of the configured name when one exists).
                map.insert("Group".into(), self.str("/defaults/textfileGroup").into());
                map.insert("ReadWritePaths".into(), self.textfile_directory().into());
                map.insert("TimeoutStartSec".into(), e["timeout"].clone());
            }
            Mode::Serve | Mode::Socket => {
                map.insert("WatchdogSec".into(), self.str("/defaults/watchdog").into());
            }
        }
        let credentials: Vec<Value> = e["credentials"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}:{}", v.as_str().unwrap()).into())
            .collect();
        if !credentials.is_empty() {
            map.insert("LoadCredential".into(), credentials.into());
        }
        directives(&map)
    }

    /// The `[Unit]` directives of the service of `name` in `mode`.
    pub fn service_unit_section(&self, name: &str, mode: Mode) -> Directives {
        let what = match mode {
            Mode::Textfile => "textfile for node_exporter",
            Mode::Serve => "Prometheus exporter",
            Mode::Socket => "Prometheus exporter, socket-activated",
        };
        let mut d = Directives::new();
        d.insert("Description".into(), vec![self.description(name, what)]);
        d.insert(
            "Documentation".into(),
            vec![self.str("/defaults/documentation")],
        );
        let unit = Units::unit_name(name);
        let mut after = Vec::new();
        if self.network(name) {
            after.push("network-online.target".to_owned());
            d.insert("Wants".into(), vec!["network-online.target".into()]);
        } else if mode == Mode::Serve {
            after.push("network.target".to_owned());
        }
        if mode == Mode::Socket {
            after.push(format!("{unit}.socket"));
            d.insert("Requires".into(), vec![format!("{unit}.socket")]);
        }
        if !after.is_empty() {
            d.insert("After".into(), vec![after.join(" ")]);
        }
        d
    }

    fn description(&self, name: &str, what: &str) -> String {
        format!(
            "{}: {} ({what})",
            Units::unit_name(name),
            self.exporter(name)["description"].as_str().unwrap()
        )
    }

    /// OnCalendar= of an exporter's default schedule, or of a preset name or expression.
    pub fn on_calendar(&self, schedule: &str) -> String {
        self.data["schedules"][schedule]
            .as_str()
            .unwrap_or(schedule)
            .to_owned()
    }

    /// Every file under `units/`, by path relative to it.
    pub fn render(&self) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        for name in self.exporters() {
            let unit = Units::unit_name(&name);
            for mode in Mode::ALL {
                let mut sections = vec![
                    ("Unit", self.service_unit_section(&name, mode)),
                    ("Service", self.service(&name, mode)),
                ];
                if mode == Mode::Serve {
                    sections.push(("Install", one("WantedBy", "multi-user.target")));
                }
                files.insert(
                    format!("{}/{unit}.service", mode.dir()),
                    render_unit(&sections),
                );
            }
            let e = self.exporter(&name);
            let mut timer = one(
                "OnCalendar",
                &self.on_calendar(e["schedule"].as_str().unwrap()),
            );
            timer.insert(
                "RandomizedDelaySec".into(),
                vec![self.str("/defaults/randomizedDelay")],
            );
            timer.insert(
                "Persistent".into(),
                vec![yes_no(
                    self.data["defaults"]["persistent"].as_bool().unwrap(),
                )],
            );
            files.insert(
                format!("textfile/{unit}.timer"),
                render_unit(&[
                    (
                        "Unit",
                        self.unit_section_description(&name, "textfile timer"),
                    ),
                    ("Timer", timer),
                    ("Install", one("WantedBy", "timers.target")),
                ]),
            );
            files.insert(
                format!("socket/{unit}.socket"),
                render_unit(&[
                    ("Unit", self.unit_section_description(&name, "socket")),
                    ("Socket", one("ListenStream", &self.port(&name).to_string())),
                    ("Install", one("WantedBy", "sockets.target")),
                ]),
            );
        }
        files.insert("dropins/network.conf".into(), self.network_dropin());
        files.insert("sysusers.d/sysgauge.conf".into(), self.sysusers());
        files.insert("tmpfiles.d/sysgauge.conf".into(), self.tmpfiles());
        files
    }

    fn unit_section_description(&self, name: &str, what: &str) -> Directives {
        let mut d = one("Description", &self.description(name, what));
        d.insert(
            "Documentation".into(),
            vec![self.str("/defaults/documentation")],
        );
        d
    }

    /// A drop-in giving an exporter outbound network (certs with endpoints, for instance).
    fn network_dropin(&self) -> String {
        let mut d = Directives::new();
        for (k, v) in self.data["hardening"]["network"].as_object().unwrap() {
            d.insert(
                k.clone(),
                if v.is_null() {
                    vec![String::new()]
                } else {
                    values(v)
                },
            );
        }
        format!(
            "{HEADER}# Outbound network for an exporter whose plain unit has none, e.g. sysgauge-certs with\n# endpoints: /etc/systemd/system/sysgauge-certs.service.d/network.conf\n{}",
            render_sections(&[("Service", d)])
        )
    }

    fn sysusers(&self) -> String {
        let mut out = format!(
            "{HEADER}# The group that may write the textfile directory, and the static users of the exporters\n# that talk to the system bus (DynamicUser does not work with the classic dbus-daemon).\ng {} -\n",
            self.str("/defaults/textfileGroup")
        );
        for name in self.exporters() {
            if let Some(user) = self.user(&name) {
                out.push_str(&format!("u {user} - \"sysgauge-{name} exporter\" - -\n"));
            }
        }
        out
    }

    fn tmpfiles(&self) -> String {
        format!(
            "{HEADER}# The textfile directory: written by the exporters' group, readable by node_exporter.\nd {} 2775 root {} - -\n",
            self.textfile_directory(),
            self.str("/defaults/textfileGroup")
        )
    }
}

fn one(key: &str, value: &str) -> Directives {
    Directives::from([(key.to_owned(), vec![value.to_owned()])])
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// A JSON directive value as unit-file values: lists give one line per element.
fn values(v: &Value) -> Vec<String> {
    match v {
        Value::Bool(b) => vec![yes_no(*b)],
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Array(a) => a.iter().flat_map(values).collect(),
        other => panic!("unsupported directive value {other}"),
    }
}

fn directives(map: &Map<String, Value>) -> Directives {
    map.iter().map(|(k, v)| (k.clone(), values(v))).collect()
}

fn render_sections(sections: &[(&str, Directives)]) -> String {
    let mut out = String::new();
    for (i, (name, d)) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("[{name}]\n"));
        for (k, vs) in d {
            for v in vs {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
    }
    out
}

fn render_unit(sections: &[(&str, Directives)]) -> String {
    format!("{HEADER}{}", render_sections(sections))
}

/// A unit file as section → key → values, comments dropped, booleans normalised to yes/no, so
/// that units rendered by NixOS (`true`) and by [`Units::render`] (`yes`) compare equal.
pub fn parse_unit(text: &str) -> BTreeMap<String, Directives> {
    let mut out: BTreeMap<String, Directives> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
            out.entry(section.clone()).or_default();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a unit-file line: {line}"));
        let v = match v.trim() {
            "true" => "yes",
            "false" => "no",
            v => v,
        };
        out.entry(section.clone())
            .or_default()
            .entry(k.trim().to_owned())
            .or_default()
            .push(v.to_owned());
    }
    out
}
