#!/usr/bin/env bash
# Hostile input: runs each attack of docs/limits.md against a fresh server and reports how long
# the attack took to be answered, the server's peak RSS (VmHWM) afterwards, and how long
# `hq job list` took while the attack ran and after it.
#
# Usage: benchmarks/hostile.sh            (the disk-full case needs root for a tmpfs)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build_hq

peak_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# timed CMD...: runs CMD, prints its wall time in seconds.
timed() {
    local s
    s=$(now)
    "$@" >/dev/null 2>&1 || true
    elapsed "$s" "$(now)"
}

# attack NAME CMD...: CMD runs in the background while `hq job list` is timed, then after it.
attack() {
    local name=$1
    shift
    local s pid during total after
    s=$(now)
    "$@" >/dev/null 2>&1 &
    pid=$!
    during=$(timed hq_ job list --all)
    wait "$pid" || true
    total=$(elapsed "$s" "$(now)")
    after=$(timed hq_ job list --all)
    printf '%-44s answered in %6ss  peak RSS %6s MiB  job list during %ss, after %ss\n' \
        "$name" "$total" "$(peak_mib "$SERVER_PID")" "$during" "$after"
}

flood() {
    python3 - "$1" <<'PY'
import socket, struct, sys, threading
port = int(sys.argv[1])
def one():
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(struct.pack(">I", 0x07800000))
        chunk = b"A" * 65536
        for _ in range(256):
            s.sendall(chunk)
    except OSError:
        pass
threads = [threading.Thread(target=one) for _ in range(32)]
for t in threads: t.start()
for t in threads: t.join()
PY
}

fresh_server() {
    bench_cleanup
    start_server "$@"
    for _ in 1 2 3; do hq_ submit -- sleep 100 >/dev/null; done
    log "server $SERVER_PID: peak RSS at start $(peak_mib "$SERVER_PID") MiB"
}

fresh_server
for cmd in "job info" "job cancel" "job close" "job forget" "task list"; do
    # shellcheck disable=SC2086
    attack "hq $cmd 0-4294967295" hq_ $cmd 0-4294967295
done
attack "hq job cancel 1-100000000" hq_ job cancel 1-100000000
attack "hq task info 1 0-4294967295" hq_ task info 1 0-4294967295

fresh_server
attack "hq submit --array 0-4294967295" hq_ submit --array 0-4294967295 -- true
attack "hq submit --cpus 4294967296" hq_ submit --cpus 4294967296 -- true

fresh_server
port=$(awk -F'"port": ' '/"client"/ { f = 1 } f && /"port"/ { split($2, a, /[,}]/); print a[1]; exit }' \
    "$BENCH_TMP/server/hq-current/access.json")
attack "32 peers x 0x07800000 frame (client port)" flood "$port"
grep -c "refused a client connection" "$BENCH_TMP/server.log" | sed 's/^/refusal log lines: /'

if [[ $(id -u) == 0 ]]; then
    disk=$(mktemp -d)
    mount -t tmpfs -o size=2m tmpfs "$disk"
    bench_cleanup
    BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hq-bench.XXXXXX")
    "$HQ" --server-dir "$BENCH_TMP/server" server start --host 127.0.0.1 --journal "$disk/journal" \
        >"$BENCH_TMP/server.log" 2>&1 &
    SERVER_PID=$!
    BENCH_PIDS+=("$SERVER_PID")
    until hq_ server info >/dev/null 2>&1; do sleep 0.05; done
    head -c 1900000 /dev/zero >"$disk/filler" || true
    big="BIG=$(head -c 65536 /dev/zero | tr '\0' x)"
    ok=0 refused=0
    for _ in $(seq 20); do
        if hq_ submit --env "$big" -- true >/dev/null 2>&1; then ok=$((ok + 1)); else refused=$((refused + 1)); fi
    done
    attack "submit on a full journal disk" hq_ submit --env "$big" -- true
    rm -f "$disk/filler"
    hq_ submit -- true >/dev/null && ok=$((ok + 1))
    kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    "$HQ" --server-dir "$BENCH_TMP/server" server start --host 127.0.0.1 --journal "$disk/journal" \
        >>"$BENCH_TMP/server.log" 2>&1 &
    SERVER_PID=$!
    BENCH_PIDS+=("$SERVER_PID")
    until hq_ server info >/dev/null 2>&1; do sleep 0.05; done
    restored=$(hq_ --output-mode json job list --all | grep -c '"id"')
    echo "disk full: $ok acknowledged, $refused refused; after kill -9 and restart: $restored jobs"
    bench_cleanup
    umount "$disk"
    rmdir "$disk"
fi
