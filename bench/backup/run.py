#!/usr/bin/env python3
"""Backup growth and time: opsd's format beside restic and borg (and the seed's approach), as ratios.

One SQLite database (WAL mode) goes through ROUNDS rounds of a workload; after every round each
tool backs up the same state:

  ours      opsctl backup (page deltas in a libgit2 repository, pushed to a bare remote)
  ours-enc  the same with backup.encrypt: {recipients: [age1...]} (a key made with age-keygen);
            left out, with why, when `opsctl config check` does not accept backup.encrypt yet
  restic    sqlite3 .backup + restic backup (restic always encrypts)
  borg      sqlite3 .backup + borg create (lz4, the default; --encryption=none)
  borg-enc  the same with --encryption=repokey-blake2
  seed      sqlite3 .backup + git add/commit/push of the whole file (no gc, like the seed project)

Workloads (one per run, --workload): random (1 % of rows updated), append (1 % rows added, recent
rows updated), vacuum (1 % of rows updated, 1 % deleted, then VACUUM: every page moves).

Rounds mode (the default) prints per round the backup time (snapshot included), the growth of the
local repository and of the remote (restic and borg have one repository, counted as both), then a
summary of the first full backup, the mean round and the verified restores (from the local
repository, and from the remote into an empty repository as on a new machine; each tool restores
--restores times, taking turns, and the median is kept), every figure beside
restic and borg as ratios from this same run (ours/restic, ours/borg, ours-enc/restic,
ours-enc/borg-enc).

Long mode (--long N, N >= 20) keeps a retention policy in every tool (ours: backup.keep {last: 10,
daily: 7} and `opsctl backup prune` after each backup; restic forget --keep-last 10 --prune; borg
prune --keep-last 10 + compact) and prints, at the end against the start, the repository sizes
(local, remote, the remote after `git gc --prune=now` for ours), the round time (mean of the first
10 vs the last 10 rounds) and ours' pack count. --no-keep runs it without retention: ours then
backs up as opsd's scheduled backups do (--run-id), which compacts its packs past 32.

Usage: bench/backup/run.py [--size-mib 50] [--rounds 5] [--workload random|append|vacuum]
                           [--long N [--no-keep]] [--tools ours,ours-enc,restic,borg,borg-enc]
                           [--restores 3] [--opsctl PATH] [--keep DIR]
Needs: git, sqlite3, age-keygen (age), restic, borgbackup (apt-get install age restic borgbackup),
and the release build (scripts/release.sh: opsctl and opsctl-backup).
The default size runs in a few minutes; --size-mib 200 or 1024 for the issue's figures. --long
defaults to a 5 MiB database (--size-mib to change it).
"""
import argparse, glob, json, os, random, shutil, sqlite3, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAIRS = [("ours", "restic"), ("ours", "borg"), ("ours-enc", "restic"), ("ours-enc", "borg-enc")]


class Failed(Exception):
    """A tool's command failed: that tool is left out of the rest of the run, the others go on."""


class Skipped(Exception):
    """A tool that cannot run here (said once, with why)."""


def sh(*args, env=None, cwd=None):
    result = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise Failed(f"command failed ({result.returncode}): {' '.join(args)}\n{result.stderr.strip()[-2000:]}")
    return result.stdout


def du(path):
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except FileNotFoundError:
                pass
    return total


def mib(n):
    return n / 1048576


def packs(repository):
    return len(glob.glob(f"{repository}/objects/pack/*.pack"))


