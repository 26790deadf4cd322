#!/usr/bin/env python3
"""Backup growth and time: opsd's format beside the seed's approach, restic and borg.

One SQLite database (WAL mode) goes through ROUNDS rounds of a workload; after every round each
tool backs up the same state:

  ours    opsctl backup (page XOR-deltas in a libgit2 repository, pushed to a bare remote)
  seed    sqlite3 .backup + git add/commit/push of the whole file (no gc, like the seed project)
  restic  sqlite3 .backup + restic backup
  borg    sqlite3 .backup + borg create (lz4, the default)

Per round it prints backup time (snapshot included), growth of the local repository and of the
remote (restic and borg have one repository, counted as both), and the pages the workload changed.
At the end: verified restore times (SHA-256 or tool check + PRAGMA integrity_check) and the floor
(one sqlite3 .backup, one sha256sum pass).

Usage: bench/backup/run.py [--size-mib 50] [--rounds 5] [--workload random|append]
                           [--tools ours,seed,restic,borg] [--opsctl PATH] [--keep DIR]
Needs: git, sqlite3, and restic/borgbackup for those tools (apt-get install restic borgbackup).
The default size runs in about a minute; --size-mib 200 or 1024 for the issue's figures.
"""
import argparse, json, os, random, shutil, sqlite3, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(*args, env=None, cwd=None):
    result = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(args)}\n{result.stderr}")
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
    return db, rows


