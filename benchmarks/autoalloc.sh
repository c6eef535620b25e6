#!/usr/bin/env bash
# Automatic allocation on a real Slurm: N tasks of S seconds, one queue with `--backlog 2
# --max-worker-count 2 --time-limit 10m`; workers start only inside the Slurm jobs the server
# submits. Reports the time from submit to the first task start, the makespan, the allocations
# submitted, the worker-seconds idle after the last task, and the manager commands the server ran.
#
# Usage: benchmarks/autoalloc.sh [N] [S]                  (defaults: 200 1)
# Environment: IDLE_TIMEOUT (workers' idle timeout, default 30s), WORKER_CPUS (CPUs per worker,
# default 1: a Slurm job of this queue gets one CPU), PARTITION (default debug).
# Needs a running Slurm (`sinfo -h` must work): `bash ../shared/slurm/start-slurm.sh` as root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-200}
S=${2:-1}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-30s}
WORKER_CPUS=${WORKER_CPUS:-1}
PARTITION=${PARTITION:-debug}

if ! sinfo -h >/dev/null 2>&1; then
    echo "no Slurm cluster (sinfo -h fails): run ../shared/slurm/start-slurm.sh as root" >&2
    exit 1
fi
build_hq
start_server
NAME=hqbench$$
cancel_allocations() {
    squeue -h -o "%i %j" 2>/dev/null | awk -v p="$NAME" 'index($2, p) == 1 { print $1 }' |
        xargs -r scancel 2>/dev/null || true
}
trap 'cancel_allocations; bench_cleanup' EXIT

hq_ alloc add slurm --time-limit 10m --backlog 2 --max-worker-count 2 --cpus "$WORKER_CPUS" \
    --idle-timeout "$IDLE_TIMEOUT" --name "$NAME" -- --partition="$PARTITION" 2>&1 | sed 's/^/  /' >&2
log "queue created; submitting $N tasks of ${S}s"
start=$(now)
job=$(hq_ --output-mode quiet submit --array "1-$N" --stdout none --stderr none -- sleep "$S")
hq_ job wait "$job" >/dev/null
done_at=$(now)
log "all tasks finished after $(elapsed "$start" "$done_at") s; waiting for the allocations to end"
for _ in $(seq 600); do
    active=$(hq_ --output-mode json alloc info 1 | python3 -c '
import json, sys
print(sum(a["status"] in ("QUEUED", "RUNNING") for a in json.load(sys.stdin)))')
    [[ $active == 0 ]] && break
    sleep 1
done

tasks=$BENCH_TMP/tasks.json allocs=$BENCH_TMP/allocs.json
workers=$BENCH_TMP/workers.json queues=$BENCH_TMP/queues.json
hq_ --output-mode json task list "$job" >"$tasks"
hq_ --output-mode json alloc info 1 >"$allocs"
hq_ --output-mode json worker list --all >"$workers"
hq_ --output-mode json alloc explain 1 >"$queues"
python3 - "$start" "$job" "$tasks" "$allocs" "$workers" "$queues" <<'EOF'
import json, sys
from datetime import datetime

start, job = float(sys.argv[1]), sys.argv[2]
tasks, allocs, workers, queues = (json.load(open(p)) for p in sys.argv[3:7])
ts = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
tasks = tasks[job]
first = min(ts(t["started_at"]) for t in tasks)
last = max(ts(t["finished_at"]) for t in tasks)
idle = 0.0
for w in workers:
    if w["allocation"] is None or w["ended"] is None:
        continue
    idle += max(0.0, ts(w["ended"]["at"]) - max(last, ts(w["started"])))
c = queues["manager_commands"]
print(f"tasks: {len(tasks)} x sleep, queue --backlog 2 --max-worker-count 2 --time-limit 10m")
print(f"time from submit to the first task start: {first - start:.2f} s")
print(f"makespan (submit to the last task end):   {last - start:.2f} s")
print(f"allocations submitted: {len(allocs)}, workers: {sum(w['allocation'] is not None for w in workers)}")
print(f"worker-seconds idle after the last task:  {idle:.1f}")
print(f"manager commands run by the server: {c['total']} (sbatch {c['submit']}, squeue/scontrol {c['status']}, scancel {c['cancel']}; the dry run's sbatch+scancel not counted)")
EOF
