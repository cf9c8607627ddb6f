#!/usr/bin/env bash
# Benchmark: rahti-migrate beside skopeo on local registries, as ratios.
# BENCH_MB sets the data size (default 256).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/run --install-only >/dev/null
cargo build --release --quiet --bins --example bench
exec ./target/release/examples/bench
