#!/usr/bin/env bash
# Checks a systemd unit with the host's systemd-analyze:
#   1. `systemd-analyze verify` must exit 0 and print nothing on stderr;
#   2. `systemd-analyze security --offline=true` exposure must be <= MAX (services only).
# A .timer is verified together with the .service beside it that it activates.
#
# usage: scripts/check-unit.sh [UNIT_FILE] [MAX_EXPOSURE]
#        (defaults: deploy/systemd/opsd.service 3.0)
#
# verify insists that every Exec*= program exists on this host, which is not
# the case on a build machine, so it runs on a temporary copy in which missing
# absolute programs are replaced by /bin/true. --man=no because man pages
# named in Documentation= are usually not installed where this runs.
set -euo pipefail

unit=${1:-deploy/systemd/opsd.service}
max=${2:-3.0}

fail() { echo "$name: $*" >&2; exit 1; }

name=$(basename -- "$unit")
[[ -f $unit ]] || fail "no such file: $unit"
[[ $max =~ ^[0-9]+([.][0-9]+)?$ ]] || fail "maximum exposure must be a number, got '$max'"
command -v systemd-analyze >/dev/null || fail "systemd-analyze not found"

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

# Copy under the same name (it decides the unit name), swapping missing programs.
# Exec lines look like: ExecStart=[-@:+!]*/path/to/prog args...
copy() {
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line =~ ^(Exec[A-Za-z]+=[-@:+!]*)(/[^[:space:]]+)(.*)$ ]] && [[ ! -x ${BASH_REMATCH[2]} ]]; then
            line="${BASH_REMATCH[1]}/bin/true${BASH_REMATCH[3]}"
        fi
        printf '%s\n' "$line"
    done <"$1" >"$tmp/$(basename -- "$1")"
}
copy "$unit"
if [[ $name == *.timer ]]; then
    service="$(dirname -- "$unit")/${name%.timer}.service"
    [[ -f $service ]] || fail "the timer activates ${name%.timer}.service, which is not beside it"
    copy "$service"
fi

# 1. verify: any stderr output counts as failure, even with exit status 0.
rc=0
systemd-analyze verify --man=no "$tmp/$name" >"$tmp/verify.out" 2>"$tmp/verify.err" || rc=$?
if [[ $rc -ne 0 || -s $tmp/verify.err ]]; then
    first=$(grep -m1 . "$tmp/verify.err" | sed "s|$tmp/||g" || true)
    fail "systemd-analyze verify failed (exit $rc): ${first:-no message}"
fi

if [[ $name == *.timer ]]; then
    echo "$name: verify clean"
    exit 0
fi

# 2. security: the last line reads "→ Overall exposure level for NAME: 1.9 OK 🙂".
rc=0
systemd-analyze security --offline=true --no-pager "$tmp/$name" >"$tmp/security.out" 2>"$tmp/security.err" || rc=$?
exposure=$(sed -nE 's/.*Overall exposure level for [^:]*: ([0-9]+(\.[0-9]+)?).*/\1/p' "$tmp/security.out" | tail -n1)
if [[ -z $exposure ]]; then
    first=$(grep -m1 . "$tmp/security.err" | sed "s|$tmp/||g" || true)
    fail "could not read the exposure from systemd-analyze security (exit $rc): ${first:-no output}"
fi
if awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e > m) }'; then
    fail "exposure $exposure exceeds the maximum $max (see: systemd-analyze security --offline=true $unit)"
fi

echo "$name: verify clean, exposure $exposure (max $max)"
