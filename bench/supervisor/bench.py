#!/usr/bin/env python3
"""opsd side by side with supervisord, runit and s6 on the same idle workers, in one run.

Each worker is `sh -c 'echo $$ $(date +%s%N) > FILE; exec sleep infinity'`: it records its own pid
and start time, so a restart's latency is the new worker's own timestamp minus the moment of
kill -9, independent of how fast this script notices. Run as root from the repository:
    bench/supervisor/bench.py [--workers 10] [--kills 20] [--idle 30] [--many 200]
It installs the peers from Debian's packages if they are missing and builds opsd in release mode.
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, ".build", "release")


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def ensure_tools():
    needed = {"supervisord": "supervisor", "runsvdir": "runit", "s6-svscan": "s6", "hyperfine": "hyperfine"}
    missing = [pkg for tool, pkg in needed.items() if shutil.which(tool) is None]
    if missing:
        # policy-rc.d keeps the packages' scripts from starting their daemons on this host.
        with open("/usr/sbin/policy-rc.d", "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod("/usr/sbin/policy-rc.d", 0o755)
        try:
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        finally:
            os.unlink("/usr/sbin/policy-rc.d")
    # Incremental: quick when the release build is current, and never measures a stale binary.
    subprocess.run([os.path.join(ROOT, "scripts", "release.sh")], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def worker_command(marks, name):
    return ["/bin/sh", "-c", f"echo $$ $(date +%s%N) > {marks}/{name}; exec sleep infinity"]


def read_mark(path):
    try:
        with open(path) as f:
            pid, stamp = f.read().split()
            return int(pid), int(stamp)
    except (OSError, ValueError):
        return None


def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def thread_switches(pid):
    """Voluntary context switches per thread id, and the process's CPU ticks."""
    counts = {}
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        counts[(pid, int(task))] = int(line.split()[1])
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return counts, int(fields[11]) + int(fields[12])
    except OSError:
        return counts, 0


def idle_cost(pids, seconds):
    """Wakeups (voluntary switches) and CPU over `seconds`. Threads that exit in between take
    their counts with them, so the wakeups are a lower bound."""
    before = [thread_switches(p) for p in pids]
    time.sleep(seconds)
    after = [thread_switches(p) for p in pids]
    start = {tid: n for counts, _ in before for tid, n in counts.items()}
    wakeups = sum(n - start.get(tid, 0) for counts, _ in after for tid, n in counts.items())
    ticks = sum(t for _, t in after) - sum(t for _, t in before)
    return wakeups, ticks * 1000 / os.sysconf("SC_CLK_TCK")


