#!/usr/bin/env bash
# Server memory and submit time for a large array: submits `--array 1-N` (default 1,000,000)
# to a server with no worker, then reads the server's VmRSS from /proc/<pid>/status.
#
# Usage: benchmarks/memory.sh [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}

build_hq
start_server
before=$(rss_mib "$SERVER_PID")
start=$(now)
hq_ submit --array "1-$N" --stdout none --stderr none -- true >/dev/null
end=$(now)
# The reply is sent once the job is stored; give the allocator a moment before reading RSS.
sleep 0.5
after=$(rss_mib "$SERVER_PID")
awk -v n="$N" -v t="$(elapsed "$start" "$end")" -v b="$before" -v a="$after" 'BEGIN {
    printf "tasks: %d, no worker\n", n
    printf "submit (client start to reply): %.3f s\n", t
    printf "server VmRSS: %.1f MiB before, %.1f MiB after (%.1f bytes per task)\n", b, a, (a - b) * 1048576 / n
}'
