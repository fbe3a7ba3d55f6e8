#!/usr/bin/env bash
# Builds Muster (release) and serves it on the embedded defaults: SQLite in ./data,
# mail to ./data/outbox, on http://127.0.0.1:3000. Extra arguments go to the server,
# e.g. `scripts/serve.sh --addr 0.0.0.0:8080`. See README.md for the variables.
source "$(dirname "$0")/toolchain.sh"
cd "$MUSTER_ROOT"
prepare_build
build_site release
build_server release
exec "$MUSTER_ROOT/target/release/muster" serve "$@"
