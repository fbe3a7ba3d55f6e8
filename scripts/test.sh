#!/usr/bin/env bash
# Runs every test of Muster: installs what is missing, checks the pure import
# engine for wasm32, runs the Rust tests (SQLite and a real PostgreSQL), builds
# the release app and drives it in headless Chromium. `.ci/run` runs exactly this.
# `--slow` adds the slow tier (tests marked #[ignore], such as a 100k-row upload).
slow=()
for arg in "$@"; do
  case "$arg" in
    --slow) slow=(-- --include-ignored) ;;
    *) echo "unknown argument: $arg (only --slow)" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/toolchain.sh"
cd "$MUSTER_ROOT"
started=$(date +%s)
# A clean clone builds once: incremental caches would only take disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
echo "==> disk free for the build: $(df -h --output=avail "$MUSTER_ROOT" | tail -1 | tr -d ' ')"

prepare_build
ensure_chromium
ensure_postgres_running

PG="${MUSTER_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
echo "==> PostgreSQL for the tests: $PG ($(psql "$PG/postgres" -Atc 'show server_version' 2>/dev/null || echo 'NOT REACHABLE'))"
# Databases left by an interrupted earlier run.
for stale in $(psql "$PG/postgres" -Atc "select datname from pg_database where datname like 'muster\_test\_%'" 2>/dev/null); do
  psql "$PG/postgres" -qc "drop database if exists \"$stale\" with (force)" >/dev/null 2>&1 || true
done

echo "==> formatting (cargo fmt --check)"
if ensure_rust_component rustfmt fmt; then cargo fmt --all --check; fi

echo "==> clippy, warnings denied (the workspace's lints included)"
if ensure_rust_component clippy clippy; then cargo clippy --workspace --all-targets -- -D warnings; fi

echo "==> no unused dependencies (cargo machete, and the workspace's own list)"
ensure_cargo_machete
cargo machete
unused_workspace_dependencies

echo "==> the import engine builds for wasm32-unknown-unknown"
cargo check -p muster-import --target wasm32-unknown-unknown "${WASM_BUILD_STD[@]}"

echo "==> Rust tests (SQLite and PostgreSQL)"
cargo test -p muster-import -p muster-migrations -p muster-store -p muster-app -p muster-server "${slow[@]}"

profile="${MUSTER_E2E_PROFILE:-release}"
build_site "$profile"
build_server "$profile"
if [ "$profile" = release ]; then bin=target/release/muster; else bin=target/debug/muster; fi

echo "==> end-to-end tests in headless Chromium ($profile build)"
(cd end2end && MUSTER_BIN="$MUSTER_ROOT/$bin" MUSTER_SITE_ROOT="$MUSTER_ROOT/target/site" npm test --silent)

echo "==> target folder: $(du -sh target 2>/dev/null | cut -f1); disk free: $(df -h --output=avail "$MUSTER_ROOT" | tail -1 | tr -d ' ')"
echo "==> all tests passed in $(( $(date +%s) - started )) s"
