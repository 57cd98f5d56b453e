# NixOS VM tests, one per exporter, in the style of nixpkgs' nixos/tests/prometheus-exporters.nix:
# exporterConfig goes into services.sysgauge.<name>, metricProvider is more node configuration,
# exporterTest is Python run against the node. They need KVM: `nix flake check`.
{ pkgs, module }:
let
  inherit (pkgs) lib;

  # A textfile run, then node_exporter reading the file without a scrape error.
  textfileChecks = name: ''
    wait_for_unit("sysgauge-${name}.timer")
    succeed("systemctl start sysgauge-${name}.service")
    succeed("test \"$(stat -c %a /var/lib/sysgauge/textfile/sysgauge-${name}.prom)\" = 644")
    wait_for_unit("prometheus-node-exporter.service")
    wait_for_open_port(9100)
    succeed("curl -sSf http://localhost:9100/metrics | grep -q '^node_textfile_scrape_error 0'")
    succeed("curl -sSf http://localhost:9100/metrics | grep -q 'sysgauge-${name}.prom'")
  '';
  nodeExporter = {
    services.prometheus.exporters.node = {
      enable = true;
      enabledCollectors = [ "textfile" ];
      extraFlags = [ "--collector.textfile.directory=/var/lib/sysgauge/textfile" ];
    };
  };

  exporterTests = {
    certs = {
      exporterConfig = {
        enable = true;
        mode = "serve";
        settings.files = [ { paths = [ "/etc/ssl/certs/ca-certificates.crt" ]; } ];
      };
      exporterTest = ''
        wait_for_unit("sysgauge-certs.service")
        wait_for_open_port(9862)
        succeed("curl -sSf http://localhost:9862/metrics | grep -q '^sysgauge_cert_collector_success 1'")
        succeed("curl -sSf http://localhost:9862/metrics | grep -q '^sysgauge_cert_not_after_timestamp_seconds'")
        succeed("systemd-analyze security sysgauge-certs.service --threshold=15")
      '';
    };

    certs-textfile = {
      name = "certs";
      exporterConfig = {
        enable = true;
        settings.files = [ { paths = [ "/etc/ssl/certs/ca-certificates.crt" ]; } ];
      };
      metricProvider = nodeExporter;
      exporterTest = textfileChecks "certs";
    };

    certs-socket = {
      name = "certs";
      exporterConfig = {
        enable = true;
        mode = "serve";
        socketActivation = true;
        settings.files = [ { paths = [ "/etc/ssl/certs/ca-certificates.crt" ]; } ];
      };
      exporterTest = ''
        wait_for_unit("sysgauge-certs.socket")
        succeed("curl -sSf http://localhost:9862/metrics | grep -q '^sysgauge_cert_collector_success 1'")
        wait_for_unit("sysgauge-certs.service")
      '';
    };

    systemd = {
      exporterConfig = {
        enable = true;
        mode = "serve";
      };
      exporterTest = ''
        wait_for_unit("sysgauge-systemd.service")
        wait_for_open_port(9863)
        succeed("curl -sSf http://localhost:9863/metrics | grep -q '^sysgauge_systemd_collector_success 1'")
      '';
    };

    gpu = {
      # No GPU in the VM: the exporter must run sandboxed, answer, and report the failure.
      exporterConfig = {
        enable = true;
        mode = "serve";
      };
      exporterTest = ''
        wait_for_unit("sysgauge-gpu.service")
        wait_for_open_port(9864)
        succeed("curl -sSf http://localhost:9864/metrics | grep -q '^sysgauge_gpu_collector_success 0'")
      '';
    };

    restic = {
      exporterConfig = {
        enable = true;
        mode = "serve";
        credentials.restic-password = "/etc/restic-password";
        settings.repositories = [
          {
            repository = "rest:http://localhost:8000/";
            password_credential = "restic-password";
          }
        ];
      };
      metricProvider = {
        services.restic.server = {
          enable = true;
          extraFlags = [ "--no-auth" ];
        };
        environment.etc."restic-password".text = "password";
        environment.systemPackages = [ pkgs.restic ];
      };
      exporterTest = ''
        wait_for_unit("restic-rest-server.service")
        wait_for_open_port(8000)
        succeed("restic -r rest:http://localhost:8000/ --password-file /etc/restic-password init")
        succeed("systemctl restart sysgauge-restic.service")
        wait_for_open_port(9865)
        wait_until_succeeds("curl -sSf http://localhost:9865/metrics | grep -q '^sysgauge_restic_collector_success 1'")
      '';
    };

    backup = {
      exporterConfig = {
        enable = true;
        mode = "serve";
      };
      exporterTest = ''
        wait_for_unit("sysgauge-backup.service")
        wait_for_open_port(9866)
        succeed("curl -sSf http://localhost:9866/metrics | grep -q '^sysgauge_backup_collector_success'")
      '';
    };
  };

  mkTest =
    testName: t:
    let
      name = t.name or testName;
      nodeName = t.nodeName or name;
    in
    pkgs.testers.runNixOSTest {
      name = "sysgauge-${testName}";
      nodes.${nodeName} = lib.mkMerge [
        {
          imports = [ module ];
          services.sysgauge.${name} = t.exporterConfig;
        }
        (t.metricProvider or { })
      ];
      testScript = ''
        ${nodeName}.start()
        ${lib.concatStringsSep "\n" (
          map (line: "${nodeName}.${line}") (lib.filter (l: l != "") (lib.splitString "\n" t.exporterTest))
        )}
        ${nodeName}.shutdown()
      '';
    };
in
lib.mapAttrs' (n: t: lib.nameValuePair "vm-${n}" (mkTest n t)) exporterTests
