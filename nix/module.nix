# NixOS module: services.sysgauge.<name> for every exporter of ./units.json.
#
# The hardening, the modes and the exporter table come from ./units.json, the same data the plain
# unit files under units/ are rendered from; tests/tests/units.rs fails when the two drift apart.
# The option names follow nixpkgs' prometheus exporter modules, under services.sysgauge so that
# they never collide with services.prometheus.exporters.{restic,nvidia-gpu,node-cert,...}.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkOption
    mkEnableOption
    mkIf
    mkMerge
    mkDefault
    types
    ;

  data = lib.importJSON ./units.json;
  defaults = data.defaults;
  cfg = config.services.sysgauge;
  toml = pkgs.formats.toml { };

  # Whether an exporter needs outbound network, from its settings (units.json's networkWhen).
  networkFromSettings = {
    certs = settings: (settings.endpoints or [ ]) != [ ];
    restic =
      settings:
      lib.any (r: !(lib.hasPrefix "/" (r.repository or ""))) (settings.repositories or [ ]);
  };

  # The data's directive maps merged layer by layer: a later key replaces, null removes.
  mergeLayers =
    layers:
    lib.filterAttrs (_: v: v != null) (
      lib.foldl' (acc: layer: acc // lib.filterAttrs (k: _: !(lib.hasPrefix "_" k)) layer) { } layers
    );

  schedules = data.schedules;

  exporterOptions =
    name: ex:
    { config, ... }:
    {
      options = {
        enable = mkEnableOption "sysgauge-${name}: ${ex.description}";

        package = mkOption {
          type = types.package;
          default = pkgs.sysgauge;
          defaultText = lib.literalExpression "pkgs.sysgauge";
          description = "The sysgauge package providing bin/sysgauge-${name}.";
        };

        mode = mkOption {
          type = types.enum [
            "textfile"
            "serve"
          ];
          default = "textfile";
          description = ''
            textfile: a oneshot service started by a timer writes
            ''${textfileDirectory}/sysgauge-${name}.prom for node_exporter's textfile collector.
            serve: a long-running HTTP exporter on listenAddress:port.
          '';
        };

        socketActivation = mkOption {
          type = types.bool;
          default = false;
          description = ''
            In serve mode, listen on a sysgauge-${name}.socket unit (--web.systemd-socket) instead;
            the service then runs without network of its own (PrivateNetwork) unless it needs
            outbound network.
          '';
        };

        settings = mkOption {
          type = toml.type;
          default = { };
          description = "The TOML configuration of sysgauge-${name} (docs/config.md), as Nix values.";
        };

        schedule = mkOption {
          type = types.str;
          default = ex.schedule;
          example = "every-5-minutes";
          description = ''
            When the textfile is written: one of ${lib.concatStringsSep ", " (lib.attrNames schedules)},
            or any systemd OnCalendar= expression.
          '';
        };

        randomizedDelay = mkOption {
          type = types.str;
          default = defaults.randomizedDelay;
          description = "RandomizedDelaySec= of the timer.";
        };

        persistent = mkOption {
          type = types.bool;
          default = defaults.persistent;
          description = "Persistent= of the timer: catch up a run missed while the machine was off.";
        };

        timeout = mkOption {
          type = types.str;
          default = ex.timeout;
          description = "TimeoutStartSec= of the textfile service.";
        };

        textfileDirectory = mkOption {
          type = types.path;
          default = defaults.textfileDirectory;
          description = ''
            node_exporter's --collector.textfile.directory. It is created writable by the group
            ${defaults.textfileGroup} and readable by everyone; the file is written with mode 0644.
          '';
        };

        listenAddress = mkOption {
          type = types.str;
          default = "";
          example = "127.0.0.1";
          description = "Address to listen on in serve mode; empty: every interface (IPv6 and IPv4).";
        };

        port = mkOption {
          type = types.port;
          default = ex.port;
          description = "Port to listen on in serve mode.";
        };

        openFirewall = mkOption {
          type = types.bool;
          default = false;
          description = "Open port in the firewall (serve mode).";
        };

        extraFlags = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "More command-line flags, appended to the command.";
        };

        credentials = mkOption {
          # Strings, not paths: a path literal would be copied into the world-readable store.
          type = types.attrsOf (types.strMatching "/.+");
          default = { };
          example = {
            restic-password = "/run/keys/restic-password";
          };
          description = ''
            Credentials, name to file, passed with LoadCredential= and read by the exporter from
            $CREDENTIALS_DIRECTORY/<name> (e.g. restic's password_credential). Never in the store.
          '';
        };

        network = mkOption {
          type = types.nullOr types.bool;
          default = null;
          description = ''
            Whether the service gets outbound network. null: ${
              if ex.network then "yes" else "only when ${ex.networkWhen or "never"}"
            }.
          '';
        };

        user = mkOption {
          type = types.nullOr types.str;
          default = ex.user;
          description = ''
            A static user to run as (created by this module), or null for DynamicUser=yes.
            ${lib.optionalString (ex.user != null) "sysgauge-${name} talks to the system bus, which does not work with DynamicUser and the classic dbus-daemon."}
          '';
        };

        group = mkOption {
          type = types.nullOr types.str;
          default = config.user;
          defaultText = lib.literalExpression "user";
          description = "The static user's group (serve mode; textfile mode uses ${defaults.textfileGroup}).";
        };

        nagios = mkOption {
          type = types.attrsOf types.str;
          readOnly = true;
          default =
            let
              bin = "${config.package}/bin/sysgauge-${name}";
              # The same store path as the service's --config: same name, same content.
              configFile = toml.generate "sysgauge-${name}.toml" config.settings;
              host = if config.listenAddress == "" then "127.0.0.1" else config.listenAddress;
              recorded =
                if config.mode == "textfile" then
                  "${config.textfileDirectory}/sysgauge-${name}.prom"
                else
                  "http://${host}:${toString config.port}/metrics";
            in
            {
              command = "${bin} --config ${configFile} check";
              recorded = "${bin} --config ${configFile} check --from ${recorded}";
            };
          defaultText = lib.literalExpression ''
            {
              command = "<package>/bin/sysgauge-${name} --config <settings as TOML> check";
              recorded = "<the same> --from <textfile or http://HOST:PORT/metrics>";
            }
          '';
          description = ''
            Ready Nagios/Icinga command lines (docs/nagios.md). command collects at every check, as
            the user the monitoring system runs plugins as; recorded reads what this module's
            service last wrote (its textfile) or answers (serve mode), stating its age; that is
            the one for checks that need the service's privileges or credentials, and for slow
            work (restic check and stats). Append -w/-c KIND=RANGE to change thresholds.
          '';
        };
      };
    };

  # The systemd units of one enabled exporter.
  unitsFor =
    name: ex: c:
    let
      unit = "sysgauge-${name}";
      mode =
        if c.mode == "textfile" then
          "textfile"
        else if c.socketActivation then
          "socket"
        else
          "serve";
      network =
        if c.network != null then
          c.network
        else
          ex.network || (networkFromSettings.${name} or (_: false)) c.settings;
      h = data.hardening;
      layers =
        [ h.base ]
        ++ {
          textfile = [ h.textfile ];
          serve = [ h.serve ];
          socket = [
            h.serve
            h.socket
          ];
        }
        .${mode}
        ++ lib.optional network h.network
        ++ [ ex.service ];
      # Scalars are defaults that a host can override plainly; lists merge with a host's own.
      hardening = lib.mapAttrs (_: v: if lib.isList v then v else mkDefault v) (mergeLayers layers);
      configFile = toml.generate "${unit}.toml" c.settings;
      command =
        {
          textfile = [
            "textfile"
            "--directory"
            c.textfileDirectory
          ];
          serve = [
            "serve"
            "--web.listen-address"
            "${c.listenAddress}:${toString c.port}"
          ];
          socket = [
            "serve"
            "--web.systemd-socket"
          ];
        }
        .${mode};
      what =
        {
          textfile = "textfile for node_exporter";
          serve = "Prometheus exporter";
          socket = "Prometheus exporter, socket-activated";
        }
        .${mode};
      description = what: "${unit}: ${ex.description} (${what})";
      static = c.user != null;
    in
    {
      services.${unit} = {
        description = description what;
        documentation = [ defaults.documentation ];
        after =
          lib.optional network "network-online.target"
          ++ lib.optional (!network && mode == "serve") "network.target"
          ++ lib.optional (mode == "socket") "${unit}.socket";
        wants = lib.optional network "network-online.target";
        requires = lib.optional (mode == "socket") "${unit}.socket";
        wantedBy = lib.optional (mode == "serve") "multi-user.target";
        serviceConfig = mkMerge [
          hardening
          {
            ExecStart = lib.concatStringsSep " " (
              [
                "${c.package}/bin/${unit}"
                "--config"
                "${configFile}"
              ]
              ++ command
              ++ map lib.escapeShellArg c.extraFlags
            );
          }
          (mkIf static {
            DynamicUser = false;
            User = c.user;
            Group = c.group;
          })
          (mkIf (mode == "textfile") {
            Group = lib.mkOverride 90 defaults.textfileGroup;
            ReadWritePaths = [ c.textfileDirectory ];
            TimeoutStartSec = c.timeout;
          })
          (mkIf (mode != "textfile") { WatchdogSec = defaults.watchdog; })
          (mkIf (c.credentials != { }) {
            LoadCredential = lib.mapAttrsToList (k: v: "${k}:${v}") c.credentials;
          })
        ];
      };
      timers = lib.optionalAttrs (mode == "textfile") {
        ${unit} = {
          description = description "textfile timer";
          documentation = [ defaults.documentation ];
          wantedBy = [ "timers.target" ];
          timerConfig = {
            OnCalendar = schedules.${c.schedule} or c.schedule;
            RandomizedDelaySec = c.randomizedDelay;
            Persistent = c.persistent;
          };
        };
      };
      sockets = lib.optionalAttrs (mode == "socket") {
        ${unit} = {
          description = description "socket";
          documentation = [ defaults.documentation ];
          wantedBy = [ "sockets.target" ];
          listenStreams = [
            (if c.listenAddress == "" then toString c.port else "${c.listenAddress}:${toString c.port}")
          ];
        };
      };
    };

  enabled = lib.filterAttrs (name: _: cfg.${name}.enable) data.exporters;
  units = lib.mapAttrs (name: ex: unitsFor name ex cfg.${name}) enabled;
  textfileDirs = lib.unique (
    lib.mapAttrsToList (name: _: cfg.${name}.textfileDirectory) (
      lib.filterAttrs (name: _: cfg.${name}.mode == "textfile") enabled
    )
  );
  staticUsers = lib.unique (
    lib.filter (u: u != null) (lib.mapAttrsToList (name: _: cfg.${name}.user) enabled)
  );
