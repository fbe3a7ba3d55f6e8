#!/usr/bin/env bash
# The first page load (docs/performance.md): bytes of the front end fetched and
# time to a hydrated page on a throttled link, versioned and precompressed
# against plain files, in one run. Builds the release server and front end.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$MUSTER_ROOT"
prepare_build
ensure_chromium
build_site release
build_server release
cd end2end
MUSTER_BIN="$MUSTER_ROOT/target/release/muster" MUSTER_SITE_ROOT="$MUSTER_ROOT/target/site" node bench/first-load.mjs
