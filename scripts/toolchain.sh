# Sourced by the other scripts: installs what is missing and chooses how to build
# the WebAssembly front end. Idempotent; prints what it does.
#
# Two ways to get a wasm32 standard library, chosen automatically:
#  - rustup: `rustup target add wasm32-unknown-unknown` (an ordinary online machine);
#  - Debian: its rustc-web 1.96 with the library's source, built with -Zbuild-std
#    (machines whose rustup cannot download targets). See docs/build.md.
# Whichever is chosen builds both the server and the front end, so one compiler
# fills one target directory.
set -euo pipefail

MUSTER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing Debian packages: ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

choose_wasm_toolchain() {
  # wasm-ld links the module in both modes (.cargo/config.toml).
  apt_install lld
  if [ -n "${MUSTER_WASM_TOOLCHAIN:-}" ]; then
    :
  elif command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    MUSTER_WASM_TOOLCHAIN=rustup
  elif command -v rustup >/dev/null && [ "${MUSTER_SKIP_RUSTUP_TARGET:-0}" != 1 ] \
      && timeout "${MUSTER_RUSTUP_TIMEOUT:-45}" rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
    MUSTER_WASM_TOOLCHAIN=rustup
  else
    MUSTER_WASM_TOOLCHAIN=debian
  fi
  export MUSTER_WASM_TOOLCHAIN
  WASM_BUILD_STD=()
  if [ "$MUSTER_WASM_TOOLCHAIN" = rustup ]; then
    # rustup's own linker matches its compiler; Debian's wasm-ld may be older.
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=rust-lld
  fi
  if [ "$MUSTER_WASM_TOOLCHAIN" = debian ]; then
    apt_install rustc-web cargo-web rust-web-src
    export PATH="/usr/bin:$PATH"
    # -Zbuild-std needs nightly features of the stable 1.96 compiler.
    export RUSTC_BOOTSTRAP=1
    WASM_BUILD_STD=(-Zbuild-std=std,panic_abort)
  fi
  echo "==> wasm32 toolchain: $MUSTER_WASM_TOOLCHAIN ($(cargo --version))"
}

lockfile_version() {
  # The version of a package as Cargo.lock pins it.
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$MUSTER_ROOT/Cargo.lock"
}

ensure_wasm_bindgen() {
  local want
  want="$(lockfile_version wasm-bindgen)"
  if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$want" ]; then
    echo "==> installing wasm-bindgen-cli $want (a few minutes, once per machine)"
    # Not --locked: one of its pinned dependencies is missing from the registry.
    cargo install -q wasm-bindgen-cli --version "$want"
  fi
}

ensure_node_modules() {
  if ! command -v npm >/dev/null; then apt_install nodejs npm; fi
  local modules="$MUSTER_ROOT/end2end/node_modules"
  if [ ! -d "$modules/playwright-core" ] || [ ! -x "$modules/.bin/wasm-opt" ] || [ ! -d "$modules/@axe-core/playwright" ]; then
    echo "==> installing end2end npm packages (playwright-core, binaryen's wasm-opt, axe-core)"
    (cd "$MUSTER_ROOT/end2end" && npm ci --no-audit --no-fund --silent)
  fi
}

ensure_chromium() {
  apt_install chromium
}

ensure_postgres_running() {
  if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "==> starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
}

# The front end: two wasm32 modules (the pages' `muster`, the upload page's
# validator `muster_worker`), their wasm-bindgen glue, (release) wasm-opt, the
# stylesheet. $1: "release" or "debug".
build_site() {
  local profile="$1" cargo_profile out worker_profile worker_out module
  if [ "$profile" = release ]; then
    cargo_profile=wasm-release; out=wasm-release; worker_profile=wasm-worker; worker_out=wasm-worker
  else
    cargo_profile=dev; out=debug; worker_profile=dev; worker_out=debug
  fi
  echo "==> building the front end ($profile)"
  # MUSTER_FRONTEND_FEATURES: `bench` adds the browser benchmark's baseline to the validator.
  local features=()
  [ -n "${MUSTER_FRONTEND_FEATURES:-}" ] && features=(--features "$MUSTER_FRONTEND_FEATURES")
  # Two calls: each module has its own profile (Cargo.toml says why).
  (cd "$MUSTER_ROOT" && cargo build -p muster-frontend --lib --target wasm32-unknown-unknown \
      --profile "$cargo_profile" "${WASM_BUILD_STD[@]}" \
    && cargo build -p muster-worker --lib --target wasm32-unknown-unknown \
      --profile "$worker_profile" "${features[@]}" "${WASM_BUILD_STD[@]}")
  mkdir -p "$MUSTER_ROOT/target/site/pkg"
  # wasm-opt's level for each: the pages' module for size; the validator for
  # speed, as Cargo built it (-Oz undid that: in-browser validation 15–30% slower).
  for module in "$out/muster_frontend:muster:-Oz" "$worker_out/muster_worker:muster_worker:-O3"; do
    local file="${module%%:*}" rest="${module#*:}"
    local name="${rest%%:*}" level="${rest#*:}"
    wasm-bindgen --target web --no-typescript --out-dir "$MUSTER_ROOT/target/site/pkg" --out-name "$name" \
      "$MUSTER_ROOT/target/wasm32-unknown-unknown/$file.wasm"
    if [ "$profile" = release ]; then
      # npm's binaryen: Debian's older wasm-opt breaks the module (docs/build.md).
      "$MUSTER_ROOT/end2end/node_modules/.bin/wasm-opt" "$level" --enable-simd \
        "$MUSTER_ROOT/target/site/pkg/${name}_bg.wasm" -o "$MUSTER_ROOT/target/site/pkg/${name}_bg.wasm"
    fi
  done
  cp "$MUSTER_ROOT/style/muster.css" "$MUSTER_ROOT/target/site/pkg/muster.css"
  cp "$MUSTER_ROOT/frontend/worker/validate.js" "$MUSTER_ROOT/target/site/pkg/validate-worker.js"
  version_site "$profile"
  echo "==> front end: $(du -h "$MUSTER_ROOT/target/site/pkg/muster_bg.wasm" | cut -f1) of WebAssembly for the pages, $(du -h "$MUSTER_ROOT/target/site/pkg/muster_worker_bg.wasm" | cut -f1) for the upload page's validator, in target/site/pkg"
}

