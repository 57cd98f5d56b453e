# Evaluates ../package.nix without nixpkgs: the few lib functions it calls, written with
# builtins, and a buildRustPackage that returns its arguments. Gives what
# tests/tests/nix_package.rs checks, as JSON: the source (copied into the store given with
# --store, so the test lists exactly what the build gets), the environment, the install script.
#
#   nix-instantiate --eval --strict --json --read-write-mode --store "local?root=$tmp" \
#     --arg revision '"0123abc"' --arg sourceDateEpoch 1700000000 nix/tests/package-eval.nix
{
  revision ? null,
  sourceDateEpoch ? null,
}:
let
  lib = {
    importTOML = file: builtins.fromTOML (builtins.readFile file);
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    optionalAttrs = cond: attrs: if cond then attrs else { };
    concatMapStrings = f: list: builtins.concatStringsSep "" (map f list);
    licenses.asl20 = "asl20";
    platforms.linux = [ "x86_64-linux" ];
  };
  package = import ../package.nix {
    inherit lib revision sourceDateEpoch;
    rustPlatform.buildRustPackage = args: args;
    installShellFiles = "installShellFiles";
  };
in
{
  src = "${package.src}";
  inherit (package)
    pname
    version
    env
    postInstall
    cargoBuildFlags
    nativeBuildInputs
    ;
  inherit (package.passthru) binaries;
}
