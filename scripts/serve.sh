#!/usr/bin/env bash
# Builds Muster (release) and serves it on the embedded defaults: SQLite in ./data,
# mail to ./data/outbox, on http://127.0.0.1:3000. Extra arguments go to the server,
# e.g. `scripts/serve.sh --addr 0.0.0.0:8080`. See README.md for the variables.
# `--dev` (first) builds the debug profile instead: unoptimised, incremental,
# seconds to start again when little changed; for working on Muster, not for use.
source "$(dirname "$0")/toolchain.sh"
cd "$MUSTER_ROOT"
profile=release
if [ "${1:-}" = --dev ]; then
  profile=debug
  shift
fi
prepare_build
build_site "$profile"
build_server "$profile"
exec "$MUSTER_ROOT/target/$profile/muster" serve "$@"
