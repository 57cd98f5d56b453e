# The source the package builds from: the whole repository except what is never an input of
# the build (version control, build outputs, local tool caches, `nix build` result links).
#
# Complete by construction: a new workspace member, a fixture that `include_str!` reads, the
# committed man pages and completions are in it without anyone listing them. It uses Nix
# builtins only, so that tests/tests/nix_source.rs can evaluate it with Debian's nix-bin and no
# nixpkgs: it copies this set into a scratch store, runs `cargo metadata --locked --offline` on
# exactly that copy, and checks that every workspace file in cargo's dep-info lies inside it.
#
#   nix-instantiate --eval --read-write-mode --store "local?root=$tmp" nix/source.nix
let
  root = ../.;
  rootString = toString root;
  # Only at the top level: a crate never has a target/ of its own in a workspace.
  excludedTop = [
    "target" # cargo's build output
    ".gl" # local tool caches (.gitignore)
    ".whl"
    ".direnv"
  ];
  excludedAnywhere = [
    ".git" # a directory, or a file in a git worktree
  ];
  isResultLink = name: type: type == "symlink" && builtins.match "result(-.*)?" name != null;
in
builtins.path {
  path = root;
  name = "sysgauge-source";
  filter =
    path: type:
    let
      name = baseNameOf path;
      relative = builtins.substring (builtins.stringLength rootString + 1) (-1) (toString path);
      topLevel = dirOf relative == ".";
    in
    !(builtins.elem name excludedAnywhere)
    && !(topLevel && builtins.elem name excludedTop)
    && !(topLevel && isResultLink name type)
    && relative != "bench/out"; # benchmark results (.gitignore)
}