def churn(db, workload, rng):
    rows = db.execute("SELECT max(id) FROM t").fetchone()[0]
    if workload == "random":
        n = rows // 100
        db.executemany("UPDATE t SET a = ?, b = ? WHERE id = ?",
                       ((rng.randbytes(40).hex(), rng.getrandbits(40), rng.randint(1, rows)) for _ in range(n)))
    else:  # append: 1 % new rows, plus updates of recent rows
        n = rows // 100
        db.executemany("INSERT INTO t (a, b, c) VALUES (?, ?, ?)",
                       ((rng.randbytes(40).hex(), rng.getrandbits(40), rng.randbytes(60)) for _ in range(n)))
        recent = max(1, rows // 20)
        db.executemany("UPDATE t SET b = ? WHERE id = ?",
                       ((rng.getrandbits(40), rng.randint(rows - recent, rows)) for _ in range(n // 5)))
    db.commit()


def snapshot(database, target):
    if os.path.exists(target):
        os.remove(target)
    sh("sqlite3", database, f".backup '{target}'")


def check(path):
    out = sh("sqlite3", path, "PRAGMA integrity_check").strip()
    if out != "ok":
        sys.exit(f"integrity_check failed on {path}: {out}")


class Ours:
    name = "ours"

    def __init__(self, work, database, opsctl):
        self.opsctl = opsctl
        self.local = f"{work}/ours/backup.git"
        self.remote = f"{work}/ours/remote.git"
        os.makedirs(f"{work}/ours")
        sh("git", "init", "-q", "--bare", self.remote)
        self.config = f"{work}/ours/ops.yaml"
        with open(self.config, "w") as f:
            f.write(f"daemon:\n  socket: {work}/ours/opsd.sock\n  state_dir: {work}/ours/state\n"
                    f"backup:\n  repository: {self.local}\n  databases: [{database}]\n  remote:\n    url: {self.remote}\n")
        self.work = work
        self.last = {}

    def backup(self, _round):
        out = sh(self.opsctl, "backup", "--config", self.config, "--json")
        self.last = json.loads(out)
        if self.last["push"]["state"] != "pushed":
            sys.exit(f"ours: push failed: {self.last['push']}")

    def restore(self):
        target = f"{self.work}/ours/restored.db"
        sh(self.opsctl, "restore", "--config", self.config, "--to", target, "--force")  # verifies SHA-256 + integrity_check


class Seed:
    name = "seed"

    def __init__(self, work, database, _):
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

    def backup(self, round_):
        snapshot(self.database, f"{self.tree}/app.db")
        sh("git", "-C", self.tree, "add", "app.db")
        sh("git", "-C", self.tree, "commit", "-q", "-m", f"round {round_}")
        sh("git", "-C", self.tree, "push", "-q", "origin", "HEAD:refs/heads/main")

    def restore(self):
        target = f"{self.work}/seed/restored.db"
        with open(target, "wb") as f:
            subprocess.run(["git", "--git-dir", self.remote, "cat-file", "blob", "main:app.db"], stdout=f, check=True)
        check(target)


class Restic:
    name = "restic"

    def __init__(self, work, database, _):
        self.database = database
        self.local = self.remote = f"{work}/restic/repo"
        self.snap = f"{work}/restic/app.db"
        os.makedirs(f"{work}/restic")
        self.env = dict(os.environ, RESTIC_PASSWORD="bench", RESTIC_CACHE_DIR=f"{work}/restic/cache")
        sh("restic", "init", "-q", "--repo", self.local, env=self.env)
        self.work = work

    def backup(self, _round):
        snapshot(self.database, self.snap)
        sh("restic", "backup", "-q", "--repo", self.local, self.snap, env=self.env)

    def restore(self):
        target = f"{self.work}/restic/restored"
        shutil.rmtree(target, ignore_errors=True)
        sh("restic", "restore", "-q", "--repo", self.local, "latest", "--target", target, env=self.env)
        check(target + self.snap)


class Borg:
    name = "borg"

    def __init__(self, work, database, _):
        self.database = database
        self.local = self.remote = f"{work}/borg/repo"
        self.snap = f"{work}/borg/app.db"
        os.makedirs(f"{work}/borg")
        self.env = dict(os.environ, BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes", BORG_BASE_DIR=f"{work}/borg/base")
        sh("borg", "init", "--encryption=none", self.local, env=self.env)
        self.work = work
        self.round = 0

    def backup(self, round_):
        snapshot(self.database, self.snap)
        sh("borg", "create", f"{self.local}::r{round_}", self.snap, env=self.env)
        self.round = round_

    def restore(self):
        target = f"{self.work}/borg/restored"
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        sh("borg", "extract", f"{self.local}::r{self.round}", env=self.env, cwd=target)
        check(target + self.snap)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workload", choices=["random", "append"], default="random")
    parser.add_argument("--tools", default="ours,seed,restic,borg")
    release = f"{ROOT}/.build/release/opsctl"
    parser.add_argument("--opsctl", default=os.environ.get("OPSCTL", release))
    parser.add_argument("--keep", help="work in this directory and keep it")
    args = parser.parse_args()

    work = args.keep or tempfile.mkdtemp(prefix="bench-backup-")
    os.makedirs(work, exist_ok=True)
    database = f"{work}/app.db"
    kinds = {"ours": Ours, "seed": Seed, "restic": Restic, "borg": Borg}
    names = [t for t in args.tools.split(",") if t]
    for name in names:
        if name != "ours" and name != "seed" and shutil.which(name) is None:
            sys.exit(f"{name} is not installed; apt-get install {'borgbackup' if name == 'borg' else name}, or leave it out with --tools")
    if "ours" in names and not os.access(args.opsctl, os.X_OK):
        sys.exit(f"no opsctl at {args.opsctl}; build it (swift build -c release: opsctl and opsctl-backup) or pass --opsctl PATH")

    print(f"generating a {args.size_mib} MiB database ({args.workload} workload, {args.rounds} rounds) in {work}")
    db, _ = generate(database, args.size_mib)
    size = os.path.getsize(database)
    tools = [kinds[n](work, database, args.opsctl) for n in names]

    t = time.monotonic(); snapshot(database, f"{work}/floor.db"); floor_backup = time.monotonic() - t
    t = time.monotonic(); sh("sha256sum", f"{work}/floor.db"); floor_hash = time.monotonic() - t
    print(f"database {mib(size):.1f} MiB; floor: sqlite3 .backup {floor_backup:.2f}s, sha256sum {floor_hash:.2f}s")

    rng = random.Random(2)
    totals = {tool.name: [] for tool in tools}
    header = f"{'round':>5} {'tool':>6} {'time s':>7} {'local +MiB':>10} {'remote +MiB':>11} {'% of db':>8}  note"
    print(header)
    for round_ in range(args.rounds + 1):
        if round_ > 0:
            before = os.path.getsize(database)
            churn(db, args.workload, rng)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            grown = os.path.getsize(database) - before
        for tool in tools:
            local0, remote0 = du(tool.local), du(tool.remote)
            t = time.monotonic()
            tool.backup(round_)
            elapsed = time.monotonic() - t
            local, remote = du(tool.local) - local0, du(tool.remote) - remote0
            note = ""
            if isinstance(tool, Ours) and tool.last.get("databases"):
                d = tool.last["databases"][0]
                note = f"{d['layout']}, {d['pages_changed']}/{d['page_count']} pages changed"
            if round_ > 0 and args.workload == "append":
                note += f" (db grew {mib(grown):.2f} MiB)"
            if round_ > 0:
                totals[tool.name].append((elapsed, local, remote))
            print(f"{round_:>5} {tool.name:>6} {elapsed:>7.2f} {mib(local):>10.2f} {mib(remote):>11.2f} {100 * remote / size:>7.2f}%  {note}")
    print("\nmean per round after the first (full) backup:")
    for tool in tools:
        rows = totals[tool.name]
        if rows:
            n = len(rows)
            print(f"  {tool.name:>6}: {sum(r[0] for r in rows) / n:.2f}s, local +{mib(sum(r[1] for r in rows) / n):.2f} MiB, "
                  f"remote +{mib(sum(r[2] for r in rows) / n):.2f} MiB ({100 * sum(r[2] for r in rows) / n / size:.2f}% of the database)")
    print("\nverified restore of the latest backup:")
    for tool in tools:
        t = time.monotonic()
        tool.restore()
        print(f"  {tool.name:>6}: {time.monotonic() - t:.2f}s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
