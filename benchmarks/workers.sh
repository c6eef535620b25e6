#!/usr/bin/env bash
# Many workers on one server: N no-op tasks (default 2,000,000) through W workers started with
# the benchmark-only `--noop-tasks` flag (cargo feature `bench-noop`) and --cpus C (default 128)
# each, for every W given (default: 1 8 64), each W on a fresh server. Reports the wall time from
# `hq submit` to all tasks finished, tasks/s, and the CPU time (user + system, from /proc) the
# server and the workers spent per task.
#
# Usage: benchmarks/workers.sh [N] [W...]          (defaults: 2000000 1 8 64)
# Optional: C=128 (slots per worker). PIN=1 runs the server on CPU 0 and every worker on the
# other CPUs (taskset), as on a cluster where the server has a login node's core to itself and
# the workers' processes do not share its core and caches.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-2000000}
shift || true
COUNTS=("${@:-1 8 64}")
# shellcheck disable=SC2206
COUNTS=(${COUNTS[*]})
C=${C:-128}
PIN=${PIN:-0}
SERVER_CPUS=""
WORKER_CPUS=""
if [[ $PIN == 1 ]]; then
    last=$(($(nproc) - 1))
    if ((last < 1)); then
        echo "PIN=1 needs at least 2 CPUs" >&2
        exit 1
    fi
    SERVER_CPUS=0
    WORKER_CPUS=1-$last
fi

build_hq bench-noop

# start_workers W: starts W no-op workers and waits until all are registered.
start_workers() {
    local i pids=()
    for i in $(seq "$1"); do
        ${WORKER_CPUS:+taskset -c "$WORKER_CPUS"} "$HQ" --server-dir "$BENCH_TMP/server" \
            worker start --work-dir "$BENCH_TMP/worker$i" \
            --cpus "$C" --noop-tasks >"$BENCH_TMP/worker$i.log" 2>&1 &
        pids+=("$!")
        BENCH_PIDS+=("$!")
    done
    WORKER_PIDS=("${pids[@]}")
    for i in $(seq 300); do
        if [[ $(hq_ worker list 2>/dev/null | grep -c RUNNING) -ge $1 ]]; then
            return
        fi
        sleep 0.1
    done
    echo "only $(hq_ worker list | grep -c RUNNING) of $1 workers registered" >&2
    exit 1
}

printf '%8s %10s %12s %16s %16s\n' workers seconds tasks/s "server µs/task" "workers µs/task"
for W in "${COUNTS[@]}"; do
    start_server
    if [[ -n $SERVER_CPUS ]]; then
        taskset -apc "$SERVER_CPUS" "$SERVER_PID" >/dev/null
    fi
    start_workers "$W"
    log "server pid $SERVER_PID, $W workers with --cpus $C, N=$N"
    server0=$(cpu_s "$SERVER_PID")
    workers0=$(cpu_s "${WORKER_PIDS[@]}")
    start=$(now)
    hq_ submit --array "1-$N" --stdout none --stderr none --wait -- true >/dev/null
    end=$(now)
    server1=$(cpu_s "$SERVER_PID")
    workers1=$(cpu_s "${WORKER_PIDS[@]}")
    awk -v n="$N" -v w="$W" -v t="$(elapsed "$start" "$end")" -v s0="$server0" -v s1="$server1" \
        -v w0="$workers0" -v w1="$workers1" 'BEGIN {
        printf "%8d %10.3f %12.0f %16.2f %16.2f\n", w, t, n / t, (s1 - s0) * 1e6 / n, (w1 - w0) * 1e6 / n
    }'
    bench_cleanup
done
