# Every sysgauge-<name> binary of the workspace, built from its Cargo.lock.
{ lib, rustPlatform }:
let
  workspace = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = "sysgauge";
  inherit (workspace.workspace.package) version;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../common
      ../exporters
      ../tests
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;

  cargoBuildFlags = [
    "--workspace"
    "--bins"
  ];
  # The test suite runs real components (node_exporter, Prometheus, systemd as PID 1, restic),
  # which the build sandbox does not have; scripts/test runs it, and the VM tests in checks.
  doCheck = false;

  meta = {
    description = "Small, hardened Prometheus exporters: certificates, systemd, NVIDIA GPUs, restic, backups";
    homepage = "https://github.com/sysgauge/sysgauge";
    license = lib.licenses.asl20;
    platforms = lib.platforms.linux;
    mainProgram = "sysgauge-certs";
  };
}
