{
  description = "sysgauge: small, hardened Prometheus exporters";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems =
        f:
        nixpkgs.lib.genAttrs systems (
          system:
          f (
            import nixpkgs {
              inherit system;
              overlays = [ self.overlays.default ];
            }
          )
        );
    in
    {
      # The revision and source time that build_info and --version report.
      overlays.default = final: _prev: {
        sysgauge = final.callPackage ./nix/package.nix {
          revision = self.rev or self.dirtyRev or null;
          sourceDateEpoch = self.lastModified or null;
        };
      };

      packages = forAllSystems (pkgs: {
        default = pkgs.sysgauge;
        inherit (pkgs) sysgauge;
      });

      # services.sysgauge.<name>, and services.sysgauge.monitoring (dashboards into Grafana,
      # rules and scrape jobs into Prometheus); brings pkgs.sysgauge with it.
      nixosModules.default = {
        imports = [
          ./nix/module.nix
          ./nix/monitoring.nix
        ];
        nixpkgs.overlays = [ self.overlays.default ];
      };
      # The monitoring side alone, for the Prometheus/Grafana host of a fleet.
      nixosModules.monitoring = import ./nix/monitoring.nix;

      # One NixOS VM test per exporter, in the style of nixpkgs' prometheus-exporters tests.
      checks = forAllSystems (
        pkgs:
        { package = pkgs.sysgauge; }
        // import ./nix/tests/vm.nix {
          inherit pkgs;
          module = self.nixosModules.default;
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
