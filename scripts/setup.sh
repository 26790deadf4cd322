#!/usr/bin/env bash
# Installs the Debian packages opsd builds and tests against, once: apt-get runs only when one is missing.
#   build:  libsystemd-dev libgit2-dev libsqlite3-dev pkg-config
#   tests:  systemd (systemd-analyze on the host), python3, procps
#   backup tests: git, sqlite3, openssh-server + openssh-client (a real sshd on 127.0.0.1)
set -euo pipefail
packages=(libsystemd-dev libgit2-dev libsqlite3-dev libssl-dev pkg-config systemd python3 procps git sqlite3 openssh-server openssh-client)
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
