#!/usr/bin/env bash
# Many admins streaming while a load runs (docs/performance.md): 500 event
# streams on loopback during a 100k-row load, against the same load alone.
# Builds the release server, then end2end/bench/streams.mjs.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$MUSTER_ROOT"
prepare_build
build_site release
build_server release
cd end2end
MUSTER_BIN="$MUSTER_ROOT/target/release/muster" MUSTER_SITE_ROOT="$MUSTER_ROOT/target/site" node bench/streams.mjs