class Peer:
    """One supervisor under test. `supervisor_pids` excludes the workers themselves."""
    worker_comms = {"sleep", "sh"}

    def __init__(self, base, marks, count):
        self.base, self.marks, self.count = base, marks, count
        self.names = [f"w{i:03d}" for i in range(count)]

    def supervisor_pids(self):
        return [p for p in descendants(self.process.pid) if comm(p) not in self.worker_comms]

    def stop(self):
        # Collected first: once the supervisor is gone its children (runsv, s6-supervise and the
        # workers) are re-parented and no longer its descendants.
        leftovers = descendants(self.process.pid)[1:]
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Opsd(Peer):
    name = "opsd"

    def start(self):
        socket = f"{self.base}/opsd.sock"
        lines = [f"daemon: {{socket: {socket}, state_dir: {self.base}/state, log_level: warning}}", "workers:"]
        for name in self.names:
            command = ", ".join(f'"{part}"' for part in worker_command(self.marks, name))
            lines.append(f"  - {{name: {name}, command: [{command}], restart: {{policy: always, reset_after: 1s, burst: 1000 in 60s}}}}")
        with open(f"{self.base}/ops.yaml", "w") as f:
            f.write("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        self.process = subprocess.Popen([f"{RELEASE}/opsd", "--config", f"{self.base}/ops.yaml"], env={**env, "OPS_LOG_FORMAT": "json"},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.status = [f"{RELEASE}/opsctl", "--socket", socket, "status"]


class Supervisord(Peer):
    name = "supervisord"

    def start(self):
        conf = f"{self.base}/supervisord.conf"
        with open(conf, "w") as f:
            f.write(f"[supervisord]\nnodaemon=true\nlogfile={self.base}/supervisord.log\npidfile={self.base}/s.pid\n"
                    f"[unix_http_server]\nfile={self.base}/supervisor.sock\n"
                    "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
                    f"[supervisorctl]\nserverurl=unix://{self.base}/supervisor.sock\n")
            for name in self.names:
                # supervisord's config interpolates %(name)s, so a literal % is written %%.
                command = " ".join(f"'{part}'" for part in worker_command(self.marks, name)).replace("%", "%%")
                f.write(f"[program:{name}]\ncommand={command}\nautorestart=true\nstartsecs=0\nstartretries=1000\n")
        self.process = subprocess.Popen(["supervisord", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.status = ["supervisorctl", "-c", conf, "status"]


class ServiceDirectories(Peer):
    """runit and s6 share the layout: one directory per service with a `run` script."""

    def write_services(self):
        os.makedirs(f"{self.base}/services")
        for name in self.names:
            directory = f"{self.base}/services/{name}"
            os.makedirs(directory)
            with open(f"{directory}/run", "w") as f:
                f.write("#!/bin/sh\nexec " + " ".join(f"'{part}'" for part in worker_command(self.marks, name)) + "\n")
            os.chmod(f"{directory}/run", 0o755)


class Floor(ServiceDirectories):
    """floor.c: fork, exec, block in waitpid(-1), restart at once. The lower bound for restarts."""
    name = "floor"
    worker_comms = {"sleep", "sh"}

    def start(self):
        self.write_services()
        binary = f"{self.base}/floor"
        subprocess.run(["cc", "-O2", "-o", binary, os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor.c")], check=True)
        self.process = subprocess.Popen([binary, f"{self.base}/services"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.status = None


class Runit(ServiceDirectories):
    name = "runit"

    def start(self):
        self.write_services()
        self.process = subprocess.Popen(["runsvdir", f"{self.base}/services"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.status = ["sh", "-c", f"sv status {self.base}/services/*"]


class S6(ServiceDirectories):
    name = "s6"

    def start(self):
        self.write_services()
        self.process = subprocess.Popen(["s6-svscan", f"{self.base}/services"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.status = ["sh", "-c", f"for d in {self.base}/services/*; do s6-svstat $d; done"]


def wait_for_marks(peer, started_at, limit=60):
    paths = [f"{peer.marks}/{name}" for name in peer.names]
    deadline = time.time() + limit
    while time.time() < deadline:
        stamps = [read_mark(p) for p in paths]
        if all(stamps):
            return max(s[1] for s in stamps) - started_at
        time.sleep(0.005)
    raise RuntimeError(f"{peer.name}: not all {len(paths)} workers started within {limit}s")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure(kind, args):
    base = tempfile.mkdtemp(prefix=f"bench-{kind.name}-")
    marks = f"{base}/marks"
    os.makedirs(marks)
    peer = kind(base, marks, args.workers)
    result = {}
    try:
        peer.start()
        wait_for_marks(peer, time.time_ns())
        time.sleep(2)  # let start-up work settle before measuring memory and idleness
        result["pss"] = sum(pss_kib(p) for p in peer.supervisor_pids()) / 1024
        result["wakeups"], result["cpu_ms"] = idle_cost(peer.supervisor_pids(), args.idle)

        latencies = []
        for round_ in range(args.kills):
            name = peer.names[round_ % len(peer.names)]
            pid, stamp = read_mark(f"{marks}/{name}")
            killed_at = time.time_ns()
            os.kill(pid, signal.SIGKILL)
            deadline = time.time() + 10
            while time.time() < deadline:
                mark = read_mark(f"{marks}/{name}")
                if mark and mark[0] != pid:
                    latencies.append((mark[1] - killed_at) / 1e6)
                    break
                time.sleep(0.002)
            time.sleep(0.3)
        if latencies:
            result["restart_p50"] = percentile(latencies, 0.5)
            result["restart_p95"] = percentile(latencies, 0.95)

        if peer.status is not None:
            out = subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", "30", "--export-json", f"{base}/status.json", " ".join(peer.status)]
                                 if peer.status[0] != "sh" else
                                 ["hyperfine", "--shell", "none", "--warmup", "3", "--runs", "30", "--export-json", f"{base}/status.json", " ".join(peer.status[:2]) + " '" + peer.status[2] + "'"],
                                 capture_output=True, text=True)
            with open(f"{base}/status.json") as f:
                result["status_ms"] = json.load(f)["results"][0]["median"] * 1000
    finally:
        peer.stop()
    if args.many:
        many = kind(tempfile.mkdtemp(prefix=f"bench-{kind.name}-many-"), None, args.many)
        many.marks = f"{many.base}/marks"
        os.makedirs(many.marks)
        try:
            started = time.time_ns()
            many.start()
            result["spawn_many_s"] = wait_for_marks(many, started, limit=120) / 1e9
            time.sleep(2)
            result["pss_many"] = sum(pss_kib(p) for p in many.supervisor_pids()) / 1024
        finally:
            many.stop()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--idle", type=int, default=60, help="seconds of idleness over which wakeups and CPU are counted")
    parser.add_argument("--many", type=int, default=200, help="workers for the spawn test (0 to skip)")
    parser.add_argument("--only", nargs="*", default=["opsd", "floor", "runit", "s6", "supervisord"])
    args = parser.parse_args()
    ensure_tools()
    kinds = {"opsd": Opsd, "floor": Floor, "runit": Runit, "s6": S6, "supervisord": Supervisord}
    results = {}
    for name in args.only:
        print(f"measuring {name} …", file=sys.stderr, flush=True)
        results[name] = measure(kinds[name], args)
    rows = [
        ("restart after kill -9, p50 (ms)", "restart_p50"), ("restart after kill -9, p95 (ms)", "restart_p95"),
        (f"PSS with {args.workers} workers (MiB)", "pss"), (f"wakeups in {args.idle} s idle", "wakeups"),
        (f"CPU in {args.idle} s idle (ms)", "cpu_ms"), ("status of all workers, median (ms)", "status_ms"),
        (f"{args.many} workers: start → all running (s)", "spawn_many_s"), (f"PSS with {args.many} workers (MiB)", "pss_many"),
    ]
    names = list(results)
    print("| metric | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for label, key in rows:
        cells = []
        for name in names:
            value = results[name].get(key)
            if value is None:
                cells.append("—")
                continue
            ratio = ""
            base = results.get("opsd", {}).get(key)
            if name != "opsd" and base:
                ratio = f" ({value / base:.2g}× opsd)"
            cells.append(f"{value:.3g}{ratio}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
