# Evaluates ../module.nix with nixpkgs' lib alone (no nixpkgs, no store writes): lib.evalModules
# with minimal declarations of the NixOS options the module sets, and a stub pkgs. Renders every
# exporter's units in each mode the way NixOS writes unit files, as { "<mode>/<unit>" = text; }
# for tests/tests/units.rs, which compares them with units/ and scores them; plus the Nagios
# command lines of services.sysgauge.<x>.nagios under "nagios/<mode>/<unit>.<name>".
#
#   nix-instantiate --eval --strict --json --arg lib 'import /path/to/nixpkgs/lib' nix/tests/eval.nix
{ lib }:
let
  inherit (lib) mkOption types;
  data = lib.importJSON ../units.json;

  # A unit directive value as NixOS's unitOption accepts it; lists concatenate when merged.
  unitValue = types.oneOf [
    types.bool
    types.int
    types.str
    (types.listOf types.str)
  ];
  strList = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  section = mkOption {
    type = types.attrsOf unitValue;
    default = { };
  };
  unitOptions = {
    options = {
      description = mkOption {
        type = types.str;
        default = "";
      };
      documentation = strList;
      after = strList;
      wants = strList;
      requires = strList;
      wantedBy = strList;
      listenStreams = strList;
      unitConfig = section;
      serviceConfig = section;
      timerConfig = section;
      socketConfig = section;
    };
  };
  units = mkOption {
    type = types.attrsOf (types.submodule unitOptions);
    default = { };
  };

  # The declarations of the NixOS options that module.nix sets, and nothing more.
  nixosStubs = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      systemd.services = units;
      systemd.timers = units;
      systemd.sockets = units;
      systemd.tmpfiles.rules = strList;
      users.users = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
      users.groups = mkOption {
        type = types.attrsOf (types.attrsOf types.unspecified);
        default = { };
      };
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
    };
  };

  # Store paths as nix would make them (the hash is of the content; nothing is written).
  storePath = name: content: "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" content)}-${name}";
  pkgs = {
    # Just enough of a derivation for types.package.
    sysgauge = {
      type = "derivation";
      name = "sysgauge-0.1.0";
      outPath = storePath "sysgauge-0.1.0" "package";
    };
    formats.toml =
      { }:
      {
        type = types.attrsOf types.anything;
        generate = name: value: storePath name (builtins.toJSON value);
      };
  };

  # One evaluation with every exporter enabled in one mode.
  eval =
    mode:
    lib.evalModules {
      specialArgs = { inherit pkgs; };
      modules = [
        ../module.nix
        nixosStubs
        {
          services.sysgauge = lib.mapAttrs (name: ex: {
            enable = true;
            mode = if mode == "textfile" then "textfile" else "serve";
            socketActivation = mode == "socket";
            credentials = ex.credentials;
          }) data.exporters;
        }
      ];
    };

  # NixOS's rendering (nixos/lib/systemd-lib.nix): booleans true/false, a list one line per
  # element, after/wants/requires/documentation joined by spaces on one line.
  toValue = v: if lib.isBool v then lib.boolToString v else toString v;
  renderSection =
    name: attrs:
    "[${name}]\n"
    + lib.concatStrings (
      lib.mapAttrsToList (
        k: v: lib.concatMapStrings (x: "${k}=${toValue x}\n") (if lib.isList v then v else [ v ])
      ) (lib.filterAttrs (_: v: v != [ ]) attrs)
    );
  unitSection =
    u:
    renderSection "Unit" (
      {
        Description = u.description;
        Documentation = lib.concatStringsSep " " u.documentation;
      }
      // lib.optionalAttrs (u.after != [ ]) { After = lib.concatStringsSep " " u.after; }
      // lib.optionalAttrs (u.wants != [ ]) { Wants = lib.concatStringsSep " " u.wants; }
      // lib.optionalAttrs (u.requires != [ ]) { Requires = lib.concatStringsSep " " u.requires; }
      // u.unitConfig
    );
  install = u: lib.optionalString (u.wantedBy != [ ]) ("\n" + renderSection "Install" { WantedBy = u.wantedBy; });
  render =
    mode:
    let
      config = (eval mode).config;
      failed = lib.filter (a: !a.assertion) config.assertions;
      check = if failed == [ ] then x: x else throw (lib.concatMapStringsSep "\n" (a: a.message) failed);
      dir = if mode == "textfile" then "textfile" else mode;
    in
    check (
      lib.mapAttrs' (
        n: u:
        lib.nameValuePair "${dir}/${n}.service" (unitSection u + "\n" + renderSection "Service" u.serviceConfig + install u)
      ) config.systemd.services
      // lib.mapAttrs' (
        n: u: lib.nameValuePair "${dir}/${n}.timer" (unitSection u + "\n" + renderSection "Timer" u.timerConfig + install u)
      ) config.systemd.timers
      // lib.mapAttrs' (
        n: u:
        lib.nameValuePair "${dir}/${n}.socket" (
          unitSection u
          + "\n"
          + renderSection "Socket" ({ ListenStream = u.listenStreams; } // u.socketConfig)
          + install u
        )
      ) config.systemd.sockets
    );

  # services.sysgauge.<x>.nagios of every exporter in textfile and serve mode, as
  # { "nagios/<mode>/sysgauge-<x>.<command|recorded>" = command line; }.
  nagios = lib.foldl' (
    acc: mode:
    acc
    // lib.concatMapAttrs (
      name: _:
      let
        lines = (eval mode).config.services.sysgauge.${name}.nagios;
      in
      {
        "nagios/${mode}/sysgauge-${name}.command" = lines.command;
        "nagios/${mode}/sysgauge-${name}.recorded" = lines.recorded;
      }
    ) data.exporters
  ) { } [ "textfile" "serve" ];
in
render "textfile" // render "serve" // render "socket" // nagios
