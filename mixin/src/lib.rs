/*!
sysgauge's monitoring mixin: the code behind `dashboards/` and the checks of `alerts/`.

The alert rules are plain YAML in `alerts/` (one file per exporter plus `sysgauge.rules.yml`
for the suite's own health), unit-tested with `promtool test rules` (`alerts/tests/`). The
Grafana dashboards are generated from [`dashboards`] into the JSON files in `dashboards/`; the test
`dashboards_are_generated` fails when the files are out of date and rewrites them with
`SYSGAUGE_BLESS=1`.

The checks, all in this crate's one test binary (`tests/mixin.rs`):
- [`promql`] lists what a query names, so that no panel or alert uses a metric or label the
  exporters do not produce ([`produced`] reads them from the exporters' `Desc`s);
- the dashboard-linter rules that matter for provisioning (the linter itself is a prebuilt
  binary that cannot be installed here);
- `promtool check rules` and `promtool test rules`, plus the structure of every alert;
- end to end, a real Prometheus scraping the real exporters, with the rules loaded.
*/

pub mod dashboards;
pub mod md5;
pub mod produced;
pub mod promql;

use std::path::PathBuf;

/// The repository's root directory.
pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}
