#!/usr/bin/env bash
# The fleet figures (issue 14): what one scrape of opsd's /metrics costs, and how fast an alert
# goes from a fault to Alertmanager's receiver.
#
#   bench/fleet/bench.sh                         # the binaries in OPS_BIN_DIR (default .build/release)
#   OPS_BIN_DIR=.build/debug bench/fleet/bench.sh
#
# 1. One opsd on 127.0.0.1 with 10 workers, 20 checks (disk, memory, sqlite, queue, query), 10 jobs
#    (9 commands and a backup, each run once) and a backup record: the body's size (plain and
#    gzipped), hyperfine of curl on /metrics beside /healthz (curl's own start included), curl's
#    time_total over 300 requests, and opsd's CPU per scrape (/proc/PID/stat over 500 scrapes).
# 2. Alert latency: the fleet test's own measurements (20 opsd, a real Prometheus and
#    Alertmanager, 1 s scrape and evaluation), printed by `swift test --filter FleetTests`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${OPS_BIN_DIR:-.build/release}"
command -v hyperfine >/dev/null || { echo "bench: hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$bin/opsd" ] || { echo "bench: $bin/opsd is missing; build it (scripts/release.sh) or set OPS_BIN_DIR" >&2; exit 1; }

dir="$(mktemp -d /tmp/opsd-fleet-bench-XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 1' INT TERM PIPE
mkdir -p "$dir/spool"
sqlite3 "$dir/app.db" "CREATE TABLE t (x); INSERT INTO t VALUES (1);"
{
    printf 'daemon:\n  socket: %s/opsd.sock\n  state_dir: %s/state\n  listen: 127.0.0.1:%s\n' "$dir" "$dir" "$port"
    echo "workers:"
    for i in $(seq 1 10); do echo "  - {name: w$i, command: [/bin/sleep, \"100000\"]}"; done
    echo "jobs:"
    for i in $(seq 1 9); do echo "  - {name: j$i, schedule: \"0 3 * * *\", command: [/bin/true]}"; done
    echo "  - {name: nightly, schedule: \"0 3 * * *\", backup: {}}"
    printf 'backup:\n  repository: %s/backup.git\n  databases: [%s/app.db]\n' "$dir" "$dir"
    echo "checks:"
    for i in 1 2 3 4; do
        echo "  - {name: disk$i, disk: /, every: 10s}"
        echo "  - {name: mem$i, memory: {}, every: 10s}"
        echo "  - {name: db$i, sqlite: $dir/app.db, every: 10s}"
        echo "  - {name: q$i, queue: {spool: $dir/spool}, every: 10s}"
        echo "  - {name: rows$i, sqlite: {path: $dir/app.db, query: \"SELECT count(*) FROM t\"}, every: 10s}"
    done
} > "$dir/ops.yaml"
"$bin/opsd" --config "$dir/ops.yaml" 2>"$dir/opsd.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break || sleep 0.1; done
for job in j1 j2 j3 j4 j5 j6 j7 j8 j9 nightly; do "$bin/opsctl" --config "$dir/ops.yaml" jobs run "$job" >/dev/null; done
url="http://127.0.0.1:$port/metrics"
# Wait until every check has run once, so the body has all its samples.
for _ in $(seq 1 100); do
    curl -sf "$url" > "$dir/metrics.txt"
    [ "$(grep -c '^opsd_check_last_run_timestamp_seconds{' "$dir/metrics.txt")" -eq 20 ] && break || sleep 0.1
done
echo "opsd $("$bin/opsd" --version 2>/dev/null || true) from $bin: 10 workers, 20 checks, 10 jobs, a backup record"
echo "body: $(wc -c < "$dir/metrics.txt") bytes, $(gzip -c "$dir/metrics.txt" | wc -c) gzipped, $(grep -c '^# TYPE' "$dir/metrics.txt") families, $(grep -vc '^#' "$dir/metrics.txt") samples"
hyperfine -N --warmup 20 --runs 300 "curl -s -o /dev/null $url" "curl -s -o /dev/null http://127.0.0.1:$port/healthz" 2>&1 | grep -E "Benchmark|Time|Range"
for _ in $(seq 1 300); do curl -s -o /dev/null -w '%{time_total}\n' "$url"; done | sort -n |
    awk '{t[NR] = $1 * 1000} END {printf "curl time_total: p50 %.2f ms, p90 %.2f ms, max %.2f ms\n", t[int(NR / 2)], t[int(NR * 0.9)], t[NR]}'
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz="$(getconf CLK_TCK)"
before="$(ticks)"
for _ in $(seq 1 500); do curl -s -o /dev/null "$url"; done
after="$(ticks)"
echo "opsd CPU per scrape: $(awk -v d="$((after - before))" -v hz="$hz" 'BEGIN {printf "%.2f ms", d / hz * 1000 / 500}') (over 500 scrapes, /proc/$pid/stat; includes the checks' rounds meanwhile)"
echo "opsd RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
echo "alert latency: swift test --filter FleetTests prints 'fleet: ... fault → webhook ...'"
