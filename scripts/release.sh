#!/usr/bin/env bash
# The release build every installer and benchmark uses, so they all measure and ship the same
# binaries. Prints the directory of the built programs on stdout (build output goes to stderr).
#   --static-swift-stdlib   the Swift runtime inside the binary: no /opt/swift on the host, less memory
#   -function-sections      each function in a section of its own (Swift and C alike), so the linker
#                           can gather the functions opsd and opsctl really run
#                           (Sources/*/link-order.txt, scripts/link-order.py)
#   --show-bin-path-only    print the directory without building
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-c release --static-swift-stdlib -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections)
bin=$(swift build "${flags[@]}" --show-bin-path)
if [ "${1:-}" != "--show-bin-path-only" ]; then
    # SwiftPM does not know the link-order files are inputs of the link: relink every time (seconds).
    rm -f "$bin/opsd" "$bin/opsctl"
    swift build "${flags[@]}" "$@" >&2
    # The commit, written into the programs after linking (--version shows it; nothing relinks for it).
    scripts/stamp-commit.sh "$bin/opsd" "$bin/opsctl" "$bin/opsctl-backup" >&2
fi
echo "$bin"
