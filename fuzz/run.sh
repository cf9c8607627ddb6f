#!/usr/bin/env bash
# Runs every fuzz target for the given seconds each (default 600) with
# cargo-fuzz on the nightly toolchain, starting from seeds/<target>, and
# prints one line per target:
#   FUZZ target=<t> seconds=<s> executions=<n> crashes=<c>
# Crashes land in fuzz/artifacts/<target>/; each one found so far is a
# regression test in tests/fuzz_regressions.rs.
#   fuzz/run.sh [seconds] [target...]
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(plan manifest gojson challenge journal rewrite)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="$(mktemp)"
  before=$(ls "artifacts/$t" | wc -l)
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  after=$(ls "artifacts/$t" | wc -l)
  echo "FUZZ target=$t seconds=$secs executions=${execs:-0} crashes=$((after - before))"
  rm -f "$log"
done
