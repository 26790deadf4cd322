#!/usr/bin/env bash
# Writes the git commit of this tree into built programs, after linking (see Sources/CBuildInfo):
#   scripts/stamp-commit.sh [--commit C] FILE...
# The commit is HEAD's, with "-dirty" when tracked files differ from it. Linking nothing again is
# the point: a commit changes no input of the build, so nothing is rebuilt for it.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=
if [ "${1:-}" = --commit ]; then commit=$2; shift 2; fi
if [ -z "$commit" ]; then
    commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
fi
python3 - "$commit" "$@" <<'PY'
import os
import sys
marker, room = b"OPS-BUILD-COMMIT:", 64
commit = sys.argv[1].encode()
if not 0 < len(commit) < room:
    sys.exit(f"stamp-commit: the commit must be 1 to {room - 1} bytes, not {commit!r}")
for path in sys.argv[2:]:
    data = bytearray(open(path, "rb").read())
    at = data.find(marker)
    if at < 0 or data.find(marker, at + 1) >= 0:
        sys.exit(f"stamp-commit: {path} holds the marker {'not' if at < 0 else 'more than'} once; is it opsd, opsctl or opsctl-backup?")
    start = at + len(marker)
    data[start:start + room] = commit + b"\0" * (room - len(commit))
    # A new file renamed over the old: a copy of the program that is running keeps its own.
    temporary = path + ".stamp.tmp"
    with open(temporary, "wb") as out:
        out.write(data)
    os.chmod(temporary, os.stat(path).st_mode & 0o7777)
    os.replace(temporary, path)
PY
