#!/usr/bin/env bash
# Throughput of real (tiny) tasks: N tasks of `true` on one local worker with --cpus C, against a
# bare spawn loop that runs the same N `true` processes with C in flight on the same machine.
#
# Usage: benchmarks/throughput.sh [N] [C] [REPEATS]     (defaults: 50000 2 3)
# Optional: WORKER_ARGS and SUBMIT_ARGS, extra flags for `hq worker start` and `hq submit`.
# Runs alternate (spawn loop, hq, spawn loop, hq, ...) so both see the same machine load; the
# medians are compared. Everything it starts runs in a temporary directory and is ended by PID.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-50000}
C=${2:-2}
REPEATS=${3:-3}

build_hq
SPAWNLOOP=$BENCH_TARGET/bench-tools/spawnloop
if [[ ! -x $SPAWNLOOP || $BENCH_ROOT/benchmarks/spawnloop.rs -nt $SPAWNLOOP ]]; then
    log "building the spawn loop"
    mkdir -p "$(dirname "$SPAWNLOOP")"
    rustc -O --edition 2021 "$BENCH_ROOT/benchmarks/spawnloop.rs" -o "$SPAWNLOOP"
fi

start_server
# WORKER_ARGS / SUBMIT_ARGS add resources, e.g. WORKER_ARGS='--resource gpus=[0,1]'
# SUBMIT_ARGS='--resource gpus=0.25' (the spawn loop runs the same processes either way).
# shellcheck disable=SC2086
start_worker --cpus "$C" ${WORKER_ARGS:-}
log "server pid $SERVER_PID, worker pid $WORKER_PID, N=$N, --cpus $C, $REPEATS repeats"

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

spawn_times=()
hq_times=()
server_us=()
worker_us=()
for r in $(seq "$REPEATS"); do
    t=$("$SPAWNLOOP" "$N" "$C" true)
    spawn_times+=("$t")
    s0=$(cpu_s "$SERVER_PID")
    w0=$(cpu_s "$WORKER_PID")
    start=$(now)
    # shellcheck disable=SC2086
    hq_ submit --array "1-$N" --stdout none --stderr none ${SUBMIT_ARGS:-} --wait -- true >/dev/null
    end=$(now)
    t=$(elapsed "$start" "$end")
    hq_times+=("$t")
    server_us+=("$(awk -v a="$s0" -v b="$(cpu_s "$SERVER_PID")" -v n="$N" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')")
    worker_us+=("$(awk -v a="$w0" -v b="$(cpu_s "$WORKER_PID")" -v n="$N" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')")
    log "run $r: spawn loop ${spawn_times[-1]} s, hq $t s, CPU per task: server ${server_us[-1]} µs, worker ${worker_us[-1]} µs"
done

spawn=$(printf '%s\n' "${spawn_times[@]}" | median)
hqt=$(printf '%s\n' "${hq_times[@]}" | median)
scpu=$(printf '%s\n' "${server_us[@]}" | median)
wcpu=$(printf '%s\n' "${worker_us[@]}" | median)
awk -v n="$N" -v c="$C" -v s="$spawn" -v h="$hqt" -v sr="${spawn_times[*]}" -v hr="${hq_times[*]}" \
    -v sc="$scpu" -v wc="$wcpu" 'BEGIN {
    printf "tasks: %d, --cpus %d (median of runs)\n", n, c
    printf "spawn loop: %.3f s  %8.0f processes/s   runs: %s\n", s, n / s, sr
    printf "hq:         %.3f s  %8.0f tasks/s       runs: %s\n", h, n / h, hr
    printf "ratio hq / spawn loop: %.3f\n", h / s
    printf "CPU per task (median): server %.1f µs, worker %.1f µs (the task processes not included)\n", sc, wc
}'
