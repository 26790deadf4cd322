#!/usr/bin/env bash
# Installs the Debian packages opsd builds and tests against, once: apt-get runs only when one is missing.
#   build:  libsystemd-dev libgit2-dev libsqlite3-dev pkg-config
#   tests:  systemd (systemd-analyze on the host), python3, procps, sqlite3, make
#   (cron for deploy/cron/ops runs inside the systemd sandbox, not on the host)
set -euo pipefail
packages=(libsystemd-dev libgit2-dev libsqlite3-dev pkg-config systemd python3 procps sqlite3 make)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
