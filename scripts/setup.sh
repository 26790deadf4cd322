#!/usr/bin/env bash
# Installs the Debian packages opsd builds and tests against, once: apt-get runs only when one is missing.
#   build:  libsystemd-dev libgit2-dev libsqlite3-dev libyaml-dev pkg-config
#   tests:  systemd (systemd-analyze on the host), python3, procps, sqlite3, make
#   (cron for deploy/cron/ops runs inside the systemd sandbox, not on the host)
#   checks: redis-server (queue backlog), monitoring-plugins-basic (check_disk, check_procs),
#           prometheus (its promtool validates /metrics), openssl (self-signed certificates)
#   fleet:  prometheus-alertmanager (with prometheus: the fleet test's real engines; deploy/prometheus/)
#   backup: libssl-dev (SHA-256), git, openssh-server + openssh-client (a real sshd on 127.0.0.1)
set -euo pipefail
packages=(libsystemd-dev libgit2-dev libsqlite3-dev libyaml-dev libssl-dev pkg-config systemd python3 procps sqlite3 make
          redis-server monitoring-plugins-basic prometheus prometheus-alertmanager openssl git openssh-server openssh-client)
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