def generate(path, size_mib):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER, c BLOB)")
    rows = size_mib * 1048576 // 200
    rng = random.Random(1)
    db.executemany("INSERT INTO t (a, b, c) VALUES (?, ?, ?)",
                   ((rng.randbytes(40).hex(), rng.getrandbits(40), rng.randbytes(60)) for _ in range(rows)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def churn(db, workload, rng):
    rows = db.execute("SELECT max(id) FROM t").fetchone()[0]
    n = max(1, rows // 100)
    if workload in ("random", "vacuum"):
        db.executemany("UPDATE t SET a = ?, b = ? WHERE id = ?",
                       ((rng.randbytes(40).hex(), rng.getrandbits(40), rng.randint(1, rows)) for _ in range(n)))
    if workload == "vacuum":  # the round: 1 % updated, 1 % deleted, then VACUUM (opsd's maintenance)
        db.executemany("DELETE FROM t WHERE id = ?", ((rng.randint(1, rows),) for _ in range(n)))
        db.commit()
        db.execute("VACUUM")
    if workload == "append":  # 1 % new rows, plus updates of recent rows
        db.executemany("INSERT INTO t (a, b, c) VALUES (?, ?, ?)",
                       ((rng.randbytes(40).hex(), rng.getrandbits(40), rng.randbytes(60)) for _ in range(n)))
        recent = max(1, rows // 20)
        db.executemany("UPDATE t SET b = ? WHERE id = ?",
                       ((rng.getrandbits(40), rng.randint(rows - recent, rows)) for _ in range(n // 5)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def snapshot(database, target):
    if os.path.exists(target):
        os.remove(target)
    sh("sqlite3", database, f".backup '{target}'")


def check(path):
    out = sh("sqlite3", path, "PRAGMA integrity_check").strip()
    if out != "ok":
        raise Failed(f"integrity_check failed on {path}: {out}")


class Ours:
    name = "ours"
    encrypt = False

    def __init__(self, work, database, opsctl, keep):
        self.opsctl, self.work, self.database, self.keep = opsctl, work, database, keep
        self.dir = f"{work}/{self.name}"
        self.local = f"{self.dir}/backup.git"
        self.remote = f"{self.dir}/remote.git"
        os.makedirs(self.dir)
        self.identity_args = []
        encrypt = ""
        if self.encrypt:
            if shutil.which("age-keygen") is None:
                raise Skipped("age-keygen is not installed (apt-get install age)")
            self.identity = f"{self.dir}/key.txt"
            sh("age-keygen", "-o", self.identity)
            recipient = sh("age-keygen", "-y", self.identity).strip()
            encrypt = f"  encrypt:\n    recipients: [{recipient}]\n"
            self.identity_args = ["--identity", self.identity]
        retention = "  keep: {last: 10, daily: 7}\n" if keep else ""
        sh("git", "init", "-q", "--bare", self.remote)
        self.config = self.write_config("ops.yaml", self.local, "state", retention + encrypt)
        # A second host's view of the same remote: an empty repository, for the restore from the remote.
        self.new_host = f"{self.dir}/new-host"
        self.config_new_host = self.write_config("new-host.yaml", f"{self.new_host}/backup.git", "new-host/state", encrypt)
        result = subprocess.run([opsctl, "config", "check", self.config], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            reason = (result.stdout + result.stderr).strip().splitlines()
            raise Skipped(f"`opsctl config check` rejects its configuration ({reason[0] if reason else 'no reason given'})"
                          + ("; backup.encrypt is issue 15 item 2, not in this build yet" if self.encrypt else ""))
        self.last = {}
        self.prune_seconds = 0.0

    def write_config(self, name, repository, state, extra):
        path = f"{self.dir}/{name}"
        with open(path, "w") as f:
            f.write(f"daemon:\n  socket: {self.dir}/opsd.sock\n  state_dir: {self.dir}/{state}\n"
                    f"backup:\n  repository: {repository}\n  databases: [{self.database}]\n{extra}"
                    f"  remote:\n    url: {self.remote}\n")
        return path

    def backup(self, round_, scheduled=False):
        # --run-id is how opsd's scheduled backups call it: after the backup, the prune by backup.keep
        # or, without keep, the compaction of piled-up packs. A backup by hand does neither.
        extra = ["--run-id", f"bench-{round_}"] if scheduled else []
        out = sh(self.opsctl, "backup", "--config", self.config, "--json", *extra)
        self.last = json.loads(out)
        if self.last["push"]["state"] != "pushed":
            raise Failed(f"{self.name}: push failed: {self.last['push']}")

    def retention(self, _round):
        out = sh(self.opsctl, "backup", "prune", "--config", self.config, "--json")
        outcome = json.loads(out)
        if outcome.get("push", {}).get("state") not in ("pushed", None):
            raise Failed(f"{self.name}: prune's push failed: {outcome['push']}")

    def note(self):
        if self.last.get("databases"):
            d = self.last["databases"][0]
            return f"{d['layout']}, {d['pages_changed']}/{d['page_count']} pages changed"
        return ""

    def restore(self):
        # Verifies the SHA-256 and runs PRAGMA integrity_check itself. The previous restore's file
        # goes first, as restic's and borg's previous target does.
        target = f"{self.dir}/restored.db"
        if os.path.exists(target):
            os.remove(target)
        sh(self.opsctl, "restore", "--config", self.config, "--to", target, *self.identity_args)

    def restore_from_remote(self):
        shutil.rmtree(self.new_host, ignore_errors=True)
        target = f"{self.dir}/restored.db"
        if os.path.exists(target):
            os.remove(target)
        sh(self.opsctl, "restore", "--config", self.config_new_host, "--from-remote", "--to", target, *self.identity_args)

    def remote_gc(self):
        sh("git", "-C", self.remote, "gc", "-q", "--prune=now")


class OursEncrypted(Ours):
    name = "ours-enc"
    encrypt = True


class Seed:
    name = "seed"

    def __init__(self, work, database, _opsctl, _keep):
        self.database = database
        self.tree = f"{work}/seed/tree"
        self.local = f"{self.tree}/.git"
        self.remote = f"{work}/seed/remote.git"
        os.makedirs(self.tree)
        sh("git", "init", "-q", "--bare", self.remote)
        sh("git", "init", "-q", self.tree)
        for key, value in [("gc.auto", "0"), ("user.name", "bench"), ("user.email", "bench@localhost")]:
            sh("git", "-C", self.tree, "config", key, value)
        sh("git", "-C", self.tree, "remote", "add", "origin", self.remote)
        self.work = work

    def backup(self, round_, scheduled=False):
        snapshot(self.database, f"{self.tree}/app.db")
        sh("git", "-C", self.tree, "add", "app.db")
        sh("git", "-C", self.tree, "commit", "-q", "-m", f"round {round_}")
        sh("git", "-C", self.tree, "push", "-q", "origin", "HEAD:refs/heads/main")

    def retention(self, _round):
        raise Failed("seed: no retention (the seed project kept every commit); leave it out of --long")

    def note(self):
        return ""

    def restore(self):
        target = f"{self.work}/seed/restored.db"
        with open(target, "wb") as f:
            subprocess.run(["git", "--git-dir", self.remote, "cat-file", "blob", "main:app.db"], stdout=f, check=True)
        check(target)

    restore_from_remote = restore


class Restic:
    name = "restic"

    def __init__(self, work, database, _opsctl, _keep):
        self.database = database
        self.local = self.remote = f"{work}/restic/repo"
        self.snap = f"{work}/restic/app.db"
        os.makedirs(f"{work}/restic")
        self.env = dict(os.environ, RESTIC_PASSWORD="bench", RESTIC_CACHE_DIR=f"{work}/restic/cache")
        sh("restic", "init", "-q", "--repo", self.local, env=self.env)
        self.work = work

    def backup(self, _round, scheduled=False):
        snapshot(self.database, self.snap)
        sh("restic", "backup", "-q", "--repo", self.local, self.snap, env=self.env)

    def retention(self, _round):
        sh("restic", "forget", "-q", "--repo", self.local, "--keep-last", "10", "--prune", env=self.env)

    def note(self):
        return ""

    def restore(self):
        target = f"{self.work}/restic/restored"
        shutil.rmtree(target, ignore_errors=True)
        sh("restic", "restore", "-q", "--repo", self.local, "latest", "--target", target, env=self.env)
        check(target + self.snap)

    restore_from_remote = restore  # restic's repository is the remote


class Borg:
    name = "borg"
    encryption = "none"

    def __init__(self, work, database, _opsctl, _keep):
        self.database = database
        self.dir = f"{work}/{self.name}"
        self.local = self.remote = f"{self.dir}/repo"
        self.snap = f"{self.dir}/app.db"
        os.makedirs(self.dir)
        self.env = dict(os.environ, BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes", BORG_BASE_DIR=f"{self.dir}/base",
                        BORG_PASSPHRASE="bench")
        sh("borg", "init", f"--encryption={self.encryption}", self.local, env=self.env)
        self.round = 0

    def backup(self, round_, scheduled=False):
        snapshot(self.database, self.snap)
        sh("borg", "create", f"{self.local}::r{round_}", self.snap, env=self.env)
        self.round = round_

    def retention(self, _round):
        sh("borg", "prune", "--keep-last", "10", self.local, env=self.env)
        sh("borg", "compact", self.local, env=self.env)

    def note(self):
        return ""

    def restore(self):
        target = f"{self.dir}/restored"
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        sh("borg", "extract", f"{self.local}::r{self.round}", env=self.env, cwd=target)
        check(target + self.snap)

    restore_from_remote = restore  # borg's repository is the remote


class BorgEncrypted(Borg):
    name = "borg-enc"
    encryption = "repokey-blake2"


KINDS = {"ours": Ours, "ours-enc": OursEncrypted, "seed": Seed, "restic": Restic, "borg": Borg, "borg-enc": BorgEncrypted}


class Bench:
    """The tools still in the run; one that fails is named and left out, the others go on."""

    def __init__(self, tools):
        self.tools = tools

    def each(self, what, action):
        for tool in list(self.tools):
            try:
                action(tool)
            except Failed as failure:
                print(f"  {tool.name}: FAILED while {what}; left out from here on:\n    {str(failure).replace(chr(10), chr(10) + '    ')}")
                self.tools.remove(tool)


def fmt(value, kind):
    if value is None:
        return "—"
    return {"s": f"{value:.2f} s", "mib": f"{value:.2f} MiB", "n": f"{value:.0f}"}[kind]


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    r = a / b
    return f"{r:.3f}×" if r < 0.1 else f"{r:.2f}×"


def table(title, rows, names):
    """A markdown table: one row per figure, one column per tool, then the ratios of this run."""
    pairs = [p for p in PAIRS if p[0] in names and p[1] in names]
    print(f"\n{title}\n")
    print("| | " + " | ".join(names) + "".join(f" | {a}/{b}" for a, b in pairs) + " |")
    print("| --- " * (1 + len(names) + len(pairs)) + "|")
    for label, values, kind in rows:
        cells = [fmt(values.get(n), kind) for n in names]
        ratios = [ratio(values.get(a), values.get(b)) for a, b in pairs]
        print(f"| {label} | " + " | ".join(cells + ratios) + " |")


def timed(action):
    t = time.monotonic()
    action()
    return time.monotonic() - t


def rounds_mode(args, bench, db, size, names):
    rng = random.Random(2)
    per_round = {n: [] for n in names}
    first = {}
    print(f"{'round':>5} {'tool':>8} {'time s':>7} {'local +MiB':>10} {'remote +MiB':>11} {'% of db':>8}  note")
    for round_ in range(args.rounds + 1):
        if round_ > 0:
            before = os.path.getsize(args.database)
            churn(db, args.workload, rng)
            grown = os.path.getsize(args.database) - before

        def one(tool):
            local0, remote0 = du(tool.local), du(tool.remote)
            elapsed = timed(lambda: tool.backup(round_))
            local, remote = du(tool.local) - local0, du(tool.remote) - remote0
            note = tool.note()
            if round_ > 0 and args.workload != "random":
                note += f" (db {'grew' if grown >= 0 else 'shrank'} {mib(abs(grown)):.2f} MiB)"
            if round_ == 0:
                first[tool.name] = (elapsed, du(tool.local), du(tool.remote))
            else:
                per_round[tool.name].append((elapsed, local, remote))
            print(f"{round_:>5} {tool.name:>8} {elapsed:>7.2f} {mib(local):>10.2f} {mib(remote):>11.2f} {100 * remote / size:>7.2f}%  {note}")
        bench.each(f"backing up round {round_}", one)

    # Each restore --restores times, the tools taking turns, and the median kept: a restore's time
    # here depends on whether the memory its file lands in was just freed (by that tool's previous
    # restore, deleted first) or must be found afresh, which on a virtual machine can double it.
    restores, remote_restores = {}, {}
    for _ in range(args.restores):
        bench.each("restoring", lambda tool: restores.setdefault(tool.name, []).append(timed(tool.restore)))
        if not args.no_remote_restore:
            bench.each("restoring from the remote", lambda tool: remote_restores.setdefault(tool.name, []).append(timed(tool.restore_from_remote)))
    median = lambda times: sorted(times)[len(times) // 2]
    restores = {name: median(times) for name, times in restores.items()}
    remote_restores = {name: median(times) for name, times in remote_restores.items()}

    mean = lambda name, i: (sum(r[i] for r in per_round[name]) / len(per_round[name])) if per_round.get(name) else None
    rows = [
        ("first (full) backup, time", {n: first[n][0] for n in names if n in first}, "s"),
        ("first backup, local repository", {n: mib(first[n][1]) for n in names if n in first}, "mib"),
        ("first backup, remote", {n: mib(first[n][2]) for n in names if n in first}, "mib"),
        (f"{args.workload} round (mean of {args.rounds}), time", {n: mean(n, 0) for n in names}, "s"),
        (f"{args.workload} round, local growth", {n: mib(mean(n, 1)) if mean(n, 1) is not None else None for n in names}, "mib"),
        (f"{args.workload} round, remote growth", {n: mib(mean(n, 2)) if mean(n, 2) is not None else None for n in names}, "mib"),
        (f"restore of the latest, verified (median of {args.restores})", restores, "s"),
    ] + ([] if args.no_remote_restore else [(f"restore from the remote (new machine), verified (median of {args.restores})", remote_restores, "s")])
    table(f"summary: {mib(size):.0f} MiB database, {args.workload} workload, same run (ratios: below 1× is better for ours)", rows, names)


def long_mode(args, bench, db, size, names):
    rng = random.Random(2)
    keep = not args.no_keep
    times = {n: [] for n in names}
    sizes = {}  # (tool, "start"|"end") -> (local, remote, packs local, packs remote)
    print(f"retention: {'ours backup.keep {last: 10, daily: 7} + opsctl backup prune; restic forget --keep-last 10 --prune; borg prune --keep-last 10 + compact' if keep else 'none (ours as opsd schedules it: --run-id, which compacts)'}")
    print(f"{'round':>5}  " + "  ".join(f"{n:>20}" for n in names) + "   (time s: backup + retention)")

    def measure(tool):
        return (du(tool.local), du(tool.remote), packs(tool.local) if isinstance(tool, Ours) else None,
                packs(tool.remote) if isinstance(tool, Ours) else None)

    start_round = 10
    for round_ in range(args.long + 1):
        if round_ > 0:
            churn(db, args.workload, rng)
        cells = {}

        def one(tool):
            b = timed(lambda: tool.backup(round_, scheduled=not keep))
            r = timed(lambda: tool.retention(round_)) if keep else 0.0
            if round_ > 0:
                times[tool.name].append((b, r))
            cells[tool.name] = f"{b:.2f}+{r:.2f}" + (f" {packs(tool.local)}p" if isinstance(tool, Ours) else "")
            if round_ == start_round:
                sizes[(tool.name, "start")] = measure(tool)
        bench.each(f"round {round_}", one)
        if round_ <= 12 or round_ % 10 == 0 or round_ > args.long - 10:
            print(f"{round_:>5}  " + "  ".join(f"{cells.get(n, '—'):>20}" for n in names))

    for tool in bench.tools:
        sizes[(tool.name, "end")] = measure(tool)
    gc = {}
    for tool in bench.tools:
        if isinstance(tool, Ours):
            try:
                seconds = timed(tool.remote_gc)
                gc[tool.name] = (mib(du(tool.remote)), seconds)
            except Failed as failure:
                print(f"  {tool.name}: git gc on the remote failed: {failure}")

    restores = {}
    bench.each("restoring", lambda tool: restores.__setitem__(tool.name, timed(tool.restore)))

    total = lambda pair: pair[0] + pair[1]
    first10 = {n: sum(total(p) for p in times[n][:10]) / 10 for n in names if len(times[n]) >= 20}
    last10 = {n: sum(total(p) for p in times[n][-10:]) / 10 for n in names if len(times[n]) >= 20}
    size_row = lambda i, when: {n: mib(sizes[(n, when)][i]) for n in names if (n, when) in sizes}
    rows = [
        ("round time, mean of rounds 1–10 (backup + retention)", first10, "s"),
    ] + ([("round time, mean of rounds 11–20", {n: sum(total(p) for p in times[n][10:20]) / 10 for n in names if len(times[n]) >= 20}, "s")]
         if args.long > 20 else []) + [
        (f"round time, mean of rounds {args.long - 9}–{args.long}", last10, "s"),
        ("  of which backup, last 10", {n: sum(p[0] for p in times[n][-10:]) / 10 for n in names if len(times[n]) >= 10}, "s"),
        ("  of which retention, last 10", {n: sum(p[1] for p in times[n][-10:]) / 10 for n in names if len(times[n]) >= 10}, "s"),
        ("round 10, time", {n: total(times[n][9]) for n in names if len(times[n]) >= 10}, "s"),
        (f"round {args.long}, time", {n: total(times[n][-1]) for n in names if times[n]}, "s"),
        (f"local repository after round {start_round}", size_row(0, "start"), "mib"),
        (f"local repository after round {args.long}", size_row(0, "end"), "mib"),
        (f"remote after round {start_round}", size_row(1, "start"), "mib"),
        (f"remote after round {args.long}, as pushed", size_row(1, "end"), "mib"),
        (f"restore of the latest after round {args.long}, verified", restores, "s"),
        (f"remote after round {args.long}, after its git gc --prune=now", {n: gc[n][0] if n in gc else mib(sizes[(n, 'end')][1]) for n in names if (n, 'end') in sizes}, "mib"),
    ]
    ours_rows = [
        (f"packs, local, after round {start_round}", {n: sizes[(n, "start")][2] for n in names if (n, "start") in sizes and sizes[(n, "start")][2] is not None}, "n"),
        (f"packs, local, after round {args.long}", {n: sizes[(n, "end")][2] for n in names if (n, "end") in sizes and sizes[(n, "end")][2] is not None}, "n"),
        (f"packs, remote, after round {args.long} (before its gc)", {n: sizes[(n, "end")][3] for n in names if (n, "end") in sizes and sizes[(n, "end")][3] is not None}, "n"),
    ]
    table(f"long run: {args.long} rounds of the {args.workload} workload on a {mib(size):.0f} MiB database, "
          f"{'retention last 10' if keep else 'no retention'}, same run (ratios: below 1× is better for ours)", rows, names)
    table("ours' packs", ours_rows, [n for n in names if n.startswith("ours")])
    for name, (_, seconds) in gc.items():
        print(f"{name}: the remote's git gc --prune=now took {seconds:.2f} s (a server's cost, not in the round times)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, help="database size (default 50, or 5 with --long)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workload", choices=["random", "append", "vacuum"], default="random")
    parser.add_argument("--long", type=int, metavar="N", help="N rounds (at least 20; 200 or 1000) with retention in every tool")
    parser.add_argument("--no-keep", action="store_true", help="with --long: no retention (ours compacts as opsd's scheduled backups do)")
    parser.add_argument("--tools", default="ours,ours-enc,restic,borg,borg-enc", help="any of ours,ours-enc,restic,borg,borg-enc,seed")
    release = f"{ROOT}/.build/release/opsctl"
    parser.add_argument("--opsctl", default=os.environ.get("OPSCTL", release))
    parser.add_argument("--keep", help="work in this directory and keep it")
    parser.add_argument("--no-remote-restore", action="store_true", help="leave out the restore from the remote into an empty repository")
    parser.add_argument("--restores", type=int, default=3, help="restores per tool, taking turns; the median is reported (default 3)")
    args = parser.parse_args()
    if args.long is not None and args.long < 20:
        parser.error(f"--long {args.long} is too short to compare its first and last 10 rounds; give at least 20 (200 or 1000)")
    if args.no_keep and args.long is None:
        parser.error("--no-keep is for --long N; leave it out or add --long 200")
    if args.size_mib is None:
        args.size_mib = 5 if args.long else 50

    names = [t for t in args.tools.split(",") if t]
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        parser.error(f"unknown tool {', '.join(unknown)}; use any of {','.join(KINDS)}")
    if args.long and "seed" in names:
        parser.error("seed has no retention, so it cannot take part in --long; leave it out of --tools")
    for name in names:
        binary = name.split("-")[0]
        if binary in ("restic", "borg") and shutil.which(binary) is None:
            sys.exit(f"{binary} is not installed; apt-get install {'borgbackup' if binary == 'borg' else binary}, or leave it out with --tools")
    if any(n.startswith("ours") for n in names) and not os.access(args.opsctl, os.X_OK):
        sys.exit(f"no opsctl at {args.opsctl}; build it (scripts/release.sh builds opsctl and opsctl-backup) or pass --opsctl PATH")

    work = args.keep or tempfile.mkdtemp(prefix="bench-backup-")
    os.makedirs(work, exist_ok=True)
    args.database = f"{work}/app.db"
    what = f"--long {args.long}{' --no-keep' if args.no_keep else ''}" if args.long else f"{args.rounds} rounds"
    print(f"generating a {args.size_mib} MiB database ({args.workload} workload, {what}) in {work}")
    db = generate(args.database, args.size_mib)
    size = os.path.getsize(args.database)
    if any(n.startswith("ours") for n in names):
        try:
            print(subprocess.run([args.opsctl, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30).stdout.splitlines()[0])
        except (subprocess.TimeoutExpired, IndexError):
            print(f"{args.opsctl} --version did not answer")
    tools = []
    for name in names:
        try:
            tools.append(KINDS[name](work, args.database, args.opsctl, args.long is not None and not args.no_keep))
        except Skipped as reason:
            print(f"{name}: skipped: {reason}")
        except Failed as failure:
            print(f"{name}: skipped, its set-up failed: {failure}")
    bench = Bench(tools)

    floor_backup = timed(lambda: snapshot(args.database, f"{work}/floor.db"))
    floor_hash = timed(lambda: sh("sha256sum", f"{work}/floor.db"))
    print(f"database {mib(size):.1f} MiB; floor: sqlite3 .backup {floor_backup:.2f}s, sha256sum {floor_hash:.2f}s")
    os.remove(f"{work}/floor.db")

    if args.long:
        long_mode(args, bench, db, size, [t.name for t in tools])
    else:
        rounds_mode(args, bench, db, size, [t.name for t in tools])
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
