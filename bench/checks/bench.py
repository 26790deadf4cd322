#!/usr/bin/env python3
"""opsd's checks beside check_http (monitoring-plugins) and monit, in one run.

  - a round of 100 HTTP checks against a local nginx: `opsctl health` running them in-process,
    `check_http` through `xargs -P 16`, and the server's own floor (one curl fetching the 100 URLs
    over one keep-alive connection);
  - the cost of one disk and one memory check as opsd runs them (its own duration metric);
  - opsd's memory (RSS, PSS) and CPU while running 50 checks every second, beside monit running the
    same 50 as `check host … protocol http` / `check filesystem` / `check system` every second.

Run as root from the repository (it installs nginx-light and monit with a policy-rc.d guard):
    OPS_BIN_DIR=.build/release bench/checks/bench.py [--rounds 10] [--idle 20]
"""
import argparse, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("OPS_BIN_DIR", os.path.join(ROOT, ".build", "release"))
PLUGINS = "/usr/lib/nagios/plugins"


def ensure_tools():
    needed = {"nginx": "nginx-light", "monit": "monit", f"{PLUGINS}/check_http": "monitoring-plugins-basic"}
    missing = [pkg for tool, pkg in needed.items() if shutil.which(tool) is None and not os.path.exists(tool)]
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
    for tool in ("opsd", "opsctl"):
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            sys.exit(f"no {tool} in {BIN}; build with scripts/release.sh or set OPS_BIN_DIR")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(work):
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/nginx.err;
events {{ worker_connections 1024; }}
http {{ access_log off; server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }} }}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/"], capture_output=True).returncode == 0)
    return proc, port


def wait_until(predicate, limit=20):
    deadline = time.time() + limit
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SystemExit("timed out waiting for a peer to come up")


def timed(command, rounds, **kw):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def memory_kib(pid):
    values = {}
    for path, keys in ((f"/proc/{pid}/smaps_rollup", ("Pss",)), (f"/proc/{pid}/status", ("VmRSS",))):
        with open(path) as f:
            for line in f:
                key = line.split(":")[0]
                if key in keys:
                    values[key] = int(line.split()[1])
    return values.get("VmRSS", 0), values.get("Pss", 0)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_config(work, name, checks, listen=None):
    path = os.path.join(work, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(f"daemon: {{socket: {work}/{name}.sock, state_dir: {work}/{name}-state, log_level: warning")
        f.write(f", listen: '{listen}'}}\n" if listen else "}\n")
        f.write("checks:\n" + "".join(f"  - {c}\n" for c in checks))
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--idle", type=int, default=20)
    args = parser.parse_args()
    ensure_tools()
    work = tempfile.mkdtemp(prefix="ops-bench-checks-")
    nginx, port = start_nginx(work)
    rows = []
    try:
        url = f"http://127.0.0.1:{port}/"
        # 1. A round of 100 HTTP checks.
        config = write_config(work, "round", [f"{{name: h{i}, http: '{url}?{i}', timeout: 5s}}" for i in range(100)])
        ours = timed([f"{BIN}/opsctl", "--config", config, "health", "--nagios"], args.rounds)
        plugin = timed(["sh", "-c", f"seq 100 | xargs -P 16 -I{{}} {PLUGINS}/check_http -H 127.0.0.1 -p {port} -u '/?{{}}'"], args.rounds)
        floor = timed(["curl", "-s", "-o", "/dev/null", *[f"{url}?{i}" for i in range(100)]], args.rounds)
        one_process = timed([f"{BIN}/opsctl", "--config", write_config(work, "one", [f"{{name: h, http: '{url}'}}"]), "health"], args.rounds)
        rows += [
            ("100 HTTP checks, one round (wall)", f"{ours * 1000:.1f} ms", f"check_http × xargs -P16: {plugin * 1000:.1f} ms ({plugin / ours:.1f}×)"),
            ("  the server's own floor", f"curl, 100 URLs, keep-alive: {floor * 1000:.1f} ms", f"opsctl with 1 check: {one_process * 1000:.1f} ms (process start-up)"),
        ]

        # 2 and 3. opsd running 50 checks every second; monit running the same kinds.
        listen = f"127.0.0.1:{free_port()}"
        checks = ([f"{{name: d{i}, disk: /, every: 1s}}" for i in range(15)] + [f"{{name: m{i}, memory: {{}}, every: 1s}}" for i in range(15)]
                  + [f"{{name: h{i}, http: '{url}?{i}', every: 1s}}" for i in range(20)])
        config = write_config(work, "fifty", checks, listen)
        opsd = subprocess.Popen([f"{BIN}/opsd", "--config", config, "--log-format", "json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: subprocess.run(["curl", "-sf", f"http://{listen}/metrics"], capture_output=True).returncode == 0)
            time.sleep(3)
            cpu_before = cpu_seconds(opsd.pid)
            time.sleep(args.idle)
            cpu = cpu_seconds(opsd.pid) - cpu_before
            rss, pss = memory_kib(opsd.pid)
            metrics = subprocess.run(["curl", "-sf", f"http://{listen}/metrics"], capture_output=True, text=True).stdout
        finally:
            opsd.send_signal(signal.SIGTERM)
            opsd.wait(timeout=30)
        durations = {}
        for kind in ("disk", "memory", "http"):
            values = [float(v) for v in re.findall(rf'opsd_check_duration_seconds{{check="[^"]+",kind="{kind}"}} (\S+)', metrics)]
            durations[kind] = statistics.median(values) if values else float("nan")

        monit_conf = os.path.join(work, "monitrc")
        with open(monit_conf, "w") as f:
            f.write(f"set daemon 1\nset logfile {work}/monit.log\nset idfile {work}/monit.id\nset statefile {work}/monit.state\n")
            f.write(f"check system bench\n  if memory usage > 99% then alert\n")
            for i in range(15):
                f.write(f"check filesystem d{i} with path /\n  if space usage > 99% then alert\n")
            for i in range(20):
                f.write(f"check host h{i} with address 127.0.0.1\n  if failed port {port} protocol http request '/?{i}' then alert\n")
        os.chmod(monit_conf, 0o600)
        monit = subprocess.Popen(["monit", "-I", "-c", monit_conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)
            monit_cpu_before = cpu_seconds(monit.pid)
            time.sleep(args.idle)
            monit_cpu = cpu_seconds(monit.pid) - monit_cpu_before
            monit_rss, monit_pss = memory_kib(monit.pid)
        finally:
            monit.terminate()
            monit.wait(timeout=30)
        rows += [
            ("one disk check, as opsd runs it", f"{durations['disk'] * 1e6:.0f} µs", ""),
            ("one memory check, as opsd runs it", f"{durations['memory'] * 1e6:.0f} µs", ""),
            ("one http check to nginx, as opsd runs it", f"{durations['http'] * 1e3:.2f} ms", ""),
            ("50 checks every 1 s: RSS / PSS", f"{rss / 1024:.1f} / {pss / 1024:.1f} MiB",
             f"monit (35 of the same, + system): {monit_rss / 1024:.1f} / {monit_pss / 1024:.1f} MiB"),
            (f"50 checks every 1 s: CPU over {args.idle} s", f"{cpu:.2f} s", f"monit: {monit_cpu:.2f} s"),
        ]
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print("| metric | opsd | peers |\n| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
