#!/usr/bin/env bash
# Job-file benchmark (issue 3 §7): plan and submit benchmarks/jobfile-100k.toml (two steps of
# 50,000 tasks, element-wise dependencies) to a real server; report plan time, submit time and
# the server's RSS.
#
#   benchmarks/jobfile.sh                 # builds `hq` in release mode first
#   HQ=/path/to/hq benchmarks/jobfile.sh  # uses that binary
#   RUNS=5 benchmarks/jobfile.sh          # more repetitions (default 3), a fresh server each
#
# Plan time  = wall time of `hq job submit-file --dry-run FILE` (process start, load, template,
#              expand, plan, render the summary).
# Submit     = wall time of `hq job submit-file FILE` (plan again + connect + send + the server
#              accepting 100,000 tasks and replying).
# Server RSS = VmRSS (and the peak VmHWM) from /proc/<server pid>/status after the submission,
#              the tasks waiting (no worker).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FILE="${FILE:-$ROOT/benchmarks/jobfile-100k.toml}"
RUNS="${RUNS:-3}"
if [[ -z "${HQ:-}" ]]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/bench-target}"
    (cd "$ROOT" && cargo build --release --quiet --bin hq)
    HQ="$CARGO_TARGET_DIR/release/hq"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

echo "hq: $HQ"
echo "file: $FILE"
echo "run  plan_ms  submit_ms  tasks   rss_before_MiB  rss_after_MiB  peak_MiB"
for run in $(seq 1 "$RUNS"); do
    export HQ_SERVER_DIR="$WORK/sd-$run"
    "$HQ" server start --host 127.0.0.1 >"$WORK/server-$run.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        "$HQ" server info >/dev/null 2>&1 && break
        sleep 0.05
    done
    rss_before=$(status_kib "$SERVER_PID" VmRSS)

    t=$(now_ns)
    "$HQ" job submit-file --dry-run "$FILE" >/dev/null
    plan_ms=$(ms_since "$t")

    t=$(now_ns)
    job=$(cd "$WORK" && "$HQ" --output-mode quiet job submit-file "$FILE")
    submit_ms=$(ms_since "$t")

    tasks=$("$HQ" --output-mode json job list --all |
        awk -F: '/"task_count"/ { gsub(/[ ,]/, "", $2); print $2 }')
    rss_after=$(status_kib "$SERVER_PID" VmRSS)
    peak=$(status_kib "$SERVER_PID" VmHWM)
    printf "%-4s %-8s %-10s %-7s %-15s %-14s %s\n" "$run" "$plan_ms" "$submit_ms" "$tasks" \
        "$((rss_before / 1024))" "$((rss_after / 1024))" "$((peak / 1024))"
    [[ "$job" == 1 && "$tasks" == 100000 ]] || { echo "unexpected job $job / $tasks tasks" >&2; exit 1; }

    "$HQ" server stop >/dev/null 2>&1 || kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
done
