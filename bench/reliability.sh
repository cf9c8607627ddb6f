#!/usr/bin/env bash
# The figures of docs/reliability.md: runs the fault and crash
# suite (tests/it/faults.rs) against the local test registries, then every
# fuzz target for FUZZ_SECONDS each (default 600; 0 skips fuzzing), and
# prints the table.
#   bench/reliability.sh            # FAULT_SEED=n replays one fault schedule
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/run --install-only >/dev/null
log="$(mktemp)"
cargo test --release --test it faults:: -- --nocapture --test-threads=1 2>&1 | tee "$log" | grep -E "^test |RELIABILITY" || true
grep -q "test result: ok" "$log" || { echo "the fault suite failed; see $log" >&2; exit 1; }
fuzz=()
if [ "${FUZZ_SECONDS:-600}" != 0 ]; then
  mapfile -t fuzz < <(fuzz/run.sh "${FUZZ_SECONDS:-600}")
fi
field() { grep -o "$2=[^ ]*" <<<"$1" | head -1 | cut -d= -f2; }
line() { grep "RELIABILITY $1" "$log" | head -1; }
r=$(line random-faults); k=$(line kill-sweep); o=$(line ordering); c=$(line canaries)
echo
echo "| scenario | figures |"
echo "|---|---|"
echo "| random faults, 5% of requests on both registries (seed $(field "$r" seed)) | $(field "$r" faults) faults in $(field "$r" requests) requests; $(field "$r" completed) of $(field "$r" images) images completed; $(field "$r" records_checked) journal records checked against the target |"
echo "| SIGKILL after each of the first writes, then resume | $(field "$k" kill_points) kill points (a clean run makes $(field "$k" writes_in_clean_run) writes); $(field "$k" resumed) resumed runs ended with the clean run's digests; $(field "$k" tags_checked_after_kill) tags checked after kills, none pointing at a partial image |"
echo "| ordering, from the proxy's request log | $(field "$o" manifest_puts_checked) references of pushed manifests checked: each written before the manifest that names it, each index's tag after the index |"
echo "| canary secrets at RAHTI_MIGRATE_LOG=trace | $(field "$c" secrets) secrets searched in $(field "$c" outputs) outputs ($(field "$c" lines) lines): $(field "$c" leaks) found |"
hr=$(line hostile-realms); pj=$(line planted-journals); cb=$(line control-bytes); ul=$(line unsized-layer)
echo "| hostile token realms: an upload host and a redirect target answering 401, an HTTPS registry naming an http realm, a plain-HTTP registry naming a realm on another host | $(field "$hr" servers) hostile servers, $(field "$hr" requests_to_thieves) requests reached them, $(field "$hr" credentials_received) carried credentials |"
echo "| planted part journals (a name with a line break and YAML, another target registry, a record the plan cannot produce) | $(field "$pj" planted) planted, $(field "$pj" commands_refused) commands refused with exit 2 naming the file, YAML changed $(field "$pj" yaml_changed) times |"
echo "| control and bidi characters in config keys, labels and tag names, through every output format | $(field "$cb" outputs) outputs ($(field "$cb" with_hostile_text) showing the hostile text): $(field "$cb" raw_controls) raw control characters |"
echo "| a schema 1 layer (no size) larger than max_blob_size / max_image_size | $(field "$ul" limits) limits, $(field "$ul" stopped) transfers stopped, $(field "$ul" tagged) tags written |"
# The bounds held by tests outside the fault suite, each by name.
bounds="$(mktemp)"
{
  cargo test --release --lib -- lock:: spill:: index_ rewrite::tests 2>&1
  cargo test --release --test it projects::a_cluster_api_listing 2>&1
  cargo test --release --test it migrate::a_second_run 2>&1
} | grep -E "^test .* ok$" >"$bounds" || true
while IFS="|" read -r t what; do
  if grep -q "$t" "$bounds"; then r=passed; else r="FAILED or not run"; fi
  echo "| $what (test \`$t\`) | $r |"
done <<'EOF'
an_index_repeating_one_child|an index naming one child 600 times: the child read and planned once
an_index_with_too_many|an index with 1,001 distinct children: an index-too-large blocker
a_failed_write_keeps|a full disk under the manifest spill: what was spilled stays readable, memory bounded after
deep_nesting|30,000 nested YAML sequences: refused, no stack overflow
writes_go_through_a_link|rewrite through a symlink and past planted temporary names: the linked file edited, nothing else
runs_exclude_each_other|unsharded, sharded and resharded runs of one plan: never two writers of one repository
stale_locks|a lock of a dead process, or untouched for 2 minutes: taken over; a live one elsewhere: refused
a_cluster_api_listing|a cluster API paging streams without end: stopped at 10,000 with a clear error
a_second_run|a second run, a part and a reshard while a run holds the plan: exit 2, no request sent
EOF
rm -f "$bounds"
for f in "${fuzz[@]}"; do
  echo "| fuzz \`$(field "$f" target)\` | $(field "$f" executions) executions in $(field "$f" seconds) s, $(field "$f" crashes) crashes |"
done
rm -f "$log"
