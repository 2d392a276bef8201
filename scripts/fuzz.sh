#!/usr/bin/env bash
# Fuzzes query parsing and cache keys for a bounded time (seconds, default 60); fails on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-60}"
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/storefront-fuzz-target}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/listing_query
cp fuzz/seeds/* fuzz/corpus/listing_query/
cargo +nightly fuzz run --target-dir "$target_dir" listing_query -- \
  -max_total_time="$duration" -max_len=4096 -len_control=0 -timeout=10 -print_final_stats=1
