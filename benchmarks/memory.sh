#!/usr/bin/env bash
# Server memory and submit time for a large array: submits `--array 1-N` (default 1,000,000)
# to a server with no worker, then reads the server's VmRSS and VmHWM (peak) from
# /proc/<pid>/status.
#
# Usage: benchmarks/memory.sh [N] [drain]
# With `drain`, a no-op worker (cargo feature `bench-noop`, --cpus ${C:-128}) then runs the whole
# job while the server's VmRSS is sampled every 0.5 s: the samples show whether the server's
# memory grows while the tasks finish.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
MODE=${2:-}

build_hq ${MODE:+bench-noop}
start_server
before=$(rss_mib "$SERVER_PID")
start=$(now)
job=$(hq_ --output-mode quiet submit --array "1-$N" --stdout none --stderr none -- true)
end=$(now)
# The reply is sent once the job is stored; give the allocator a moment before reading RSS.
sleep 0.5
after=$(rss_mib "$SERVER_PID")
peak=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")
awk -v n="$N" -v t="$(elapsed "$start" "$end")" -v b="$before" -v a="$after" -v p="$peak" 'BEGIN {
    printf "tasks: %d, no worker\n", n
    printf "submit (client start to reply): %.3f s\n", t
    printf "server VmRSS: %.1f MiB before, %.1f MiB after (%.1f bytes per task); peak %.1f MiB\n", b, a, (a - b) * 1048576 / n, p
}'
if [[ $MODE != drain ]]; then
    exit 0
fi
start_worker --cpus "${C:-128}" --noop-tasks
start=$(now)
hq_ job wait "$job" >/dev/null &
wait_pid=$!
samples=()
while kill -0 "$wait_pid" 2>/dev/null; do
    samples+=("$(rss_mib "$SERVER_PID")")
    sleep 0.5
done
wait "$wait_pid"
end=$(now)
awk -v n="$N" -v t="$(elapsed "$start" "$end")" -v s="${samples[*]}" -v e="$(rss_mib "$SERVER_PID")" 'BEGIN {
    k = split(s, v, " "); max = 0; for (i = 1; i <= k; i++) if (v[i] + 0 > max) max = v[i] + 0
    printf "drain: %d no-op tasks in %.1f s (%.0f tasks/s)\n", n, t, n / t
    printf "server VmRSS while draining: first %s MiB, max %.1f MiB, after %.1f MiB (%d samples)\n", v[1], max, e, k
}'
