#!/usr/bin/env bash
# Journal cost: runs N no-op tasks (default 1,000,000) through a `--noop-tasks` worker on a server
# with `--journal`, stops it, and reports the journal's size per task and how long a new server
# takes to restore it (from process start until `hq server info` answers).
#
# Usage: benchmarks/journal.sh [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
build_hq bench-noop
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hq-bench.XXXXXX")
JOURNAL=$BENCH_TMP/journal.bin

start_journal_server() {
    "$HQ" --server-dir "$BENCH_TMP/server" server start --host 127.0.0.1 --journal "$JOURNAL" \
        >>"$BENCH_TMP/server.log" 2>&1 &
    SERVER_PID=$!
    BENCH_PIDS+=("$SERVER_PID")
    until hq_ server info >/dev/null 2>&1; do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$BENCH_TMP/server.log" >&2; exit 1; }
        sleep 0.02
    done
}

start_journal_server
start_worker --cpus 256 --noop-tasks
start=$(now)
hq_ submit --array "1-$N" --stdout none --stderr none --wait -- true >/dev/null
log "ran $N tasks in $(elapsed "$start" "$(now)") s"
hq_ server stop >/dev/null 2>&1
wait "$SERVER_PID" 2>/dev/null || true
size=$(stat -c %s "$JOURNAL")

start=$(now)
start_journal_server
restart=$(elapsed "$start" "$(now)")
finished=$(hq_ --output-mode json job list --all | awk -F': ' '/"finished"/ { gsub(/[ ,]/, "", $2); print $2 }')
awk -v n="$N" -v s="$size" -v t="$restart" -v f="$finished" 'BEGIN {
    printf "journal: %d bytes for %d tasks = %.1f bytes per task\n", s, n, s / n
    printf "restart with the journal: %.3f s (restored %s finished tasks)\n", t, f
}'
printf 'restored server VmRSS: %s MiB\n' "$(rss_mib "$SERVER_PID")"
