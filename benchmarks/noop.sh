#!/usr/bin/env bash
# The server's and worker's own cost per task, without process start-up: N tasks (default
# 1,000,000) through one worker started with the benchmark-only `--noop-tasks` flag (cargo
# feature `bench-noop`), which reports each task finished as soon as it is assigned.
#
# Usage: benchmarks/noop.sh [N] [C] [REPEATS]     (defaults: 1000000 256 1)
# C is the worker's --cpus: with no-op tasks it only sets how many tasks may be in flight at
# once, i.e. how large the assignment and result batches can grow (see README.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
C=${2:-256}
REPEATS=${3:-1}

build_hq bench-noop
start_server
start_worker --cpus "$C" --noop-tasks
log "server pid $SERVER_PID, worker pid $WORKER_PID, N=$N, --cpus $C"
for r in $(seq "$REPEATS"); do
    start=$(now)
    hq_ submit --array "1-$N" --stdout none --stderr none --wait -- true >/dev/null
    end=$(now)
    t=$(elapsed "$start" "$end")
    awk -v n="$N" -v c="$C" -v t="$t" -v r="$r" 'BEGIN {
        printf "run %d: %d no-op tasks, --cpus %d: %.3f s, %.0f tasks/s\n", r, n, c, t, n / t
    }'
done
printf 'server VmRSS after: %s MiB, worker VmRSS: %s MiB\n' "$(rss_mib "$SERVER_PID")" "$(rss_mib "$WORKER_PID")"
