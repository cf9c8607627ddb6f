#!/bin/sh
# BENCH_WRAP=bench/heaptrack.sh: runs each rahti-migrate command of the
# benchmark under heaptrack, one profile per command, numbered in order,
# in $HEAPTRACK_DIR (default /tmp/rahti-migrate-heaptrack). Then
#   for f in "$HEAPTRACK_DIR"/*.zst; do heaptrack_print -f "$f" | grep 'peak heap'; done
# gives each command's heap peak.
dir=${HEAPTRACK_DIR:-/tmp/rahti-migrate-heaptrack}
mkdir -p "$dir"
n=$(ls "$dir" | wc -l)
exec heaptrack -o "$dir/$(printf %03d "$n")-$$" "$@" >/dev/null 2>&1
