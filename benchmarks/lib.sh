# Shared helpers for the benchmark scripts (sourced, not run). Builds `hq` in release mode,
# starts a server (and a worker) in a temporary server directory on loopback, and ends every
# process it started, by PID, on exit.
#
# Environment:
#   CARGO_TARGET_DIR  where to build (default: <repo>/target)
#   HQ                use this `hq` binary instead of building one

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_TARGET=${CARGO_TARGET_DIR:-$BENCH_ROOT/target}
BENCH_PIDS=()
BENCH_TMP=""

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# build_hq [cargo features]: builds the release binary and sets $HQ.
build_hq() {
    if [[ -n "${HQ:-}" ]]; then
        return
    fi
    local features=${1:-}
    log "building hq (release${features:+, features: $features})"
    (cd "$BENCH_ROOT" && CARGO_TARGET_DIR=$BENCH_TARGET cargo build --release --quiet \
        ${features:+--features "$features"}) >&2
    HQ=$BENCH_TARGET/release/hq
}

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# elapsed START END: END - START in seconds.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

bench_cleanup() {
    local pid
    if [[ -n "$BENCH_TMP" && ${#BENCH_PIDS[@]} -gt 0 ]]; then
        timeout 5 "$HQ" --server-dir "$BENCH_TMP/server" server stop >/dev/null 2>&1 || true
    fi
    for pid in "${BENCH_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    BENCH_PIDS=()
    if [[ -n "$BENCH_TMP" ]]; then
        rm -rf "$BENCH_TMP"
    fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# hq_ ARGS...: runs hq against the benchmark's server directory.
hq_() { "$HQ" --server-dir "$BENCH_TMP/server" "$@"; }

# start_server: starts a server on loopback in a fresh temporary directory; sets $SERVER_PID.
start_server() {
    BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hq-bench.XXXXXX")
    "$HQ" --server-dir "$BENCH_TMP/server" server start --host 127.0.0.1 \
        >"$BENCH_TMP/server.log" 2>&1 &
    SERVER_PID=$!
    BENCH_PIDS+=("$SERVER_PID")
    local i
    for i in $(seq 100); do
        if hq_ server info >/dev/null 2>&1; then
            return
        fi
        sleep 0.1
    done
    cat "$BENCH_TMP/server.log" >&2
    echo "the server did not start" >&2
    exit 1
}

# start_worker ARGS...: starts one local worker with ARGS and waits until it is registered;
# sets $WORKER_PID.
start_worker() {
    "$HQ" --server-dir "$BENCH_TMP/server" worker start --work-dir "$BENCH_TMP/worker" "$@" \
        >"$BENCH_TMP/worker.log" 2>&1 &
    WORKER_PID=$!
    BENCH_PIDS+=("$WORKER_PID")
    local i
    for i in $(seq 100); do
        if [[ $(hq_ worker list 2>/dev/null | grep -c RUNNING) -ge 1 ]]; then
            return
        fi
        sleep 0.1
    done
    cat "$BENCH_TMP/worker.log" >&2
    echo "the worker did not start" >&2
    exit 1
}

# rss_mib PID: VmRSS of a process in MiB.
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# cpu_s PID...: user + system CPU time of the processes in seconds (from /proc/PID/stat).
cpu_s() {
    local pid total=0 ticks
    ticks=$(getconf CLK_TCK)
    for pid in "$@"; do
        # Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
        total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
    done
    awk -v t="$total" -v k="$ticks" 'BEGIN { printf "%.2f", t / k }'
}
