#!/usr/bin/env bash
# Installs the Debian packages opsd needs, once: apt-get runs only when one is missing.
#   scripts/setup.sh build   what a build needs (make demo, make release, make install)
#   scripts/setup.sh test    that, plus every real peer the tests run (make test, .ci/run); the default
#
#   build:  libsystemd-dev libgit2-dev libsqlite3-dev libyaml-dev libssl-dev libzstd-dev libisal-dev pkg-config,
#           git (the demo's backup remote), python3 (the demo's writer and report job)
#   tests:  systemd (systemd-analyze on the host), procps, sqlite3, make, zstd (restores a zstd patch by hand),
#           strace (counts the threads `opsctl status` starts; Chromium's sockets)
#   (cron for deploy/cron/ops runs inside the systemd sandbox, not on the host)
#   checks: redis-server (queue backlog), monitoring-plugins-basic (check_disk, check_procs),
#           prometheus (its promtool validates /metrics), openssl (self-signed certificates)
#   fleet:  prometheus-alertmanager (with prometheus: the fleet test's real engines; deploy/prometheus/)
#   backup: openssh-server + openssh-client (a real sshd on 127.0.0.1), lighttpd + lighttpd-mod-openssl
#           (git's http-backend behind TLS on 127.0.0.1: the https remote with a token)
#   status page: chromium (headless: the page is loaded and screenshotted by a real browser)
#   package: dpkg-dev, debhelper, lintian (make deb and its test), man-db (man pages rendered)
set -euo pipefail
build=(libsystemd-dev libgit2-dev libsqlite3-dev libyaml-dev libssl-dev libzstd-dev libisal-dev pkg-config git python3)
tests=(systemd procps sqlite3 make zstd strace redis-server monitoring-plugins-basic prometheus prometheus-alertmanager openssl
       openssh-server openssh-client lighttpd lighttpd-mod-openssl chromium dpkg-dev debhelper lintian man-db)
case "${1:-test}" in
    build) packages=("${build[@]}") ;;
    test)  packages=("${build[@]}" "${tests[@]}") ;;
    *) echo "usage: scripts/setup.sh [build|test]" >&2; exit 64 ;;
esac
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
# Tests start their own redis-server and never want the packaged daemons (redis, prometheus, alertmanager) running:
# a policy-rc.d that answers 101 keeps the packages' scripts from starting services during install.
guard=/usr/sbin/policy-rc.d
if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$guard" >/dev/null
    $sudo chmod 755 "$guard"
    trap '$sudo rm -f "$guard"' EXIT
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
