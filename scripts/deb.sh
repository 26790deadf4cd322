#!/usr/bin/env bash
# make deb: opsd_VERSION_amd64.deb, from the release build every installation ships.
#
#   scripts/deb.sh [--bin-dir DIR] [--version V] [--out DIR] [DPKG_DEB_OPTIONS...]
#     --bin-dir DIR   take opsd, opsctl and opsctl-backup from DIR instead of the release build
#                     (the tests pass .build/debug: a debug build needs /opt/swift on the target,
#                     the release build is self-contained)
#     --version V     the package's version (default: opsVersion in Sources/OpsConfig/Version.swift)
#     --out DIR       where the .deb goes (default: .build/deb); its path is printed on stdout
#     -Zgzip -z1 ...  passed to dpkg-deb (default: its xz)
#
# What goes where is scripts/install.sh's, run into a staging root with PREFIX=/usr (programs,
# units, the cron file, /etc/ops/ops.yaml, the reference config, man pages, completions); this
# script adds what is Debian's: units under /lib/systemd/system, the maintainer scripts and
# conffiles of deploy/debian, the commit stamped into the programs, md5sums, and Depends from
# the libraries the programs really link (dpkg-shlibdeps).
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir= version= out=.build/deb
deb_options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin_dir=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -Z*|-z*) deb_options+=("$1"); shift ;;
        *) echo "deb: unknown argument $1; see the comment at the top of scripts/deb.sh" >&2; exit 64 ;;
    esac
done
say() { echo "deb: $*" >&2; }
# Checked before the release build, which takes minutes: dpkg-shlibdeps and strip come with dpkg-dev.
for tool in dpkg-deb dpkg-shlibdeps strip python3; do
    command -v "$tool" >/dev/null || { say "$tool is missing; install dpkg-dev (apt-get install dpkg-dev python3) and run make deb again"; exit 1; }
done
if [ -z "$bin_dir" ]; then
    # Others build debug in the same .build: the release build takes the same lock.
    bin_dir=$(flock -x /tmp/opsd-build.lock scripts/release.sh)
fi
[ -n "$version" ] || version=$(sed -n 's/.*opsVersion = "\(.*\)".*/\1/p' Sources/OpsConfig/Version.swift)
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || { say "--version $version is not a Debian version (start with a digit; letters, digits, . + ~ -)"; exit 64; }

stage=$(mktemp -d /tmp/opsd-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
PREFIX=/usr DESTDIR="$root" BUILD_DIR="$bin_dir" scripts/install.sh install 2>"$stage/install.log" || { cat "$stage/install.log" >&2; exit 1; }

# Units a package ships live under /lib; /etc/systemd/system is the administrator's, and wins.
mkdir -p "$root/lib/systemd"
mv "$root/etc/systemd/system" "$root/lib/systemd/system"
rmdir "$root/etc/systemd"
# /var/lib/ops is made by the postinst (and StateDirectory=): not a file of the package, so a
# remove keeps it and the purge deletes it.
rm -rf "$root/var"
# The commit, stamped into the copies (.build stays as it is); then dh_strip's flags: the
# symbols go, the stamp (in .rodata) stays.
scripts/stamp-commit.sh "$root/usr/bin/opsd" "$root/usr/bin/opsctl" "$root/usr/bin/opsctl-backup"
for program in opsd opsctl opsctl-backup; do
    strip --remove-section=.comment --remove-section=.note "$root/usr/bin/$program"
done

# The config may hold secrets: 0750 root:ops and 0640 root:ops, set by the postinst's
# dpkg-statoverride (the group ops does not exist before it); packaged with Debian's defaults.
chmod 0755 "$root/etc/ops"
chmod 0644 "$root/etc/ops/ops.yaml"
# A debug build finds the Swift runtime through RUNPATH /opt/swift/...: tolerable in the tests'
# package only. The release build links the runtime in and has only $ORIGIN, which lintian allows.
if readelf -d "$root/usr/bin/opsd" | grep -q 'R.*PATH.*/opt/swift'; then
    install -d -m 0755 "$root/usr/share/lintian/overrides"
    {
        echo "# Built with --bin-dir from a debug build, whose Swift runtime is in /opt/swift; the release"
        echo "# build (scripts/release.sh, what make deb ships) links it in and sets no such path."
        for program in opsd opsctl opsctl-backup; do
            echo "opsd: custom-library-search-path RUNPATH /opt/swift/usr/lib/swift/linux [usr/bin/$program]"
        done
    } >"$root/usr/share/lintian/overrides/opsd"
    chmod 0644 "$root/usr/share/lintian/overrides/opsd"
fi

doc="$root/usr/share/doc/opsd"
install -d -m 0755 "$doc"
install -m 0644 deploy/debian/copyright "$doc/copyright"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
printf 'opsd (%s) unstable; urgency=medium\n\n  * Built from commit %s; the changes are in README.md.\n\n -- opsd maintainers <maintainers@users.noreply.b-seed-b211cf23.example>  %s\n' \
    "$version" "$commit" "$date" | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Runtime dependencies from the libraries the programs link (libgit2-1.5, libsqlite3-0,
# libsystemd0, libyaml-0-2, libssl3, libc6 ...). A debug build also links the Swift runtime in
# /opt/swift, which no package provides: those are left out, hence --ignore-missing-info.
mkdir -p "$stage/shlibs/debian"
printf 'Source: opsd\n\nPackage: opsd\nArchitecture: amd64\n' >"$stage/shlibs/debian/control"
depends=$(cd "$stage/shlibs" && dpkg-shlibdeps -O --ignore-missing-info -e"$root/usr/bin/opsd" -e"$root/usr/bin/opsctl" -e"$root/usr/bin/opsctl-backup" 2>/dev/null \
    | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { say "dpkg-shlibdeps found no dependencies"; exit 1; }

install -d -m 0755 "$root/DEBIAN"
for script in postinst prerm postrm; do install -m 0755 "deploy/debian/$script" "$root/DEBIAN/$script"; done
install -m 0644 deploy/debian/conffiles "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@INSTALLED_SIZE@|$size|" -e "s|@SHLIBS_DEPENDS@|$depends|" deploy/debian/control >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/opsd_${version}_amd64.deb"
dpkg-deb --root-owner-group "${deb_options[@]}" --build "$root" "$deb" >&2
say "built $deb (Depends: adduser, $depends)"
echo "$deb"
