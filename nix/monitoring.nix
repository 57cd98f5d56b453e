# NixOS module: sysgauge's Grafana dashboards and Prometheus alert rules.
#
#   services.sysgauge.monitoring = {
#     exporters = [ "certs" "systemd" ];      # whose rules and dashboards (default: all)
#     grafana.enable = true;                  # dashboards into services.grafana.provision
#     prometheus.enable = true;               # rules into services.prometheus.ruleFiles
#     prometheus.scrapeLocalExporters = true; # scrape this host's serve-mode exporters
#   };
#
# Self-contained: it needs no other sysgauge module. With nix/module.nix imported as well,
# `prometheus.scrapeLocalExporters` scrapes every enabled exporter in serve mode under the job
# name the rules expect (`sysgauge-<exporter>`, see docs/runbook.md); other hosts' exporters go
# into `prometheus.targets`.
{
  config,
  lib,
  ...
}:
let
  inherit (lib) mkOption mkEnableOption mkIf types;
  cfg = config.services.sysgauge.monitoring;
  all = [
    "certs"
    "restic"
    "gpu"
    "systemd"
    "backup"
  ];

  # Only the files of the chosen exporters, plus the suite's own.
  ruleFiles = [ ../alerts/sysgauge.rules.yml ] ++ map (name: ../alerts + "/${name}.rules.yml") cfg.exporters;
  dashboards = builtins.path {
    name = "sysgauge-dashboards";
    path = ../dashboards;
    filter =
      path: _type:
      builtins.elem (baseNameOf path) (
        [ "sysgauge-overview.json" ] ++ map (name: "sysgauge-${name}.json") cfg.exporters
      );
  };

  # The serve-mode exporters of nix/module.nix on this host, when that module is imported.
  sysgauge = config.services.sysgauge or { };
  local = lib.filter (
    name:
    (sysgauge.${name}.enable or false) && (sysgauge.${name}.mode or "serve") == "serve"
  ) all;
  localTargets = lib.genAttrs local (name: [ "localhost:${toString sysgauge.${name}.port}" ]);
  targets = lib.zipAttrsWith (_: lib.concatLists) [
    (if cfg.prometheus.scrapeLocalExporters then localTargets else { })
    cfg.prometheus.targets
  ];
in
{
  options.services.sysgauge.monitoring = {
    exporters = mkOption {
      type = types.listOf (types.enum all);
      default = all;
      example = [
        "certs"
        "systemd"
      ];
      description = "Exporters whose alert rules and dashboards are installed; the suite's own health rules and the overview dashboard always are.";
    };

    grafana = {
      enable = mkEnableOption "provisioning sysgauge's dashboards into Grafana (services.grafana.provision)";
      folder = mkOption {
        type = types.str;
        default = "sysgauge";
        description = "Grafana folder of the dashboards.";
      };
    };

    prometheus = {
      enable = mkEnableOption "sysgauge's alert rules in Prometheus (services.prometheus.ruleFiles)";
      scrapeLocalExporters = mkOption {
        type = types.bool;
        default = false;
        description = "Scrape this host's sysgauge exporters that run in serve mode (services.sysgauge.<name> of nix/module.nix), as jobs sysgauge-<name>.";
      };
      targets = mkOption {
        type = types.attrsOf (types.listOf types.str);
        default = { };
        example = {
          certs = [
            "web1:9862"
            "web2:9862"
          ];
        };
        description = "More serve-mode exporters to scrape, by exporter, as host:port; each exporter becomes the job sysgauge-<name> that the rules expect.";
      };
    };
  };

  config = lib.mkMerge [
    (mkIf cfg.grafana.enable {
      services.grafana.provision = {
        enable = true;
        dashboards.settings = {
          apiVersion = 1;
          providers = [
            {
              name = "sysgauge";
              type = "file";
              folder = cfg.grafana.folder;
              # The dashboards are generated (mixin/src/dashboards.rs) and not editable.
              disableDeletion = true;
              allowUiUpdates = false;
              options.path = dashboards;
            }
          ];
        };
      };
    })
    (mkIf cfg.prometheus.enable {
      services.prometheus.ruleFiles = ruleFiles;
      services.prometheus.scrapeConfigs = lib.mapAttrsToList (name: hosts: {
        job_name = "sysgauge-${name}";
        static_configs = [ { targets = hosts; } ];
      }) targets;
    })
  ];
}
