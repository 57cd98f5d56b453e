# Every sysgauge-<name> binary of the workspace, built from its Cargo.lock, with the man pages
# and shell completions committed under share/ (generated from the clap definitions; the test
# tests/tests/generated.rs keeps them current).
{
  lib,
  rustPlatform,
  installShellFiles,
  # The revision that build_info and --version report: the flake passes self.rev, or
  # self.dirtyRev for a dirty tree. null (a plain callPackage) reports "unknown": the build has
  # no .git to read it from.
  revision ? null,
  # The source's time, in seconds since the epoch (the flake passes self.lastModified): the
  # SOURCE_DATE_EPOCH that --version prints as the build date. null leaves stdenv's (1980).
  sourceDateEpoch ? null,
}:
let
  workspace = lib.importTOML ../Cargo.toml;
  # sysgauge-<name> for every exporters/<name> member.
  binaries = map (member: "sysgauge-${baseNameOf member}") (
    builtins.filter (lib.hasPrefix "exporters/") workspace.workspace.members
  );
in
rustPlatform.buildRustPackage {
  pname = "sysgauge";
  inherit (workspace.workspace.package) version;

  # The whole repository but .git, target/ and local caches: complete by construction
  # (tests/tests/nix_package.rs builds the cargo metadata and checks the dep-info against it).
  src = import ./source.nix;
  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ installShellFiles ];

  # Read by common/build.rs instead of git (the source has no .git). A flake's source knows no
  # branch: build_info says branch="unknown".
  env = {
    SYSGAUGE_REVISION = if revision == null then "unknown" else revision;
  }
  // lib.optionalAttrs (sourceDateEpoch != null) { SOURCE_DATE_EPOCH = toString sourceDateEpoch; };

  cargoBuildFlags = [
    "--workspace"
    "--bins"
  ];
  # The test suite runs real components (node_exporter, Prometheus, systemd as PID 1, restic),
  # which the build sandbox does not have; scripts/test runs it, and the VM tests in checks.
  doCheck = false;

  postInstall = ''
    installManPage share/man/man1/*.1
  ''
  + lib.concatMapStrings (bin: ''
    installShellCompletion --cmd ${bin} \
      --bash share/completions/${bin}.bash \
      --zsh share/completions/_${bin} \
      --fish share/completions/${bin}.fish
  '') binaries;

  passthru = { inherit binaries; };

  meta = {
    description = "Small, hardened Prometheus exporters: certificates, systemd, NVIDIA GPUs, restic, backups";
    homepage = "https://github.com/sysgauge/sysgauge";
    license = lib.licenses.asl20;
    platforms = lib.platforms.linux;
    mainProgram = "sysgauge-certs";
  };
}