# The static files under a folder named after their content (pkg/v-<hash>/),
# each beside its brotli and gzip forms: the server sends them precompressed
# and lets browsers keep them for a year, since a new build has a new name.
# pkg/current names the folder; the server reads it at start.
version_site() {
  local pkg="$MUSTER_ROOT/target/site/pkg" files=(muster.js muster_bg.wasm muster.css validate-worker.js muster_worker.js muster_worker_bg.wasm) hash dir
  # Brotli's best for a release; a quick one for a debug build's 15 MB module.
  local quality=11
  [ "${1:-release}" = release ] || quality=4
  hash=$(cd "$pkg" && cat "${files[@]}" | sha256sum | cut -c1-16)
  dir="$pkg/v-$hash"
  if [ ! -f "$dir/muster_bg.wasm.br" ]; then
    rm -rf "$pkg"/v-*
    mkdir -p "$dir"
    (cd "$pkg" && cp "${files[@]}" "$dir/")
    node -e '
      const { readFileSync, writeFileSync } = require("node:fs");
      const zlib = require("node:zlib");
      const quality = Number(process.argv[1]);
      for (const path of process.argv.slice(2)) {
        const bytes = readFileSync(path);
        writeFileSync(path + ".br", zlib.brotliCompressSync(bytes, { params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: quality, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }));
        writeFileSync(path + ".gz", zlib.gzipSync(bytes, { level: quality === 11 ? 9 : 4 }));
      }' "$quality" $(for f in "${files[@]}"; do echo "$dir/$f"; done)
  fi
  echo "v-$hash" > "$pkg/current"
  echo "==> static files in pkg/v-$hash: $(du -cb "$dir"/*.br | tail -1 | cut -f1) bytes with brotli, $(du -cb "$dir"/*.gz | tail -1 | cut -f1) with gzip, $(du -cb "${files[@]/#/$dir/}" | tail -1 | cut -f1) as they are"
}

build_server() {
  local profile="$1" flag=()
  [ "$profile" = release ] && flag=(--release)
  echo "==> building the server ($profile)"
  (cd "$MUSTER_ROOT" && cargo build -p muster-server --bin muster "${flag[@]}")
}

# A component of the Rust toolchain (rustfmt, clippy) for a gate of the tests:
# rustup's default profile has both; where one is missing and rustup cannot add
# it (no network to rustup), the gate is skipped with a warning.
ensure_rust_component() {
  local component="$1" subcommand="$2"
  cargo "$subcommand" --version >/dev/null 2>&1 && return 0
  rustup component add "$component" >/dev/null 2>&1 || true
  cargo "$subcommand" --version >/dev/null 2>&1 && return 0
  echo "WARNING: cargo $subcommand is not installed and rustup could not add $component; that gate is skipped" >&2
  return 1
}

# cargo-machete: a package's dependencies that its code never names. Pinned,
# so that every machine runs the same check.
ensure_cargo_machete() {
  local want=0.9.2
  if [ "$(cargo machete --version 2>/dev/null)" != "$want" ]; then
    echo "==> installing cargo-machete $want (about a minute, once per machine)"
    cargo install -q cargo-machete --version "$want" --locked
  fi
}

# Entries of the root [workspace.dependencies] that no package takes: cargo
# machete looks at packages only. Prints them; fails if there are any.
unused_workspace_dependencies() (
  cd "$MUSTER_ROOT"
  local name members unused=()
  members=$(git ls-files '*Cargo.toml' | grep -vx Cargo.toml)
  for name in $(awk '/^\[/ { on = ($0 == "[workspace.dependencies]"); next }
                     on && /^[A-Za-z0-9_-]+ *=/ { sub(/ *=.*/, ""); print }' Cargo.toml); do
    echo "$members" | xargs grep -Eq "^${name}(\.workspace *= *true| *= *\{[^}]*workspace *= *true)" || unused+=("$name")
  done
  if [ ${#unused[@]} -gt 0 ]; then
    echo "[workspace.dependencies] lists what no package takes: ${unused[*]}" >&2
    return 1
  fi
)

prepare_build() {
  choose_wasm_toolchain
  ensure_wasm_bindgen
  ensure_node_modules
}
