#!/usr/bin/env bash
# Benchmark: rahti-migrate beside skopeo on local registries, as ratios.
# BENCH_MB sets the data size of workloads 1 and 2 (default 256),
# BENCH_TAGS the tags of workload 3 (default 2000), BENCH_LATENCY_MS the
# latency its second half adds to every request (default 20; 0 leaves it
# out), BENCH_WORKLOADS which workloads run (default 1,2,3), BENCH_API_ONLY=1
# only workload 3's re-sync through the cluster API stand-in. BENCH_SKOPEO=0
# and BENCH_WRAP (a profiler in front of rahti-migrate, e.g.
# bench/heaptrack.sh) are for working on rahti-migrate alone. The whole default run takes about 25 minutes on 2
# cores, most of it skopeo sync with latency.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/run --install-only >/dev/null
cargo build --release --quiet --bins --example bench
exec ./target/release/examples/bench
