#!/usr/bin/env bash
# make install / make uninstall: opsd and opsctl, the systemd units, the cron file, the ops user
# and its directories.
#
#   PREFIX     where bin/ goes (default /usr/local); the units' ExecStart follows it
#   DESTDIR    a staging root for packaging; with it, no user is created and systemd is not touched
#   BUILD_DIR  take opsd/opsctl from here instead of building a release
#
# The config installed is the starter (deploy/ops.yaml), green on a host with no application yet;
# the full reference goes to $PREFIX/share/doc/opsd/examples/ops.yaml. A config that exists is never
# overwritten: the starter lands beside it as ops.yaml.dist.
# Uninstall removes programs, units, the cron file and the reference, and keeps config, state and the user.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-install}
prefix=${PREFIX:-/usr/local}
root=${DESTDIR:-}
bindir="$root$prefix/bin"
unitdir="$root/etc/systemd/system"
crondir="$root/etc/cron.d"
confdir="$root/etc/ops"
statedir="$root/var/lib/ops"
docdir="$root$prefix/share/doc/opsd/examples"
units=(opsd.service opsd-backup.service opsd-backup.timer)
# Man pages and opsctl's completions (Debian's zsh reads vendor-completions for /usr, site-functions elsewhere).
sharedir="$root$prefix/share"
zshdir=site-functions; [ "$prefix" = /usr ] && zshdir=vendor-completions
generated=(man/man8/opsd.8.gz man/man8/opsctl.8.gz man/man8/opsctl-backup.8.gz man/man5/ops.yaml.5.gz bash-completion/completions/opsctl "zsh/$zshdir/_opsctl" fish/vendor_completions.d/opsctl.fish)

say() { echo "install: $*" >&2; }
systemd_running() { [ -z "$root" ] && [ -d /run/systemd/system ]; }

if [ "$action" = uninstall ]; then
    if systemd_running; then systemctl disable --now opsd-backup.timer opsd.service 2>/dev/null || true; fi
    rm -f "$bindir/opsd" "$bindir/opsctl" "$bindir/opsctl-backup" "$crondir/ops" "$docdir/ops.yaml"
    for file in "${generated[@]}"; do rm -f "$sharedir/$file"; done
    rmdir "$docdir" "$(dirname "$docdir")" 2>/dev/null || true
    for unit in "${units[@]}"; do rm -f "$unitdir/$unit"; done
    if systemd_running; then systemctl daemon-reload; fi
    say "removed opsd, opsctl, opsctl-backup, the units, /etc/cron.d/ops and the reference config; kept $confdir, $statedir and the ops user (remove them by hand if wanted)"
    exit 0
fi

if [ -z "${BUILD_DIR:-}" ]; then
    scripts/setup.sh build
    # The runtime linked in: the binaries run without /opt/swift and use less memory.
    BUILD_DIR=$(scripts/release.sh)
fi
# opsctl-backup carries out `opsctl backup` and `opsctl restore` (it links libgit2) and must sit beside opsctl.
for program in opsd opsctl opsctl-backup; do
    [ -x "$BUILD_DIR/$program" ] || { say "$BUILD_DIR/$program is missing; build it first or unset BUILD_DIR"; exit 1; }
done

if [ -z "$root" ] && ! id ops >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/ops --no-create-home --shell /usr/sbin/nologin ops
    say "created the system user ops"
fi
owner=()
if [ -z "$root" ]; then owner=(-o root -g ops); fi
state_owner=()
if [ -z "$root" ]; then state_owner=(-o ops -g ops); fi

install -d -m 0755 "$bindir" "$unitdir" "$crondir"
install -m 0755 "$BUILD_DIR/opsd" "$BUILD_DIR/opsctl" "$BUILD_DIR/opsctl-backup" "$bindir/"
# Generated from the programs just installed, so they describe exactly these (scripts/man-pages.py).
scripts/man-pages.py "$BUILD_DIR" "$sharedir/man"
gzip -9nf "$sharedir/man/man8/opsd.8" "$sharedir/man/man8/opsctl.8" "$sharedir/man/man5/ops.yaml.5"
ln -sf opsctl.8.gz "$sharedir/man/man8/opsctl-backup.8.gz"   # what opsctl backup and restore run
for shell in bash zsh fish; do
    file=$(printf '%s\n' "${generated[@]}" | grep -m1 -e "^$shell")
    install -d -m 0755 "$(dirname "$sharedir/$file")"
    # bash-completion sources the file: no #! line.
    "$BUILD_DIR/opsctl" --generate-completion-script "$shell" | sed '1{/^#!/d}' >"$sharedir/$file"
    chmod 0644 "$sharedir/$file"
done
for unit in "${units[@]}"; do
    sed "s|/usr/local/bin/|$prefix/bin/|g" "deploy/systemd/$unit" >"$unitdir/$unit.tmp"
    chmod 0644 "$unitdir/$unit.tmp"
    mv "$unitdir/$unit.tmp" "$unitdir/$unit"
done
# cron ignores files in cron.d that are group- or world-writable or not owned by root.
sed "s|^PATH=.*|PATH=$prefix/bin:/usr/local/bin:/usr/bin:/bin|" deploy/cron/ops >"$crondir/ops.tmp"
chmod 0644 "$crondir/ops.tmp"
mv "$crondir/ops.tmp" "$crondir/ops"

install -d -m 0755 "$docdir"
install -m 0644 examples/ops.yaml "$docdir/ops.yaml"
install -d -m 0750 "${owner[@]}" "$confdir"
install -d -m 0750 "${state_owner[@]}" "$statedir"
if [ ! -e "$confdir/ops.yaml" ]; then
    install -m 0640 "${owner[@]}" deploy/ops.yaml "$confdir/ops.yaml"
    say "installed the starter $confdir/ops.yaml (the reference: $prefix/share/doc/opsd/examples/ops.yaml): edit it, then check it with opsctl config check"
elif ! cmp -s deploy/ops.yaml "$confdir/ops.yaml"; then
    install -m 0640 "${owner[@]}" deploy/ops.yaml "$confdir/ops.yaml.dist"
    say "kept your $confdir/ops.yaml; the shipped starter is beside it as ops.yaml.dist"
fi

if systemd_running; then systemctl daemon-reload; fi
say "installed opsd and opsctl in $prefix/bin, units in /etc/systemd/system, /etc/cron.d/ops"
say "next: systemctl enable --now opsd.service  (or: systemctl enable --now opsd-backup.timer, or keep the cron file)"
