# Evaluates nix/monitoring.nix without nixpkgs: a stub of the few lib functions it uses, the
# module's options resolved by hand, and its config merged naively. Enough to check what it
# hands to services.grafana.provision and services.prometheus; nixpkgs' own module system
# (types, merging) is exercised by `nix flake check` where nixpkgs is available.
#
#   nix-instantiate --eval --strict --json nix/tests/monitoring-eval.nix
#
# `fleet` scrapes other hosts' certs exporters, listed (host:port) as a JSON array in the
# environment variable SYSGAUGE_FLEET_TARGETS: the fleet test of mixin/tests/mixin.rs renders
# its scrape configuration to a Prometheus configuration.
let
  fleet = builtins.fromJSON (
    let
      targets = builtins.getEnv "SYSGAUGE_FLEET_TARGETS";
    in
    if targets == "" then "[]" else targets
  );
  stub = rec {
    mkOption = o: o;
    mkEnableOption = d: {
      default = false;
      description = d;
    };
    mkIf = cond: value: if cond then value else { };
    mkMerge = builtins.foldl' recursiveUpdate { };
    recursiveUpdate =
      a: b:
      a
      // builtins.mapAttrs (
        n: v: if builtins.isAttrs v && builtins.isAttrs (a.${n} or null) then recursiveUpdate a.${n} v else v
      ) b;
    types = {
      listOf = t: "listOf";
      enum = l: "enum";
      str = "str";
      bool = "bool";
      attrsOf = t: "attrsOf";
    };
    inherit (builtins) filter concatLists zipAttrsWith;
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (n: {
          name = n;
          value = f n;
        }) names
      );
    mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (builtins.attrNames attrs);
  };
  evalWith =
    settings:
    let
      module = import ../monitoring.nix;
      config = {
        services.sysgauge = settings.sysgauge or { } // {
          monitoring = settings.monitoring;
        };
      };
    in
    (module {
      inherit config;
      lib = stub;
    }).config;
in
{
  # Everything on; certs, gpu and backup also run locally in serve mode, restic in textfile mode.
  full = evalWith {
    monitoring = {
      exporters = [
        "certs"
        "restic"
        "gpu"
        "systemd"
        "backup"
      ];
      grafana = {
        enable = true;
        folder = "sysgauge";
      };
      prometheus = {
        enable = true;
        scrapeLocalExporters = true;
        targets.certs = [ "web2:9862" ];
      };
    };
    sysgauge = {
      certs = {
        enable = true;
        mode = "serve";
        port = 9862;
      };
      gpu = {
        enable = true;
        mode = "serve";
        port = 9863;
      };
      restic = {
        enable = true;
        mode = "textfile";
        port = 9864;
      };
      backup = {
        enable = true;
        mode = "serve";
        port = 9866;
      };
    };
  };
  # Only certs, rules only.
  certsOnly = evalWith {
    monitoring = {
      exporters = [ "certs" ];
      grafana = {
        enable = false;
        folder = "sysgauge";
      };
      prometheus = {
        enable = true;
        scrapeLocalExporters = false;
        targets = { };
      };
    };
  };
  # A fleet of certs exporters on other hosts, rules only.
  fleet = evalWith {
    monitoring = {
      exporters = [ "certs" ];
      grafana = {
        enable = false;
        folder = "sysgauge";
      };
      prometheus = {
        enable = true;
        scrapeLocalExporters = false;
        targets.certs = fleet;
      };
    };
  };
}
