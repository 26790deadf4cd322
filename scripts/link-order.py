#!/usr/bin/env python3
"""Writes the link-order files: the functions opsd and opsctl run, so the linker puts them together.

    scripts/link-order.py            (after scripts/release.sh; needs valgrind)

Why: the kernel maps a program's code in 64 KiB blocks around each page it touches (fault-around),
so a daemon whose start-up runs 0.7 MiB of functions scattered over a 15 MiB binary kept 9.8 MiB of
code resident: most of opsd's memory. With the functions it really runs placed side by side
(lld's --symbol-ordering-file), the same work touches a few dozen blocks instead of hundreds.
docs/performance-notes.md has the measurements.

How: a copy of the release opsd (without debug info, which valgrind cannot read) runs under
callgrind twice: on the core alone (workers that start, crash and restart; the control socket; a
reload; a clean stop), then with every check kind that needs no outside server, jobs and the HTTP
listener; opsctl's common commands run under callgrind against it. Every function that executed
goes into Sources/opsd/link-order.txt and Sources/opsctl/link-order.txt, the core's first, so the
code every opsd runs lies together and the rest follows. Symbols that later disappear are ignored by the linker, and
new functions simply land elsewhere, so a stale file costs memory, never correctness: rerun this
after large changes and commit the result.
"""
import os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def release_bin():
    return subprocess.run([f"{ROOT}/scripts/release.sh", "--show-bin-path-only"], check=True, capture_output=True, text=True).stdout.strip()


def stripped_copy(binary, directory):
    """valgrind 3.19 cannot read the DWARF 5 the toolchain writes; the symbol table is enough."""
    copy = os.path.join(directory, os.path.basename(binary))
    subprocess.run(["objcopy", "--strip-debug", binary, copy], check=True)
    return copy


