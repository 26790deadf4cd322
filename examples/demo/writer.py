#!/usr/bin/env python3
"""The demo application: keeps writing orders into run/demo.db, so checks, maintenance jobs and
backups have a live database to work on (WAL mode, one small transaction a second)."""
import os
import sqlite3
import sys
import time

# --init: create the database and exit. scripts/demo.sh does so before opsd starts, so the demo-db
# check finds the file on its first run instead of racing the writer's start.
init = sys.argv[1:2] == ["--init"]
args = sys.argv[2:] if init else sys.argv[1:]
path = args[0] if args else "run/demo.db"
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, created REAL NOT NULL)")
if init:
    sys.exit(0)
print(f"writing to {path}", flush=True)
n = 0
while True:
    db.execute("INSERT INTO orders (item, created) VALUES (?, ?)", (f"item-{n % 97}", time.time()))
    n += 1
    if n % 60 == 0:
        print(f"{n} orders written", flush=True)
    time.sleep(1)