in
{
  options.services.sysgauge = lib.mapAttrs (
    name: ex:
    mkOption {
      type = types.submodule (exporterOptions name ex);
      default = { };
      description = "sysgauge-${name}: ${ex.description}.";
    }
  ) data.exporters;

  config = mkIf (enabled != { }) {
    assertions = lib.flatten (
      lib.mapAttrsToList (name: _: [
        {
          assertion = cfg.${name}.openFirewall -> cfg.${name}.mode == "serve";
          message = "services.sysgauge.${name}.openFirewall needs mode = \"serve\".";
        }
        {
          assertion = lib.all (n: builtins.match "[A-Za-z0-9_.-]+" n != null) (
            lib.attrNames cfg.${name}.credentials
          );
          message = "services.sysgauge.${name}.credentials: names are plain file names.";
        }
      ]) enabled
    );

    systemd.services = mkMerge (lib.mapAttrsToList (_: u: u.services) units);
    systemd.timers = mkMerge (lib.mapAttrsToList (_: u: u.timers) units);
    systemd.sockets = mkMerge (lib.mapAttrsToList (_: u: u.sockets) units);

    systemd.tmpfiles.rules = map (dir: "d ${dir} 2775 root ${defaults.textfileGroup} - -") textfileDirs;

    users.groups = mkMerge [
      (lib.optionalAttrs (textfileDirs != [ ]) { ${defaults.textfileGroup} = { }; })
      (lib.genAttrs staticUsers (_: { }))
    ];
    users.users = lib.genAttrs staticUsers (user: {
      isSystemUser = true;
      group = user;
      description = "sysgauge exporter ${user}";
    });

    networking.firewall.allowedTCPPorts = lib.concatLists (
      lib.mapAttrsToList (
        name: _: lib.optional (cfg.${name}.openFirewall && cfg.${name}.mode == "serve") cfg.${name}.port
      ) enabled
    );
  };
}