def executed_functions(callgrind_file, binary):
    """Function names callgrind saw executing inside `binary`, first-seen order, mangled."""
    names, objects, current, seen, order = {}, {}, None, set(), []
    for line in open(callgrind_file, errors="replace"):
        match = re.match(r"^(ob|fn|cob|cfn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not match:
            continue
        kind, number, name = match.groups()
        table = objects if kind in ("ob", "cob") else names
        if name:
            table[number] = name
        if kind == "ob":
            current = objects[number]
        elif kind == "fn" and current and os.path.basename(current) == os.path.basename(binary):
            function = names[number]
            if function not in seen:
                seen.add(function)
                order.append(function)
    return order


def under_callgrind(binary, output, arguments, **kw):
    return ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={output}", binary, *arguments]


def wait_for(path, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.2)
    raise SystemExit(f"link-order: {path} did not appear within {limit}s; see the daemon's log")


def write_config(work, port, full):
    """The core (workers, the control socket) alone, or with every check kind, jobs and the listener."""
    database = f"{work}/app.db"
    if not os.path.exists(database):
        subprocess.run(["sqlite3", database, "CREATE TABLE jobs (id INTEGER); INSERT INTO jobs VALUES (1);"], check=True)
        os.makedirs(f"{work}/spool")
    text = f"""daemon:
  socket: {work}/opsd.sock
  state_dir: {work}/state
""" + (f"  listen: 127.0.0.1:{port}\n" if full else "") + """workers:
  - {name: steady, command: [/bin/sleep, "1000"]}
  - {name: flaky, command: [/bin/sh, -c, "sleep 0.5; exit 3"], restart: {policy: on-failure, backoff: 100ms..1s, reset_after: 1s}}
  - {name: quiet, command: [/bin/sh, -c, "echo started; exec sleep 1000"], stop: {signal: TERM, timeout: 2s}}
"""
    if full:
        text += f"""checks:
  - {{name: root, disk: /, warn: 95%, crit: 99%, every: 2s}}
  - {{name: memory, memory: {{}}, warn: 95%, every: 2s}}
  - {{name: db, sqlite: {database}, every: 2s}}
  - {{name: backlog, queue: {{sqlite: {database}, query: "SELECT count(*) FROM jobs"}}, warn: 10, every: 2s}}
  - {{name: spool, queue: {{spool: {work}/spool}}, warn: 10, every: 2s}}
  - {{name: plugin, command: [/bin/true], every: 2s}}
  - {{name: self, http: "http://localhost:{port}/healthz", expect: {{status: [200, 503]}}, every: 2s}}
jobs:
  - {{name: hello, command: [/bin/echo, hi], every: 1h}}
  - {{name: care, sqlite: {{databases: [{database}]}}, every: 1h}}
"""
    config = f"{work}/ops-{'full' if full else 'core'}.yaml"
    with open(config, "w") as f:
        f.write(text)
    return config


def profile(opsd, opsctl, work, port, full):
    """Runs opsd (and opsctl against it) under callgrind; returns the functions each ran."""
    config = write_config(work, port, full)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    tag = "full" if full else "core"
    daemon_out = f"{work}/opsd.{tag}.callgrind"
    log = open(f"{work}/opsd.{tag}.log", "w")
    daemon = subprocess.Popen(under_callgrind(opsd, daemon_out, ["--config", config]), env={**env, "OPS_LOG_FORMAT": "json"},
                              stdout=log, stderr=log)
    ctl_outputs = []
    try:
        wait_for(f"{work}/opsd.sock")
        time.sleep(6)  # first check rounds, the flaky worker's restarts
        commands = [["status"], ["status", "--json"], ["workers", "restart", "quiet"], ["reload"]]
        if full:
            commands += [["health"], ["health", "--nagios"], ["jobs"], ["jobs", "run", "hello"], ["config", "check", config]]
        for index, command in enumerate(commands):
            arguments = command if command[0] == "config" else ["--config", config, *command]
            output = f"{work}/opsctl.{tag}.{index}.callgrind"
            ctl_outputs.append(output)
            subprocess.run(under_callgrind(opsctl, output, arguments), env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if full:
            for path in ("/metrics", "/healthz", "/"):  # "/": the status page
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
                except OSError:
                    pass
        daemon.send_signal(signal.SIGHUP)
        time.sleep(4)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=120)
        except subprocess.TimeoutExpired:
            daemon.kill()
    ctl = []
    for output in ctl_outputs:
        ctl += executed_functions(output, opsctl)
    return executed_functions(daemon_out, opsd), ctl


def merged(*lists):
    """The functions of each list in turn, each once: the core first, so it lies together. Each
    group is sorted by name: the order inside a group hardly matters to the pages it fills, and
    sorted lists keep the diff of a regenerated file small."""
    seen, order = set(), []
    for functions in lists:
        group = sorted(set(functions) - seen)
        seen.update(group)
        order += group
    return order


def main():
    if not shutil.which("valgrind"):
        raise SystemExit("link-order: needs valgrind (apt-get install valgrind)")
    binaries = release_bin()
    work = tempfile.mkdtemp(prefix="opsd-order-")
    opsd = stripped_copy(f"{binaries}/opsd", work)
    opsctl = stripped_copy(f"{binaries}/opsctl", work)
    port = 19000 + os.getpid() % 1000
    core_daemon, core_ctl = profile(opsd, opsctl, work, port, full=False)
    full_daemon, full_ctl = profile(opsd, opsctl, work, port, full=True)
    daemon_functions, ctl_functions = merged(core_daemon, full_daemon), merged(core_ctl, full_ctl)
    if len(core_daemon) < 1000 or len(core_ctl) < 500:
        raise SystemExit(f"link-order: only {len(core_daemon)} opsd and {len(core_ctl)} opsctl functions seen; see {work}")
    for target, functions in (("opsd", daemon_functions), ("opsctl", ctl_functions)):
        with open(f"{ROOT}/Sources/{target}/link-order.txt", "w") as f:
            f.write("\n".join(functions) + "\n")
        print(f"Sources/{target}/link-order.txt: {len(functions)} functions")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
