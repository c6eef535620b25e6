#!/usr/bin/env python3
"""A small PBS stand-in for hq's tests (no PBS exists for Debian).

Commands: qsub, qstat, qdel, qrerun, pbsdsh (the files next to this one call it). Job states
live in $PBS_STANDIN_DIR (one JSON file per job, guarded by a lock); a submitted job runs its
script in the background under a detached runner process. Follows the PBS behaviour hq relies on:

- `qsub [opts] SCRIPT` reads `#PBS` lines (-N, -o, -e, -l select=N, -l walltime=HH:MM:SS, -q,
  -A, -h) and prints `<n>.standin`. `-h` holds the job (state H). With PBS_STANDIN_HOLD_ALL=1
  every job stays queued (Q), like a busy cluster.
- The runner sets PBS_JOBID, PBS_ENVIRONMENT=PBS_BATCH, PBS_O_WORKDIR, redirects stdout/stderr,
  kills the job at its walltime (Exit_status -30) and records the exit status (271 when qdel
  ended it).
- `qstat -f ID... -F json [-x]` prints {"Jobs": {ID: {job_state, Exit_status, stime, mtime,
  Resource_List, resources_used}}}; unknown IDs: `qstat: Unknown Job Id ID` on stderr, exit 153.
- `qdel ID`, `qrerun ID` (back to Q, then it runs again), `pbsdsh -- CMD...` (CMD once per node).
  With PBS_STANDIN_REQUEUE_DELAY=SECS given to qrerun, the job stays queued that long before it
  runs again, as when the scheduler takes a while to place it.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

STATE = os.environ.get("PBS_STANDIN_DIR")
SUFFIX = ".standin"


def die(msg, code):
    print(msg, file=sys.stderr)
    sys.exit(code)


def lock():
    f = open(os.path.join(STATE, "lock"), "a+")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def job_path(jid):
    return os.path.join(STATE, "jobs", jid + ".json")


def load(jid):
    try:
        with open(job_path(jid)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def save(job):
    tmp = job_path(job["id"]) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(job, f)
    os.replace(tmp, job_path(job["id"]))


def pbs_time(t):
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))


def hms(secs):
    secs = int(secs)
    return "%02d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)


def parse_hms(text):
    total = 0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return total


def parse_options(args, job):
    i = 0
    while i < len(args):
        a = args[i]
        value = lambda: args[i + 1] if i + 1 < len(args) else die("qsub: option requires an argument -- " + a, 2)
        if a == "-h":
            job["held"] = True
        elif a in ("-N", "-o", "-e", "-q", "-A", "-l"):
            v = value()
            i += 1
            if a == "-N":
                job["name"] = v
            elif a == "-o":
                job["stdout"] = v
            elif a == "-e":
                job["stderr"] = v
            elif a == "-l":
                for item in v.split(","):
                    key, _, val = item.partition("=")
                    if key == "select":
                        job["select"] = int(val.split(":")[0])
                    elif key == "walltime":
                        job["walltime"] = parse_hms(val)
                    else:
                        die("qsub: Unknown resource Resource_List.%s" % key, 2)
        else:
            die("qsub: invalid option -- '%s'" % a.lstrip("-"), 2)
        i += 1


def qsub(argv):
    if not argv:
        die("usage: qsub [options] script", 2)
    script = os.path.abspath(argv[-1])
    job = {"name": "STDIN", "select": 1, "walltime": 3600, "held": False,
           "cwd": os.getcwd(), "script": script}
    directives = []
    with open(script) as f:
        for line in f:
            if line.startswith("#PBS"):
                directives.extend(line[4:].split())
    parse_options(directives + argv[:-1], job)
    job.setdefault("stdout", os.path.join(job["cwd"], job["name"] + ".o"))
    job.setdefault("stderr", os.path.join(job["cwd"], job["name"] + ".e"))
    with lock():
        path = os.path.join(STATE, "next_id")
        n = int(open(path).read()) if os.path.exists(path) else 1
        open(path, "w").write(str(n + 1))
        job["id"] = "%d%s" % (n, SUFFIX)
        hold = job["held"] or os.environ.get("PBS_STANDIN_HOLD_ALL") == "1"
        job.update(state="H" if job["held"] else "Q", qtime=time.time(), mtime=time.time())
        save(job)
    if not hold:
        start_runner(job["id"])
    print(job["id"])


def start_runner(jid, delay=0.0):
    subprocess.Popen([sys.executable, os.path.abspath(__file__), "run", jid, str(delay)],
                     start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(jid, delay):
    """The runner: executes one job's script and records its end."""
    time.sleep(delay)
    with lock():
        job = load(jid)
        if job is None or job["state"] not in ("Q",):
            return
        job.update(state="R", stime=time.time(), mtime=time.time(), runner=os.getpid())
        save(job)
    env = dict(os.environ, PBS_JOBID=jid, PBS_ENVIRONMENT="PBS_BATCH",
               PBS_O_WORKDIR=job["cwd"], PBS_STANDIN_NODES=str(job["select"]))
    with open(job["stdout"], "ab") as out, open(job["stderr"], "ab") as err:
        proc = subprocess.Popen(["bash", job["script"]], cwd=job["cwd"], env=env,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        with lock():
            job = load(jid)
            job["pgid"] = proc.pid
            save(job)
        try:
            code = proc.wait(timeout=job["walltime"])
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = -30
    with lock():
        job = load(jid)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the job
        except ProcessLookupError:
            pass
        if job.get("rerun"):
            job.update(state="Q", rerun=False, mtime=time.time())
            job.pop("stime", None)
            save(job)
            start_runner(jid, job.get("requeue_delay", 0.0))
            return
        if job.get("deleted"):
            code = 271
        elif code < 0 and code != -30:
            code = 256 - code
        job.update(state="F", exit_status=code, mtime=time.time())
        save(job)


def qstat(argv):
    ids = [a for a in argv if not a.startswith("-") and a != "json"]
    out, missing = {}, []
    for jid in ids:
        job = load(jid) or load(jid.split(".")[0] + SUFFIX)
        if job is None:
            missing.append(jid)
            continue
        now = job.get("mtime") if job["state"] == "F" else time.time()
        info = {"Job_Name": job["name"], "job_state": job["state"],
                "Resource_List": {"select": str(job["select"]), "nodect": job["select"],
                                  "walltime": hms(job["walltime"])},
                "mtime": pbs_time(job["mtime"])}
        if "stime" in job:
            info["stime"] = pbs_time(job["stime"])
            info["resources_used"] = {"walltime": hms(max(0, now - job["stime"]))}
        if job["state"] == "F" and "exit_status" in job:
            info["Exit_status"] = job["exit_status"]
        out[job["id"]] = info
    for jid in missing:
        print("qstat: Unknown Job Id " + jid, file=sys.stderr)
    print(json.dumps({"timestamp": int(time.time()), "pbs_version": "standin",
                      "pbs_server": "standin", "Jobs": out}, indent=4))
    sys.exit(153 if missing else 0)


def signal_job(jid, flag):
    with lock():
        job = load(jid)
        if job is None:
            die("%s: Unknown Job Id %s" % (sys.argv[1], jid), 153)
        if job["state"] in ("Q", "H") and flag == "deleted":
            job.update(state="F", mtime=time.time())
            save(job)
            return
        if job["state"] != "R":
            if flag == "deleted" and job["state"] == "F":
                die("qdel: Job has finished " + jid, 35)
            die("%s: Request invalid for state of job %s" % (sys.argv[1], jid), 168)
        job[flag] = True
        if flag == "rerun":
            job["requeue_delay"] = float(os.environ.get("PBS_STANDIN_REQUEUE_DELAY", "0"))
        save(job)
        pgid = job.get("pgid")
    if pgid:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def pbsdsh(argv):
    if argv and argv[0] == "--":
        argv = argv[1:]
    n = int(os.environ.get("PBS_STANDIN_NODES", "1"))
    procs = [subprocess.Popen(argv, env=dict(os.environ, PBS_TASKNUM=str(i))) for i in range(n)]
    sys.exit(max(p.wait() for p in procs))


def main():
    if not STATE:
        die("PBS stand-in: set PBS_STANDIN_DIR", 2)
    os.makedirs(os.path.join(STATE, "jobs"), exist_ok=True)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "qsub":
        qsub(argv)
    elif cmd == "qstat":
        qstat(argv)
    elif cmd == "qdel":
        for jid in argv:
            signal_job(jid, "deleted")
    elif cmd == "qrerun":
        for jid in argv:
            signal_job(jid, "rerun")
    elif cmd == "pbsdsh":
        pbsdsh(argv)
    elif cmd == "run":
        run(argv[0], float(argv[1]) if len(argv) > 1 else 0.0)
    else:
        die("PBS stand-in: unknown command " + cmd, 2)


if __name__ == "__main__":
    main()
