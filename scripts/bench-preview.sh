#!/usr/bin/env bash
# The upload screen's part 2 in headless Chromium (docs/performance.md): pick to
# preview for 100k rows, and the load's rate with and without the event stream.
# Builds the release front end and server, then end2end/bench/preview.mjs.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$MUSTER_ROOT"
prepare_build
ensure_chromium
build_site release
build_server "${MUSTER_BENCH_SERVER_PROFILE:-release}"
if [ "${MUSTER_BENCH_SERVER_PROFILE:-release}" = release ]; then bin=target/release/muster; else bin=target/debug/muster; fi
cd end2end
MUSTER_BIN="$MUSTER_ROOT/$bin" MUSTER_SITE_ROOT="$MUSTER_ROOT/target/site" node bench/preview.mjs
