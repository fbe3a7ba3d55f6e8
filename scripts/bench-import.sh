#!/usr/bin/env bash
# The import engine's benchmark: native (with the raw csv crate as baseline, and
# planning against a 1M-user snapshot), then the release WebAssembly build in
# headless Chromium on the same files. SIZES="10000 100000 1000000" by default.
# Figures and their history: docs/performance.md.
source "$(dirname "$0")/toolchain.sh"
cd "$MUSTER_ROOT"
SIZES="${SIZES:-10000 100000 1000000}"
prepare_build
ensure_chromium
mkdir -p target/bench target/site/pkg/bench
echo "==> native"
NATIVE_JSON="$MUSTER_ROOT/target/bench/native.json" cargo bench -q -p muster-import --bench engine -- $SIZES
cargo run -q --release -p muster-import --example synth -- target/site/pkg/bench $SIZES >/dev/null
MUSTER_FRONTEND_FEATURES=bench build_site release
build_server release
echo "==> in headless Chromium (release WebAssembly)"
(cd end2end && MUSTER_BIN="$MUSTER_ROOT/target/release/muster" MUSTER_SITE_ROOT="$MUSTER_ROOT/target/site" \
  NATIVE_JSON="$MUSTER_ROOT/target/bench/native.json" SIZES="$SIZES" node bench/validate-in-browser.mjs)
