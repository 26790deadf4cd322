#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: install what is needed, build, boot a real
# systemd in a throw-away container, run every test, tear the container down.
set -euo pipefail
cd "$(dirname "$0")/.."
sandbox="$(cd .. && pwd)/shared/tools/systemd-sandbox"

[ "$(id -u)" -eq 0 ] || { echo "test: run as root: the systemd tests boot a container (systemd-nspawn)" >&2; exit 1; }
[ -x "$sandbox" ] || { echo "test: $sandbox is missing; the shared/ folder must sit beside this repository" >&2; exit 1; }

scripts/setup.sh test
swift build --build-tests

# opsd in the container is the debug build, whose Swift runtime lives in /opt/swift. The rootfs
# has libsystemd0, libsqlite3-0 and libgit2-1.5; opsd also needs libyaml-0-2 (its config parser)
# and opsctl-backup libisal2 (its deflate; the Debian package depends on it),
# and Debian's cron runs inside too, for deploy/cron/ops (the tests' own `up` inherits this list).
export SANDBOX_EXTRA_PACKAGES="cron libyaml-0-2 libisal2"
SANDBOX_NSPAWN_ARGS=--bind-ro=/opt/swift "$sandbox" up
trap '"$sandbox" down >/dev/null 2>&1 || true' EXIT

# Swift Testing starts every test at once (483 were in flight at one point): on two cores the
# tests' own daemons, receivers and timers then wait minutes for a CPU, and safety nets and the
# checks' timeouts fire in tests that are not wrong. Sixteen at a time keeps both cores busy
# (most tests wait on processes) without that; the variable is Swift Testing's own.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-16}"
OPS_SYSTEMD_TESTS=1 swift test
