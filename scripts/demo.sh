#!/usr/bin/env bash
# Runs opsd in the foreground on the demo configuration (examples/demo/ops.yaml). Everything it
# writes stays under examples/demo/run/. No root needed once the build libraries are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
swift build --product opsd
swift build --product opsctl
swift build --product opsctl-backup   # carries out `opsctl backup` and `opsctl restore`
bin=$(swift build --show-bin-path)
# The demo's backup remote: a bare repository beside the local one (examples/demo/ops.yaml).
mkdir -p examples/demo/run
[ -d examples/demo/run/remote.git ] || git init --quiet --bare examples/demo/run/remote.git
cat >&2 <<TEXT

  opsd is starting in the foreground on examples/demo/ops.yaml. In another terminal, try:
    $bin/opsctl --config examples/demo/ops.yaml status
    $bin/opsctl --config examples/demo/ops.yaml health [--json|--nagios]
    $bin/opsctl --config examples/demo/ops.yaml jobs            # triggers, last and next runs
    $bin/opsctl --config examples/demo/ops.yaml jobs run report
    curl -s 127.0.0.1:9110/metrics
    $bin/opsctl --config examples/demo/ops.yaml reload
    $bin/opsctl config check examples/demo/ops.yaml
    $bin/opsctl --config examples/demo/ops.yaml backup          # snapshot demo.db, commit, push
    $bin/opsctl --config examples/demo/ops.yaml backup list
    $bin/opsctl --config examples/demo/ops.yaml restore --to /tmp/demo-restored.db
  Ctrl-C stops it (gracefully, like systemctl stop).

TEXT
mkdir -p examples/demo/run/spool   # the outbox check's spool directory
python3 examples/demo/writer.py --init examples/demo/run/demo.db   # the demo-db check's database, there from the first check on
exec "$bin/opsd" --config examples/demo/ops.yaml
