#!/usr/bin/env bash
# Fuzzes the import engine's reader with libFuzzer for a bounded time:
#   scripts/fuzz.sh [SECONDS]   (default 60)
# Needs rustup's nightly toolchain; installs cargo-fuzz when missing. Findings
# are written to fuzz/artifacts/reader/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
mkdir -p fuzz/corpus/reader
cp import/tests/csv-spectrum/csvs/*.csv fuzz/corpus/reader/ 2>/dev/null || true
cd fuzz
exec cargo +nightly fuzz run reader corpus/reader -- -max_total_time="$seconds" -max_len=4096
